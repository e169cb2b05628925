// Package cgroup limits the CPU of processes with the Linux kernel's cgroup
// cpu controller, and reads how much CPU they used, for gcload calibrate's
// CPU-limited points (fractions of a core, 1 and 2 cores).
//
// Detect finds the cpu controller of the machine: cgroup v2 (cpu.max,
// cpu.stat usage_usec) when the unified hierarchy has it, else cgroup v1
// (cpu.cfs_quota_us and cpu.cfs_period_us in the cpu hierarchy,
// cpuacct.usage in the cpuacct hierarchy, mounted together or apart). It
// answers ErrUnavailable, with the reason, when there is no cpu controller
// or this process may not create cgroups (not root): tests skip on it.
//
//	ctl, err := cgroup.Detect()
//	g, err := ctl.New("gcload-server")   // a child of this process's cgroup
//	defer g.Close()                      // removes it (once its processes are gone)
//	err = g.SetCPULimit(0.25)            // a quarter of one core
//	err = g.Start(cmd)                   // cmd starts inside the group
//	used, err := g.Usage()               // CPU time of everything in it
//
// Nothing here touches process-wide state except the cgroup files
// themselves: Start moves only a throw-away OS thread (cgroup v1) or uses
// clone3's CLONE_INTO_CGROUP (cgroup v2), so this process stays where it
// was.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrUnavailable says the cpu controller cannot be used here; the error
// wrapping it says why (no controller mounted, not permitted, ...).
var ErrUnavailable = errors.New("cgroup cpu controller unavailable")

// DefaultPeriod is the CFS period the limits are set with: the quota is
// cores × period of CPU time per period.
const DefaultPeriod = 100 * time.Millisecond

// minQuota is the smallest quota the kernel accepts (1 ms).
const minQuota = time.Millisecond

// Controller is where the cpu controller lives: the cgroup of this process
// in the hierarchy (or hierarchies) that holds it. Groups are made as its
// children.
type Controller struct {
	// Version is 1 or 2.
	Version int
	// CPUDir is this process's cgroup directory in the hierarchy of the
	// cpu controller (v1) or the unified hierarchy (v2).
	CPUDir string
	// AcctDir is its directory in the hierarchy of cpuacct (v1; the same
	// as CPUDir when cpu and cpuacct are mounted together, and for v2).
	AcctDir string
}

// String names the controller and its files, for logs and skip messages.
func (c *Controller) String() string {
	if c.Version == 2 {
		return fmt.Sprintf("cgroup v2 at %s (cpu.max, cpu.stat)", c.CPUDir)
	}
	return fmt.Sprintf("cgroup v1 cpu at %s (cpu.cfs_quota_us), cpuacct at %s (cpuacct.usage)", c.CPUDir, c.AcctDir)
}

// Detect finds the cpu controller from /proc/self/mountinfo and
// /proc/self/cgroup, and checks that a child cgroup can be made (the
// check makes one and removes it).
func Detect() (*Controller, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c, err := parse(string(mi), string(cg), func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return string(b)
	})
	if err != nil {
		return nil, err
	}
	if err := c.probe(); err != nil {
		return nil, err
	}
	return c, nil
}

// mount is one cgroup mount of mountinfo.
type mount struct {
	root, point, fstype string
	opts                map[string]bool
}

// parse finds the controller in the text of /proc/self/mountinfo and
// /proc/self/cgroup; controllers reads a v2 directory's
// cgroup.controllers.
func parse(mountinfo, selfCgroup string, controllers func(dir string) string) (*Controller, error) {
	var mounts []mount
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		// 32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		m := mount{root: unescape(pf[3]), point: unescape(pf[4]), fstype: qf[0], opts: map[string]bool{}}
		for _, o := range strings.Split(qf[2], ",") {
			m.opts[o] = true
		}
		mounts = append(mounts, m)
	}
	// /proc/self/cgroup: "ID:controllers:path"; v2 is "0::path".
	paths := map[string]string{}
	var v2path string
	hasV2 := false
	sc = bufio.NewScanner(strings.NewReader(selfCgroup))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2path, hasV2 = f[2], true
			continue
		}
		for _, ctl := range strings.Split(f[1], ",") {
			paths[ctl] = f[2]
		}
	}
	dirOf := func(m mount, path string) (string, bool) {
		rel, err := filepath.Rel(m.root, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			// The cgroup is outside the mount's view (a container's
			// namespace): its root is ours.
			return m.point, true
		}
		return filepath.Join(m.point, rel), true
	}
	if hasV2 {
		for _, m := range mounts {
			if m.fstype != "cgroup2" {
				continue
			}
			dir, _ := dirOf(m, v2path)
			if hasWord(controllers(m.point), "cpu") {
				return &Controller{Version: 2, CPUDir: dir, AcctDir: dir}, nil
			}
		}
	}
	var cpu, acct *mount
	for i := range mounts {
		m := &mounts[i]
		if m.fstype != "cgroup" {
			continue
		}
		if m.opts["cpu"] && cpu == nil {
			cpu = m
		}
		if m.opts["cpuacct"] && acct == nil {
			acct = m
		}
	}
	if cpu == nil {
		return nil, fmt.Errorf("%w: no cgroup v1 cpu hierarchy and no cgroup v2 hierarchy with the cpu controller in /proc/self/mountinfo", ErrUnavailable)
	}
	if acct == nil {
		return nil, fmt.Errorf("%w: cgroup v1 cpu is mounted at %s but cpuacct (the usage counter) is not", ErrUnavailable, cpu.point)
	}
	cpuDir, _ := dirOf(*cpu, paths["cpu"])
	acctDir, _ := dirOf(*acct, paths["cpuacct"])
	return &Controller{Version: 1, CPUDir: cpuDir, AcctDir: acctDir}, nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probe makes and removes a child, to report missing permissions at once.
