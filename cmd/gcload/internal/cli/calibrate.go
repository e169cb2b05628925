package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/cgroup"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/reports/htmlreport"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/target"
	"github.com/gcload/gcload/xccos"
	"github.com/spf13/cobra"
)

// CalibrateOptions are the flags of gcload calibrate.
type CalibrateOptions struct {
	Out       string
	Sizes     []int
	Loads     []int // posts/s
	Procs     []int // the server's GOMAXPROCS
	Steady    time.Duration
	Quick     bool
	MicroOnly bool
	// SaturationOnly runs the CPU-limited sweep (and the micro-
	// calibrations) without the sweep of room sizes and loads.
	SaturationOnly bool
	MicroDir       string
	// ServerMetrics are passed to each point's run (--server-metrics).
	ServerMetrics []string
	// CPULimits are the allotments (cores) of the CPU-limited sweep;
	// SaturationSize its room size. NoSaturation skips it.
	CPULimits          []float64
	SaturationSize     int
	SaturationWorkload string
	SaturationHistory  int
	NoSaturation       bool
	// Pool, when positive, adds a measured pool run of that many servers
	// on a throw-away PostgreSQL (rooms of PoolSize at PoolLoad posts/s);
	// PoolOnly runs only it, adding it to OUT/calibration.json.
	Pool     int
	PoolSize int
	PoolLoad int
	PoolRuns int
	PoolOnly bool
}

// childEnv makes a gcload test binary run Main when calibrate starts it
// as the server (TestMain checks it); the real binary ignores it.
const childEnv = "GCLOAD_EXEC_MAIN"

