package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/cgroup"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/spf13/cobra"
)

// FileSearch is the breakpoint search's result in its results folder.
const FileSearch = "search.json"

// FindMaxOptions are the flags of gcload run --find-max, merged with the
// scenario's search: section (the flags win).
type FindMaxOptions struct {
	Enabled bool
	// ServerCPUs > 0 runs the reference server as a child process limited
	// to that many cores by the cgroup cpu controller (a fresh server per
	// step).
	ServerCPUs float64
	// Raise is the rate raised (scenarios.Raise*; default posts).
	Raise string
	// StartRate (default: the scenario's rate of Raise), MaxRate (0:
	// none), MaxSteps and Resolution (0: the defaults) configure
	// capacity.Search.
	StartRate, MaxRate float64
	MaxSteps           int
	Resolution         float64
}

func addFindMaxFlags(cmd *cobra.Command, o *FindMaxOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.Enabled, "find-max", false, "breakpoint search: run the scenario again and again, raising its post rate (or --raise's; ×2 while every rate holds, then bisecting) until a threshold fails or the server saturates; results in OUT/step-NN/ and OUT/search.json (docs/capacity.md); a scenario with a search: section does this without the flag")
	f.Float64Var(&o.ServerCPUs, "server-cpus", 0, "with --find-max and no --target: run the reference server as a child process limited to this many cores (0.25 is a quarter of one) by the cgroup cpu controller, measured apart from the generator; needs root")
	f.StringVar(&o.Raise, "raise", "", "--find-max: the rate to raise: posts (default), history, search or message_search")
	f.Float64Var(&o.StartRate, "start-rate", 0, "--find-max: the first rate, per second (default: the scenario's)")
	f.Float64Var(&o.MaxRate, "max-rate", 0, "--find-max: the highest rate to offer, per second (0: no limit)")
	f.IntVar(&o.MaxSteps, "max-steps", 0, fmt.Sprintf("--find-max: the most runs (0: the scenario's search.steps, else %d)", capacity.DefaultSearchSteps))
	f.Float64Var(&o.Resolution, "resolution", 0, fmt.Sprintf("--find-max: stop bisecting when the lowest rate that failed is within this fraction above the highest that held (0: the scenario's search.resolution, else %g)", capacity.DefaultSearchResolution))
}

// merge fills the options the flags left unset from the scenario's
// search: section (which also enables the search) and the defaults.
func (o FindMaxOptions) merge(b *scenarios.Breakpoint) FindMaxOptions {
	if b != nil {
		o.Enabled = true
		if o.Raise == "" {
			o.Raise = b.Raise
		}
		if o.StartRate == 0 {
			o.StartRate = b.Start.PerSecond()
		}
		if o.MaxRate == 0 {
			o.MaxRate = b.MaxRate.PerSecond()
		}
		if o.MaxSteps == 0 {
			o.MaxSteps = b.Steps
		}
		if o.Resolution == 0 {
			o.Resolution = b.Resolution
		}
		if o.ServerCPUs == 0 {
			o.ServerCPUs = b.ServerCPUs
		}
	}
	if o.Raise == "" {
		o.Raise = scenarios.RaisePosts
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = capacity.DefaultSearchSteps
	}
	if o.Resolution == 0 {
		o.Resolution = capacity.DefaultSearchResolution
	}
	return o
}

// searchFile is search.json: the search's settings and its result.
type searchFile struct {
	Scenario string `json:"scenario"`
	// Raise is the rate raised (posts, history, search, message_search);
	// BaseRate the scenario's own: each step scales that rate of every
	// phase by rate ÷ base_rate.
	Raise      string                `json:"raise"`
	BaseRate   float64               `json:"base_rate"`
	ServerCPUs float64               `json:"server_cpus"`
	Search     capacity.Search       `json:"settings"`
	Criteria   capacity.KneeCriteria `json:"criteria"`
	capacity.Breakpoint
	ExitCode int `json:"exit_code"`
}

