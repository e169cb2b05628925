package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver/adminclient"
)

// lockedWriter is standard error for a command running on another
// goroutine.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// serveFor runs gcload serve with args and environment getenv until stop
// is called; it returns serve's first line of output and its standard
// error so far.
func serveFor(t *testing.T, getenv func(string) string, args ...string) (line string, stderr *lockedWriter, stop func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	sig := make(chan os.Signal, 1)
	served := make(chan int, 1)
	stderr = &lockedWriter{}
	go func() {
		env := &Env{Stdout: pw, Stderr: stderr, Signals: sig, Now: time.Now, Getenv: getenv,
			Args: append([]string{"serve", "--listen", "127.0.0.1:0", "--udp=false", "--log-level", "warn"}, args...)}
		served <- Main(env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q: %v (exit %d); stderr:\n%s", line, err, <-served, stderr)
	}
	go io.Copy(io.Discard, pr)
	return line, stderr, func() int { sig <- os.Interrupt; return <-served }
}

// TestServeAdminAPI: serve's admin API listens on loopback for ":PORT",
// writes its token to a file next to the database only its owner reads
// (or takes it from GCLOAD_ADMIN_TOKEN, writing no file), and warns on
// standard error when told to listen beyond loopback.
func TestServeAdminAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "gc.db")
	adminRE := regexp.MustCompile(`admin API (http://[^\s,]+)`)
	line, stderr, stop := serveFor(t, nil, "--admin", ":0", "--db", db)
	if m := adminRE.FindStringSubmatch(line); m == nil || !strings.HasPrefix(m[1], "http://127.0.0.1:") {
		t.Fatalf("--admin :0: %q, want an admin API on 127.0.0.1", line)
	}
	if !strings.Contains(line, "(token in "+db+".admin-token)") {
		t.Fatalf("serve does not name the token file: %q", line)
	}
	st, err := os.Stat(db + ".admin-token")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", st, err)
	}
	if code := stop(); code != 0 || strings.Contains(stderr.String(), "WARNING") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}

	token := "a-token-from-the-environment"
	db2 := filepath.Join(dir, "gc2.db")
	line, stderr, stop = serveFor(t, func(k string) string {
		if k == adminclient.TokenEnv {
			return token
		}
		return ""
	}, "--admin", "0.0.0.0:0", "--db", db2)
	if strings.Contains(line, "token in") {
		t.Fatalf("a token from the environment was written to a file: %q", line)
	}
	if _, err := os.Stat(db2 + ".admin-token"); !os.IsNotExist(err) {
		t.Fatalf("token file written though the token came from the environment: %v", err)
	}
	m := adminRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no admin API in %q", line)
	}
	base := m[1] // http://[::]:PORT: every interface, loopback among them
	if _, err := adminclient.New(base, token).Stats(t.Context()); err != nil {
		t.Fatalf("the environment's token: %v", err)
	}
	_, err = adminclient.New(base, "").Stats(t.Context())
	var se *adminclient.StatusError
	if !errors.As(err, &se) || se.Code != 401 || !strings.Contains(err.Error(), adminclient.TokenEnv) {
		t.Fatalf("without a token: %v, want 401 naming %s", err, adminclient.TokenEnv)
	}
	if code := stop(); code != 0 || !strings.Contains(stderr.String(), "WARNING: the admin API listens on "+strings.TrimPrefix(m[1], "http://")+", beyond this machine's loopback") {
		t.Fatalf("exit %d; stderr %q, want a warning about listening beyond loopback", code, stderr)
	}
}

// TestServeFiles: --files-listen starts the web service for file posts,
// names its URL, and keeps the files next to the database by default.
func TestServeFiles(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "gc.db")
	line, stderr, stop := serveFor(t, nil, "--files-listen", "127.0.0.1:0", "--db", db)
	if !regexp.MustCompile(`, files http://127\.0\.0\.1:\d+,`).MatchString(line) {
		t.Fatalf("serve does not name the files URL: %q", line)
	}
	if st, err := os.Stat(db + ".files"); err != nil || !st.IsDir() {
		t.Fatalf("files folder: %v %v", st, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeFilesTLS: with --tls-listen, --cert and --key the web service
// serves HTTPS with the server's certificate.
func TestServeFilesTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if code := Main(&Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: []string{"cert", "--out", dir, "--host", "127.0.0.1"}}); code != 0 {
		t.Fatalf("gcload cert: exit %d: %s", code, out.String())
	}
	line, stderr, stop := serveFor(t, nil, "--db", filepath.Join(dir, "gc.db"), "--files-listen", "127.0.0.1:0",
		"--tls-listen", "127.0.0.1:0", "--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server-key.pem"))
	m := regexp.MustCompile(`, files (https://127\.0\.0\.1:\d+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve does not name an https files URL: %q", line)
	}
	cfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(m[1] + "/files/" + strings.Repeat("0", 32))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET over TLS without a token: %d, want 401", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
