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

// FindMaxOptions are the flags of gcload run --find-max.
type FindMaxOptions struct {
	Enabled bool
	// ServerCPUs > 0 runs the reference server as a child process limited
	// to that many cores by the cgroup cpu controller (a fresh server per
	// step).
	ServerCPUs float64
	// StartRate (default: the scenario's post rate), MaxRate (0: none),
	// MaxSteps and Resolution configure capacity.Search.
	StartRate, MaxRate float64
	MaxSteps           int
	Resolution         float64
}

func addFindMaxFlags(cmd *cobra.Command, o *FindMaxOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.Enabled, "find-max", false, "breakpoint search: run the scenario again and again, raising its post rate (×2 while every rate holds, then bisecting) until a threshold fails or the server saturates; results in OUT/step-NN/ and OUT/search.json (docs/capacity.md)")
	f.Float64Var(&o.ServerCPUs, "server-cpus", 0, "with --find-max and no --target: run the reference server as a child process limited to this many cores (0.25 is a quarter of one) by the cgroup cpu controller, measured apart from the generator; needs root")
	f.Float64Var(&o.StartRate, "start-rate", 0, "--find-max: the first post rate, posts/s (default: the scenario's)")
	f.Float64Var(&o.MaxRate, "max-rate", 0, "--find-max: the highest post rate to offer, posts/s (0: no limit)")
	f.IntVar(&o.MaxSteps, "max-steps", capacity.DefaultSearchSteps, "--find-max: the most runs")
	f.Float64Var(&o.Resolution, "resolution", capacity.DefaultSearchResolution, "--find-max: stop bisecting when the lowest rate that failed is within this fraction above the highest that held")
}

// searchFile is search.json: the search's settings and its result.
type searchFile struct {
	Scenario string `json:"scenario"`
	// BaseRate is the scenario's own post rate; each step scales every
	// phase's post rate by rate ÷ base_rate.
	BaseRate   float64               `json:"base_rate"`
	ServerCPUs float64               `json:"server_cpus"`
	Search     capacity.Search       `json:"settings"`
	Criteria   capacity.KneeCriteria `json:"criteria"`
	capacity.Breakpoint
	ExitCode int `json:"exit_code"`
}

// postRate is the highest post rate of the scenario's phases.
func postRate(spec *scenarios.Spec) float64 {
	r := 0.0
	for _, ph := range spec.Phases {
		if ph.Posts != nil {
			r = math.Max(r, ph.Posts.Rate.PerSecond())
		}
	}
	return r
}

// scaledSpec is spec with every phase's post rate times f.
func scaledSpec(spec *scenarios.Spec, f float64) *scenarios.Spec {
	s := *spec
	s.Phases = make([]scenarios.Phase, len(spec.Phases))
	for i, ph := range spec.Phases {
		if ph.Posts != nil {
			p := *ph.Posts
			p.Rate = scenarios.Rate(p.Rate.PerSecond() * f)
			ph.Posts = &p
		}
		s.Phases[i] = ph
	}
	return &s
}

// checkFindMax refuses the flags that do not go with --find-max.
func checkFindMax(o *RunOptions) error {
	fm := o.FindMax
	if !fm.Enabled {
		for name, set := range map[string]bool{"--server-cpus": fm.ServerCPUs != 0, "--start-rate": fm.StartRate != 0, "--max-rate": fm.MaxRate != 0} {
			if set {
				return badInput(fmt.Errorf("%s: only with --find-max", name))
			}
		}
		return nil
	}
	switch {
	case o.Coordinator != "" || o.Shard != "" || o.StartAt != "":
		return badInput(errors.New("--find-max: not with --coordinator, --shard or --start-at (a search runs one generator)"))
	case len(o.Streams) > 0:
		return badInput(errors.New("--find-max: not with --stream (each step is a run of its own, in OUT/step-NN/)"))
	case fm.ServerCPUs < 0 || math.IsNaN(fm.ServerCPUs):
		return badInput(fmt.Errorf("--server-cpus %g: want a number of cores > 0", fm.ServerCPUs))
	case fm.ServerCPUs > 0 && !o.Target.Embedded():
		return badInput(errors.New("--server-cpus: only without --target (it limits the reference server gcload starts)"))
	case fm.ServerCPUs > 0 && (o.ServerPID != 0 || len(o.ServerMetrics) > 0):
		return badInput(errors.New("--server-cpus: not with --server-pid or --server-metrics (gcload measures the server it starts)"))
	case fm.StartRate < 0, fm.MaxRate < 0, fm.MaxRate > 0 && fm.StartRate > fm.MaxRate:
		return badInput(fmt.Errorf("--start-rate %g, --max-rate %g: want 0 ≤ start ≤ max", fm.StartRate, fm.MaxRate))
	case fm.MaxSteps < 1:
		return badInput(fmt.Errorf("--max-steps %d: want at least 1", fm.MaxSteps))
	case !(fm.Resolution > 0 && fm.Resolution < 1):
		return badInput(fmt.Errorf("--resolution %g: want a fraction between 0 and 1", fm.Resolution))
	}
	return nil
}