func (c *Controller) probe() error {
	g, err := c.New("gcload-probe")
	if err != nil {
		return err
	}
	return g.Close()
}

var seq atomic.Int64

// New makes a child cgroup of this process's cgroup, named
// name-PID-N (unique within this process), with no CPU limit.
func (c *Controller) New(name string) (*Group, error) {
	base := fmt.Sprintf("%s-%d-%d", name, os.Getpid(), seq.Add(1))
	g := &Group{ctl: c, name: base, cpuDir: filepath.Join(c.CPUDir, base), acctDir: filepath.Join(c.AcctDir, base)}
	if c.Version == 2 {
		if err := enableCPU(c.CPUDir); err != nil {
			return nil, err
		}
	}
	if err := mkdir(g.cpuDir); err != nil {
		return nil, err
	}
	if g.acctDir != g.cpuDir {
		if err := mkdir(g.acctDir); err != nil {
			_ = os.Remove(g.cpuDir)
			return nil, err
		}
	}
	return g, nil
}

func mkdir(dir string) error {
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		// ErrNotExist: a read-only or foreign hierarchy.
		return fmt.Errorf("%w: cannot create %s (%v): run as root, or give this user a delegated cgroup", ErrUnavailable, dir, err)
	}
	return fmt.Errorf("cgroup: %w", err)
}

// enableCPU makes sure the v2 cgroup dir hands the cpu controller to its
// children (cgroup.subtree_control).
func enableCPU(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if hasWord(string(b), "cpu") {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu"), 0); err != nil {
		// EBUSY: the cgroup holds processes itself and is not the root
		// ("no internal processes"); run gcload in a cgroup of its own.
		return fmt.Errorf("%w: cannot enable the cpu controller for children of %s (%v)", ErrUnavailable, dir, err)
	}
	return nil
}

// Group is one child cgroup.
type Group struct {
	ctl             *Controller
	name            string
	cpuDir, acctDir string
}

// Name is the group's directory name.
func (g *Group) Name() string { return g.name }

// Dir is the group's directory in the cpu controller's hierarchy.
func (g *Group) Dir() string { return g.cpuDir }

// SetCPULimit limits everything in the group to cores cores' worth of CPU
// time (0.25 is a quarter of one core, 2 is two cores), over periods of
// DefaultPeriod; cores ≤ 0 removes the limit.
func (g *Group) SetCPULimit(cores float64) error {
	return g.SetCPULimitPeriod(cores, DefaultPeriod)
}

// SetCPULimitPeriod is SetCPULimit with periods of period (1 ms to 1 s): a
// shorter period spreads the allotment more evenly (a process limited
// to a quarter of a core waits at most 3/4 of a period for its next
// share), at a little more accounting; the quota (cores × period) must be
// at least 1 ms.
func (g *Group) SetCPULimitPeriod(cores float64, period time.Duration) error {
	if math.IsNaN(cores) || math.IsInf(cores, 0) {
		return fmt.Errorf("cgroup %s: CPU limit %g cores is not a number", g.name, cores)
	}
	if period < time.Millisecond || period > time.Second {
		return fmt.Errorf("cgroup %s: CPU period %v: want 1ms to 1s", g.name, period)
	}
	quota := time.Duration(-1)
	if cores > 0 {
		quota = time.Duration(math.Round(cores * float64(period)))
		if quota < minQuota {
			return fmt.Errorf("cgroup %s: CPU limit %g cores is below the kernel's smallest quota (%v per %v)", g.name, cores, minQuota, period)
		}
	}
	if g.ctl.Version == 2 {
		return g.write(g.cpuDir, "cpu.max", formatMax(quota, period))
	}
	// v1: the period first (a quota above the old period is accepted
	// either way, the order only matters for error messages).
	if err := g.write(g.cpuDir, "cpu.cfs_period_us", strconv.FormatInt(period.Microseconds(), 10)); err != nil {
		return err
	}
	q := "-1"
	if quota > 0 {
		q = strconv.FormatInt(quota.Microseconds(), 10)
	}
	return g.write(g.cpuDir, "cpu.cfs_quota_us", q)
}

