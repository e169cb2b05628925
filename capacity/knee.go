package capacity

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// OfferedPoint is one run of a load series: the rate asked for, the rate
// achieved, and the latency a search bounds (e.g. p99 post → last
// delivery), over the run's steady window.
type OfferedPoint struct {
	Offered  float64 `json:"offered"`
	Achieved float64 `json:"achieved"`
	// LatencyUs is the bounded latency in µs; 0 when not measured.
	LatencyUs float64 `json:"latency_us,omitempty"`
	// GeneratorInvalid: the load generator, not the server, was the
	// limit; the point says nothing about the server and is skipped.
	GeneratorInvalid bool `json:"generator_invalid,omitempty"`
	// ThresholdFailed: the run failed one of its own pass/fail rules (a
	// scenario threshold, a health check): the point does not hold.
	ThresholdFailed bool `json:"threshold_failed,omitempty"`
}

// KneeCriteria say when a point of a load series no longer holds.
type KneeCriteria struct {
	// FollowRatio: a point holds while achieved ≥ FollowRatio × offered
	// (0 means DefaultFollowRatio).
	FollowRatio float64 `json:"follow_ratio"`
	// LatencyBoundUs: a point fails when its latency is above it (0: no
	// bound).
	LatencyBoundUs float64 `json:"latency_bound_us,omitempty"`
	// LatencyGrowth: a point fails when its latency is above this many
	// times the latency of the lowest-rate valid point (0: no such rule),
	// the sign of a queue building up before the throughput shows it.
	LatencyGrowth float64 `json:"latency_growth,omitempty"`
}

// DefaultFollowRatio is the share of the offered rate a point must
// achieve to hold: 97%, the model's own saturation rule.
const DefaultFollowRatio = 0.97

// Causes of a point that did not hold.
const (
	CauseThroughput = "throughput" // achieved stopped following offered
	CauseLatency    = "latency"    // latency passed its bound
	CauseGenerator  = "generator"  // the generator was the limit: skipped
	CauseThreshold  = "threshold"  // the run failed a threshold or health check
)

// Verdict is what the criteria say of one point.
type Verdict struct {
	Held bool `json:"held"`
	// Causes say why it did not hold (CauseThroughput, CauseLatency) or
	// that it was skipped (CauseGenerator).
	Causes []string `json:"causes,omitempty"`
}

// Judge applies the criteria to one point; baselineUs is the latency of
// the lowest-rate valid point (for LatencyGrowth).
func (c KneeCriteria) Judge(p OfferedPoint, baselineUs float64) Verdict {
	if p.GeneratorInvalid {
		return Verdict{Causes: []string{CauseGenerator}}
	}
	ratio := c.FollowRatio
	if ratio <= 0 {
		ratio = DefaultFollowRatio
	}
	var v Verdict
	if p.Achieved < ratio*p.Offered {
		v.Causes = append(v.Causes, CauseThroughput)
	}
	if p.LatencyUs > 0 && (c.LatencyBoundUs > 0 && p.LatencyUs > c.LatencyBoundUs ||
		c.LatencyGrowth > 0 && baselineUs > 0 && p.LatencyUs > c.LatencyGrowth*baselineUs) {
		v.Causes = append(v.Causes, CauseLatency)
	}
	if p.ThresholdFailed {
		v.Causes = append(v.Causes, CauseThreshold)
	}
	v.Held = len(v.Causes) == 0
	return v
}

// Knee is where a load series stopped holding.
type Knee struct {
	// Saturated: a valid point did not hold.
	Saturated bool `json:"saturated"`
	// Causes are the first failing point's causes.
	Causes []string `json:"causes,omitempty"`
	// MaxHeld is the highest offered rate that held below the first
	// failure (0 when the lowest rate already failed); MaxHeldAchieved its
	// achieved rate.
	MaxHeld         float64 `json:"max_held"`
	MaxHeldAchieved float64 `json:"max_held_achieved"`
	// FirstFailed is the lowest offered rate that did not hold (0 when
	// none failed).
	FirstFailed float64 `json:"first_failed"`
	// Rate is the estimated offered rate of the knee: where achieved
	// stops following offered (the plateau of achieved rates, at most
	// FirstFailed), or where the latency crosses its bound (interpolated
	// on a log scale between MaxHeld and FirstFailed); 0 when not
	// saturated.
	Rate float64 `json:"rate"`
	// MaxAchieved is the highest achieved rate of any valid point; when
	// the throughput saturated it is the server's saturation throughput.
	MaxAchieved float64 `json:"max_achieved"`
	// SaturationThroughput is MaxAchieved when achieved stopped following
	// offered, else 0 (a latency knee is not a throughput limit).
	SaturationThroughput float64 `json:"saturation_throughput"`
	// Inconsistent: a point above the first failure held again (noise);
	// MaxHeld stays below the first failure, the safe side.
	Inconsistent bool `json:"inconsistent,omitempty"`
	// Verdicts are the points' verdicts, in the order given.
	Verdicts []Verdict `json:"verdicts"`
	// Skipped counts the points the generator limited.
	Skipped  int    `json:"skipped,omitempty"`
	Sentence string `json:"sentence"`
}