// runFindMax is gcload run --find-max: a breakpoint search over the
// scenario's post rate (capacity.FindBreakpoint), each step a complete
// run with its own results folder.
func runFindMax(ctx context.Context, env *Env, o *RunOptions, spec *scenarios.Spec, level slog.Level) error {
	fm := o.FindMax
	base := postRate(spec)
	if base <= 0 {
		return badInput(fmt.Errorf("--find-max: scenario %s has no phase with posts: there is no rate to raise", spec.Name))
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
	fmt.Fprintf(env.Stdout, "gcload run --find-max: %s, post rate from %s/s (the scenario's: %s/s), into %s\n", spec.Name, fmtRate(search.Start), fmtRate(base), out)
	printStepHeader(env.Stdout)
	sr := &stepRunner{env: env, spec: spec, base: base, ctl: ctl, cpus: fm.ServerCPUs, out: out, table: env.Stdout,
		opts: loadrun.Options{Target: withEnvToken(env, o.Target), Tick: o.Tick, Now: env.Now, Logger: logger, MetricsAddr: o.Metrics,
			Measure: loadrun.Measure{ServerPID: o.ServerPID, ServerCores: o.ServerCores, ServerMetrics: o.ServerMetrics}}}
	b, err := capacity.FindBreakpoint(ctx, search, crit, sr.step)
	if err != nil {
		return err
	}
	code := findMaxCode(b)
	sf := searchFile{Scenario: spec.Name, BaseRate: base, ServerCPUs: fm.ServerCPUs, Search: search, Criteria: crit, Breakpoint: b, ExitCode: code}
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
// every phase's post rate scaled from base to the step's rate, into
// out/step-NN/, against opts.Target, or with ctl against a fresh
// reference server limited to cpus cores.
type stepRunner struct {
	env   *Env
	spec  *scenarios.Spec
	base  float64
	ctl   *cgroup.Controller
	cpus  float64
	out   string
	opts  loadrun.Options
	table io.Writer
}

func printStepHeader(w io.Writer) {
	fmt.Fprintf(w, "%-4s %10s %10s %9s %9s  %s\n", "step", "offered/s", "achieved/s", "p99 ms", "srv CPU %", "verdict")
}

func (r *stepRunner) step(ctx context.Context, i int, rate float64) (capacity.SearchStep, error) {
	dir := filepath.Join(r.out, fmt.Sprintf("step-%02d", i))
	o := r.opts
	o.Output = loadrun.Output{Dir: dir, Report: true, Version: Version}
	cores := 0.0
	var srv *limitedServer
	var th0 cgroup.Throttling
	if r.ctl != nil {
		var err error
		if srv, err = startLimitedServer(ctx, r.ctl, r.cpus); err != nil {
			return capacity.SearchStep{}, err
		}
		defer srv.close()
		o.Target, cores = srv.target(), r.cpus
		o.Measure.ServerPID, o.Measure.ServerCores = srv.cmd.Process.Pid, int(math.Ceil(r.cpus))
		th0, _ = srv.group.Throttled()
	}
	fmt.Fprintf(r.env.Stderr, "gcload: breakpoint search, step %d: %s posts/s\n", i, fmtRate(rate))
	res, err := loadrun.Run(ctx, scaledSpec(r.spec, rate/r.base), o)
	if err != nil {
		return capacity.SearchStep{}, fromLibrary(err)
	}
	st := judgeStep(&res.Summary, res.Extra[loadrun.FileMeasurement], rate, cores)
	st.Dir = dir
	if srv != nil {
		// The share of CFS periods in which the server used its whole
		// quota: a limited server is held back in those (its latency
		// includes up to a period's wait) even below 100% use.
		if th, err := srv.group.Throttled(); err == nil && th.Periods > th0.Periods {
			st.CPUThrottled = float64(th.Throttled-th0.Throttled) / float64(th.Periods-th0.Periods)
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
// verdict: invalid (the generator's limit) is never the server's, a
// failed threshold or health check is a failure, and protocol violations,
// an unreachable target or an interrupted run stop the search.
func judgeStep(s *reports.Summary, measurement []byte, rate, cores float64) capacity.SearchStep {
	verdict, _, reasons := reports.Decide(s)
	st := capacity.SearchStep{Verdict: verdict, Reasons: reasons, Utilization: map[string]float64{}}
	if st.Reasons == nil {
		st.Reasons = []string{}
	}
	var m loadrun.Measurement
	_ = json.Unmarshal(measurement, &m) // absent: no rates, the point fails on throughput
	st.Point = capacity.OfferedPoint{Offered: rate, LatencyUs: m.Latency.PostLastDeliveryP99}
	if m.OfferedPostsPerSec > 0 {
		st.Point.Achieved = rate * m.AchievedPostsPerSec / m.OfferedPostsPerSec
	}
	if cores <= 0 {
		cores = float64(m.Cores)
	}
	if (m.Server == "process" || m.Server == "metrics") && m.WallSeconds > 0 && cores > 0 {
		st.Utilization["cpu"] = m.ServerCPUSeconds / m.WallSeconds / cores
	}
	switch verdict {
	case reports.VerdictInvalid:
		st.Point.GeneratorInvalid = true
	case reports.VerdictFail:
		st.Point.ThresholdFailed = true
	case reports.VerdictNonconf:
		st.Stop = fmt.Sprintf("the server violated the protocol at %s posts/s (%s)", fmtRate(rate), strings.Join(reasons, "; "))
	case reports.VerdictUnreachable:
		st.Stop = fmt.Sprintf("the target could not be reached at %s posts/s (%s)", fmtRate(rate), strings.Join(reasons, "; "))
	case reports.VerdictAborted:
		st.Stop = fmt.Sprintf("the run at %s posts/s was stopped before its end (%s)", fmtRate(rate), strings.Join(reasons, "; "))
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
