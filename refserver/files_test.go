package refserver_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/refserver/web"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
	"github.com/gcload/gcload/xccos"
)

// fakeClock is a clock the test moves (token expiry).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fileServer struct {
	srv   *refserver.Server
	dir   string
	clock *fakeClock
}

// startFiles starts a server with file posts on, room1 (alice, bob) and
// room2 (carol); files over max bytes and more than maxFiles per room are
// refused, tokens live a minute of the test's clock.
func startFiles(t *testing.T, max int64, maxFiles int, opts ...refserver.Option) fileServer {
	t.Helper()
	fs := fileServer{dir: t.TempDir(), clock: &fakeClock{t: time.Now()}}
	opts = append(opts, refserver.WithRooms(refservertest.Room("room1", fAlice, fBob), refservertest.Room("room2", fCarol)),
		refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: fs.dir, MaxFileSize: max, MaxFilesPerRoom: maxFiles, TokenTTL: time.Minute, Now: fs.clock.Now}))
	fs.srv = refservertest.Start(t, opts...)
	return fs
}

const (
	fAlice = "sip:alice@example.com"
	fBob   = "sip:bob@example.com"
	fCarol = "sip:carol@example.com"
	room2  = "ma-chan://example.com/room2"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func waitFilePost(t *testing.T, c *sipclient.Client) *xccos.Chat {
	t.Helper()
	for {
		e := waitEvent(t, c, sipclient.Delivery)
		if e.Chat.File != nil {
			return e.Chat
		}
	}
}

// TestFilePost: alice uploads through a token; the post reaches alice and
// bob with its ftdb, bob downloads the same bytes, history keeps the post,
// the metadata row is in the store, and rooms advertise filepost=true.
func TestFilePost(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	fs := startFiles(t, 1<<20, 10, refserver.WithStore(st))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, fs.srv.TCPAddr(), fAlice, sipclient.FlowClient)
	b := sipclienttest.Connect(t, fs.srv.TCPAddr(), fBob, sipclient.FlowClient)
	for _, c := range []*sipclient.Client{a, b} {
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
	}
	rooms, err := a.SearchRooms(ctx, "")
	if err != nil || len(rooms) == 0 {
		t.Fatal(rooms, err)
	}
	for _, p := range rooms[0].Props {
		if p.ID == xccos.PropFilePost && p.Value != "true" {
			t.Fatalf("filepost=%s with file posts on", p.Value)
		}
	}
	data := bytes.Repeat([]byte("gcload file\x00\xff"), 5000)
	tok, err := a.UploadToken(ctx, room1, "report <v2>.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.ServerURI, fs.srv.FilesURL()+"/files/") || tok.FileURL != tok.ServerURI {
		t.Fatalf("token %+v, files URL %s", tok, fs.srv.FilesURL())
	}
	if err := sipclient.UploadFile(ctx, http.DefaultClient, tok, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sipclient.Client{a, b} {
		p := waitFilePost(t, c)
		if p.Author != fAlice || p.Text != "report <v2>.bin" || p.File.FileURL != tok.FileURL || p.File.ChannelURI != room1 {
			t.Fatalf("%s got the file post %+v %+v", c.User(), p, p.File)
		}
	}
	dt, err := b.DownloadToken(ctx, room1, tok.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	n, h, err := sipclient.DownloadFile(ctx, http.DefaultClient, dt, &got)
	if err != nil || n != int64(len(data)) || h != sum(data) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("download: %d bytes, %s, %v", n, h, err)
	}
	// a download token serves until it expires
	if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, dt, io.Discard); err != nil {
		t.Fatalf("second download: %v", err)
	}
	hist, err := b.History(ctx, room1, 5)
	if err != nil || len(hist) != 1 || hist[0].File == nil || hist[0].File.FileURL != tok.FileURL {
		t.Fatalf("history: %+v %v", hist, err)
	}
	id := strings.TrimPrefix(tok.FileURL, fs.srv.FilesURL()+"/files/")
	if _, err := os.Stat(fs.dir + "/" + id); err != nil {
		t.Fatalf("the file is not in the files folder: %v", err)
	}
	fst := fs.srv.Stats().Files
	if fst == nil || fst.Uploads != 1 || fst.Downloads != 2 {
		t.Fatalf("files stats %+v", fst)
	}
	// the compliance archive: the upload after its post's CHAT (one
	// transaction), and each download
	ev, _, err := st.ReadArchive(ctx, store.ArchiveQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got2 []string
	for _, e := range ev {
		if e.Kind != store.EventJoin {
			got2 = append(got2, fmt.Sprintf("%s %s %s %d %q %q", e.Kind, e.RoomID, e.User, e.Seq, e.Text, e.Detail))
		}
	}
	want := []string{
		`CHAT room1 ` + fAlice + ` 1 "report <v2>.bin" ""`,
		`FILEUPLOAD room1 ` + fAlice + ` 1 "" "report <v2>.bin"`,
		`FILEDOWNLOAD room1 ` + fBob + ` 0 "" "report <v2>.bin"`,
		`FILEDOWNLOAD room1 ` + fBob + ` 0 "" "report <v2>.bin"`,
		`BACKCHAT room1 ` + fBob + ` 0 "" "1"`,
	}
	if !slices.Equal(got2, want) {
		t.Fatalf("archive:\n%s\nwant\n%s", strings.Join(got2, "\n"), strings.Join(want, "\n"))
	}
}

// TestFileAttacks: a non-member gets no token; reused, expired, forged,
// garbled and misused tokens, oversize and half-sent uploads and a full
// room are refused with a clear status, and leave nothing behind.
func TestFileAttacks(t *testing.T) {
	t.Parallel()
	const max = 1000
	fs := startFiles(t, max, 2)
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, fs.srv.TCPAddr(), fAlice, sipclient.FlowClient)
	c := sipclienttest.Connect(t, fs.srv.TCPAddr(), fCarol, sipclient.FlowClient)
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	put := func(tok *sipclient.FileToken, body []byte) error {
		return sipclient.UploadFile(ctx, http.DefaultClient, tok, bytes.NewReader(body), int64(len(body)))
	}
	status := func(err error) int {
		var he *sipclient.HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("want a refusal, got %v", err)
		}
		return he.Status
	}
	replyCode := func(err error) int {
		var re *sipclient.ReplyError
		if !errors.As(err, &re) {
			t.Fatalf("want an error reply, got %v", err)
		}
		return re.Code
	}
	up, err := a.UploadToken(ctx, room1, "a.txt")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("non-member", func(t *testing.T) {
		if _, err := c.UploadToken(ctx, room1, "x"); replyCode(err) != 403 {
			t.Fatalf("getfutok by a non-member: %v", err)
		}
		if _, err := c.DownloadToken(ctx, room1, up.FileURL); replyCode(err) != 403 {
			t.Fatalf("getfdtok by a non-member: %v", err)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, name := range []string{"", "../etc/passwd", "a\tb", strings.Repeat("n", 256)} {
			if _, err := a.UploadToken(ctx, room1, name); replyCode(err) != 400 {
				t.Fatalf("getfutok for name %q: %v", name, err)
			}
		}
		if _, err := a.UploadToken(ctx, "ma-chan://example.com/nope", "x"); replyCode(err) != 404 {
			t.Fatalf("getfutok for no room: %v", err)
		}
		if _, err := a.DownloadToken(ctx, room1, "http://elsewhere/files/x"); replyCode(err) != 404 {
			t.Fatalf("getfdtok for a foreign URL: %v", err)
		}
	})
	t.Run("oversize", func(t *testing.T) {
		tok, err := a.UploadToken(ctx, room1, "big")
		if err != nil {
			t.Fatal(err)
		}
		if err := put(tok, make([]byte, max+1)); status(err) != http.StatusRequestEntityTooLarge {
			t.Fatalf("declared oversize: %v", err)
		}
		// chunked (no length declared): cut at the limit
		err = sipclient.UploadFile(ctx, http.DefaultClient, tok, io.MultiReader(bytes.NewReader(make([]byte, max)), strings.NewReader("x")), -1)
		if status(err) != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked oversize: %v", err)
		}
	})
	t.Run("bad token bytes", func(t *testing.T) {
		for _, auth := range []string{"", "Basic YWxpY2U6eA==", "Bearer ", "Bearer " + strings.Repeat("A", 43), "Bearer " + strings.Repeat("\xff", 300), "Bearer " + up.Token + "x"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, up.ServerURI, strings.NewReader("data"))
			if auth != "" {
				req.Header["Authorization"] = []string{auth}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: %d", auth, resp.StatusCode)
			}
		}
		for _, p := range []string{"/files/", "/files/../../etc/passwd", "/files/" + strings.Repeat("G", 32), "/other"} {
			resp, err := http.Get(fs.srv.FilesURL() + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET %s: %d", p, resp.StatusCode)
			}
		}
	})
	t.Run("half-sent upload", func(t *testing.T) {
		u, _ := url.Parse(up.ServerURI)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 500\r\n\r\n0123456789", u.Path, u.Host, up.Token)
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("half-sent upload: %d", resp.StatusCode)
			}
		}
		conn.Close()
		// the response came after the cleanup; without one, poll
		for deadline := time.Now().Add(5 * time.Second); folderFiles(t, fs) != 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("a half-sent upload left %d files", folderFiles(t, fs))
			}
		}
	})
	t.Run("single use", func(t *testing.T) {
		// the half-sent upload did not spend the token
		if err := put(up, []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := put(up, []byte("second")); status(err) != http.StatusUnauthorized {
			t.Fatalf("a reused upload token: %v", err)
		}
		dt, err := a.DownloadToken(ctx, room1, up.FileURL)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, dt, &got); err != nil || got.String() != "first" {
			t.Fatalf("download after a refused reuse: %q %v", got.String(), err)
		}
		// tokens do one thing for one file
		if err := put(&sipclient.FileToken{Token: dt.Token, ServerURI: dt.ServerURI}, []byte("x")); status(err) != http.StatusForbidden {
			t.Fatalf("upload with a download token: %v", err)
		}
		other, err := a.UploadToken(ctx, room1, "b")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, &sipclient.FileToken{Token: dt.Token, ServerURI: other.ServerURI}, io.Discard); status(err) != http.StatusForbidden {
			t.Fatalf("a download token for another file: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		tok, err := a.UploadToken(ctx, room1, "late")
		if err != nil {
			t.Fatal(err)
		}
		dt, err := a.DownloadToken(ctx, room1, up.FileURL)
		if err != nil {
			t.Fatal(err)
		}
		fs.clock.Add(time.Minute)
		if err := put(tok, []byte("late")); status(err) != http.StatusUnauthorized {
			t.Fatalf("an expired upload token: %v", err)
		}
		if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, dt, io.Discard); status(err) != http.StatusUnauthorized {
			t.Fatalf("an expired download token: %v", err)
		}
	})
	t.Run("removed member", func(t *testing.T) {
		tok, err := a.UploadToken(ctx, room1, "x")
		if err != nil {
			t.Fatal(err)
		}
		if code := httpDo(t, fs.srv, "PUT", "/api/rooms/room1/members", `{"users": ["sip:bob@example.com"]}`); code != 200 {
			t.Fatalf("set members: %d", code)
		}
		if err := put(tok, []byte("x")); status(err) != http.StatusForbidden {
			t.Fatalf("an upload by a removed member: %v", err)
		}
		if code := httpDo(t, fs.srv, "PUT", "/api/rooms/room1/members", `{"users": ["sip:alice@example.com", "sip:bob@example.com"]}`); code != 200 {
			t.Fatalf("set members: %d", code)
		}
	})
	t.Run("room limit", func(t *testing.T) {
		tok, err := a.UploadToken(ctx, room1, "second")
		if err != nil {
			t.Fatal(err)
		}
		if err := put(tok, []byte("2")); err != nil {
			t.Fatal(err)
		}
		if _, err := a.UploadToken(ctx, room1, "third"); replyCode(err) != 413 {
			t.Fatalf("getfutok in a full room: %v", err)
		}
	})
	t.Run("token flood", func(t *testing.T) {
		n := 0
		var err error
		for ; n <= web.DefaultMaxUserTokens; n++ {
			if _, err = a.DownloadToken(ctx, room1, up.FileURL); err != nil {
				break
			}
		}
		var re *sipclient.ReplyError
		if !errors.As(err, &re) || re.Code != 503 || !strings.Contains(re.Text, "the limit for one user") || n > web.DefaultMaxUserTokens {
			t.Fatalf("after %d download tokens: %v, want 503 at the per-user limit", n, err)
		}
		fs.clock.Add(time.Minute) // they expire, and make room
		if _, err := a.DownloadToken(ctx, room1, up.FileURL); err != nil {
			t.Fatalf("a token after the others expired: %v", err)
		}
		if st := fs.srv.Stats().Files; st.Tokens > web.DefaultMaxUserTokens+1 {
			t.Fatalf("%d tokens outstanding", st.Tokens)
		}
	})
	if n := folderFiles(t, fs); n != 2 {
		t.Fatalf("the files folder holds %d files, want 2", n)
	}
}

