package refserver_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipclient"
)

const (
	crashEnv = "GCLOAD_CRASH_CHILD_DB"
	// poolEnv: a server of a pool whose database is the value
	poolEnv = "GCLOAD_POOL_CHILD_DB"
)

func TestMain(m *testing.M) {
	// the server process the crash test kills: its database is the value
	// of crashEnv (an SQLite file or a postgres:// URL)
	if refservertest.ChildMain(crashEnv, func(db string) ([]refserver.Option, error) {
		dbOpt := refserver.WithDB(db)
		if postgres.IsURL(db) {
			dbOpt = refserver.WithPostgres(db)
		}
		opts := []refserver.Option{dbOpt,
			refserver.WithRooms(refservertest.Room("room1", "sip:w0@example.com", "sip:w1@example.com", "sip:w2@example.com", "sip:w3@example.com"))}
		if !postgres.IsURL(db) {
			// file posts too, their files next to the database
			opts = append(opts, refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: db + ".files"}))
		}
		return opts, nil
	}) {
		return
	}
	if refservertest.ChildMain(poolEnv, func(db string) ([]refserver.Option, error) {
		return []refserver.Option{refserver.WithPostgres(db), fastPool,
			refserver.WithRooms(refservertest.Room("room1", refservertest.Users("example.com", 6)...))}, nil
	}) {
		return
	}
	code := pgtest.Main(m)
	if code == 0 {
		// goleak: a goroutine a server (or a test's client) started that
		// outlives the tests fails the package; every one must be waited
		// for by its Close
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestCrashKeepsAcknowledgedPosts kills the server (SIGKILL) while posts
// are in flight; every post it acknowledged is in the database after, and
// in the compliance archive once (with every join), on SQLite and on
// PostgreSQL. It catches a post acknowledged before its
// commit; a process crash keeps the kernel's page cache, so it cannot tell
// a missing fsync (a power cut) from a done one: synchronous=FULL in the
// SQLite store, and synchronous_commit=on with fsync on in PostgreSQL, are
// what cover that (for PostgreSQL, store/postgres's TestPostgresCrash kills
// the database server itself).
func TestCrashKeepsAcknowledgedPosts(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a server process")
	}
	t.Run("sqlite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "crash.db")
		crash(t, db, func() (store.Store, error) { return sqlite.Open(db) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Shared(t).NewDatabase(t)
		crash(t, url, func() (store.Store, error) { return postgres.Open(ctxT(t), url) })
	})
}

func crash(t *testing.T, db string, open func() (store.Store, error)) {
	child := refservertest.StartChild(t, crashEnv, db)
	addr := child.Addr
	ctx := ctxT(t)
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		c, err := sipclient.New(sipclient.Config{User: fmt.Sprintf("sip:w%d@example.com", w), Server: addr})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("w%d post %d", w, i)
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := c.Post(pctx, room1, text)
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[text] = true
				mu.Unlock()
			}
		}()
	}
	// with file posts on (SQLite), a fifth client uploads files meanwhile
	files := !postgres.IsURL(db)
	uploaded := map[string]string{} // file id -> SHA-256 of what was sent
	names := map[string]string{}    // file id -> name
	if files {
		c, err := sipclient.New(sipclient.Config{User: "sip:w0@example.com", Server: addr})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 2 * time.Second}
		defer hc.CloseIdleConnections()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := bytes.Repeat([]byte(fmt.Sprintf("file %d ", i)), 500)
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				name := fmt.Sprintf("f%d.txt", i)
				tok, err := c.UploadToken(pctx, room1, name)
				if err == nil {
					err = sipclient.UploadFile(pctx, hc, tok, bytes.NewReader(data), int64(len(data)))
				}
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				id := tok.FileURL[strings.LastIndexByte(tok.FileURL, '/')+1:]
				uploaded[id], names[id] = sum(data), name
				mu.Unlock()
			}
		}()
	}
	// kill it while posts are in flight, once a few were acknowledged
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n, u := len(acked), len(uploaded)
		mu.Unlock()
		if n >= 20 && (!files || u >= 3) || time.Now().After(deadline) {
			break
		}
	}
	if err := child.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 10 {
		t.Fatalf("only %d posts acknowledged before the crash", n)
	}
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.History(ctx, "room1", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range h {
		stored[m.Text] = true
	}
	for text := range acked {
		if !stored[text] {
			t.Errorf("acknowledged post %q lost in the crash", text)
		}
	}
	// every file whose upload was answered 201: its bytes, its row and
	// its post
	posted := map[string]bool{}
	for _, m := range h {
		if m.File != "" {
			posted[m.File] = true
		}
	}
	if files && len(uploaded) < 3 {
		t.Fatalf("only %d files uploaded before the crash", len(uploaded))
	}
	for id, want := range uploaded {
		f, err := st.File(ctx, id)
		b, rerr := os.ReadFile(filepath.Join(db+".files", id))
		switch {
		case err != nil:
			t.Errorf("uploaded file %s lost its row in the crash: %v", id, err)
		case rerr != nil || sum(b) != want || f.SHA256 != want || f.Size != int64(len(b)):
			t.Errorf("uploaded file %s after the crash: row %+v, bytes %v (%d), want SHA-256 %s", id, f, rerr, len(b), want)
		case !posted[id]:
			t.Errorf("uploaded file %s lost its post in the crash", id)
		}
	}
	// and the compliance archive has every acknowledged post and join,
	// once each
	archived := map[string]int{}
	var cur store.Cursor
	for {
		page, next, err := st.ReadArchive(ctx, store.ArchiveQuery{After: cur})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			archived[string(e.Kind)+" "+e.User+" "+e.Text]++
		}
		cur = next
	}
	for text := range acked {
		w := text[:2]
		if k := "CHAT sip:" + w + "@example.com " + text; archived[k] != 1 {
			t.Errorf("acknowledged post %q archived %d times after the crash, want once", text, archived[k])
		}
	}
	for w := 0; w < 4; w++ {
		if k := fmt.Sprintf("JOIN sip:w%d@example.com ", w); archived[k] != 1 {
			t.Errorf("%q archived %d times after the crash, want once", k, archived[k])
		}
	}
	for id, name := range names {
		if k := "CHAT sip:w0@example.com " + name; archived[k] != 1 {
			t.Errorf("the post of uploaded file %s (%s) archived %d times after the crash, want once", id, name, archived[k])
		}
	}
	t.Logf("%d posts and %d files acknowledged before SIGKILL, %d posts stored, %d distinct archive records", n, len(uploaded), len(h), len(archived))
}
