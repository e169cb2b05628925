package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/cgroup"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/scenarios"
)

// saturationScenario is the scenario of a saturation search's steps: two
// rooms of size (all members online), 1 s to settle, then posts at 10/s
// (scaled by the search) for steady; a step fails when p99 post → last
// delivery passes 500 ms or a delivery is lost.
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

// calibrateSaturation is the CPU-limited sweep: for each allotment (in
// cores, ascending) a reference server limited to it by the cgroup cpu
// controller is driven to its knee by a breakpoint search (each step a
// fresh server), its idle CPU under the limit measured first; then the USL
// is fitted to the knees over the allotments net of the idle CPU. Without
// a usable cpu controller it returns a Saturation whose Note says why.
func calibrateSaturation(ctx context.Context, env *Env, out string, size int, limits []float64, steady time.Duration, resolution float64, w io.Writer) (*capacity.Saturation, error) {
	sat := &capacity.Saturation{RoomSize: size, Runs: []capacity.SaturationRun{}}
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
	file := filepath.Join(tmp, "scenario.yaml")
	if err := os.WriteFile(file, saturationScenario(size, steady), 0o644); err != nil {
		return nil, err
	}
	spec, _, err := scenarios.Load(file, nil)
	if err != nil {
		return nil, err
	}
	var pts []capacity.ScalePoint
	var notes []string
	start := 40.0
	// The server's idle CPU (its timers, the measurement's polling) is
	// measured once, under the first allotment.
	idle, err := limitedIdle(ctx, ctl, limits[0])
	if err != nil {
		return nil, err
	}
	factor := float64(capacity.DefaultSearchFactor)
	for _, cores := range limits {
		dir := filepath.Join(out, fmt.Sprintf("saturation-c%s", trimFloat(cores)))
		fmt.Fprintf(w, "saturation: rooms of %d, server limited to %s cores (idle %s cores), into %s\n", size, trimFloat(cores), trimFloat(round3(idle)), dir)
		printStepHeader(w)
		sr := &stepRunner{env: env, spec: spec, base: 10, ctl: ctl, cpus: cores, out: dir, table: w,
			opts: loadrun.Options{Tick: 250 * time.Millisecond, Now: env.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		b, err := capacity.FindBreakpoint(ctx, capacity.Search{Start: start, Factor: factor, Resolution: resolution, MaxSteps: 8}, capacity.KneeCriteria{}, sr.step)
		if err != nil {
			return nil, err
		}
		run := capacity.SaturationRun{Cores: cores, IdleCores: idle, Outcome: b.Outcome, MaxHeldRate: b.MaxHeldRate, FirstFailedRate: b.FirstFailedRate,
			KneeRate: b.KneeRate, Resource: b.Resource, Steps: len(b.Steps), Sentence: b.Sentence, Dir: dir}
		fmt.Fprintf(w, "%s\n", b.Sentence)
		if b.Outcome == capacity.OutcomeFound && cores-idle > 0 {
			// The knee lies between the highest rate that held and the
			// lowest that did not: their geometric mean, so that where
			// the bisection happened to stop does not bias one
			// allotment against another.
			run.Throughput = math.Sqrt(b.MaxHeldRate * b.FirstFailedRate)
			pts = append(pts, capacity.ScalePoint{Cores: cores - idle, Throughput: run.Throughput, Group: fmt.Sprintf("k%d", size)})
			// The next allotment starts a little below its knee if
			// throughput grows with the allotment, in steps of ×1.5:
			// one step brackets it.
			start = math.Max(10, 0.8*run.Throughput*(nextLimit(limits, cores)-idle)/(cores-idle))
			factor = 1.5
		} else {
			notes = append(notes, fmt.Sprintf("%s cores: %s", trimFloat(cores), b.Sentence))
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
	}
	return sat, nil
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