// raised is an operation whose rate a breakpoint search raises: the
// phase field that carries its arrival rate, its planned operations, and
// the latency judged (p99).
type raised struct {
	name    string
	arrival func(*scenarios.Phase) *scenarios.Arrival
	kind    swarm.Kind
	latency reports.Op
}

// raisedOps are the rates a search can raise (scenarios.SearchRaise*).
var raisedOps = map[string]raised{
	scenarios.RaisePosts: {scenarios.RaisePosts, func(p *scenarios.Phase) *scenarios.Arrival {
		if p.Posts == nil {
			return nil
		}
		return &p.Posts.Arrival
	}, swarm.KindPost, reports.OpPostToLastDelivery},
	scenarios.RaiseHistory: {scenarios.RaiseHistory, func(p *scenarios.Phase) *scenarios.Arrival {
		if p.History == nil {
			return nil
		}
		return &p.History.Arrival
	}, swarm.KindHistory, reports.OpHistory},
	scenarios.RaiseSearch: {scenarios.RaiseSearch, func(p *scenarios.Phase) *scenarios.Arrival {
		if p.Search == nil {
			return nil
		}
		return &p.Search.Arrival
	}, swarm.KindSearch, reports.OpSearch},
	scenarios.RaiseMessageSearch: {scenarios.RaiseMessageSearch, func(p *scenarios.Phase) *scenarios.Arrival {
		if p.MessageSearch == nil {
			return nil
		}
		return &p.MessageSearch.Arrival
	}, swarm.KindMsgSearch, reports.OpMessageSearch},
}

// opRate is the highest rate of the raised operation over the scenario's
// phases.
func opRate(spec *scenarios.Spec, op raised) float64 {
	r := 0.0
	for i := range spec.Phases {
		if a := op.arrival(&spec.Phases[i]); a != nil {
			r = math.Max(r, a.Rate.PerSecond())
		}
	}
	return r
}

// postRate is the highest post rate of the scenario's phases.
func postRate(spec *scenarios.Spec) float64 { return opRate(spec, raisedOps[scenarios.RaisePosts]) }

// scaledSpec is spec with every phase's rate of op times f.
func scaledSpec(spec *scenarios.Spec, op raised, f float64) *scenarios.Spec {
	s := *spec
	s.Phases = make([]scenarios.Phase, len(spec.Phases))
	for i, ph := range spec.Phases {
		// copy the section before changing it: the phases share it with spec
		switch {
		case op.name == scenarios.RaisePosts && ph.Posts != nil:
			p := *ph.Posts
			ph.Posts = &p
		case op.name == scenarios.RaiseHistory && ph.History != nil:
			p := *ph.History
			ph.History = &p
		case op.name == scenarios.RaiseSearch && ph.Search != nil:
			p := *ph.Search
			ph.Search = &p
		case op.name == scenarios.RaiseMessageSearch && ph.MessageSearch != nil:
			p := *ph.MessageSearch
			ph.MessageSearch = &p
		}
		if a := op.arrival(&ph); a != nil {
			a.Rate = scenarios.Rate(a.Rate.PerSecond() * f)
		}
		s.Phases[i] = ph
	}
	return &s
}

