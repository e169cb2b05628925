package coordinate

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// coord is a coordinator running on a random loopback port.
type coord struct {
	srv  *Server
	url  string
	dir  string
	done chan struct{}
	out  *Outcome
	err  error
}

// startCoordinator runs a Server with test timings (fast heartbeats) unless
// opts sets them.
func startCoordinator(t *testing.T, opts Options) *coord {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.ScenarioHash == "" {
		opts.ScenarioHash = "hash-of-the-scenario"
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 50 * time.Millisecond
	}
	if opts.HeartbeatTimeout == 0 {
		opts.HeartbeatTimeout = 2 * time.Second
	}
	if opts.LostGrace == 0 {
		opts.LostGrace = 400 * time.Millisecond
	}
	if opts.StartLead == 0 {
		opts.StartLead = 200 * time.Millisecond
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 20 * time.Second
	}
	if opts.ResultsTimeout == 0 {
		opts.ResultsTimeout = 20 * time.Second
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if opts.TLSConfig != nil {
		scheme = "https"
	}
	c := &coord{srv: srv, url: scheme + "://" + ln.Addr().String(), dir: opts.Dir, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(c.done)
		c.out, c.err = srv.Run(ctx, ln)
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

// wait waits for Run to return.
func (c *coord) wait(t *testing.T, d time.Duration) (*Outcome, error) {
	t.Helper()
	select {
	case <-c.done:
		return c.out, c.err
	case <-time.After(d):
		t.Fatalf("the coordinator did not finish within %v: %+v", d, c.srv.Outcome())
		return nil, nil
	}
}

func (c *coord) client(i int) ClientOptions {
	return ClientOptions{
		URL: c.url, Index: i, Host: fmt.Sprintf("host%d", i), Version: c.srv.opts.Version,
		ScenarioHash: c.srv.opts.ScenarioHash, Token: c.srv.opts.Token,
		Samples: 6, SampleGap: time.Millisecond, DialTimeout: 5 * time.Second,
	}
}

// results writes a small results folder for shard i.
func results(t *testing.T, i int) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"summary.json":      fmt.Sprintf(`{"shard":"%d/3"}`, i),
		"post_ack.hgrm":     strings.Repeat("0.5 0.1 1 1.0\n", 100),
		"charts/lat.svg":    "<svg/>",
		"accounting.gob.gz": strings.Repeat(string(rune('a'+i)), 5000),
	})
	return dir
}