// DetectKnee finds where a series of runs at rising offered rates stops
// holding: the first (lowest-rate) valid point whose achieved rate falls
// below FollowRatio × offered or whose latency passes its bound. Points
// may come in any order; generator-limited points are skipped.
func DetectKnee(points []OfferedPoint, c KneeCriteria) Knee {
	k := Knee{Verdicts: make([]Verdict, len(points))}
	idx := make([]int, len(points))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return points[idx[a]].Offered < points[idx[b]].Offered })
	baseline := 0.0
	for _, i := range idx {
		if p := points[i]; !p.GeneratorInvalid && p.LatencyUs > 0 {
			baseline = p.LatencyUs
			break
		}
	}
	first := -1
	var held *OfferedPoint
	for _, i := range idx {
		p := points[i]
		v := c.Judge(p, baseline)
		k.Verdicts[i] = v
		if p.GeneratorInvalid {
			k.Skipped++
			continue
		}
		k.MaxAchieved = math.Max(k.MaxAchieved, p.Achieved)
		switch {
		case !v.Held && first < 0:
			first = i
		case v.Held && first < 0:
			held = &points[i]
		case v.Held:
			k.Inconsistent = true
		}
	}
	if held != nil {
		k.MaxHeld, k.MaxHeldAchieved = held.Offered, held.Achieved
	}
	if first < 0 {
		switch {
		case held == nil:
			k.Sentence = "no valid point: every run was limited by the load generator"
		default:
			k.Sentence = fmt.Sprintf("not saturated: every rate held, up to %s/s offered (%s/s achieved)", num(k.MaxHeld), num(k.MaxHeldAchieved))
		}
		return k
	}
	f := points[first]
	k.Saturated, k.Causes, k.FirstFailed = true, k.Verdicts[first].Causes, f.Offered
	throughput := false
	for _, c := range k.Causes {
		throughput = throughput || c == CauseThroughput
	}
	switch {
	case throughput:
		// Before the knee achieved follows offered, past it achieved is
		// the plateau: they meet at offered = the plateau (which may lie
		// a little below MaxHeld, as FollowRatio tolerates a shortfall).
		k.SaturationThroughput = k.MaxAchieved
		k.Rate = math.Min(k.MaxAchieved, k.FirstFailed)
	case held != nil && held.LatencyUs > 0 && f.LatencyUs > held.LatencyUs:
		bound := c.LatencyBoundUs
		if c.LatencyGrowth > 0 && baseline > 0 && (bound <= 0 || c.LatencyGrowth*baseline < bound) {
			bound = c.LatencyGrowth * baseline
		}
		frac := (math.Log(bound) - math.Log(held.LatencyUs)) / (math.Log(f.LatencyUs) - math.Log(held.LatencyUs))
		k.Rate = k.MaxHeld + math.Min(math.Max(frac, 0), 1)*(k.FirstFailed-k.MaxHeld)
	default:
		k.Rate = k.MaxHeld
	}
	var b strings.Builder
	fmt.Fprintf(&b, "saturated (%s) between %s/s and %s/s offered: knee at about %s/s", strings.Join(k.Causes, " and "), num(k.MaxHeld), num(k.FirstFailed), num(k.Rate))
	if throughput {
		fmt.Fprintf(&b, ", the server's throughput tops out at %s/s", num(k.SaturationThroughput))
	}
	if held == nil {
		b.Reset()
		fmt.Fprintf(&b, "saturated (%s) at the lowest rate run, %s/s offered (%s/s achieved): run lower rates", strings.Join(k.Causes, " and "), num(k.FirstFailed), num(f.Achieved))
	}
	if k.Inconsistent {
		b.WriteString("; a higher rate held again (noisy runs): the knee is taken at the first failure")
	}
	k.Sentence = b.String()
	return k
}