// checkFindMax merges --find-max's flags with the scenario's search:
// section into o.FindMax and refuses the flags that do not go with a
// search.
func checkFindMax(o *RunOptions, spec *scenarios.Spec) error {
	fm := o.FindMax
	if !fm.Enabled && spec.Breakpoint == nil {
		for name, set := range map[string]bool{"--server-cpus": fm.ServerCPUs != 0, "--start-rate": fm.StartRate != 0, "--max-rate": fm.MaxRate != 0,
			"--raise": fm.Raise != "", "--max-steps": fm.MaxSteps != 0, "--resolution": fm.Resolution != 0} {
			if set {
				return badInput(fmt.Errorf("%s: only with --find-max (or a scenario with a search: section)", name))
			}
		}
		return nil
	}
	if _, ok := raisedOps[fm.Raise]; fm.Raise != "" && !ok {
		return badInput(fmt.Errorf("--raise %q: want posts, history, search or message_search", fm.Raise))
	}
	switch {
	case fm.ServerCPUs < 0 || math.IsNaN(fm.ServerCPUs):
		return badInput(fmt.Errorf("--server-cpus %g: want a number of cores > 0", fm.ServerCPUs))
	case fm.StartRate < 0, fm.MaxRate < 0:
		return badInput(fmt.Errorf("--start-rate %g, --max-rate %g: want 0 ≤ start ≤ max", fm.StartRate, fm.MaxRate))
	case fm.MaxSteps < 0:
		return badInput(fmt.Errorf("--max-steps %d: want at least 1", fm.MaxSteps))
	case fm.Resolution != 0 && !(fm.Resolution > 0 && fm.Resolution < 1):
		return badInput(fmt.Errorf("--resolution %g: want a fraction between 0 and 1", fm.Resolution))
	}
	fm = fm.merge(spec.Breakpoint)
	o.FindMax = fm
	switch {
	case o.Coordinator != "" || o.Shard != "" || o.StartAt != "":
		return badInput(errors.New("--find-max: not with --coordinator, --shard or --start-at (a search runs one generator)"))
	case len(o.Streams) > 0:
		return badInput(errors.New("--find-max: not with --stream (each step is a run of its own, in OUT/step-NN/)"))
	case fm.ServerCPUs > 0 && !o.Target.Embedded():
		return badInput(errors.New("--server-cpus: only without --target (it limits the reference server gcload starts)"))
	case fm.ServerCPUs > 0 && (o.ServerPID != 0 || len(o.ServerMetrics) > 0):
		return badInput(errors.New("--server-cpus: not with --server-pid or --server-metrics (gcload measures the server it starts)"))
	case fm.MaxRate > 0 && fm.StartRate > fm.MaxRate:
		return badInput(fmt.Errorf("start rate %g above the max rate %g: want 0 ≤ start ≤ max", fm.StartRate, fm.MaxRate))
	}
	return nil
}

// runFindMax is gcload run --find-max: a breakpoint search over the
// scenario's post rate (capacity.FindBreakpoint), each step a complete
// run with its own results folder.
func runFindMax(ctx context.Context, env *Env, o *RunOptions, spec *scenarios.Spec, level slog.Level) error {
	fm := o.FindMax
	op := raisedOps[fm.Raise]
	base := opRate(spec, op)
	if base <= 0 {
		return badInput(fmt.Errorf("--find-max: scenario %s has no phase with %s: there is no rate to raise", spec.Name, op.name))
	}
	if fm.ServerCPUs > 0 && spec.Target.Embedded.Pool > 0 {
		return badInput(errors.New("--server-cpus: not with an embedded pool (it limits the one reference server gcload starts)"))
	}
	search := capacity.Search{Start: fm.StartRate, MaxRate: fm.MaxRate, MaxSteps: fm.MaxSteps, Resolution: fm.Resolution}
	if search.Start == 0 {
		search.Start = base
	}
	var ctl *cgroup.Controller
	if fm.ServerCPUs > 0 {
		var err error
		if ctl, err = cgroup.Detect(); err != nil {
			return fmt.Errorf("--server-cpus: %w", err)
		}
	}
	out := outDir(env, o, spec, swarm.Shard{Index: 1, Of: 1})
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ctx, cancel := withDeadline(ctx, o.Deadline)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	crit := capacity.KneeCriteria{}
	fmt.Fprintf(env.Stdout, "gcload run --find-max: %s, %s rate from %s/s (the scenario's: %s/s), into %s\n", spec.Name, op.name, fmtRate(search.Start), fmtRate(base), out)
	printStepHeader(env.Stdout)
	sr := &stepRunner{env: env, spec: spec, op: op, base: base, ctl: ctl, cpus: fm.ServerCPUs, out: out, table: env.Stdout,
		opts: loadrun.Options{Target: withEnvToken(env, o.Target), Tick: o.Tick, Now: env.Now, Logger: logger, MetricsAddr: o.Metrics,
			Measure: loadrun.Measure{ServerPID: o.ServerPID, ServerCores: o.ServerCores, ServerMetrics: o.ServerMetrics}}}
	b, err := capacity.FindBreakpoint(ctx, search, crit, sr.step)
	if err != nil {
		return err
	}
	code := findMaxCode(b)
	sf := searchFile{Scenario: spec.Name, Raise: op.name, BaseRate: base, ServerCPUs: fm.ServerCPUs, Search: search, Criteria: crit, Breakpoint: b, ExitCode: code}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, FileSearch), append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\nsearch ended: %s\nresults: %s\n", b.Sentence, b.Stopped, out)
	if code != reports.ExitPass {
		return errSilent{code}
	}
	return nil
}