// The whole run: three shards whose clocks are off by known amounts
// register, are measured, start together, and send their results.
func TestRunThreeShards(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 3, Version: "v1"})
	skews := []time.Duration{0, 250 * time.Millisecond, -1500 * time.Millisecond} // shard clock − true time
	starts := make([]Start, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := c.client(i + 1)
			o.Clock = func() time.Time { return time.Now().Add(skews[i]) }
			cl, err := Dial(context.Background(), o)
			if err != nil {
				errs[i] = err
				return
			}
			defer cl.Close()
			if starts[i], err = cl.Join(context.Background()); err != nil {
				errs[i] = err
				return
			}
			errs[i] = cl.Upload(context.Background(), results(t, i+1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i+1, err)
		}
	}
	out, err := c.wait(t, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Dead()) != 0 {
		t.Fatalf("dead shards: %+v", out.Dead())
	}
	for i, sh := range out.Shards {
		skew := skews[i]
		if sh.State != StateDone || sh.Index != i+1 || sh.Host != fmt.Sprintf("host%d", i+1) || !strings.HasPrefix(sh.Addr, "127.0.0.1:") {
			t.Errorf("shard %d: %+v", i+1, sh)
		}
		// the coordinator's clock minus the shard's is −skew
		for _, off := range []*Offset{sh.Offset, sh.EndOffset} {
			if off == nil {
				t.Fatalf("shard %d: offset not recorded: %+v", i+1, sh)
			}
			if d := (off.Offset + skew).Abs(); d > off.Uncertainty || off.Samples != 6 {
				t.Errorf("shard %d: measured %v, injected %v: error %v beyond the uncertainty %v", i+1, off.Offset, -skew, d, off.Uncertainty)
			}
			t.Logf("shard %d: injected %v, measured %v", i+1, -skew, off)
		}
		st := starts[i]
		if so := *sh.Offset; !st.At.Equal(out.Start) || st.Offset.Offset != so.Offset || st.Offset.Uncertainty != so.Uncertainty || !st.Offset.At.Equal(so.At) {
			t.Errorf("shard %d: start %v offset %v, coordinator's %v %v", i+1, st.At, st.Offset, out.Start, *sh.Offset)
		}
		// the local start, back on the true clock, is the shared start
		if d := st.Local.Add(-skew).Sub(out.Start).Abs(); d > sh.Offset.Uncertainty {
			t.Errorf("shard %d starts %v from the shared start (uncertainty %v)", i+1, d, sh.Offset.Uncertainty)
		}
		if got, want := readTree(t, sh.Dir), readTree(t, results(t, i+1)); fmt.Sprint(got) != fmt.Sprint(want) || sh.Files != 4 {
			t.Errorf("shard %d: received folder differs (%d files)", i+1, sh.Files)
		}
		if want := filepath.Join(c.dir, fmt.Sprintf("shard-%d", i+1)); sh.Dir != want {
			t.Errorf("shard %d in %s, want %s", i+1, sh.Dir, want)
		}
	}
	if len(out.Dirs()) != 3 || out.MaxUncertainty() <= 0 {
		t.Errorf("dirs %v, max uncertainty %v", out.Dirs(), out.MaxUncertainty())
	}
	// nothing but the three folders in Dir
	if ents, _ := os.ReadDir(c.dir); len(ents) != 3 {
		t.Errorf("%d entries in the results folder, want 3", len(ents))
	}
}

func refused(t *testing.T, err error, status int, want ...string) {
	t.Helper()
	var ref *RefusedError
	if !errors.As(err, &ref) || ref.Status != status {
		t.Fatalf("error %v, want a %d refusal", err, status)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestRegistrationRefusals(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 2, Version: "v1", Token: "run-secret", ScenarioHash: "aaaaaaaaaaaaaaaaaaaa"})
	ctx := context.Background()
	dial := func(change func(*ClientOptions)) error {
		o := c.client(1)
		change(&o)
		cl, err := Dial(ctx, o)
		if err == nil {
			t.Cleanup(func() { cl.Close() })
		}
		return err
	}
	t.Run("no token", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Token = "" }), 401, "token")
	})
	t.Run("wrong token", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Token = "guess" }), 401, "token")
	})
	t.Run("another scenario", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.ScenarioHash = "bbbbbbbbbbbbbbbbbbbb" }), 409, "shard 1 (host1) runs another scenario", "bbbbbbbbbbbb", "aaaaaaaaaaaa")
	})
	t.Run("another version", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Version = "v2" }), 409, "runs gcload v2, the coordinator v1")
	})
	t.Run("index out of range", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Index = 3 }), 409, "shard index 3 is out of range: this run has 2 shards")
	})
	t.Run("another number of shards", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Of = 3 }), 409, "this run has 2 shards, not 3")
	})
	t.Run("not printable", func(t *testing.T) {
		refused(t, dial(func(o *ClientOptions) { o.Host = "evil\x1b[2J" }), 400, "not printable")
	})
	t.Run("index taken by a live shard", func(t *testing.T) {
		if err := dial(func(*ClientOptions) {}); err != nil {
			t.Fatal(err)
		}
		refused(t, dial(func(o *ClientOptions) { o.Host = "intruder" }), 409, "shard 1 is already registered from host1")
	})
}