// NewCmdCalibrate builds `gcload calibrate`.
func NewCmdCalibrate(env *Env) *cobra.Command {
	o := &CalibrateOptions{}
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Measure this machine for the capacity model: a bounded sweep and two micro-calibrations",
		Long: `Run a bounded sweep against the reference server, run as a child process so that
its CPU, memory and disk are measured apart from the load generator's: every room
size (--sizes) at every load level (--loads, in posts per second, up to
saturation: rooms of 1,000 at 80 posts/s are 80,000 deliveries/s), with the
server on 2 cores, plus the middle room size at every load with the server on 1
core (--procs). The same post rates at every room size keep the server's group
commit alike across sizes, so that CPU per post = a + b·room size holds. Then two micro-calibrations on this
machine: the server's hot path (render one delivery INFO and scan it, CPU per
delivery) and a synchronous-write loop (fsync latency, mean and p99).

Each load level is a short gcload run (results in OUT/point-NN/, with
measurement.json); the sweep is saved as OUT/calibration.json for gcload
capacity, which also prints the model's hold-out validation.

Then the CPU-limited sweep (root; --no-saturation skips it, --saturation-only
runs it alone): the server limited by the cgroup cpu controller to each of
--cpu-limits cores, driven to its knee by a breakpoint search
(OUT/saturation-cN/step-NN/), and the Universal Scalability Law fitted to the
knees (σ, κ, N* with 90% intervals), then the law fitted up to one core checked
against the allotments above it (±15%). Its workload is message searches over
rooms holding a long history (--saturation-history posts each): milliseconds of
the server's CPU per search against tens of microseconds of the generator's, so
that the generator on what is left of the machine can saturate allotments up to
1.5 of 2 cores (--saturation-workload posts drives it with posts instead, which
cost the generator as much as the server). A search the load generator could not
finish is left out, never blamed on the server; so is an allotment the server
did not use (75%) at the first rate that failed: the machine's other load took
it, or something other than CPU stopped the server.

--pool N adds a measured pool (docs/capacity.md, "Pools"): N reference server
processes on a throw-away PostgreSQL cluster (Debian's postgresql package),
users spread over them so that every room has members on each, posting
--pool-load posts/s into rooms of --pool-size for --steady; each server's CPU
and PostgreSQL's are read from /proc over the posting window (idle CPU measured
first and taken out), and the database's commit is timed before the servers
start. --pool-runs such runs (3), each on a fresh cluster (OUT/pool-N/). They
are not fitted: gcload capacity predicts them from the one-server sweep and
shows the mean error against the 10% CPU and 20% p99 targets. --pool-only
measures only the pool runs and puts them in OUT/calibration.json.

--quick runs a sweep of about a minute (4 room sizes at 20 posts/s, 10 and 40
posts/s at rooms of 150, and one point with the server on 1 core) and a
CPU-limited sweep of 5 allotments, about 3.5 minutes in all.`,
		Example: `  gcload calibrate
  gcload calibrate --quick --out results/calibrate-ci
  gcload calibrate --cpu-limits 0.05,0.1,0.2 --saturation-size 30
  gcload calibrate --sizes 10,30,150,1000 --loads 10,20,40,80 --procs 2,1
  gcload calibrate --pool 3 --out results/calibrate-pool
  gcload calibrate --pool-only --pool 3 --pool-size 100 --pool-load 20 --out results/calibrate-pool`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCalibrate(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "", "results folder (default results/calibrate-TIME)")
	f.IntSliceVar(&o.Sizes, "sizes", []int{10, 30, 150, 1000}, "room sizes")
	f.IntSliceVar(&o.Loads, "loads", []int{10, 20, 40, 80}, "load levels in posts per second")
	f.IntSliceVar(&o.Procs, "procs", []int{2, 1}, "the server's GOMAXPROCS values (the first for every point, the others at the middle room size)")
	f.DurationVar(&o.Steady, "steady", 8*time.Second, "steady posting time of each point")
	f.BoolVar(&o.Quick, "quick", false, "a short sweep and CPU-limited sweep, about 3.5 minutes (for CI)")
	f.BoolVar(&o.MicroOnly, "micro-only", false, "only the micro-calibrations (to write a profile of this hardware)")
	f.BoolVar(&o.SaturationOnly, "saturation-only", false, "only the CPU-limited sweep and the micro-calibrations (to measure the USL alone; gcload capacity needs the full calibration)")
	f.StringArrayVar(&o.ServerMetrics, "server-metrics", nil, serverMetricsHelp)
	f.Float64SliceVar(&o.CPULimits, "cpu-limits", nil, "CPU allotments (cores) of the CPU-limited sweep: the server limited to each by the cgroup cpu controller and driven to its knee by a breakpoint search, then the USL fitted over them (default with the search workload 0.25,0.5,0.75,1,1.5, --quick 0.1,0.15,0.2,0.25,0.3; with posts 0.06,0.08,0.1,0.12,0.14,0.16,0.2,0.25,0.3, --quick 0.06,0.08,0.1,0.12,0.14); needs root")
	f.StringVar(&o.SaturationWorkload, "saturation-workload", WorkloadSearch, "what drives the CPU-limited sweep to saturation: search (message searches over rooms with a long history: milliseconds of server CPU, tens of microseconds of the generator's, so allotments up to 1.5 cores saturate on 2) or posts (posts into rooms of --saturation-size: the generator costs as much as the server, so only allotments below about 0.15 core saturate on 2 cores)")
	f.IntVar(&o.SaturationSize, "saturation-size", 10, "room size of the CPU-limited sweep's posts workload")
	f.IntVar(&o.SaturationHistory, "saturation-history", 0, "posts stored in each room of the search workload (default 1000, --quick 400)")
	f.BoolVar(&o.NoSaturation, "no-saturation", false, "skip the CPU-limited sweep")
	f.IntVar(&o.Pool, "pool", 0, "also measure a pool of N servers (1 to 8) on a throw-away PostgreSQL, which gcload capacity predicts from the sweep (needs Debian's postgresql package)")
	f.IntVar(&o.PoolSize, "pool-size", 100, "room size of the pool runs (two rooms, members spread over the servers)")
	f.IntVar(&o.PoolLoad, "pool-load", 20, "posts/s of the pool runs")
	f.IntVar(&o.PoolRuns, "pool-runs", 3, "pool runs, each on a fresh cluster and pool: the validation judges their mean error (one run of a few seconds on a shared machine scatters by ±20%)")
	f.BoolVar(&o.PoolOnly, "pool-only", false, "only the pool runs (--pool N, default 3), put in the calibration.json already in --out")
	f.StringVar(&o.MicroDir, "fsync-dir", "", "directory of the synchronous-write loop (default: the results folder)")
	return cmd
}

// point is one run of the sweep.
type point struct {
	size, load, procs int
}