// stepRunner runs the steps of a breakpoint search: the scenario with
// every phase's rate of op scaled from base to the step's rate, into
// out/step-NN/, against opts.Target, or with ctl against a fresh
// reference server limited to cpus cores, or against server (one limited
// server for every step, whose limit the caller sets) when not nil.
type stepRunner struct {
	env    *Env
	spec   *scenarios.Spec
	op     raised
	base   float64
	ctl    *cgroup.Controller
	cpus   float64
	server *limitedServer
	out    string
	opts   loadrun.Options
	table  io.Writer
}

func printStepHeader(w io.Writer) {
	fmt.Fprintf(w, "%-4s %10s %10s %9s %9s  %s\n", "step", "offered/s", "achieved/s", "p99 ms", "srv CPU %", "verdict")
}

func (r *stepRunner) step(ctx context.Context, i int, rate float64) (capacity.SearchStep, error) {
	dir := filepath.Join(r.out, fmt.Sprintf("step-%02d", i))
	o := r.opts
	o.Output = loadrun.Output{Dir: dir, Report: true, Version: Version}
	cores := 0.0
	srv := r.server
	if srv == nil && r.ctl != nil {
		var err error
		if srv, err = startLimitedServer(ctx, r.ctl, r.cpus); err != nil {
			return capacity.SearchStep{}, err
		}
		defer srv.close()
	}
	var th0 cgroup.Throttling
	var wait0 time.Duration
	t0 := time.Now()
	if srv != nil {
		o.Target, cores = srv.target(), r.cpus
		o.Measure.ServerPID, o.Measure.ServerCores = srv.cmd.Process.Pid, int(math.Ceil(r.cpus))
		th0, _ = srv.group.Throttled()
		wait0, _ = runQueueWait(srv.cmd.Process.Pid)
	}
	fmt.Fprintf(r.env.Stderr, "gcload: breakpoint search, step %d: %s %s/s\n", i, fmtRate(rate), r.op.name)
	spec := scaledSpec(r.spec, r.op, rate/r.base)
	res, err := loadrun.Run(ctx, spec, o)
	if err != nil {
		return capacity.SearchStep{}, fromLibrary(err)
	}
	var st capacity.SearchStep
	if r.op.name == scenarios.RaisePosts {
		st = judgeStep(&res.Summary, res.Extra[loadrun.FileMeasurement], rate, cores)
	} else {
		plan, err := swarm.NewPlan(spec)
		if err != nil {
			return capacity.SearchStep{}, err
		}
		st = judgeOpStep(&res.Summary, res.Extra[loadrun.FileMeasurement], plan, r.op, rate, cores)
	}
	st.Dir = dir
	if srv != nil {
		// The share of CFS periods in which the server used its whole
		// quota: a limited server is held back in those (its latency
		// includes up to a period's wait) even below 100% use.
		if th, err := srv.group.Throttled(); err == nil && th.Periods > th0.Periods {
			st.CPUThrottled = float64(th.Throttled-th0.Throttled) / float64(th.Periods-th0.Periods)
		}
		if w, err := runQueueWait(srv.cmd.Process.Pid); err == nil && w > wait0 {
			st.RunQueueWait = (w - wait0).Seconds() / time.Since(t0).Seconds()
		}
	}
	fmt.Fprintf(r.table, "%-4d %10s %10s %9.1f %9s  %s\n", i, fmtRate(rate), fmtRate(st.Point.Achieved), st.Point.LatencyUs/1000, fmtUtil(st.Utilization["cpu"]), st.Verdict)
	return st, nil
}

