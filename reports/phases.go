package reports

import (
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// DrainPhase is the name of the drain in Summary.Phases and in the
// interval streams: the time after the last phase until the run's end.
const DrainPhase = "drain"

// PhaseIndex returns the index in phases of the phase that an interval
// whose midpoint lies mid seconds after the run's start belongs to: the
// last phase (drain excluded) starting at or before mid, the first phase
// when mid is before every start (the connections set up before the first
// phase), and -1 (the drain) when mid is at or after the end of the last
// phase. It returns -1 when there are no phases.
func PhaseIndex(phases []PhaseSummary, mid float64) int {
	end, last, first := 0.0, -1, -1
	for i, p := range phases {
		if p.Drain {
			continue
		}
		if first < 0 {
			first = i
		}
		end = max(end, p.StartS+p.Seconds)
		if p.StartS <= mid {
			last = i
		}
	}
	switch {
	case first < 0 || mid >= end:
		return -1
	case last < 0:
		return first
	}
	return last
}

// Midpoint returns the seconds from start to the middle of iv, on the
// wall clock (as the results folder keeps the times).
func Midpoint(iv Interval, start time.Time) float64 {
	a, b := iv.Start.Round(0), iv.End.Round(0)
	return a.Add(b.Sub(a) / 2).Sub(start.Round(0)).Seconds()
}

// seconds returns the length of iv on the wall clock (as the results
// folder keeps the times), so that figures computed during a run and from
// its results folder are the same.
func (iv *Interval) seconds() float64 { return iv.End.Round(0).Sub(iv.Start.Round(0)).Seconds() }

// RecomputePhases sets each phase's Intervals, IntervalSeconds, Ops and
// Counters from r.Intervals, and adds the drain (or updates it) after the
// last phase: every interval belongs to exactly one phase, the one its
// midpoint falls in (PhaseIndex, from Summary.Start), so an interval
// straddling a boundary counts whole in the phase it overlaps most, and
// the phases' counts add up to the run's. Ops are summarised from the
// merged interval histograms, exactly as Summary.Ops from the totals. A
// summary without phases is left as it is.
func (r *Result) RecomputePhases() {
	s := &r.Summary
	var phases []PhaseSummary
	var drain *PhaseSummary
	for _, p := range s.Phases {
		if p.Drain {
			drain = &p
		} else {
			phases = append(phases, p)
		}
	}
	if len(phases) == 0 {
		return
	}
	end := 0.0
	for _, p := range phases {
		end = max(end, p.StartS+p.Seconds)
	}
	if drain == nil {
		drain = &PhaseSummary{Name: DrainPhase, Drain: true}
	}
	drain.StartS, drain.Seconds = end, max(0, s.Seconds-end)
	phases = append(phases, *drain)
	di := len(phases) - 1

	hists := make([]map[Op]*hdrhistogram.Histogram, len(phases))
	for i := range phases {
		p := &phases[i]
		if p.Counts == nil {
			p.Counts = map[string]int64{}
		}
		p.Rates = PhaseRates(p.Counts, p.Seconds)
		p.Intervals, p.IntervalSeconds = 0, 0
		p.Counters = map[string]int64{}
		hists[i] = map[Op]*hdrhistogram.Histogram{}
	}
	for k := range r.Intervals {
		iv := &r.Intervals[k]
		i := PhaseIndex(phases[:di], Midpoint(*iv, s.Start))
		if i < 0 {
			i = di
		}
		p := &phases[i]
		p.Intervals++
		p.IntervalSeconds += iv.seconds()
		for name, n := range iv.Counters {
			p.Counters[name] += n
		}
		for op, h := range iv.Hists {
			if h == nil || h.TotalCount() == 0 {
				continue
			}
			m := hists[i][op]
			if m == nil {
				m = NewHistogram()
				hists[i][op] = m
			}
			h.MergeInto(m)
		}
	}
	for i := range phases {
		p := &phases[i]
		p.Ops = make(map[Op]OpSummary, len(hists[i]))
		for op, h := range hists[i] {
			p.Ops[op] = Summarize(h, p.IntervalSeconds)
		}
	}
	if phases[di].Intervals == 0 && phases[di].Seconds == 0 {
		phases = phases[:di]
	}
	s.Phases = phases
}

// mergePhases adds the counts of b's phases to a's (by name and drain; a
// phase only b has is appended) and recomputes the rates; the interval
// figures are left for RecomputePhases.
func mergePhases(a, b []PhaseSummary) []PhaseSummary {
	for _, p := range b {
		i := slices.IndexFunc(a, func(q PhaseSummary) bool { return q.Name == p.Name && q.Drain == p.Drain })
		if i < 0 {
			a = append(a, PhaseSummary{Name: p.Name, StartS: p.StartS, Seconds: p.Seconds, Drain: p.Drain, Counts: map[string]int64{}})
			i = len(a) - 1
		}
		for k, n := range p.Counts {
			a[i].Counts[k] += n
		}
		a[i].Rates = PhaseRates(a[i].Counts, a[i].Seconds)
	}
	return a
}

// PhaseRates returns counts per second over seconds.
func PhaseRates(counts map[string]int64, seconds float64) map[string]float64 {
	rates := map[string]float64{}
	if seconds > 0 {
		for k, n := range counts {
			rates[k] = float64(n) / seconds
		}
	}
	return rates
}