// folderFiles counts the entries of the files folder (temporary files of
// uploads in progress included).
func folderFiles(t *testing.T, fs fileServer) int {
	t.Helper()
	ents, err := os.ReadDir(fs.dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFilesOverHTTPS: with a tls.Config the web service serves HTTPS, its
// URLs are https://, and a client that trusts the CA uploads and
// downloads; a plain HTTP request to it gets no file.
func TestFilesOverHTTPS(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, err := tlsconf.NewCA("gcload test CA", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(tlsconf.Leaf{Hosts: []string{"127.0.0.1"}, Server: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", fAlice, fBob)),
		refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: t.TempDir(), TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}))
	if !strings.HasPrefix(srv.FilesURL(), "https://127.0.0.1:") {
		t.Fatalf("files URL %s, want https://", srv.FilesURL())
	}
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), fAlice, sipclient.FlowClient)
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer hc.CloseIdleConnections()
	tok, err := a.UploadToken(ctx, room1, "secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := sipclient.UploadFile(ctx, hc, tok, strings.NewReader("over TLS"), 8); err != nil {
		t.Fatal(err)
	}
	dt, err := a.DownloadToken(ctx, room1, tok.FileURL)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, _, err := sipclient.DownloadFile(ctx, hc, dt, &got); err != nil || got.String() != "over TLS" {
		t.Fatalf("download over TLS: %q %v", got.String(), err)
	}
	plain := &sipclient.FileToken{Token: dt.Token, ServerURI: "http://" + strings.TrimPrefix(dt.ServerURI, "https://")}
	if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, plain, io.Discard); err == nil {
		t.Fatal("a plain HTTP download from the HTTPS service succeeded")
	}
}

