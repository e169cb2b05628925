package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/cgroup"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
)

// Saturation workloads of calibrate's CPU-limited sweep.
const (
	// WorkloadSearch: message searches (msgsrch by keyword, matching
	// nothing) over rooms holding a long history: each costs the server a
	// scan of the room's stored posts (milliseconds) and the generator
	// one small request and reply (tens of microseconds), so that a
	// server given up to 1.5 of this machine's 2 cores can be saturated
	// by a generator on what is left. The default.
	WorkloadSearch = "search"
	// WorkloadPosts: posts into rooms of --saturation-size. The generator
	// costs about as much CPU per delivery as the server, so on a 2-core
	// machine it saturates allotments below about 0.15 core only.
	WorkloadPosts = "posts"
)

// saturationScenario is the scenario of a posting saturation search's
// steps: two rooms of size (all members online), 1 s to settle, then
// posts at 10/s (scaled by the search) for steady; a step fails when p99
// post → last delivery passes 500 ms or a delivery is lost.
func saturationScenario(size int, steady time.Duration) []byte {
	users := 2 * size
	return fmt.Appendf(nil, `name: calibrate-saturation-k%d
description: gcload calibrate saturation search, rooms of %d
seed: 1
transport: tcp
connections: {model: shared, shared: 4}
lookup: {flow: client}
users: {count: %d}
rooms:
  classes:
    - {name: r%d, size: %d, count: 2}
phases:
  - name: signin
    signin: {rate: %d/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: %s
    posts: {rate: 10/s}
drain: 1s
thresholds:
  - post_to_last_delivery.p99 < 500ms
  - lost == 0
`, size, size, users, size, size, min(max(users, 50), 1000), steady)
}

// searchRooms and searchPostSize shape the search workload: rooms of two
// (each user a member of one), posts of 500 characters.
const (
	searchRooms    = 8
	searchPostSize = 500
)

// searchFillScenario fills searchRooms rooms of two with history posts
// each, at most 500 posts/s (the server is not limited while it fills).
func searchFillScenario(history int) []byte {
	rate := 500
	secs := math.Ceil(float64(history*searchRooms) / float64(rate))
	return fmt.Appendf(nil, `name: calibrate-saturation-search
description: gcload calibrate, search workload's fill, %d posts in each of %d rooms of 2
seed: 1
transport: tcp
lookup: {flow: client}
users: {count: %d}
rooms:
  classes:
    - {name: h, size: 2, count: %d}
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 500ms
  - name: fill
    duration: %gs
    posts: {rate: %d/s, arrival: constant, size: {value: %d}}
drain: 2s
limits: {max_lag: 30s}
thresholds:
  - lost == 0
  - errors == 0
`, history, searchRooms, 2*searchRooms, searchRooms, secs, rate, searchPostSize)
}

// searchScenario is the scenario of the search workload's steps: the
// fill's users and rooms, 1 s to settle, then message searches by keyword
// (this run's marker, which no stored post carries: each scans the
// searcher's room) at 10/s (scaled by the search), one per user in turn,
// for steady; a step fails when a search's p99 passes 250 ms or one
// fails.
func searchScenario(steady time.Duration) []byte {
	return fmt.Appendf(nil, `name: calibrate-saturation-search
description: gcload calibrate saturation search, message searches over rooms with a long history
seed: 1
transport: tcp
lookup: {flow: client}
users: {count: %d}
rooms:
  classes:
    - {name: h, size: 2, count: %d}
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: %s
    message_search: {rate: 10/s, arrival: constant, by: keyword, limit: 1}
drain: 1s
limits: {concurrency: 10000}
thresholds:
  - message_search.p99 < 250ms
  - errors == 0
`, 2*searchRooms, searchRooms, steady)
}

// SaturationOptions configure the CPU-limited sweep.
type SaturationOptions struct {
	Workload string
	// Size is the room size of the posts workload; History the posts
	// stored in each room of the search workload.
	Size, History int
	Limits        []float64
	Steady        time.Duration
	Resolution    float64
}

func loadScenario(tmp, name string, doc []byte) (*scenarios.Spec, error) {
	file := filepath.Join(tmp, name)
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		return nil, err
	}
	spec, _, err := scenarios.Load(file, nil)
	return spec, err
}