// judgeStep turns one step's run into the search's point: the offered
// rate asked for, the achieved rate (scaled by achieved ÷ offered over
// the same window, which cancels the arrivals' randomness), p99 post →
// last delivery, the server's CPU utilisation (when it was measured apart
// from the generator; cores > 0 is its CPU allotment), and the run's
// verdict (stepVerdict).
func judgeStep(s *reports.Summary, measurement []byte, rate, cores float64) capacity.SearchStep {
	st := stepVerdict(s, rate)
	var m loadrun.Measurement
	_ = json.Unmarshal(measurement, &m) // absent: no rates, the point fails on throughput
	st.Point.LatencyUs = m.Latency.PostLastDeliveryP99
	if m.OfferedPostsPerSec > 0 {
		st.Point.Achieved = rate * m.AchievedPostsPerSec / m.OfferedPostsPerSec
	}
	if cores <= 0 {
		cores = float64(m.Cores)
	}
	if (m.Server == "process" || m.Server == "metrics") && m.WallSeconds > 0 && cores > 0 {
		st.Utilization["cpu"] = m.ServerCPUSeconds / m.WallSeconds / cores
	}
	return st
}

// judgeOpStep is judgeStep for a raised operation other than posts: the
// achieved rate is the offered one times the share of the planned
// operations that completed, the latency the operation's p99 (intended
// time → reply), and the server's CPU utilisation is taken from the
// run's samples over the operation's planned window.
func judgeOpStep(s *reports.Summary, measurement []byte, plan *swarm.Plan, op raised, rate, cores float64) capacity.SearchStep {
	st := stepVerdict(s, rate)
	sum := s.Ops[op.latency]
	st.Point.LatencyUs = float64(sum.P99)
	planned, first, last := 0, time.Duration(-1), time.Duration(0)
	for _, o := range plan.Ops {
		if o.Kind != op.kind {
			continue
		}
		planned++
		if first < 0 {
			first = o.At
		}
		last = o.At
	}
	if planned > 0 {
		st.Point.Achieved = rate * math.Min(float64(sum.Count)/float64(planned), 1)
	}
	var m loadrun.Measurement
	_ = json.Unmarshal(measurement, &m)
	if cores <= 0 {
		cores = float64(m.Cores)
	}
	if (m.Server == "process" || m.Server == "metrics") && cores > 0 && planned > 0 && len(m.Samples) >= 2 {
		from, to := s.Start.Add(first), s.Start.Add(last)
		a, b := m.Samples[0], m.Samples[len(m.Samples)-1]
		for _, x := range m.Samples {
			if !x.At.After(from) {
				a = x
			}
		}
		for i := len(m.Samples) - 1; i >= 0; i-- {
			if !m.Samples[i].At.Before(to) {
				b = m.Samples[i]
			}
		}
		if wall := b.At.Sub(a.At).Seconds(); wall > 0 {
			st.Utilization["cpu"] = (b.ServerCPU - a.ServerCPU) / wall / cores
		}
	}
	return st
}

