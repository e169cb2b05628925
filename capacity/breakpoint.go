package capacity

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
)

// SearchStep is one run of a breakpoint search, as the caller's step
// function measured it.
type SearchStep struct {
	// Point is the run's offered and achieved rates, latency, and whether
	// the generator was the limit or a threshold failed.
	Point OfferedPoint `json:"point"`
	// Verdict is the run's own verdict (pass, fail, invalid, ...).
	Verdict string `json:"verdict,omitempty"`
	// Reasons are the run's reasons for a verdict other than pass.
	Reasons []string `json:"reasons"`
	// Utilization is how much of each measured resource of the server the
	// run used, as a share of what the server has (cpu: CPU time ÷ wall ÷
	// the server's cores or CPU allotment); empty when the server was not
	// measured apart from the generator.
	Utilization map[string]float64 `json:"utilization"`
	// CPUThrottled is the share of the CFS periods in which a server under
	// a cgroup CPU limit used its whole quota and was held back (0: not
	// limited, or never throttled). At CPUThrottled ≥ SaturatedUtilization
	// the CPU counts as the resource that ran out even when its mean use
	// is lower (bursts wait for the next period).
	CPUThrottled float64 `json:"cpu_throttled_periods,omitempty"`
	// RunQueueWait is how many cores' worth of time the server's threads
	// spent runnable but waiting for a CPU over the run (from the
	// kernel's schedstat; 0: not measured): on a shared machine, the
	// other load's share of what the server wanted.
	RunQueueWait float64 `json:"run_queue_wait_cores,omitempty"`
	// Stop ends the search: the run cannot be judged for capacity (the
	// server violated the protocol, the target could not be reached, the
	// run was interrupted); it says why.
	Stop string `json:"stop,omitempty"`
	// Dir is where the run's results went.
	Dir string `json:"dir,omitempty"`
}

// Outcomes of a breakpoint search.
const (
	// OutcomeFound: a rate held and a higher one did not (the server
	// saturated or a threshold failed), bracketed as the search allows.
	OutcomeFound = "found"
	// OutcomeNotSaturated: every rate held up to the search's rate or
	// step limit: the maximum is higher than the search went.
	OutcomeNotSaturated = "not_saturated"
	// OutcomeLowestFailed: even the lowest rate run did not hold.
	OutcomeLowestFailed = "lowest_failed"
	// OutcomeGeneratorLimited: the load generator could not drive a rate
	// before the server failed one: the search stopped there, and the
	// server is not blamed.
	OutcomeGeneratorLimited = "generator_limited"
	// OutcomeStopped: a run could not be judged (protocol violations,
	// target unreachable, interrupted).
	OutcomeStopped = "stopped"
	// OutcomeNotCPUBound (the CPU-limited sweep): a maximum was found but
	// the server used less than MinAllotmentUse of its CPU allotment at
	// the first rate that failed, so the allotment was not what limited
	// it.
	OutcomeNotCPUBound = "not_cpu_bound"
)

// SaturatedUtilization is the utilisation at which a resource counts as
// the one that ran out: 85%, the model's own saturation rule.
const SaturatedUtilization = 0.85

// Breakpoint is the result of a breakpoint search.
type Breakpoint struct {
	Outcome string `json:"outcome"`
	// MaxHeldRate is the highest offered rate that held below the first
	// that did not; MaxHeldAchieved its achieved rate.
	MaxHeldRate     float64 `json:"max_held_rate"`
	MaxHeldAchieved float64 `json:"max_held_achieved"`
	// FirstFailedRate is the lowest offered rate that did not hold (0:
	// none did).
	FirstFailedRate float64 `json:"first_failed_rate"`
	// KneeRate is DetectKnee's estimate of the knee (0 when no rate
	// failed).
	KneeRate float64 `json:"knee_rate"`
	// SaturationThroughput is the highest achieved rate when the
	// throughput stopped following the offered rate (0 otherwise).
	SaturationThroughput float64 `json:"saturation_throughput"`
	// Causes are why the first failing rate did not hold.
	Causes []string `json:"causes"`
	// Resource is the server's resource that ran out at the first failing
	// rate (the most used, when at least SaturatedUtilization of it was
	// used), "" when none measured was at its limit or nothing was
	// measured; ResourceUtilization is its utilisation there.
	Resource            string  `json:"resource"`
	ResourceUtilization float64 `json:"resource_utilization"`
	// GeneratorLimitRate is the rate the generator could not drive (0:
	// it drove every rate).
	GeneratorLimitRate float64 `json:"generator_limit_rate"`
	// Stopped says why the search ended.
	Stopped string       `json:"stopped"`
	Steps   []SearchStep `json:"steps"`
	Knee    Knee         `json:"knee"`
	// Sentence says the result for people.
	Sentence string `json:"sentence"`
}

