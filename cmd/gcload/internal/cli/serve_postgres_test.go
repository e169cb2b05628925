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
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store/postgres"
)

// TestServePostgres: gcload serve --db postgres://... stores in that
// database (every acknowledged post of a run is there after, and the
// compliance scenario's cross-check of the archive passes), prints the URL
// without its password, and gcload compliance export reads that archive
// (every acknowledged post once).
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
	run := gcload(t, nil, append([]string{"run", "compliance", "--target", m[2], "--server", m[1], "--admin", m[3], "--admin-token", "a-token-for-the-postgres-test", "--out", out}, quick...)...)
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
	if cc := s.Compliance; cc == nil || cc.Checked < s.Delivery.Posts || cc.Missing != 0 || cc.Extra != 0 {
		t.Fatalf("the compliance cross-check on PostgreSQL: %+v", cc)
	}
	dir := t.TempDir()
	if r := gcload(t, nil, "compliance", "export", "--db", url, "--out", dir); r.code != 0 {
		t.Fatalf("compliance export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	posts := exportedPosts(t, files)
	if int64(len(posts)) != s.Delivery.Posts {
		t.Fatalf("%d posts exported from PostgreSQL, %d acknowledged", len(posts), s.Delivery.Posts)
	}
}

// TestRunEmbeddedPool: gcload run pool (shortened) starts three server
// processes on the database --db names, kills the second mid-run as the
// scenario says, and passes: the console shows each server's share, the
// killed one marked, and the reconnections; summary.json has the three.
// --db without a pool is bad input.
func TestRunEmbeddedPool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	url := pgtest.Shared(t).NewDatabase(t)
	out := filepath.Join(t.TempDir(), "res")
	r := gcload(t, nil, "run", "pool", "--db", url, "--out", out, "--progress", "none",
		"--set", "users.count=30", "--set", "phases.steady.duration=6s", "--set", "target.embedded.kill.at=3s", "--set", "drain=1s",
		"--set", "rooms.classes[1].size=20")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"servers", "(killed)", "reconnects", "reconnected"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, r.stdout)
		}
	}
	s := readSummary(t, out)
	if len(s.Servers) != 3 {
		t.Fatalf("summary.json servers: %+v", s.Servers)
	}
	r = gcload(t, nil, "run", "smoke", "--db", url)
	if r.code != 2 || !strings.Contains(r.stderr, "--embedded-pool") {
		t.Fatalf("--db without a pool: exit %d %s", r.code, r.stderr)
	}
}

