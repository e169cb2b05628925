package coordinate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/netns"
)

// The coordinator in one network namespace, three shard processes in three
// others, each with its own address: they register across the bridge, are
// measured (shard 2's clock is 2.5 s fast, shard 3's 0.7 s slow), start
// together, and send their results; shard 3 is killed mid-run and named.
func TestShardsAcrossNamespaces(t *testing.T) {
	n := netns.New(t, 4)
	coordHost := n.Hosts[0]
	ln, err := coordHost.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d", coordHost.Addr, ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	srv, err := NewServer(Options{
		Shards: 3, ScenarioHash: "h3", Version: "test", Dir: dir,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 3 * time.Second, LostGrace: 500 * time.Millisecond,
		StartLead: 300 * time.Millisecond, ReadyTimeout: 30 * time.Second, ResultsTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		out *Outcome
		err error
	}
	ran := make(chan result, 1)
	go func() { out, err := srv.Run(ctx, ln); ran <- result{out, err} }()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	skews := []time.Duration{0, 2500 * time.Millisecond, -700 * time.Millisecond}
	started := make([]chan startedLine, 3)
	cmds := make([]*exec.Cmd, 3)
	outputs := make([]strings.Builder, 3)
	var readers sync.WaitGroup
	for i := range 3 {
		started[i] = make(chan startedLine, 1)
		cmd := n.Hosts[i+1].Command(ctx, exe)
		cmd.Env = append(os.Environ(),
			fmt.Sprintf("%s=%d", envShard, i+1), envURL+"="+url, envSkew+"="+skews[i].String(),
			envDuration+"=1500ms", envHash+"=h3")
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				outputs[i].WriteString(line + "\n")
				if js, ok := strings.CutPrefix(line, "started "); ok {
					var s startedLine
					if json.Unmarshal([]byte(js), &s) == nil {
						started[i] <- s
					}
				}
			}
		}()
	}
	// every child is waited for, whatever happens below
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
		}
		readers.Wait()
		for _, c := range cmds {
			c.Wait()
		}
	}()

	lines := make([]startedLine, 3)
	for i := range 3 {
		select {
		case lines[i] = <-started[i]:
		case <-time.After(30 * time.Second):
			t.Fatalf("shard %d never started: %s", i+1, outputs[i].String())
		}
	}
	// shard 3 dies mid-run
	if err := cmds[2].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-ran:
	case <-time.After(45 * time.Second):
		t.Fatalf("the coordinator did not finish: %+v", srv.Outcome())
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	out := res.out
	for i := range 2 {
		if err := cmds[i].Wait(); err != nil {
			t.Errorf("shard %d: %v\n%s", i+1, err, outputs[i].String())
		}
	}
	for i, sh := range out.Shards {
		// each shard came from its own namespace's address
		if host, _, _ := net.SplitHostPort(sh.Addr); host != n.Hosts[i+1].Addr.String() {
			t.Errorf("shard %d registered from %s, want %s", i+1, sh.Addr, n.Hosts[i+1].Addr)
		}
		// the same start for all, and each one's offset is its skew
		if !lines[i].At.Equal(out.Start) {
			t.Errorf("shard %d got start %v, coordinator %v", i+1, lines[i].At, out.Start)
		}
		if d := (sh.Offset.Offset + skews[i]).Abs(); d > sh.Offset.Uncertainty {
			t.Errorf("shard %d: measured %v across the bridge, injected %v: error %v beyond the uncertainty %v", i+1, sh.Offset.Offset, -skews[i], d, sh.Offset.Uncertainty)
		}
		t.Logf("shard %d from %s: offset %v (injected %v)", i+1, sh.Addr, sh.Offset, -skews[i])
	}
	for i := range 2 {
		sh := out.Shards[i]
		b, err := os.ReadFile(sh.Dir + "/summary.json")
		if sh.State != StateDone || err != nil || !strings.Contains(string(b), fmt.Sprintf(`"shard":"%d/3"`, i+1)) {
			t.Errorf("shard %d: %+v, summary %s %v", i+1, sh, b, err)
		}
	}
	dead := out.Dead()
	if len(dead) != 1 || dead[0].Index != 3 || !strings.Contains(dead[0].Dead, "connection lost: "+n.Hosts[3].Addr.String()+":") {
		t.Fatalf("dead shards %+v, want shard 3 with its connection lost", dead)
	}
	t.Logf("shard 3: %s", dead[0].Dead)
}