// formatMax is cpu.max's "QUOTA PERIOD" (µs), "max PERIOD" for no limit.
func formatMax(quota, period time.Duration) string {
	q := "max"
	if quota > 0 {
		q = strconv.FormatInt(quota.Microseconds(), 10)
	}
	return q + " " + strconv.FormatInt(period.Microseconds(), 10)
}

// CPULimit is the group's limit in cores (0: none).
func (g *Group) CPULimit() (float64, error) {
	if g.ctl.Version == 2 {
		b, err := os.ReadFile(filepath.Join(g.cpuDir, "cpu.max"))
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %w", g.name, err)
		}
		return parseMax(string(b))
	}
	q, err := g.readInt(g.cpuDir, "cpu.cfs_quota_us")
	if err != nil || q <= 0 {
		return 0, err
	}
	p, err := g.readInt(g.cpuDir, "cpu.cfs_period_us")
	if err != nil || p <= 0 {
		return 0, err
	}
	return float64(q) / float64(p), nil
}

// parseMax reads cpu.max ("max 100000" or "25000 100000") as cores.
func parseMax(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("cgroup: cpu.max %q: want QUOTA PERIOD", strings.TrimSpace(s))
	}
	if f[0] == "max" {
		return 0, nil
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || p <= 0 {
		return 0, fmt.Errorf("cgroup: cpu.max %q: want QUOTA PERIOD in µs", strings.TrimSpace(s))
	}
	return q / p, nil
}

// Usage is the CPU time used by every process that was in the group while
// it was there (user and system): cpuacct.usage (v1) or cpu.stat's
// usage_usec (v2).
func (g *Group) Usage() (time.Duration, error) {
	if g.ctl.Version == 2 {
		st, err := g.stat()
		if err != nil {
			return 0, err
		}
		us, ok := st["usage_usec"]
		if !ok {
			return 0, fmt.Errorf("cgroup %s: cpu.stat has no usage_usec", g.name)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	ns, err := g.readInt(g.acctDir, "cpuacct.usage")
	return time.Duration(ns), err
}

// Throttling is what the CFS bandwidth control did to the group.
type Throttling struct {
	Periods   int64         // enforcement periods with runnable tasks
	Throttled int64         // periods in which the group hit its quota
	Time      time.Duration // total time its tasks were held back
}

// Throttled reads the group's cpu.stat.
func (g *Group) Throttled() (Throttling, error) {
	st, err := g.stat()
	if err != nil {
		return Throttling{}, err
	}
	t := Throttling{Periods: st["nr_periods"], Throttled: st["nr_throttled"]}
	if g.ctl.Version == 2 {
		t.Time = time.Duration(st["throttled_usec"]) * time.Microsecond
	} else {
		t.Time = time.Duration(st["throttled_time"])
	}
	return t, nil
}

func (g *Group) stat() (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join(g.cpuDir, "cpu.stat"))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.name, err)
	}
	return parseStat(string(b)), nil
}

// parseStat reads "key value" lines.
func parseStat(s string) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// Add moves the process pid (all its threads) into the group.
func (g *Group) Add(pid int) error {
	for _, dir := range g.dirs() {
		if err := g.write(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// PIDs lists the processes in the group.
func (g *Group) PIDs() ([]int, error) {
	f, err := os.Open(filepath.Join(g.cpuDir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.name, err)
	}
	var pids []int
	for _, s := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(s); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// closeWait bounds how long Close waits for exiting processes to leave.
const closeWait = 5 * time.Second

// Close removes the group. Its processes must have exited (or have been
// moved out): Close waits up to 5 s for exiting ones to leave, then
// reports those still there.
func (g *Group) Close() error {
	deadline := time.Now().Add(closeWait)
	for {
		var errs []error
		for _, dir := range g.dirs() {
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			pids, _ := g.PIDs()
			return fmt.Errorf("cgroup %s: cannot remove it, processes %v are still in it: %w", g.name, pids, errors.Join(errs...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *Group) dirs() []string {
	if g.acctDir == g.cpuDir {
		return []string{g.cpuDir}
	}
	return []string{g.cpuDir, g.acctDir}
}

func (g *Group) write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: writing %q to %s: %w", g.name, value, file, err)
	}
	return nil
}

func (g *Group) readInt(dir, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", g.name, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %s: %w", g.name, file, err)
	}
	return v, nil
}
