package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/netns"
	"github.com/gcload/gcload/reports"
)

// child is a gcload process (this test binary standing in for it) in a
// network namespace of its own.
type child struct {
	name     string
	cmd      *exec.Cmd
	mu       sync.Mutex
	out      bytes.Buffer // stdout and stderr, interleaved
	lines    chan string  // stderr's lines, as they come (dropped when full)
	readers  sync.WaitGroup
	waitOnce sync.Once
	code     int
}

// startChild runs gcload args in host h, its clock skewed by skew.
func startChild(t *testing.T, ctx context.Context, h *netns.Host, name string, skew time.Duration, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: h.Command(ctx, exe, args...), lines: make(chan string, 64)}
	c.cmd.Env = append(os.Environ(), childEnv+"=1", fmt.Sprintf("%s=%s", testClockSkewEnv, skew))
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copyLines := func(r io.Reader, tee bool) {
		defer c.readers.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if tee {
				select {
				case c.lines <- sc.Text():
				default:
				}
			}
		}
	}
	c.readers.Add(2)
	go copyLines(stdout, false)
	go copyLines(stderr, true)
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		c.wait()
	})
	return c
}

// wait waits for the child and returns its exit code (-1 killed).
func (c *child) wait() int {
	c.waitOnce.Do(func() {
		c.readers.Wait()
		err := c.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			c.code = ee.ExitCode()
		default:
			c.code = -2
		}
	})
	return c.code
}