func (o *CalibrateOptions) points() ([]point, error) {
	if o.Quick {
		o.Steady = 5 * time.Second
		return []point{
			{10, 20, 2}, {30, 20, 2}, {150, 10, 2}, {150, 20, 2}, {150, 40, 2}, {1000, 20, 2}, {150, 20, 1},
		}, nil
	}
	if len(o.Sizes) < 2 || len(o.Loads) < 1 || len(o.Procs) < 1 {
		return nil, errors.New("calibrate: give at least 2 --sizes, 1 --loads and 1 --procs")
	}
	var ps []point
	for _, k := range o.Sizes {
		for _, l := range o.Loads {
			ps = append(ps, point{k, l, o.Procs[0]})
		}
	}
	mid := o.Sizes[len(o.Sizes)/2]
	for _, p := range o.Procs[1:] {
		for _, l := range o.Loads {
			ps = append(ps, point{mid, l, p})
		}
	}
	for _, p := range ps {
		if p.size < 2 || p.load < 1 || p.procs < 1 {
			return nil, fmt.Errorf("calibrate: room size %d, load %d/s, %d procs: want size ≥ 2, load ≥ 1, procs ≥ 1", p.size, p.load, p.procs)
		}
	}
	return ps, nil
}

// pointDuration is about how long one point takes: the server's start and
// idle measurement, sign-in, settling, posting and the drain.
func pointDuration(p point, steady time.Duration) time.Duration {
	rooms := 2
	if p.size >= 1000 {
		rooms = 1
	}
	users := p.size * rooms
	signin := min(max(users/2, 50), 1000)
	return 2*time.Second + time.Duration(float64(users)/float64(signin)*float64(time.Second)) + 2*time.Second + steady + time.Second
}

// scenarioFor writes the scenario of one point: two rooms of the size
// (one when the size is 1,000 or more), every member online, 2 s to settle
// (the sign-in burst's garbage collected outside the window), then posts
// at the point's rate.
func scenarioFor(p point, steady time.Duration) []byte {
	rooms := 2
	if p.size >= 1000 {
		rooms = 1
	}
	rate := float64(p.load)
	users := p.size * rooms
	signin := min(max(users/2, 50), 1000)
	return fmt.Appendf(nil, `name: calibrate-k%d-l%d-p%d
description: gcload calibrate point, rooms of %d at %d posts/s, server on %d cores
seed: 1
transport: tcp
connections: {model: shared, shared: 4}
lookup: {flow: client}
users: {count: %d}
rooms:
  classes:
    - {name: r%d, size: %d, count: %d}
phases:
  - name: signin
    signin: {rate: %d/s, arrival: constant}
  - name: settle
    duration: 2s
  - name: steady
    duration: %s
    posts: {rate: %s/s}
drain: 1s
`, p.size, p.load, p.procs, p.size, p.load, p.procs, users, p.size, p.size, rooms, signin, steady, strconv.FormatFloat(rate, 'f', 3, 64))
}

// childServer is a reference server in a child process.
type childServer struct {
	cmd                        *exec.Cmd
	addr, lookup, admin, token string
}

var serveLine = regexp.MustCompile(`SIP on (\S+), lookup (\S+), .*admin API ([^\s,]+)`)

// startChildServer starts a reference server as a child process with
// GOMAXPROCS procs, inside group g when g is not nil.
func startChildServer(ctx context.Context, dir string, procs int, g *cgroup.Group) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "serve", "--listen", "127.0.0.1:0", "--udp=false", "--admin", "127.0.0.1:0",
		"--db", filepath.Join(dir, "gc.db"), "--log-level", "error")
	// the admin token goes to the child in its environment (not on its
	// command line, which other users of the machine can read)
	var tok [24]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tok[:])
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs), childEnv+"=1", adminclient.TokenEnv+"="+token)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := cmd.Start
	if g != nil {
		start = func() error { return g.Start(cmd) }
	}
	if err := start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	m := serveLine.FindStringSubmatch(line)
	if err != nil || m == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("calibrate: the server child said %q (%v)", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &childServer{cmd: cmd, addr: m[1], lookup: m[2], admin: m[3], token: token}, nil
}

// target describes the child server.
func (c *childServer) target() target.Target {
	return target.Target{Lookup: c.lookup, Servers: []string{c.addr}, Admin: c.admin, AdminToken: c.token}
}

