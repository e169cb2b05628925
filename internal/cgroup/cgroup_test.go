package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spinEnv makes the test binary a busy child: it spins on one core for
// the duration it names, then exits.
const spinEnv = "GCLOAD_CGROUP_SPIN"

func TestMain(m *testing.M) {
	if d, err := time.ParseDuration(os.Getenv(spinEnv)); err == nil {
		end := time.Now().Add(d)
		n := 0
		for time.Now().Before(end) {
			n++
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParse(t *testing.T) {
	const v1apart = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	const v1together = `25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 20 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
`
	const v2 = `29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`
	const container = `700 600 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct
`
	none := func(string) string { return "" }
	withCPU := func(string) string { return "cpuset cpu io memory pids\n" }
	tests := []struct {
		name, mountinfo, self string
		controllers           func(string) string
		want                  Controller
		err                   string
	}{
		{"v1 cpu and cpuacct apart, v2 without cpu", v1apart, "2:cpuacct:/\n1:cpu:/a/b\n0::/\n", none,
			Controller{Version: 1, CPUDir: "/sys/fs/cgroup/cpu/a/b", AcctDir: "/sys/fs/cgroup/cpuacct"}, ""},
		{"v1 together", v1together, "4:cpu,cpuacct:/user.slice\n", none,
			Controller{Version: 1, CPUDir: "/sys/fs/cgroup/cpu,cpuacct/user.slice", AcctDir: "/sys/fs/cgroup/cpu,cpuacct/user.slice"}, ""},
		{"v2 with cpu", v2, "0::/user.slice/session-1.scope\n", withCPU,
			Controller{Version: 2, CPUDir: "/sys/fs/cgroup/user.slice/session-1.scope", AcctDir: "/sys/fs/cgroup/user.slice/session-1.scope"}, ""},
		{"v2 preferred over v1", v1apart, "2:cpuacct:/\n1:cpu:/\n0::/x\n", withCPU,
			Controller{Version: 2, CPUDir: "/sys/fs/cgroup/unified/x", AcctDir: "/sys/fs/cgroup/unified/x"}, ""},
		{"container: the mount's root is our cgroup", container, "3:cpu,cpuacct:/docker/abc\n", none,
			Controller{Version: 1, CPUDir: "/sys/fs/cgroup/cpu", AcctDir: "/sys/fs/cgroup/cpu"}, ""},
		{"v2 without cpu and no v1", v2, "0::/\n", none, Controller{}, "no cgroup v1 cpu hierarchy"},
		{"v1 cpu without cpuacct", "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "1:cpu:/\n", none, Controller{}, "cpuacct"},
		{"nothing mounted", "1 0 8:1 / / rw - ext4 /dev/vda rw\n", "", none, Controller{}, "no cgroup v1 cpu hierarchy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.mountinfo, tc.self, tc.controllers)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrUnavailable saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *c != tc.want {
				t.Fatalf("got %+v, want %+v", *c, tc.want)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	if got := formatMax(25*time.Millisecond, DefaultPeriod); got != "25000 100000" {
		t.Errorf("formatMax = %q", got)
	}
	if got := formatMax(-1, DefaultPeriod); got != "max 100000" {
		t.Errorf("formatMax(no limit) = %q", got)
	}
	for in, want := range map[string]float64{"max 100000\n": 0, "25000 100000\n": 0.25, "200000 100000": 2} {
		if got, err := parseMax(in); err != nil || got != want {
			t.Errorf("parseMax(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	if _, err := parseMax("25000"); err == nil {
		t.Error("parseMax of one field: no error")
	}
	st := parseStat("usage_usec 1500\nuser_usec 1000\nnr_throttled 7\nbogus\n")
	if st["usage_usec"] != 1500 || st["nr_throttled"] != 7 || len(st) != 3 {
		t.Errorf("parseStat = %v", st)
	}
	if got := unescape(`/a\040b`); got != "/a b" {
		t.Errorf("unescape = %q", got)
	}
}

// TestLimit runs two busy children for 2 s, one limited to a quarter of a
// core and one unlimited, and reads what each used from its cgroup's own
// counter: the limited one stays at about 0.25 core and was throttled,
// the free one gets about a whole core (less when the machine is busy).
func TestLimit(t *testing.T) {
	ctl, err := Detect()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no cgroup cpu controller to use (%v): this test needs root and cgroup v1 cpu+cpuacct or v2 with cpu", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("using %s", ctl)
	limited, err := ctl.New("gcload-test-limited")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := limited.Close(); err != nil {
			t.Error(err)
		}
	}()
	free, err := ctl.New("gcload-test-free")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := free.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := limited.SetCPULimitPeriod(0.5, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := limited.CPULimit(); err != nil || math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("CPULimit over 10 ms periods = %g, %v; want 0.5", got, err)
	}
	if err := limited.SetCPULimitPeriod(0.05, 10*time.Millisecond); err == nil {
		t.Error("a quota of 0.5 ms (below the kernel's smallest): no error")
	}
	if err := limited.SetCPULimitPeriod(0.5, 2*time.Second); err == nil {
		t.Error("a period of 2 s: no error")
	}
	if err := limited.SetCPULimit(0.25); err != nil {
		t.Fatal(err)
	}
	if got, err := limited.CPULimit(); err != nil || math.Abs(got-0.25) > 1e-9 {
		t.Fatalf("CPULimit = %g, %v; want 0.25", got, err)
	}
	if got, err := free.CPULimit(); err != nil || got != 0 {
		t.Fatalf("unlimited CPULimit = %g, %v; want 0", got, err)
	}
	if err := limited.SetCPULimit(0.0001); err == nil {
		t.Error("a limit below the kernel's smallest quota: no error")
	}

	const spin = 2 * time.Second
	start := func(g *Group) (*exec.Cmd, time.Time) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), spinEnv+"="+spin.String(), "GOMAXPROCS=1")
		t0 := time.Now()
		if err := g.Start(cmd); err != nil {
			t.Fatal(err)
		}
		return cmd, t0
	}
	cl, t0l := start(limited)
	cf, t0f := start(free)
	// The thread that forked the child leaves the group as it ends; then
	// the group holds the child alone, and never this process.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		pids, err := limited.PIDs()
		if err == nil && len(pids) == 1 && pids[0] == cl.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("limited group holds %v (%v), want the child %d alone (this process is %d)", pids, err, cl.Process.Pid, os.Getpid())
		}
	}
	// How long the unlimited child waited for a CPU (its schedstat's run
	// delay, read until it ends): on a machine whose other load takes the
	// CPUs, it cannot get a core, and the test cannot tell a limit from
	// that.
	var waitF time.Duration
	for deadline := t0f.Add(spin + 2*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", cf.Process.Pid))
		f := strings.Fields(string(b))
		if err != nil || len(f) < 2 {
			break
		}
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		if time.Duration(ns) <= waitF && time.Since(t0f) > spin {
			break // it has ended: the figure no longer moves
		}
		waitF = time.Duration(ns)
	}
	if err := cl.Wait(); err != nil {
		t.Fatal(err)
	}
	wl := time.Since(t0l)
	if err := cf.Wait(); err != nil {
		t.Fatal(err)
	}
	wf := time.Since(t0f)
	ul, err := limited.Usage()
	if err != nil {
		t.Fatal(err)
	}
	uf, err := free.Usage()
	if err != nil {
		t.Fatal(err)
	}
	thl, err := limited.Throttled()
	if err != nil {
		t.Fatal(err)
	}
	thf, err := free.Throttled()
	if err != nil {
		t.Fatal(err)
	}
	coresL, coresF := ul.Seconds()/wl.Seconds(), uf.Seconds()/wf.Seconds()
	t.Logf("limited to 0.25: %v of CPU in %v = %.3f core, throttled in %d of %d periods (%v); unlimited: %v in %v = %.3f core",
		ul, wl.Round(time.Millisecond), coresL, thl.Throttled, thl.Periods, thl.Time.Round(time.Millisecond), uf, wf.Round(time.Millisecond), coresF)
	if coresF < 0.6 && waitF.Seconds()/wf.Seconds() > 0.3 {
		t.Skipf("the machine's other load took the CPUs: the unlimited child got %.3f core and waited for one %.0f%% of the time", coresF, 100*waitF.Seconds()/wf.Seconds())
	}
	// The quota allows 25 ms per 100 ms period: over 2 s, 0.25 core and
	// at most one period's quota more. Below: a busy machine may give it
	// less than its quota, but not much less than 0.25 of 2 cores.
	if coresL > 0.29 || coresL < 0.17 {
		t.Errorf("limited child used %.3f core, want about 0.25 (0.17..0.29)", coresL)
	}
	if thl.Throttled < 5 {
		t.Errorf("limited child throttled in %d periods, want most of its %d", thl.Throttled, thl.Periods)
	}
	if coresF < 0.6 || coresF > 1.05 {
		t.Errorf("unlimited child used %.3f core, want about 1 (0.6..1.05: one busy thread, on a machine others share)", coresF)
	}
	if thf.Throttled != 0 {
		t.Errorf("unlimited child throttled in %d periods", thf.Throttled)
	}
}