// TestRunSeveralServers: --server takes two addresses of one pool (two
// servers on one PostgreSQL); the users are spread over both, and the
// summary counts each server's share.
func TestRunSeveralServers(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a := refservertest.Start(t, refserver.WithPostgres(url))
	b := refservertest.Start(t, refserver.WithPostgres(url))
	out := filepath.Join(t.TempDir(), "res")
	r := gcload(t, nil, append([]string{"run", "smoke", "--target", a.LookupURI(), "--server", a.TCPAddr() + "," + b.TCPAddr(),
		"--admin", a.AdminURL(), "--admin-token", refservertest.AdminToken, "--out", out}, quick...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	if len(s.Servers) != 2 || s.Servers[0].Server != a.TCPAddr() || s.Servers[1].Server != b.TCPAddr() {
		t.Fatalf("servers %+v", s.Servers)
	}
	for _, sc := range s.Servers {
		if sc.Users == 0 || sc.Deliveries == 0 {
			t.Fatalf("server %s took no share: %+v", sc.Server, sc)
		}
	}
	if !strings.Contains(r.stdout, "servers") || !strings.Contains(r.stdout, b.TCPAddr()) {
		t.Fatalf("the console summary does not show the servers:\n%s", r.stdout)
	}
}

// TestServePool: two gcload serve on one PostgreSQL form a pool, as
// README's "A pool" says: each first line names its pool server, the
// admin API's stats of each list both (their IDs from --server-id, their
// channel services on their own addresses), and a server stopped is gone
// from the other's list. A TTL shorter than two heartbeats is bad input.
func TestServePool(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewDatabase(t)
	const token = "a-token-for-the-pool-test"
	type served struct {
		line, sip, admin string
		sig              chan os.Signal
		code             chan int
	}
	serve := func(id string) *served {
		pr, pw := io.Pipe()
		s := &served{sig: make(chan os.Signal, 1), code: make(chan int, 1)}
		var stderr strings.Builder
		go func() {
			env := &Env{Stdout: pw, Stderr: &stderr, Signals: s.sig, Now: time.Now,
				Getenv: func(k string) string {
					if k == adminclient.TokenEnv {
						return token
					}
					return ""
				},
				Args: []string{"serve", "--listen", "127.0.0.1:0", "--udp=false", "--admin", "127.0.0.1:0", "--db", url,
					"--server-id", id, "--heartbeat", "100ms", "--server-ttl", "1s"}}
			s.code <- Main(env)
			pw.Close()
		}()
		line, err := bufio.NewReader(pr).ReadString('\n')
		if err != nil {
			t.Fatalf("serve %s printed %q: %v (exit %d) %s", id, line, err, <-s.code, stderr.String())
		}
		go io.Copy(io.Discard, pr)
		m := regexp.MustCompile(`SIP on (\S+), lookup \S+, channels .*admin API ([^\s,]+)`).FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, ", pool server "+id+" (") {
			t.Fatalf("serve %s's first line should name its pool server: %q", id, line)
		}
		s.line, s.sip, s.admin = line, m[1], m[2]
		t.Cleanup(func() {
			select {
			case s.sig <- os.Interrupt:
			default:
			}
			<-s.code
		})
		return s
	}
	gc1, gc2 := serve("gc1"), serve("gc2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := adminclient.New(gc1.admin, token)
	// servers lists gc1's view of the pool: id → its channel services
	servers := func() map[string][]string {
		st, err := admin.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pool == nil || st.Pool.ID != "gc1" {
			t.Fatalf("gc1's stats name no pool, or another server: %+v", st.Pool)
		}
		out := map[string][]string{}
		for _, s := range st.Pool.Servers {
			out[s.ID] = s.URIs
		}
		return out
	}
	waitFor := func(what string, ok func(map[string][]string) bool) map[string][]string {
		for {
			got := servers()
			if ok(got) {
				return got
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: gc1 lists %v", what, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := waitFor("both servers live", func(m map[string][]string) bool { return len(m) == 2 })
	for id, sip := range map[string]string{"gc1": gc1.sip, "gc2": gc2.sip} {
		if len(got[id]) == 0 || !strings.HasSuffix(got[id][0], "@"+sip) {
			t.Errorf("gc1 lists %s with the channel services %v, want them on %s", id, got[id], sip)
		}
	}
	gc2.sig <- os.Interrupt
	if code := <-gc2.code; code != 0 {
		t.Fatalf("gc2 exit %d", code)
	}
	gc2.code <- 0 // for its cleanup
	waitFor("gc2 gone once stopped", func(m map[string][]string) bool { _, ok := m["gc2"]; return len(m) == 1 && !ok })

	r := gcload(t, nil, "serve", "--listen", "127.0.0.1:0", "--udp=false", "--db", url, "--heartbeat", "1s", "--server-ttl", "1500ms")
	if r.code != 2 || !strings.Contains(r.stderr, "TTL") {
		t.Fatalf("--server-ttl under two heartbeats: exit %d, %s", r.code, r.stderr)
	}
}

// TestRunPoolBadInput: an embedded pool's flags refused with a clear
// error naming the flag or the scenario field, before anything starts.
func TestRunPoolBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "smoke", "--db", "postgres://gcload@localhost/gcload"}, "--embedded-pool"},
		{[]string{"run", "smoke", "--embedded-pool", "2", "--db", "gc.db"}, `--db "gc.db": want a postgres:// URL`},
		{[]string{"run", "smoke", "--embedded-pool", "9"}, "target.embedded.pool"},
		{[]string{"run", "smoke", "--embedded-pool", "2", "--set", "transport=udp"}, "an embedded pool listens on TCP only"},
		{[]string{"run", "pool", "--set", "target.embedded.kill.server=4"}, "target.embedded.kill.server"},
	} {
		r := gcload(t, nil, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("gcload %s: exit %d, want 2 and %q in:\n%s", strings.Join(c.args, " "), r.code, c.want, r.stderr)
		}
	}
}