// waitFor waits for the child's exit within d.
func (c *child) waitFor(t *testing.T, d time.Duration) int {
	t.Helper()
	done := make(chan int, 1)
	go func() { done <- c.wait() }()
	select {
	case code := <-done:
		return code
	case <-time.After(d):
		t.Fatalf("%s did not end within %v:\n%s", c.name, d, c.output())
		return 0
	}
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// reachable waits until addr takes TCP connections from host h.
func reachable(t *testing.T, h *netns.Host, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := h.Dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reachable from %s within %v: %v", addr, h.Name, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDistributedAcrossNamespaces runs a distributed run as it runs across
// machines: the reference server (gcload serve) in one network namespace,
// the coordinator (gcload coordinate) in another, three shards (gcload
// run --coordinator) in three more, each with its own address on a
// bridge. The server closes connections with no sign-in within 2 s; the
// shards share connections and wait longer than that for the start.
//
//  1. Shard 2's clock is 2.5 s fast and shard 3's 0.7 s slow: the merged
//     result equals, in expected and received deliveries, users and posts,
//     a single-process run of the same plan; each offset is measured to
//     within its uncertainty and corrected (no delivery latency carries a
//     skew).
//  2. Shard 3 is killed mid-run: the coordinator names it dead (its lost
//     connection, from its address) in a failing verdict, exit code 3 (5
//     when this busy machine slowed a generator: never a pass), as gcload
//     merge does on the folders received.
func TestDistributedAcrossNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a distributed run across network namespaces (tens of seconds)")
	}
	n := netns.New(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	srvHost, coordHost := n.Hosts[0], n.Hosts[1]
	sip := net.JoinHostPort(srvHost.Addr.String(), "5061")
	admin := net.JoinHostPort(srvHost.Addr.String(), "8080")
	const token = "netns-test-admin-token"
	server := startChild(t, ctx, srvHost, "server", 0, "serve", "--listen", sip, "--admin", admin, "--admin-token", token,
		"--db", filepath.Join(dir, "gc.db"), "--signin-timeout", "2s", "--log-level", "warn")
	reachable(t, coordHost, sip, 30*time.Second)
	reachable(t, coordHost, admin, 30*time.Second)
	defer func() {
		_ = server.cmd.Process.Signal(syscall.SIGTERM)
		server.waitFor(t, 30*time.Second)
	}()
	scenario := append(append([]string{"smoke"}, quickSets...),
		"--set", "connections.model=shared", "--set", "connections.shared=3",
		"--target", "sip:ocschat@example.com", "--server", sip, "--admin", "http://"+admin)
	shardArgs := func(url string, i int, out string) []string {
		return append([]string{"run", "--coordinator", url, "--shard", itoa(i), "--progress", "none", "--admin-token", token, "--out", out}, scenario...)
	}

	// 1. skewed clocks, every shard to the end
	url := "http://" + net.JoinHostPort(coordHost.Addr.String(), "8440")
	outA := filepath.Join(dir, "a")
	coord := startChild(t, ctx, coordHost, "coordinator", 0, append([]string{"coordinate", "--shards", "3", "--listen", net.JoinHostPort(coordHost.Addr.String(), "8440"),
		"--out", outA, "--ready-timeout", "1m"}, scenario...)...)
	skews := []time.Duration{0, 2500 * time.Millisecond, -700 * time.Millisecond}
	var shards []*child
	for i := 1; i <= 3; i++ {
		shards = append(shards, startChild(t, ctx, n.Hosts[1+i], fmt.Sprintf("shard %d", i), skews[i-1], shardArgs(url, i, filepath.Join(dir, "a-shard"+itoa(i)))...))
	}
	for _, s := range shards {
		if code := s.waitFor(t, time.Minute); !acceptable(code) {
			t.Fatalf("%s: exit %d\n%s", s.name, code, s.output())
		}
	}
	if code := coord.waitFor(t, time.Minute); !acceptable(code) {
		t.Fatalf("coordinator: exit %d\n%s", code, coord.output())
	}
	m := readSummary(t, outA)
	for _, sh := range m.Shards {
		if sh.State != reports.ShardDone || sh.Clock == nil {
			t.Fatalf("shard %d: %+v", sh.Index, sh)
		}
		if host, _, _ := net.SplitHostPort(sh.Addr); host != n.Hosts[1+sh.Index].Addr.String() {
			t.Errorf("shard %d registered from %s, its host is %s", sh.Index, sh.Addr, n.Hosts[1+sh.Index].Addr)
		}
		if d := sh.Clock.OffsetUS + skews[sh.Index-1].Microseconds(); max(d, -d) > sh.Clock.UncertaintyUS+1 {
			t.Errorf("shard %d: offset %dµs ± %dµs across the bridge, its clock is %v off", sh.Index, sh.Clock.OffsetUS, sh.Clock.UncertaintyUS, skews[sh.Index-1])
		}
		t.Logf("shard %d from %s: offset %s, before the upload %s (skew %v)", sh.Index, sh.Addr, sh.Clock, sh.EndClock, skews[sh.Index-1])
	}
	if p := m.Ops[reports.OpPostToDelivery]; p.Count == 0 || p.Max > time.Second.Microseconds() {
		t.Errorf("post_to_delivery %+v: a skew is not corrected", p)
	}
	whole := filepath.Join(dir, "whole")
	single := startChild(t, ctx, n.Hosts[2], "single process", 0, append([]string{"run", "--progress", "none", "--admin-token", token, "--out", whole}, scenario...)...)
	if code := single.waitFor(t, time.Minute); !acceptable(code) {
		t.Fatalf("single process: exit %d\n%s", code, single.output())
	}
	w := readSummary(t, whole)
	if m.Delivery != w.Delivery || m.Delivery.Expected == 0 || m.Users.SignedIn != w.Users.SignedIn || m.Users.SignedIn != 12 || m.Ops[reports.OpPostAck].Count != w.Ops[reports.OpPostAck].Count {
		t.Fatalf("distributed %+v %+v\nsingle process %+v %+v", m.Delivery, m.Users, w.Delivery, w.Users)
	}

	// 2. shard 3 killed mid-run
	url = "http://" + net.JoinHostPort(coordHost.Addr.String(), "8441")
	outB := filepath.Join(dir, "b")
	coord = startChild(t, ctx, coordHost, "coordinator", 0, append([]string{"coordinate", "--shards", "3", "--listen", net.JoinHostPort(coordHost.Addr.String(), "8441"),
		"--out", outB, "--ready-timeout", "1m"}, scenario...)...)
	shards = shards[:0]
	for i := 1; i <= 3; i++ {
		shards = append(shards, startChild(t, ctx, n.Hosts[1+i], fmt.Sprintf("shard %d", i), 0, shardArgs(url, i, filepath.Join(dir, "b-shard"+itoa(i)))...))
	}
	var start time.Time
	for start.IsZero() {
		select {
		case line := <-shards[2].lines:
			if _, rest, ok := strings.Cut(line, " starts at "); ok {
				at, _, _ := strings.Cut(rest, " ")
				var err error
				if start, err = time.Parse(time.RFC3339Nano, at); err != nil {
					t.Fatalf("start line %q: %v", line, err)
				}
			}
		case <-time.After(time.Minute):
			t.Fatalf("shard 3 never started:\n%s", shards[2].output())
		}
	}
	time.Sleep(time.Until(start.Add(time.Second))) // into the steady phase
	if err := shards[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, s := range shards[:2] {
		if code := s.waitFor(t, time.Minute); !acceptable(code) {
			t.Fatalf("%s: exit %d\n%s", s.name, code, s.output())
		}
	}
	code := coord.waitFor(t, time.Minute)
	m = readSummary(t, outB)
	dead := m.Shards[2]
	if (code != reports.ExitThresholds && code != reports.ExitInvalidRun) || reports.ExitCode(m.Verdict) != code || dead.State != reports.ShardDead ||
		!strings.Contains(dead.Why, "connection lost: "+n.Hosts[4].Addr.String()+":") || !strings.Contains(strings.Join(m.Reasons, "\n"), "shard 3/3 died") {
		t.Fatalf("coordinator exit %d, verdict %s %q, shard 3 %+v\n%s", code, m.Verdict, m.Reasons, dead, coord.output())
	}
	t.Logf("shard 3: %s", dead.Why)
	t.Logf("the coordinator's summary:\n%s", coord.output())
	r := gcload(t, nil, "merge", filepath.Join(outB, "shards", "shard-1"), filepath.Join(outB, "shards", "shard-2"), "--out", filepath.Join(dir, "b-remerged"))
	if r.code != code || readSummary(t, filepath.Join(dir, "b-remerged")).Verdict != m.Verdict {
		t.Fatalf("gcload merge on the folders received: exit %d, the coordinator's %d\n%s", r.code, code, r.stdout)
	}
}