// FindBreakpoint runs a breakpoint search: step runs the load at a rate
// (the i-th run, from 0) and measures it; s.Next chooses the rates (×
// Factor while every rate holds, then geometric bisection) and
// DetectKnee judges them. A run the generator could not drive stops the
// search at once: what it measured is the generator's limit, never the
// server's, and the result says so. A run with Stop set ends the search
// too. An error from step ends it with that error.
func FindBreakpoint(ctx context.Context, s Search, c KneeCriteria, step func(ctx context.Context, i int, rate float64) (SearchStep, error)) (Breakpoint, error) {
	var b Breakpoint
	var points []OfferedPoint
	for {
		rate, done, why := s.Next(points, c)
		if done {
			b.Stopped = why
			break
		}
		if err := ctx.Err(); err != nil {
			b.Stopped, b.Outcome = "interrupted: "+err.Error(), OutcomeStopped
			break
		}
		st, err := step(ctx, len(b.Steps), rate)
		if err != nil {
			return b, err
		}
		b.Steps = append(b.Steps, st)
		if st.Stop != "" {
			b.Stopped, b.Outcome = st.Stop, OutcomeStopped
			break
		}
		if st.Point.GeneratorInvalid {
			b.GeneratorLimitRate = st.Point.Offered
			why := "the load generator could not drive " + num(st.Point.Offered) + "/s"
			if len(st.Reasons) > 0 {
				why += " (" + strings.Join(st.Reasons, "; ") + ")"
			}
			b.Stopped = why + ": the search stops here, and the server is not blamed for it"
			break
		}
		points = append(points, st.Point)
	}
	b.Knee = DetectKnee(points, c)
	k := b.Knee
	b.MaxHeldRate, b.MaxHeldAchieved, b.FirstFailedRate = k.MaxHeld, k.MaxHeldAchieved, k.FirstFailed
	b.KneeRate, b.SaturationThroughput, b.Causes = k.Rate, k.SaturationThroughput, k.Causes
	if b.Causes == nil {
		b.Causes = []string{}
	}
	if b.Outcome == "" {
		switch {
		case k.Saturated && k.MaxHeld > 0:
			b.Outcome = OutcomeFound
		case k.Saturated:
			b.Outcome = OutcomeLowestFailed
		case b.GeneratorLimitRate > 0:
			b.Outcome = OutcomeGeneratorLimited
		default:
			b.Outcome = OutcomeNotSaturated
		}
	}
	if k.Saturated {
		b.Resource, b.ResourceUtilization = bindingResource(b.Steps, k.FirstFailed)
	}
	b.Sentence = b.sentence()
	return b, nil
}

// bindingResource is the most used resource of the step run at rate, if
// it was at its limit.
func bindingResource(steps []SearchStep, rate float64) (string, float64) {
	for _, st := range steps {
		if st.Point.GeneratorInvalid || math.Abs(st.Point.Offered-rate) > 1e-9*rate {
			continue
		}
		names := make([]string, 0, len(st.Utilization))
		for n := range st.Utilization {
			names = append(names, n)
		}
		sort.Strings(names)
		best, u := "", 0.0
		for _, n := range names {
			if st.Utilization[n] > u {
				best, u = n, st.Utilization[n]
			}
		}
		if u >= SaturatedUtilization {
			return best, u
		}
		if st.CPUThrottled >= SaturatedUtilization {
			return "cpu", st.Utilization["cpu"]
		}
		return "", u
	}
	return "", 0
}

func (b *Breakpoint) sentence() string {
	var w strings.Builder
	switch o := b.Outcome; {
	case o == OutcomeFound:
		fmt.Fprintf(&w, "maximum found: %s/s held (%s/s achieved), %s/s did not (%s); knee at about %s/s",
			num(b.MaxHeldRate), num(b.MaxHeldAchieved), num(b.FirstFailedRate), strings.Join(b.Causes, " and "), num(b.KneeRate))
		if b.SaturationThroughput > 0 {
			fmt.Fprintf(&w, ", throughput tops out at %s/s", num(b.SaturationThroughput))
		}
	case o == OutcomeLowestFailed:
		fmt.Fprintf(&w, "no maximum: even %s/s did not hold (%s); start lower", num(b.FirstFailedRate), strings.Join(b.Causes, " and "))
	case o == OutcomeGeneratorLimited && b.MaxHeldRate == 0:
		fmt.Fprintf(&w, "no maximum: the load generator could not drive even the first rate, %s/s: nothing was learnt about the server", num(b.GeneratorLimitRate))
	case o == OutcomeGeneratorLimited:
		fmt.Fprintf(&w, "no maximum: the server held every rate the load generator could drive (up to %s/s); the generator could not drive %s/s, so the server's limit is above what this generator measures",
			num(b.MaxHeldRate), num(b.GeneratorLimitRate))
	case o == OutcomeNotSaturated:
		fmt.Fprintf(&w, "no maximum: every rate held, up to %s/s (%s)", num(b.MaxHeldRate), b.Stopped)
	case o == OutcomeStopped:
		fmt.Fprintf(&w, "search stopped: %s", b.Stopped)
		if b.MaxHeldRate > 0 {
			fmt.Fprintf(&w, " (%s/s held before)", num(b.MaxHeldRate))
		}
		return w.String()
	}
	switch {
	case b.Resource != "":
		fmt.Fprintf(&w, "; %s ran out (%.0f%% used at %s/s)", b.Resource, 100*b.ResourceUtilization, num(b.FirstFailedRate))
	case b.FirstFailedRate > 0 && b.ResourceUtilization > 0:
		fmt.Fprintf(&w, "; no measured resource was at its limit (at most %.0f%% used at %s/s): the limit is elsewhere (locks, flushes, the network, the thresholds)", 100*b.ResourceUtilization, num(b.FirstFailedRate))
	case b.FirstFailedRate > 0:
		w.WriteString("; the server's resources were not measured apart from the generator's (--server-pid, --server-metrics or --server-cpus)")
	}
	if b.Outcome == OutcomeFound && b.GeneratorLimitRate > 0 {
		fmt.Fprintf(&w, "; the bisection stopped when the generator could not drive %s/s", num(b.GeneratorLimitRate))
	}
	return w.String()
}