// calibrateSaturation is the CPU-limited sweep: for each allotment (in
// cores, ascending) a reference server limited to it by the cgroup cpu
// controller is driven to its knee by a breakpoint search, its idle CPU
// under the limit measured first; then the USL is fitted to the knees
// over the allotments net of the idle CPU. The posts workload starts a
// fresh server for each step; the search workload fills one server's
// rooms once and changes its limit between allotments (its steps only
// read). A search the generator could not finish, or whose server did not
// use its allotment at the first rate that failed (the machine's other
// load took it, or another resource ran out), is left out and said so,
// never blamed on the server. Without a usable cpu controller it returns
// a Saturation whose Note says why.
func calibrateSaturation(ctx context.Context, env *Env, out string, so SaturationOptions, w io.Writer) (*capacity.Saturation, error) {
	limits := so.Limits
	sat := &capacity.Saturation{Workload: so.Workload, Runs: []capacity.SaturationRun{}}
	if so.Workload == WorkloadPosts {
		sat.RoomSize = so.Size
	} else {
		sat.RoomSize, sat.History = 2, so.History
	}
	ctl, err := cgroup.Detect()
	if err != nil {
		sat.Note = fmt.Sprintf("not run: %v", err)
		return sat, nil
	}
	tmp, err := os.MkdirTemp("", "gcload-saturation-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		spec   *scenarios.Spec
		shared *limitedServer
		op     raised
		group  string
		idle   float64
		start  = 40.0
	)
	switch so.Workload {
	case WorkloadPosts:
		if spec, err = loadScenario(tmp, "scenario.yaml", saturationScenario(so.Size, so.Steady)); err != nil {
			return nil, err
		}
		op, group = raisedOps[scenarios.RaisePosts], fmt.Sprintf("k%d", so.Size)
		// The server's idle CPU (its timers, the measurement's polling) is
		// measured once, under the first allotment.
		if idle, err = limitedIdle(ctx, ctl, limits[0]); err != nil {
			return nil, err
		}
	default:
		fill, err := loadScenario(tmp, "fill.yaml", searchFillScenario(so.History))
		if err != nil {
			return nil, err
		}
		if spec, err = loadScenario(tmp, "scenario.yaml", searchScenario(so.Steady)); err != nil {
			return nil, err
		}
		op, group, start = raisedOps[scenarios.RaiseMessageSearch], fmt.Sprintf("search_h%d", so.History), 20
		// GOMAXPROCS of the largest allotment for every allotment: the
		// quota is all that changes between them.
		if shared, err = startLimitedServer(ctx, ctl, limits[len(limits)-1]); err != nil {
			return nil, err
		}
		defer shared.close()
		if err := shared.group.SetCPULimitPeriod(float64(runtime.NumCPU()), limitPeriod(float64(runtime.NumCPU()))); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "saturation: filling %d rooms of 2 with %d posts each (server not limited) into %s\n", searchRooms, so.History, filepath.Join(out, "saturation-fill"))
		res, err := loadrun.Run(ctx, fill, loadrun.Options{Target: shared.target(), Tick: 250 * time.Millisecond, Now: env.Now, Logger: quiet,
			Output: loadrun.Output{Dir: filepath.Join(out, "saturation-fill"), Version: Version}})
		if err != nil {
			return nil, fromLibrary(err)
		}
		// The fill only has to store about as many posts as asked: a
		// generator that started them late (a busy machine) or a few
		// posts still unanswered at its end do not matter; a room
		// short of a twentieth of its history does.
		if v, _, reasons := reports.Decide(&res.Summary); v != reports.VerdictPass && (v != reports.VerdictInvalid || float64(res.Summary.Delivery.Posts) < 0.95*float64(so.History*searchRooms)) {
			return nil, fmt.Errorf("filling the search workload's rooms: %s, %d of %d posts stored (%s)", v, res.Summary.Delivery.Posts, so.History*searchRooms, strings.Join(reasons, "; "))
		}
		if err := shared.group.SetCPULimitPeriod(limits[0], limitPeriod(limits[0])); err != nil {
			return nil, err
		}
		if idle, err = loadrun.IdleCPU(ctx, shared.cmd.Process.Pid, shared.target(), 2*time.Second); err != nil {
			return nil, err
		}
	}
	var pts, cpuPts []capacity.ScalePoint
	var notes []string
	factor := float64(capacity.DefaultSearchFactor)
	for _, cores := range limits {
		dir := filepath.Join(out, fmt.Sprintf("saturation-c%s", trimFloat(cores)))
		if shared != nil {
			if err := shared.group.SetCPULimitPeriod(cores, limitPeriod(cores)); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(w, "saturation: %s, server limited to %s cores (idle %s cores), into %s\n", sat.Describe(), trimFloat(cores), trimFloat(round3(idle)), dir)
		printStepHeader(w)
		sr := &stepRunner{env: env, spec: spec, op: op, base: 10, ctl: ctl, cpus: cores, server: shared, out: dir, table: w,
			opts: loadrun.Options{Tick: 250 * time.Millisecond, Now: env.Now, Logger: quiet}}
		b, err := capacity.FindBreakpoint(ctx, capacity.Search{Start: start, Factor: factor, Resolution: so.Resolution, MaxSteps: 8}, capacity.KneeCriteria{}, sr.step)
		if err != nil {
			return nil, err
		}
		run := capacity.SaturationRun{Cores: cores, IdleCores: idle, Outcome: b.Outcome, MaxHeldRate: b.MaxHeldRate, FirstFailedRate: b.FirstFailedRate,
			KneeRate: b.KneeRate, Resource: b.Resource, Steps: len(b.Steps), Sentence: b.Sentence, Dir: dir}
		run.UsedCores, run.RunQueueWait = usedAtFirstFailure(b, cores)
		if d := cpuPerOp(b, cores, idle); d > 0 && cores > idle {
			run.CPUPerOpUs, run.CPUBound = d*1e6, (cores-idle)/d
			cpuPts = append(cpuPts, capacity.ScalePoint{Cores: cores - idle, Throughput: run.CPUBound, Group: group})
		}
		fmt.Fprintf(w, "%s\n", b.Sentence)
		if run.CPUPerOpUs > 0 {
			fmt.Fprintf(w, "server CPU per operation at %s/s (held): %s µs, so %s cores net of idle would give %s/s if all used\n",
				fmtRate(b.MaxHeldRate), trimFloat(round3(run.CPUPerOpUs)), trimFloat(round3(cores-idle)), trimFloat(round3(run.CPUBound)))
		}
		failed := b.Outcome == capacity.OutcomeFound || b.Outcome == capacity.OutcomeLowestFailed
		switch {
		case failed && run.UsedCores > 0 && run.UsedCores < capacity.MinAllotmentUse*cores:
			// The quota did not bind: what stopped the server was not its
			// allotment, so the point does not belong in a law of
			// throughput against allotment.
			run.Outcome = capacity.OutcomeNotCPUBound
			th := throttledAtFirstFailure(b)
			var why string
			switch {
			case run.RunQueueWait < 0.1:
				why = fmt.Sprintf("its threads hardly waited for a CPU (%s cores' worth): something other than CPU stopped it", trimFloat(round3(run.RunQueueWait)))
			case th < 0.3:
				why = fmt.Sprintf("its threads waited in the run queue %s cores' worth of the time while the quota throttled it in only %.0f%% of periods: the machine's other load took the rest", trimFloat(round3(run.RunQueueWait)), 100*th)
			default:
				why = fmt.Sprintf("its threads waited in the run queue %s cores' worth of the time and the quota throttled it in %.0f%% of periods: its use came in bursts the quota cut, or the machine's other load took the rest", trimFloat(round3(run.RunQueueWait)), 100*th)
			}
			msg := fmt.Sprintf("%s cores: left out: the server used only %s cores of its %s at the first rate that failed, and %s: not a CPU-bound maximum", trimFloat(cores), trimFloat(round3(run.UsedCores)), trimFloat(cores), why)
			notes = append(notes, msg)
			fmt.Fprintf(w, "%s\n", msg)
		case b.Outcome != capacity.OutcomeFound || cores-idle <= 0:
			notes = append(notes, fmt.Sprintf("%s cores: %s", trimFloat(cores), b.Sentence))
		default:
			// The knee lies between the highest rate that held and the
			// lowest that did not: their geometric mean, so that where
			// the bisection happened to stop does not bias one
			// allotment against another.
			run.Throughput = math.Sqrt(b.MaxHeldRate * b.FirstFailedRate)
			pts = append(pts, capacity.ScalePoint{Cores: cores - idle, Throughput: run.Throughput, Group: group})
			// The next allotment starts a little below its knee if
			// throughput grows with the allotment, in steps of ×1.5:
			// one step brackets it.
			start = math.Max(10, 0.8*run.Throughput*(nextLimit(limits, cores)-idle)/(cores-idle))
			factor = 1.5
		}
		sat.Runs = append(sat.Runs, run)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	sat.Note = strings.Join(notes, "; ")
	if len(pts) > 0 {
		f, err := capacity.FitScalability(pts)
		if err != nil {
			return nil, err
		}
		sat.Fit = &f
		sat.CrossCheck = capacity.CrossCheckCores(pts, 1)
	}
	if len(cpuPts) > 0 {
		f, err := capacity.FitScalability(cpuPts)
		if err != nil {
			return nil, err
		}
		sat.CPUFit = &f
		sat.CPUCrossCheck = capacity.CrossCheckCores(cpuPts, 1)
	}
	return sat, nil
}

// cpuPerOp is the server's CPU seconds per operation at the highest rate
// that held, its idle CPU taken out (0: not measured).
func cpuPerOp(b capacity.Breakpoint, cores, idle float64) float64 {
	for _, st := range b.Steps {
		if st.Point.Offered == b.MaxHeldRate && st.Point.Achieved > 0 && st.Utilization["cpu"]*cores > idle {
			return (st.Utilization["cpu"]*cores - idle) / st.Point.Achieved
		}
	}
	return 0
}

// throttledAtFirstFailure is the share of CFS periods the quota throttled
// the server in at the lowest rate that failed.
func throttledAtFirstFailure(b capacity.Breakpoint) float64 {
	for _, st := range b.Steps {
		if st.Point.Offered == b.FirstFailedRate && !st.Point.GeneratorInvalid {
			return st.CPUThrottled
		}
	}
	return 0
}

// usedAtFirstFailure is the server's CPU use (cores) at the lowest rate
// that failed, from its utilisation of the allotment, and its run-queue
// wait there (0: not measured).
func usedAtFirstFailure(b capacity.Breakpoint, cores float64) (used, wait float64) {
	for _, st := range b.Steps {
		if st.Point.Offered == b.FirstFailedRate && !st.Point.GeneratorInvalid {
			return st.Utilization["cpu"] * cores, st.RunQueueWait
		}
	}
	return 0, 0
}

// nextLimit is the allotment after cur in limits (cur when last).
func nextLimit(limits []float64, cur float64) float64 {
	for i, c := range limits {
		if c == cur && i+1 < len(limits) {
			return limits[i+1]
		}
	}
	return cur
}

// limitedIdle is a reference server's CPU use when idle (cores) under a
// limit of cores, over 2 s.
func limitedIdle(ctx context.Context, ctl *cgroup.Controller, cores float64) (float64, error) {
	srv, err := startLimitedServer(ctx, ctl, cores)
	if err != nil {
		return 0, err
	}
	defer srv.close()
	return loadrun.IdleCPU(ctx, srv.cmd.Process.Pid, srv.target(), 2*time.Second)
}

// uslSentence says the fitted USL with its 90% intervals.
func uslSentence(f *capacity.ScalabilityFit) string {
	if f == nil {
		return "USL over CPU allotments: not fitted (no search found a maximum)"
	}
	if len(f.Points) == 0 {
		return "USL over CPU allotments: " + f.Reason
	}
	iv := func(i capacity.Interval) string {
		if !f.IntervalsKnown {
			return "(interval unknown)"
		}
		return fmt.Sprintf("[%s..%s]", fmtBound(i.Low), fmtBound(i.High))
	}
	s := fmt.Sprintf("USL over CPU allotments %v cores (net of idle): σ = %.4f %s", roundAll(f.Allotments), f.Sigma, iv(f.SigmaCI))
	if !f.SigmaFitted {
		s += " (not determined)"
	}
	if f.KappaFitted {
		s += fmt.Sprintf(", κ = %.4f %s, N* = %s %s", f.Kappa, iv(f.KappaCI), fmtBound(f.PeakCores), iv(f.PeakCoresCI))
	} else {
		s += ", κ = 0 (not determined)"
	}
	s += fmt.Sprintf(" (90%%), fit error %.1f%% rms", 100*f.RMSRelError)
	if f.Reason != "" {
		s += "; " + f.Reason
	}
	return s
}

func fmtBound(x float64) string {
	if math.IsInf(x, 0) {
		return "∞"
	}
	return trimFloat(round3(x))
}

func round3(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round3(x)
	}
	return out
}

func trimFloat(x float64) string { return fmt.Sprintf("%g", x) }