func (c *childServer) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func runCalibrate(ctx context.Context, env *Env, o *CalibrateOptions) error {
	points, err := o.points()
	if err != nil {
		return badInput(err)
	}
	if o.PoolOnly && o.Pool == 0 {
		o.Pool = 3
	}
	if o.Pool < 0 || o.Pool > embedded.MaxPool {
		return badInput(fmt.Errorf("--pool %d: want 1 to %d servers", o.Pool, embedded.MaxPool))
	}
	if o.Pool > 0 && (o.PoolSize < 2 || o.PoolLoad < 1 || o.PoolRuns < 1 || o.PoolRuns > 20) {
		return badInput(fmt.Errorf("--pool-size %d, --pool-load %d, --pool-runs %d: want a room size ≥ 2, ≥ 1 post/s and 1 to 20 runs", o.PoolSize, o.PoolLoad, o.PoolRuns))
	}
	if o.PoolOnly && (o.MicroOnly || o.SaturationOnly) {
		return badInput(errors.New("--pool-only: not with --micro-only or --saturation-only"))
	}
	if o.PoolOnly {
		return calibratePoolOnly(ctx, env, o)
	}
	if o.MicroOnly || o.SaturationOnly {
		points = nil
	}
	if o.MicroOnly && o.SaturationOnly {
		return badInput(errors.New("--micro-only: not with --saturation-only"))
	}
	if o.SaturationOnly && o.NoSaturation {
		return badInput(errors.New("--saturation-only: not with --no-saturation"))
	}
	for _, c := range o.CPULimits {
		if !(c >= 0.001 && c <= float64(runtime.NumCPU())) {
			return badInput(fmt.Errorf("--cpu-limits: %g cores: want 0.001 to %d (this machine's CPUs)", c, runtime.NumCPU()))
		}
	}
	slices.Sort(o.CPULimits)
	if o.SaturationWorkload != WorkloadSearch && o.SaturationWorkload != WorkloadPosts {
		return badInput(fmt.Errorf("--saturation-workload %q: want search or posts", o.SaturationWorkload))
	}
	if o.SaturationHistory < 0 || o.SaturationHistory > 100000 {
		return badInput(fmt.Errorf("--saturation-history %d: want 1 to 100000 posts per room", o.SaturationHistory))
	}
	if o.SaturationSize < 2 {
		return badInput(fmt.Errorf("--saturation-size %d: want at least 2", o.SaturationSize))
	}
	out := o.Out
	if out == "" {
		out = filepath.Join("results", "calibrate-"+env.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cal := capacity.Calibration{Version: capacity.CalibrationVersion}
	e := htmlreport.CurrentEnv(Version, "")
	cal.Machine = capacity.Machine{Host: e.Hostname, CPUModel: e.CPUModel, LogicalCPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Time: env.Now().UTC()}
	fmt.Fprintf(env.Stdout, "gcload calibrate: %d points into %s\n", len(points), out)
	if len(points) > 0 {
		fmt.Fprintf(env.Stdout, "%-5s %6s %5s %9s %9s %9s %10s %9s %7s\n", "point", "room", "cores", "posts/s", "achieved", "deliv/s", "srv CPU %", "p99 ms", "valid")
	}
	for i, p := range points {
		fmt.Fprintf(env.Stderr, "gcload calibrate: point %d of %d: rooms of %d at %d posts/s, server on %d cores (about %s)\n",
			i+1, len(points), p.size, p.load, p.procs, pointDuration(p, o.Steady).Round(time.Second))
		m, err := calibratePoint(ctx, env, out, i, p, o.Steady, o.ServerMetrics)
		if err != nil {
			return fmt.Errorf("calibrate: point %d (rooms of %d, %d posts/s, %d cores): %w", i, p.size, p.load, p.procs, err)
		}
		cal.Measurements = append(cal.Measurements, m)
		util := 0.0
		if m.WallSeconds > 0 {
			util = 100 * m.ServerCPUSeconds / m.WallSeconds / float64(m.Cores)
		}
		fmt.Fprintf(env.Stdout, "%-5d %6d %5d %9.1f %9.1f %9.0f %10.1f %9.2f %7v\n", i, m.RoomSize, m.Cores, m.OfferedPostsPerSec, m.AchievedPostsPerSec, m.DeliveriesPerSec, util, m.Latency.PostLastDeliveryP99/1000, m.GeneratorValid)
		if ctx.Err() != nil {
			return withCode(6, ctx.Err())
		}
	}
	if !o.MicroOnly && !o.NoSaturation {
		so := SaturationOptions{Workload: o.SaturationWorkload, Size: o.SaturationSize, History: o.SaturationHistory, Limits: o.CPULimits,
			Steady: 3 * time.Second, Resolution: 0.1}
		if o.Quick {
			so.Steady, so.Resolution = 2*time.Second, 0.15
		}
		if so.History == 0 {
			so.History = 1000
			if o.Quick {
				so.History = 400
			}
		}
		if len(so.Limits) == 0 {
			switch {
			case so.Workload == WorkloadPosts && o.Quick:
				so.Limits = []float64{0.06, 0.08, 0.1, 0.12, 0.14}
			case so.Workload == WorkloadPosts:
				so.Limits = []float64{0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25, 0.3}
			case o.Quick:
				so.Limits = []float64{0.1, 0.15, 0.2, 0.25, 0.3}
			default:
				so.Limits = []float64{0.25, 0.5, 0.75, 1, 1.5}
			}
		}
		fmt.Fprintf(env.Stderr, "gcload calibrate: CPU-limited sweep (%s workload): the server limited to %v cores, each driven to its knee\n", so.Workload, so.Limits)
		sat, err := calibrateSaturation(ctx, env, out, so, env.Stdout)
		if err != nil {
			if ctx.Err() != nil {
				return withCode(6, ctx.Err())
			}
			return fmt.Errorf("calibrate: CPU-limited sweep: %w", err)
		}
		cal.Saturation = sat
		if sat.Note != "" {
			fmt.Fprintf(env.Stdout, "saturation: %s\n", sat.Note)
		}
		fmt.Fprintf(env.Stdout, "%s\n", uslSentence(sat.Fit))
		if sat.Fit != nil {
			fmt.Fprintf(env.Stdout, "%s\n", sat.CrossCheck.Sentence())
		}
		if sat.CPUFit != nil {
			fmt.Fprintf(env.Stdout, "from CPU time per operation instead (not used by the model): %s\n", uslSentence(sat.CPUFit))
			fmt.Fprintf(env.Stdout, "from CPU time per operation: %s\n", sat.CPUCrossCheck.Sentence())
		}
		if _, err := capacity.USLFromSaturation(*sat); err != nil {
			fmt.Fprintf(env.Stdout, "the capacity model does not use it: %v\n", err)
		}
	}
	fsDir := o.MicroDir
	if fsDir == "" {
		fsDir = out
	}
	fmt.Fprintln(env.Stderr, "gcload calibrate: micro-calibrations: the hot path, then a synchronous-write loop")
	if cal.Micro.HotPathDeliveryUs, err = hotPathMicro(ctx, 200000); err != nil {
		return fmt.Errorf("calibrate: hot-path micro-calibration: %w", err)
	}
	mean, p99, err := fsyncMicro(fsDir, 200)
	if err != nil {
		return fmt.Errorf("calibrate: synchronous-write loop: %w", err)
	}
	cal.Micro.FsyncMeanUs, cal.Micro.FsyncP99Us = mean, p99
	fmt.Fprintf(env.Stdout, "hot path: %.2f µs of CPU per delivery (render + scan); fsync: mean %.0f µs, p99 %.0f µs (%s)\n", cal.Micro.HotPathDeliveryUs, mean, p99, fsDir)
	if o.Pool > 0 && !o.MicroOnly {
		runs, err := o.measurePool(ctx, env, out, cal)
		if err != nil {
			return err
		}
		cal.Pool = runs
	}
	if err := capacity.SaveCalibration(out, cal); err != nil {
		return err
	}
	if len(points) > 0 {
		fmt.Fprintf(env.Stdout, "%s\n", capacity.Validate(cal).Sentence)
	}
	fmt.Fprintf(env.Stdout, "calibration: %s (next: gcload capacity %s)\n", filepath.Join(out, capacity.CalibrationFile), out)
	return nil
}

// calibratePoint runs one point against a fresh child server.
func calibratePoint(ctx context.Context, env *Env, out string, i int, p point, steady time.Duration, metrics []string) (capacity.Measurement, error) {
	dir := filepath.Join(out, fmt.Sprintf("point-%02d", i))
	tmp, err := os.MkdirTemp("", "gcload-calibrate-*")
	if err != nil {
		return capacity.Measurement{}, err
	}
	defer os.RemoveAll(tmp)
	srv, err := startChildServer(ctx, tmp, p.procs, nil)
	if err != nil {
		return capacity.Measurement{}, err
	}
	defer srv.stop()
	idle, err := loadrun.IdleCPU(ctx, srv.cmd.Process.Pid, srv.target(), 2*time.Second)
	if err != nil {
		return capacity.Measurement{}, err
	}
	file := filepath.Join(tmp, "scenario.yaml")
	if err := os.WriteFile(file, scenarioFor(p, steady), 0o644); err != nil {
		return capacity.Measurement{}, err
	}
	spec, _, err := scenarios.Load(file, nil)
	if err != nil {
		return capacity.Measurement{}, badInput(err)
	}
	res, err := loadrun.Run(ctx, spec, loadrun.Options{
		Target: srv.target(), Output: loadrun.Output{Dir: dir, Report: true, Version: Version},
		Tick: 250 * time.Millisecond, Now: env.Now,
		Measure: loadrun.Measure{ServerPID: srv.cmd.Process.Pid, ServerCores: p.procs, ServerIdleCPU: idle, ServerMetrics: metrics},
	})
	if err != nil {
		return capacity.Measurement{}, fromLibrary(err)
	}
	var rm loadrun.Measurement
	if err := json.Unmarshal(res.Extra[loadrun.FileMeasurement], &rm); err != nil {
		return capacity.Measurement{}, fmt.Errorf("%s: %w", loadrun.FileMeasurement, err)
	}
	return rm.Measurement, nil
}

// hotPathMicro measures the CPU of the server's hot path on this machine:
// render one delivery (the grpchat envelope and the in-dialog INFO around
// it) and scan it as the receiving side does; µs of CPU per delivery.
func hotPathMicro(ctx context.Context, n int) (float64, error) {
	ep := sipnet.NewEndpoint(sipnet.Options{Handler: func(*sipnet.ServerTx) {}})
	defer ep.Close()
	a, err := ep.ListenTCP("127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	conn, err := ep.DialTCP(ctx, a.String()) // only for the Via line: nothing is sent
	if err != nil {
		return 0, err
	}
	d := sipnet.NewDialog(conn, "a84b4c76e66710@gcs1.example.com", "<sip:gcs1@example.com>", "1928301774", "<sip:user1@example.com>", "a73kszlfl", "sip:user1@127.0.0.1:5060;transport=tcp", 100)
	ch := xccos.Chat{ChanURI: "ma-chan://example.com/room-1", Author: "sip:user2@example.com", TS: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Text: strings.Repeat("hello world ", 8)}
	body, out := make([]byte, 0, 512), make([]byte, 0, 1024)
	br := ep.NewBranch()
	run := func(n int) {
		for i := range n {
			body = xccos.AppendChat(body[:0], uint64(i), &ch)
			out = d.AppendRequest(out[:0], "INFO", br, uint32(i), "text/plain", body)
			if _, err := sipnet.Scan(out); err != nil {
				panic(err)
			}
		}
	}
	run(n / 10) // warm up
	c0 := processCPU()
	run(n)
	return (processCPU() - c0) * 1e6 / float64(n), nil
}

// processCPU returns the process's user and system CPU seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// fsyncMicro times n synchronous 4 KiB appends (write + fdatasync) to a
// file in dir: the mean and p99 latency, µs.
func fsyncMicro(dir string, n int) (mean, p99 float64, err error) {
	f, err := os.CreateTemp(dir, ".fsync-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]float64, 0, n)
	for i := range n {
		buf[0] = byte(i)
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, err
		}
		lat = append(lat, float64(time.Since(t).Microseconds()))
	}
	slices.Sort(lat)
	var sum float64
	for _, l := range lat {
		sum += l
	}
	return sum / float64(n), lat[min(n-1, n*99/100)], nil
}