// stepVerdict is a step's verdict: invalid (the generator's limit) is
// never the server's, a failed threshold or health check is a failure,
// and protocol violations, an unreachable target or an interrupted run
// stop the search.
func stepVerdict(s *reports.Summary, rate float64) capacity.SearchStep {
	verdict, _, reasons := reports.Decide(s)
	st := capacity.SearchStep{Verdict: verdict, Reasons: reasons, Utilization: map[string]float64{}}
	if st.Reasons == nil {
		st.Reasons = []string{}
	}
	st.Point = capacity.OfferedPoint{Offered: rate}
	switch verdict {
	case reports.VerdictInvalid:
		st.Point.GeneratorInvalid = true
	case reports.VerdictFail:
		st.Point.ThresholdFailed = true
	case reports.VerdictNonconf:
		st.Stop = fmt.Sprintf("the server violated the protocol at %s/s (%s)", fmtRate(rate), strings.Join(reasons, "; "))
	case reports.VerdictUnreachable:
		st.Stop = fmt.Sprintf("the target could not be reached at %s/s (%s)", fmtRate(rate), strings.Join(reasons, "; "))
	case reports.VerdictAborted:
		st.Stop = fmt.Sprintf("the run at %s/s was stopped before its end (%s)", fmtRate(rate), strings.Join(reasons, "; "))
	}
	return st
}

// findMaxCode is the exit code of a search: 0 when it found the maximum,
// 3 when even the lowest rate failed, 5 when the generator was the limit
// before the server, 8 when it ended without saturating the server, and
// the stopping run's own code (4, 6, 7) when a run could not be judged.
func findMaxCode(b capacity.Breakpoint) int {
	switch b.Outcome {
	case capacity.OutcomeFound:
		return reports.ExitPass
	case capacity.OutcomeLowestFailed:
		return reports.ExitThresholds
	case capacity.OutcomeGeneratorLimited:
		return reports.ExitInvalidRun
	case capacity.OutcomeNotSaturated:
		return reports.ExitInconclusive
	}
	if n := len(b.Steps); n > 0 && b.Steps[n-1].Stop != "" {
		return reports.ExitCode(b.Steps[n-1].Verdict)
	}
	return reports.ExitAborted
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) }

func fmtUtil(u float64) string {
	if u == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*u, 'f', 1, 64)
}

// limitedServer is a reference server in a child process inside a cgroup
// limited to a number of cores.
type limitedServer struct {
	*childServer
	group *cgroup.Group
	tmp   string
}

// limitPeriod is the CFS period of a limit of cpus cores: 10 ms, longer
// when the quota would be under the kernel's 1 ms. A short period keeps
// a limited server's waits for its next share short (at most the period
// less the quota), so that its latency knee is its CPU's and not the
// throttling's.
func limitPeriod(cpus float64) time.Duration {
	p := 10 * time.Millisecond
	if q := time.Duration(math.Ceil(float64(time.Millisecond) / cpus)); q > p {
		p = q.Round(time.Millisecond)
		if time.Duration(cpus*float64(p)) < time.Millisecond {
			p += time.Millisecond
		}
	}
	return min(p, time.Second)
}

// startLimitedServer starts a reference server (fresh database) in a new
// cgroup limited to cpus cores (periods of limitPeriod), with GOMAXPROCS
// ⌈cpus⌉.
func startLimitedServer(ctx context.Context, ctl *cgroup.Controller, cpus float64) (*limitedServer, error) {
	g, err := ctl.New("gcload-server")
	if err != nil {
		return nil, err
	}
	if err := g.SetCPULimitPeriod(cpus, limitPeriod(cpus)); err != nil {
		_ = g.Close()
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gcload-findmax-*")
	if err != nil {
		_ = g.Close()
		return nil, err
	}
	srv, err := startChildServer(ctx, tmp, int(math.Ceil(cpus)), g)
	if err != nil {
		_ = g.Close()
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	return &limitedServer{childServer: srv, group: g, tmp: tmp}, nil
}

func (s *limitedServer) close() {
	s.stop()
	_ = s.group.Close()
	_ = os.RemoveAll(s.tmp)
}

// runQueueWait is the time the threads of process pid have spent
// runnable but waiting for a CPU: the sum of the second field of
// /proc/PID/task/*/schedstat (nanoseconds; Linux with schedstats).
func runQueueWait(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("schedstat of process %d: none (%v)", pid, err)
	}
	var sum time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			continue
		}
		ns, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