// Once the run started, no shard can join, not even one replacing a shard
// whose connections closed.
func TestLateRegistrationRefused(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	clients := make([]*Client, 2)
	for i := range 2 {
		cl, err := Dial(ctx, c.client(i+1))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[i] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Join(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	clients[1].Close() // shard 2's connections close: it may be replaced only before the start
	o := c.client(2)
	o.Host = "replacement"
	_, err := Dial(ctx, o)
	refused(t, err, 409, "cannot join it late")
}

func TestBarrierNamesMissingShards(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 3, ReadyTimeout: 1500 * time.Millisecond})
	ctx := context.Background()
	one, err := Dial(ctx, c.client(1))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := Dial(ctx, c.client(2)) // registers, never says it is ready
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	joined := make(chan error, 1)
	go func() { _, err := one.Join(ctx); joined <- err }()
	out, err := c.wait(t, 10*time.Second)
	var be *BarrierError
	if !errors.As(err, &be) || !errors.Is(err, ErrBarrier) {
		t.Fatalf("Run: %v, want a barrier error", err)
	}
	msg := err.Error()
	for _, want := range []string{"1 of 3 shards ready after 1.5s", "shard 2/3 registered from host2 (127.0.0.1:", "but never ready", "shard 3/3 never registered"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if be.Ready != 1 || len(be.Missing) != 2 || be.Missing[0].Index != 2 || be.Missing[1].Index != 3 {
		t.Errorf("barrier error %+v", be)
	}
	if !out.Start.IsZero() {
		t.Errorf("a start was handed out: %v", out.Start)
	}
	// the waiting shard is told why
	refused(t, <-joined, 410, "will not start", "shard 3/3 never registered")
}

func TestDeadShardsAreNamed(t *testing.T) {
	c := startCoordinator(t, Options{
		Shards: 5, HeartbeatTimeout: time.Second, LostGrace: 300 * time.Millisecond, ResultsTimeout: 2500 * time.Millisecond,
		CheckResults: func(_ int, dir string) error {
			if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
				return errors.New("no summary.json")
			}
			return nil
		},
	})
	ctx := context.Background()
	clients := make([]*Client, 5)
	for i := range 5 {
		o := c.client(i + 1)
		if i == 2 {
			// shard 3 keeps its connections open when it goes silent
			o.HTTPClient = &http.Client{Transport: &http.Transport{}}
		}
		cl, err := Dial(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[i] = cl
	}
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Join(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := clients[0].Upload(ctx, results(t, 1)); err != nil {
		t.Fatal(err)
	}
	clients[1].Close() // its process dies: every connection closes
	clients[2].Close() // it hangs: silent, connections open
	bad := t.TempDir()
	writeTree(t, bad, map[string]string{"notes.txt": "no summary"})
	refused(t, clients[3].Upload(ctx, bad), 422, "not a results folder: no summary.json")
	if err := clients[4].Fail(ctx, errors.New("swarm: out of memory")); err != nil {
		t.Fatal(err)
	}
	out, err := c.wait(t, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dead := out.Dead()
	if len(dead) != 4 || out.Shards[0].State != StateDone {
		t.Fatalf("dead %+v", dead)
	}
	for i, want := range []string{
		"connection lost: 127.0.0.1:",
		"no heartbeat for 1s",
		"results not received within 2.5s of the start; its last upload was refused: not a results folder: no summary.json",
		"the shard gave up: swarm: out of memory",
	} {
		if !strings.Contains(dead[i].Dead, want) || dead[i].Index != i+2 {
			t.Errorf("shard %d dead because %q, want %q", dead[i].Index, dead[i].Dead, want)
		}
	}
	// shard 4, still sending heartbeats, heard it was declared dead
	select {
	case <-clients[3].Aborted():
		if r := clients[3].AbortReason(); !strings.Contains(r, "declared dead: results not received") {
			t.Errorf("shard 4 told %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Error("shard 4 was not told it is dead")
	}
}

// answer returns the coordinator's error message, or the raw body.
func answer(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	var e errorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return string(b)
}

// put sends raw bytes as a shard's results.
func put(t *testing.T, url, session string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url+PathResults, body)
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, answer(t, resp)
}

func post(t *testing.T, url, path, session, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, answer(t, resp)
}

// Hostile requests get a bounded, clear refusal and leave nothing behind.
func TestHostileRequests(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 2, Limits: Limits{Compressed: 64 << 10, Expanded: 1 << 20, Files: 10}})
	ctx := context.Background()
	var cls []*Client
	for i := 1; i <= 2; i++ {
		cl, err := Dial(ctx, c.client(i))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		cls = append(cls, cl)
	}
	sess := cls[0].session
	good := archive(t, file("summary.json", "{}"))
	expect := func(t *testing.T, code int, body string, wantCode int, want string) {
		t.Helper()
		if code != wantCode || !strings.Contains(body, want) {
			t.Errorf("got %d %s, want %d with %q", code, body, wantCode, want)
		}
	}
	t.Run("results before the start", func(t *testing.T) {
		code, body := put(t, c.url, sess, bytes.NewReader(good))
		expect(t, code, body, 409, "has not started")
	})
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = cl.Join(ctx) }()
	}
	wg.Wait()
	for _, tc := range []struct {
		name    string
		session string
		body    []byte
		code    int
		want    string
	}{
		{"no session", "", good, 401, "unknown session"},
		{"forged session", strings.Repeat("0", 32), good, 401, "unknown session"},
		{"path traversal", sess, archive(t, file("../../etc/cron.d/x", "* * * * * root sh")), 400, `"../../etc/cron.d/x": path escapes the folder`},
		{"symbolic link", sess, archive(t, entry{hdr: tar0("link", "/etc/shadow")}), 400, "symbolic link"},
		{"gzip bomb", sess, zeros(t, "bomb", 8<<20), 413, "past 1048576 bytes"},
		{"too large as sent", sess, archive(t, file("noise", string(noise(100<<10)))), 413, "over 65536 bytes"},
		{"not an archive", sess, []byte("hello"), 400, "not a gzip stream"},
		{"empty archive", sess, archive(t), 400, "no files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := put(t, c.url, tc.session, bytes.NewReader(tc.body))
			expect(t, code, body, tc.code, tc.want)
			if ents, _ := os.ReadDir(c.dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
	t.Run("json attacks", func(t *testing.T) {
		code, body := post(t, c.url, PathRegister, "", `{"index":1,"admin":true}`)
		expect(t, code, body, 400, `unknown field "admin"`)
		code, body = post(t, c.url, PathRegister, "", `{"index":1}{"index":2}`)
		expect(t, code, body, 400, "data after the JSON value")
		code, body = post(t, c.url, PathRegister, "", `{"host":"`+strings.Repeat("a", 100<<10)+`"}`)
		expect(t, code, body, 413, "over 65536 bytes")
		code, body = post(t, c.url, PathHeartbeat, "nope", `{}`)
		expect(t, code, body, 401, "unknown session")
		code, body = post(t, c.url, PathReady, sess, `{"sample":{"t0":1,"t1":2,"t2":3,"t3":4}}`)
		expect(t, code, body, 409, "not waiting for the start")
		code, body = post(t, c.url, PathOffset, sess, `{"sample":{"t0":1,"t1":2,"t2":3,"t3":4}}`)
		expect(t, code, body, 400, "not those of a recent clock exchange")
	})
	if err := cls[0].Upload(ctx, results(t, 1)); err != nil {
		t.Fatalf("a good upload after the attacks: %v", err)
	}
	code, body := put(t, c.url, sess, bytes.NewReader(good))
	expect(t, code, body, 409, "received already")
}

// noise is incompressible.
func noise(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func tar0(name, target string) tar.Header {
	return tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target}
}

func TestAbort(t *testing.T) {
	ctx := context.Background()
	t.Run("during the run: shards stop and send what they have", func(t *testing.T) {
		c := startCoordinator(t, Options{Shards: 2})
		var wg sync.WaitGroup
		for i := 1; i <= 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl, err := Dial(ctx, c.client(i))
				if err != nil {
					t.Error(err)
					return
				}
				defer cl.Close()
				if _, err := cl.Join(ctx); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-cl.Aborted():
				case <-time.After(10 * time.Second):
					t.Error("not aborted")
				}
				if r := cl.AbortReason(); !strings.Contains(r, "aborted the run: interrupted (Ctrl-C)") {
					t.Errorf("reason %q", r)
				}
				if err := cl.Upload(ctx, results(t, i)); err != nil {
					t.Error(err)
				}
			}()
		}
		eventually(t, "the start", func() bool { return !c.srv.Outcome().Start.IsZero() })
		c.srv.Abort("interrupted (Ctrl-C)")
		wg.Wait()
		out, err := c.wait(t, 10*time.Second)
		if err != nil || out.Aborted != "interrupted (Ctrl-C)" || len(out.Dirs()) != 2 {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("before the start: the run ends", func(t *testing.T) {
		c := startCoordinator(t, Options{Shards: 2})
		cl, err := Dial(ctx, c.client(1))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		joined := make(chan error, 1)
		go func() { _, err := cl.Join(ctx); joined <- err }()
		eventually(t, "shard 1 ready", func() bool { return c.srv.Outcome().Shards[0].State == StateReady })
		c.srv.Abort("operator said so")
		_, err = c.wait(t, 10*time.Second)
		if !errors.Is(err, ErrAborted) {
			t.Fatalf("Run: %v", err)
		}
		refused(t, <-joined, 410, "aborted before its start: operator said so")
	})
}

// A shard whose process died before the start may be replaced (Kubernetes
// starts a new pod with the same index); the old session is then refused.
func TestReplacementBeforeStart(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 2})
	ctx := context.Background()
	old, err := Dial(ctx, c.client(1))
	if err != nil {
		t.Fatal(err)
	}
	oldSession := old.session
	old.Close() // connections close
	o := c.client(1)
	o.Host = "replacement"
	var repl *Client
	deadline := time.Now().Add(5 * time.Second)
	for {
		if repl, err = Dial(ctx, o); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replacement refused: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer repl.Close()
	code, body := post(t, c.url, PathHeartbeat, oldSession, `{"state":"x"}`)
	if code != 410 || !strings.Contains(body, "superseded: shard 1 registered again from replacement") {
		t.Errorf("old session: %d %s", code, body)
	}
	if sh := c.srv.Outcome().Shards[0]; sh.Host != "replacement" {
		t.Errorf("shard 1 is %+v", sh)
	}
}

func TestDialWaitsForTheCoordinator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := NewServer(Options{Shards: 1, ScenarioHash: "h", Dir: t.TempDir(), ResultsTimeout: 10 * time.Second, HeartbeatInterval: 50 * time.Millisecond, StartLead: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dialed := make(chan error, 1)
	go func() {
		cl, err := Dial(context.Background(), ClientOptions{URL: "http://" + addr, Index: 1, ScenarioHash: "h", DialTimeout: 10 * time.Second})
		if err == nil {
			cl.Close()
		}
		dialed <- err
	}()
	time.Sleep(300 * time.Millisecond) // the shard starts first, as pods may
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _, _ = srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
	// and one that never finds a coordinator says so
	_, err = Dial(context.Background(), ClientOptions{URL: "http://127.0.0.1:1", Index: 1, DialTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no coordinator at http://127.0.0.1:1 within 300ms") {
		t.Errorf("error %v", err)
	}
}

func TestHTTPS(t *testing.T) {
	cert, pool := selfSigned(t)
	c := startCoordinator(t, Options{Shards: 1, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	o := c.client(1)
	ctx := context.Background()
	// a client that does not trust the certificate is refused, at once
	start := time.Now()
	if _, err := Dial(ctx, o); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") || time.Since(start) > 3*time.Second {
		t.Errorf("untrusted: %v after %v", err, time.Since(start))
	}
	o.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cl, err := Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Upload(ctx, results(t, 1)); err != nil {
		t.Fatal(err)
	}
	out, err := c.wait(t, 10*time.Second)
	if err != nil || len(out.Dirs()) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gcload coordinator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestNewServerRefusesAFolderWithResults(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "shard-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := NewServer(Options{Shards: 1, Dir: dir, ResultsTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "already holds shard results (shard-1)") {
		t.Errorf("error %v", err)
	}
	if _, err := NewServer(Options{Shards: 1, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no results timeout") {
		t.Errorf("error %v", err)
	}
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