// Search is the breakpoint search's stepping rule: raise the offered rate
// by Factor from Start until a point fails, then bisect (geometrically)
// between the highest rate that held and the lowest that failed until
// they are within Resolution of each other.
type Search struct {
	// Start is the first rate (> 0).
	Start float64 `json:"start"`
	// Factor multiplies the rate while every point holds (default 2).
	Factor float64 `json:"factor"`
	// Resolution ends the bisection when FirstFailed ≤ (1 + Resolution) ×
	// MaxHeld (default 0.05).
	Resolution float64 `json:"resolution"`
	// MaxRate is the highest rate to offer (0: no limit).
	MaxRate float64 `json:"max_rate,omitempty"`
	// MaxSteps bounds the runs (default 12).
	MaxSteps int `json:"max_steps"`
}

// Defaults of Search.
const (
	DefaultSearchFactor     = 2
	DefaultSearchResolution = 0.05
	DefaultSearchSteps      = 12
)

func (s Search) withDefaults() Search {
	if s.Factor <= 1 {
		s.Factor = DefaultSearchFactor
	}
	if s.Resolution <= 0 {
		s.Resolution = DefaultSearchResolution
	}
	if s.MaxSteps <= 0 {
		s.MaxSteps = DefaultSearchSteps
	}
	return s
}

// Next returns the rate of the next run given the runs so far, or done
// and why the search ends: bracketed within the resolution, the step
// limit, the rate limit reached without saturating, the generator unable
// to drive a higher rate, or the lowest rate failing.
func (s Search) Next(points []OfferedPoint, c KneeCriteria) (rate float64, done bool, why string) {
	s = s.withDefaults()
	if !(s.Start > 0) {
		return 0, true, "no start rate"
	}
	if len(points) == 0 {
		return s.clamp(s.Start), false, ""
	}
	if len(points) >= s.MaxSteps {
		return 0, true, fmt.Sprintf("step limit: %d runs", s.MaxSteps)
	}
	k := DetectKnee(points, c)
	// The lowest rate the generator could not drive caps the search.
	genCap := math.Inf(1)
	for _, p := range points {
		if p.GeneratorInvalid {
			genCap = math.Min(genCap, p.Offered)
		}
	}
	ran := func(r float64) bool {
		for _, p := range points {
			if math.Abs(p.Offered-r) <= 1e-9*r {
				return true
			}
		}
		return false
	}
	switch {
	case !k.Saturated:
		next := k.MaxHeld * s.Factor
		if k.MaxHeld == 0 {
			return 0, true, "the load generator was the limit at every rate run"
		}
		if next >= genCap {
			if genCap/k.MaxHeld <= 1+s.Resolution {
				return 0, true, fmt.Sprintf("the load generator could not drive %s/s: the server held every rate the generator could offer", num(genCap))
			}
			next = math.Sqrt(k.MaxHeld * genCap)
		}
		if s.MaxRate > 0 && k.MaxHeld >= s.MaxRate*(1-1e-9) {
			return 0, true, fmt.Sprintf("rate limit: %s/s held without saturating", num(k.MaxHeld))
		}
		return s.clamp(next), false, ""
	case k.MaxHeld == 0:
		next := k.FirstFailed / s.Factor
		if next < s.Start/math.Pow(s.Factor, 4) {
			return 0, true, fmt.Sprintf("even %s/s did not hold", num(k.FirstFailed))
		}
		return next, false, ""
	}
	hi := math.Min(k.FirstFailed, genCap)
	if hi <= k.MaxHeld*(1+s.Resolution) {
		if genCap < k.FirstFailed {
			return 0, true, fmt.Sprintf("the load generator could not drive %s/s, below the first failure at %s/s", num(genCap), num(k.FirstFailed))
		}
		return 0, true, fmt.Sprintf("bracketed: %s/s held, %s/s did not (within %.0f%%)", num(k.MaxHeld), num(k.FirstFailed), 100*s.Resolution)
	}
	next := math.Sqrt(k.MaxHeld * hi)
	if ran(next) {
		return 0, true, fmt.Sprintf("bracketed as far as the runs allow: %s/s held, %s/s did not", num(k.MaxHeld), num(hi))
	}
	return next, false, ""
}

func (s Search) clamp(r float64) float64 {
	if s.MaxRate > 0 {
		return math.Min(r, s.MaxRate)
	}
	return r
}
