package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gcload/gcload/reports"
)

// watchWriter collects what is written and closes hit the first time the
// text so far contains want.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	// wantRE, when set, is what to watch for instead of want
	wantRE *regexp.Regexp
	hit    chan struct{}
	once   sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.wantRE != nil && w.wantRE.MatchString(w.buf.String()) || w.wantRE == nil && strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.hit) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestServerKilledMidRun: the server under test is killed (SIGKILL) once
// every user is online. The run does not pass: it stops early (the target
// went away), exits non-zero and says how many sessions were lost.
func TestServerKilledMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := startChildServer(ctx, t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	stderr := &watchWriter{want: "users 12/12", hit: make(chan struct{})}
	killed, ran := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-stderr.hit:
			_ = srv.cmd.Process.Kill()
		case <-ran:
		}
		close(killed)
	}()
	out := filepath.Join(t.TempDir(), "res")
	var stdout bytes.Buffer
	args := append([]string{"run", "smoke", "--target", srv.lookup, "--server", srv.addr, "--admin", srv.admin, "--admin-token", srv.token, "--out", out}, quick...)
	args = append(args, "--set", "phases.steady.duration=60s", "--progress", "plain", "--interval", "250ms")
	start := time.Now()
	code := Main(&Env{Stdout: &stdout, Stderr: stderr, Now: time.Now, Args: args})
	took := time.Since(start)
	close(ran)
	<-killed
	if code != reports.ExitThresholds {
		t.Fatalf("exit %d, want %d (fail)\n%s\n%s", code, reports.ExitThresholds, stdout.String(), stderr.String())
	}
	if took > 45*time.Second {
		t.Errorf("the run took %s: it should stop once every session is lost, not run its 60 s", took)
	}
	s := readSummary(t, out)
	if s.Counters[reports.CounterSessionsLost] != 12 || !strings.Contains(s.Stopped, "went away") {
		t.Fatalf("sessions_lost %d, stopped %q", s.Counters[reports.CounterSessionsLost], s.Stopped)
	}
	text := stdout.String()
	for _, want := range []string{"12 sessions lost", "verdict: FAIL", "the target went away"} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary does not say %q:\n%s", want, text)
		}
	}
	if i, j := strings.Index(text, "verdict:"), strings.Index(text, "generator:"); i < j {
		t.Errorf("the verdict is not printed last:\n%s", text)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestRunAgainstNothing: nothing listens at --server. The run ends within
// seconds with the exit code for an unreachable target, and the cause,
// "connection refused", is in its output without any debug flag.
func TestRunAgainstNothing(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	start := time.Now()
	r := gcload(t, nil, append([]string{"run", "smoke", "--target", "sip:ocschat@example.com", "--server", closedPort(t), "--out", out}, quick...)...)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s, want under 20 s", took)
	}
	if r.code != reports.ExitUnreachable {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, reports.ExitUnreachable, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "connection refused") {
		t.Fatalf("the output does not say connection refused:\n%s\n%s", r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	if s.Verdict != reports.VerdictUnreachable || len(s.Errors) == 0 || s.Errors[0].Cause != "connection refused" {
		t.Fatalf("verdict %q, errors %+v", s.Verdict, s.Errors)
	}
	for _, room := range s.Rooms {
		if room.Status != reports.NotExercised {
			t.Errorf("room %s is %q with no traffic, want %q", room.Room, room.Status, reports.NotExercised)
		}
	}
	for _, rule := range s.Rules {
		if rule.Status != reports.NotExercised {
			t.Errorf("rule %s is %q with no traffic, want %q", rule.Rule, rule.Status, reports.NotExercised)
		}
	}
}

// TestEarlySignInsFail: the target takes connections but closes each one
// at once: every sign-in fails, and the run stops after the first ones
// with the exit code for no work done, the cause grouped by kind.
func TestEarlySignInsFail(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out := filepath.Join(t.TempDir(), "res")
	start := time.Now()
	r := gcload(t, nil, append([]string{"run", "smoke", "--target", "sip:ocschat@example.com", "--server", l.Addr().String(), "--out", out}, append(quick, "--set", "phases.steady.duration=60s")...)...)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s: the run should stop after its first sign-ins failed", took)
	}
	if r.code != reports.ExitUnreachable {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, reports.ExitUnreachable, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	if !s.Unreachable || !strings.Contains(s.Stopped, "sign-ins failed") || len(s.Errors) == 0 || s.Errors[0].Op != "register" {
		t.Fatalf("stopped %q, errors %+v", s.Stopped, s.Errors)
	}
	if !strings.Contains(r.stdout, "errors by kind") || !strings.Contains(r.stdout, "register: ") {
		t.Fatalf("the summary does not list the errors by kind:\n%s", r.stdout)
	}
}

// TestLateRepliesAreTimeouts: a server that sends every reply to a
// command after the client's timeout: the commands time out and the
// replies are counted as late, never as protocol violations.
func TestLateRepliesAreTimeouts(t *testing.T) {
	run, out := runAgainstServe(t, []string{"--reply-delay", "900ms"}, "--set", "limits.timeout=300ms", "--set", "phases.steady.search.rate=10/s", "--set", "drain=1500ms")
	s := readSummary(t, out)
	t.Log(run.stdout)
	if run.code == reports.ExitConformance || run.code == reports.ExitPass {
		t.Fatalf("exit %d\n%s", run.code, run.stdout)
	}
	if s.Counters[reports.CounterTimeouts] == 0 || s.Counters[reports.CounterLateReplies] == 0 {
		t.Fatalf("timeouts %d, late replies %d: want both counted\n%s", s.Counters[reports.CounterTimeouts], s.Counters[reports.CounterLateReplies], run.stdout)
	}
	for name, n := range s.Counters {
		if (name == reports.CounterViolations || strings.HasPrefix(name, "violations.")) && n != 0 {
			t.Errorf("%s = %d: a late reply is not a protocol violation", name, n)
		}
	}
}

// TestConformAgainstNothing: conform against a target nothing listens on
// is not a conformance failure (4) but exit 7, at once, with the cause.
func TestConformAgainstNothing(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := gcload(t, nil, "conform", "--target", "sip:ocschat@example.com", "--server", closedPort(t), "--users",
		"sip:a@example.com,sip:b@example.com,sip:c@example.com,sip:d@example.com", "--room", "chat", "--timeout", "1s")
	if r.code != reports.ExitUnreachable || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("exit %d, want %d, and the cause\n%s%s", r.code, reports.ExitUnreachable, r.stdout, r.stderr)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestConformNoWork: a target that takes connections and closes them at
// once lets no probe check anything: exit 7 (no work done), not 4.
func TestConformNoWork(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := gcload(t, nil, "conform", "--target", "sip:ocschat@example.com", "--server", l.Addr().String(), "--users",
		"sip:a@example.com,sip:b@example.com,sip:c@example.com,sip:d@example.com", "--room", "chat", "--timeout", "1s", "--rules", "lookup/,fanout/")
	if r.code != reports.ExitUnreachable || !strings.Contains(r.stderr, "no work done") {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, reports.ExitUnreachable, r.stdout, r.stderr)
	}
}

// TestConformSIGTERM: SIGTERM stops conform like Ctrl-C: the reports are
// written with the rules not run skipped, and the exit code is 6.
func TestConformSIGTERM(t *testing.T) {
	t.Parallel()
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	sig := make(chan os.Signal, 2)
	stderr := &watchWriter{want: "probe fanout", hit: make(chan struct{})}
	go func() {
		<-stderr.hit
		sig <- syscall.SIGTERM
	}()
	var stdout bytes.Buffer
	start := time.Now()
	code := Main(&Env{Stdout: &stdout, Stderr: stderr, Signals: sig, Now: time.Now, Args: []string{"conform", "--junit", junit, "--timeout", "1s", "--posts", "400"}})
	if code != reports.ExitAborted || !strings.Contains(stderr.String(), "SIGTERM") {
		t.Fatalf("exit %d, want %d\n%s%s", code, reports.ExitAborted, stdout.String(), stderr.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s after SIGTERM", took)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Skipped int `xml:"skipped,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Skipped == 0 || !strings.Contains(string(b), "not run: the suite was stopped") {
		t.Fatalf("junit (%v): %d skipped\n%s", err, doc.Skipped, b)
	}
}

// TestConformDeadline: --deadline ends the suite in time (exit 6).
func TestConformDeadline(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := gcload(t, nil, "conform", "--deadline", "1500ms", "--timeout", "1s", "--posts", "400", "--json", "-")
	if r.code != reports.ExitAborted || !strings.Contains(r.stderr, "--deadline of 1.5s passed") {
		t.Fatalf("exit %d, want %d\n%s", r.code, reports.ExitAborted, r.stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s with --deadline 1.5s", took)
	}
	if !strings.Contains(r.stdout, `"status": "skip"`) {
		t.Errorf("the JSON report lacks the rules not run:\n%s", r.stdout)
	}
}

// TestRunDeadlineAndSecondSignal: run --deadline ends a long run in time,
// aborted with the reason; a second signal ends the process at once.
func TestRunDeadlineAndSecondSignal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	start := time.Now()
	r := gcload(t, nil, append([]string{"run", "smoke", "--out", out, "--deadline", "2s"}, append(quick, "--set", "phases.steady.duration=60s")...)...)
	if r.code != reports.ExitAborted {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, reports.ExitAborted, r.stdout, r.stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s with --deadline 2s", took)
	}
	if s := readSummary(t, out); !s.Aborted || !strings.Contains(s.AbortReason, "--deadline of 2s") {
		t.Fatalf("aborted %v, reason %q", s.Aborted, s.AbortReason)
	}

	sig := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	stderr := &watchWriter{want: "users 12/12", hit: make(chan struct{})}
	go func() {
		<-stderr.hit
		sig <- syscall.SIGTERM
		sig <- os.Interrupt
	}()
	args := append([]string{"run", "smoke", "--out", filepath.Join(t.TempDir(), "res2"), "--progress", "plain", "--interval", "250ms"}, append(quick, "--set", "phases.steady.duration=60s", "--progress", "plain")...)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		Main(&Env{Stdout: &bytes.Buffer{}, Stderr: stderr, Signals: sig, Exit: func(code int) { exited <- code }, Now: time.Now, Args: args})
	}()
	select {
	case code := <-exited:
		if code != reports.ExitAborted {
			t.Fatalf("the second signal exited %d, want %d", code, reports.ExitAborted)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a second signal did not end the process\n%s", stderr.String())
	}
	// a process would be gone; here Main goes on to its end, writing into
	// the test's folder: wait for it before the folder is removed
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatalf("Main did not return after the second signal's exit\n%s", stderr.String())
	}
}

// TestCompareInconclusive: two short smoke runs cannot be told apart from
// noise: compare says inconclusive (exit 8) and suggests --pool, with a
// gate or without one, instead of "no regression".
func TestCompareInconclusive(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if r := gcload(t, nil, append([]string{"run", "smoke", "--out", filepath.Join(dir, name)}, quick...)...); r.code != 0 && r.code != reports.ExitInvalidRun {
			t.Fatalf("run %s: exit %d\n%s", name, r.code, r.stdout)
		}
	}
	for _, gate := range [][]string{nil, {"--fail-on", "post_to_last_delivery.p99 > +10%"}} {
		r := gcload(t, nil, append([]string{"compare", filepath.Join(dir, "a"), filepath.Join(dir, "b")}, gate...)...)
		if r.code != reports.ExitInconclusive || !strings.Contains(r.stdout, "inconclusive") || !strings.Contains(r.stdout, "--pool") {
			t.Errorf("compare %v: exit %d, want %d\n%s%s", gate, r.code, reports.ExitInconclusive, r.stdout, r.stderr)
		}
	}
}