// TestFilePostsDropArchiveRecords: under drop-archive-records a file post
// counts as a post: the 10th of ten uploads is acknowledged and delivered
// without its CHAT and FILEUPLOAD records.
func TestFilePostsDropArchiveRecords(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	fs := startFiles(t, 1<<20, 100, refserver.WithStore(st), refserver.WithFaults(fault.Set{}.With(fault.DropArchiveRecords)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, fs.srv.TCPAddr(), fAlice, sipclient.FlowClient)
	for i := 0; i < 10; i++ {
		tok, err := a.UploadToken(ctx, room1, fmt.Sprintf("f%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := sipclient.UploadFile(ctx, http.DefaultClient, tok, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	ev, _, err := st.ReadArchive(ctx, store.ArchiveQuery{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[store.EventKind]int{}
	for _, e := range ev {
		kinds[e.Kind]++
		if e.Text == "f9" || e.Detail == "f9" {
			t.Errorf("the 10th file post archived: %+v", e)
		}
	}
	if kinds[store.EventChat] != 9 || kinds[store.EventFileUpload] != 9 {
		t.Fatalf("archive kinds %v, want 9 CHAT and 9 FILEUPLOAD", kinds)
	}
	if h, err := st.History(ctx, "room1", 20); err != nil || len(h) != 10 {
		t.Fatalf("history: %d posts, %v", len(h), err)
	}
}
