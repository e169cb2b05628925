package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/store/postgres"
)

// TestServePostgres: gcload serve --db postgres://... stores in that
// database (every acknowledged post of a run is there after), and prints
// the URL without its password.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	url := strings.Replace(pgtest.Shared(t).NewDatabase(t), "gcload@", "gcload:s3cret@", 1) // trust: any password
	pr, pw := io.Pipe()
	sig := make(chan os.Signal, 1)
	served := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		const token = "a-token-for-the-postgres-test"
		env := &Env{Stdout: pw, Stderr: &stderr, Signals: sig, Now: time.Now,
			Getenv: func(k string) string {
				if k == adminclient.TokenEnv {
					return token
				}
				return ""
			},
			Args: []string{"serve", "--listen", "127.0.0.1:0", "--udp=false", "--admin", "127.0.0.1:0", "--db", url}}
		served <- Main(env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q: %v (exit %d) %s", line, err, <-served, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	if strings.Contains(line, "s3cret") || !strings.Contains(line, "database postgres://gcload:xxxxx@127.0.0.1:") {
		t.Errorf("serve's first line should name the database without its password: %q", line)
	}
	m := regexp.MustCompile(`SIP on (\S+), lookup (\S+), .*admin API ([^\s,]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve's first line: %q", line)
	}
	out := filepath.Join(t.TempDir(), "res")
	run := gcload(t, nil, append([]string{"run", "smoke", "--target", m[2], "--server", m[1], "--admin", m[3], "--admin-token", "a-token-for-the-postgres-test", "--out", out}, quick...)...)
	sig <- os.Interrupt
	if code := <-served; code != 0 {
		t.Fatalf("serve exit %d: %s", code, stderr.String())
	}
	if run.code != 0 {
		t.Fatalf("run exit %d\n%s", run.code, run.stdout)
	}
	s := readSummary(t, out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last, err := st.LastSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored uint64
	for room := range last {
		h, err := st.ReadSince(ctx, room, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		stored += uint64(len(h))
	}
	if s.Delivery.Posts == 0 || stored != uint64(s.Delivery.Posts) {
		t.Fatalf("%d posts acknowledged in the run, %d in PostgreSQL", s.Delivery.Posts, stored)
	}
}
