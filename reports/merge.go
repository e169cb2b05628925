package reports

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

type geometry interface {
	LowestTrackableValue() int64
	HighestTrackableValue() int64
	SignificantFigures() int64
}

// sameGeometry reports whether h has the run geometry, so that merging it
// is exact.
func sameGeometry(h geometry) bool {
	return h.LowestTrackableValue() == HistogramLowest && h.HighestTrackableValue() == HistogramHighest &&
		h.SignificantFigures() == HistogramDigits
}

// Merge combines the results of the shards of one run exactly:
//
//   - histograms with Histogram.Merge (lossless: same geometry required);
//   - Summary.Counters summed;
//   - intervals aligned by start time into slots of the interval length
//     (which must be the same in every result), their histograms merged
//     and their counters and gauges summed (gauges such as users_online
//     add up across shards);
//   - Summary.Ops recomputed from the merged histograms over the merged
//     duration (earliest start to latest end);
//   - Users summed (PeakOnline too);
//   - Generator: CPU seconds, GC pause total and GOMAXPROCS summed,
//     utilisation, lag p99s, GC pause max and heap peak the worst shard's,
//     Valid only if every shard is valid, invalid reasons joined with
//     their shard;
//   - Aborted if any shard aborted, Unreachable if every shard was,
//     Stopped the shards' reasons joined; Shard becomes "merged(N)";
//   - Errors summed by kind, the earliest first error kept;
//   - Phases: counts summed, rates recomputed over each phase's time,
//     and the figures of each phase's intervals recomputed from the
//     merged intervals (Result.RecomputePhases), so they equal an
//     unsplit run's;
//   - Servers: counts summed by server, Killed if any shard says so.
//
// Delivery, Rooms and Rules are left zero and Thresholds, Verdict and Reasons
// empty: the engine owns delivery accounting and sets the merged values,
// then evaluates thresholds and decides. Extra files are not merged.
// Errors wrap ErrIncompatible.
func Merge(results ...*Result) (*Result, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("%w: nothing to merge", ErrIncompatible)
	}
	first := results[0]
	out := &Result{Summary: first.Summary, Hists: map[Op]*hdrhistogram.Histogram{}}
	s := &out.Summary
	s.Shard = fmt.Sprintf("merged(%d)", len(results))
	s.Counters = map[string]int64{}
	s.Users = Users{}
	s.Generator = Generator{Valid: true}
	s.Delivery, s.Rooms, s.Thresholds, s.Verdict, s.Reasons, s.Aborted = Delivery{}, nil, nil, "", nil, false
	s.Rules, s.Errors, s.Phases, s.Stopped, s.Unreachable = nil, nil, nil, "", true
	s.Clock, s.Shards, s.ClockWarning = nil, nil, "" // the caller says what the shards were
	s.Servers = nil
	errs := map[errKey]*ErrorKind{}
	var phases []PhaseSummary
	var stopped []string

	var length time.Duration
	for i, r := range results {
		label := r.Summary.Shard
		if label == "" {
			label = fmt.Sprint(i + 1)
		}
		if r.Summary.Scenario != first.Summary.Scenario {
			return nil, fmt.Errorf("%w: shard %s ran scenario %q, shard %s %q", ErrIncompatible, label, r.Summary.Scenario, first.Summary.Shard, first.Summary.Scenario)
		}
		if r.ScenarioYAML != nil {
			if out.ScenarioYAML == nil {
				out.ScenarioYAML = r.ScenarioYAML
			} else if !bytes.Equal(out.ScenarioYAML, r.ScenarioYAML) {
				return nil, fmt.Errorf("%w: shard %s ran a different scenario.yaml", ErrIncompatible, label)
			}
		}
		if l := r.intervalLength(); l > 0 && len(r.Intervals) > 0 {
			if length == 0 {
				length = l
			} else if l != length {
				return nil, fmt.Errorf("%w: shard %s has %v intervals, others %v", ErrIncompatible, label, l, length)
			}
		}

		for op, h := range r.Hists {
			if h == nil {
				continue
			}
			if !sameGeometry(h) {
				return nil, fmt.Errorf("%w: shard %s: %s histogram has another range or precision", ErrIncompatible, label, op)
			}
			m := out.Hists[op]
			if m == nil {
				m = NewHistogram()
				out.Hists[op] = m
			}
			if dropped := m.Merge(h); dropped != 0 {
				return nil, fmt.Errorf("%w: shard %s: %s: %d values dropped", ErrIncompatible, label, op, dropped)
			}
		}
		for name, n := range r.Summary.Counters {
			s.Counters[name] += n
		}

		rs := r.Summary
		if !rs.Start.IsZero() && (s.Start.IsZero() || rs.Start.Before(s.Start)) {
			s.Start = rs.Start
		}
		if rs.End.After(s.End) {
			s.End = rs.End
		}
		s.Seconds = max(s.Seconds, rs.Seconds)
		s.Users.Planned += rs.Users.Planned
		s.Users.SignedIn += rs.Users.SignedIn
		s.Users.Failed += rs.Users.Failed
		s.Users.PeakOnline += rs.Users.PeakOnline
		s.Aborted = s.Aborted || rs.Aborted
		s.Unreachable = s.Unreachable && rs.Unreachable
		if rs.Stopped != "" {
			stopped = append(stopped, fmt.Sprintf("shard %s: %s", label, rs.Stopped))
		}
		for _, e := range rs.Errors {
			k := errKey{e.Op, e.Cause}
			if m := errs[k]; m != nil {
				m.Count += e.Count
				if e.FirstAt < m.FirstAt {
					m.First, m.FirstAt = e.First, e.FirstAt
				}
			} else {
				e := e
				errs[k] = &e
			}
		}
		phases = mergePhases(phases, rs.Phases)
		s.Servers = mergeServers(s.Servers, rs.Servers)

		g, rg := &s.Generator, rs.Generator
		g.CPUSeconds += rg.CPUSeconds
		g.CPUUtilization = max(g.CPUUtilization, rg.CPUUtilization)
		g.SchedLagP99 = max(g.SchedLagP99, rg.SchedLagP99)
		g.GoSchedP99 = max(g.GoSchedP99, rg.GoSchedP99)
		g.GCPauseTotal += rg.GCPauseTotal
		g.GCPauseMax = max(g.GCPauseMax, rg.GCPauseMax)
		g.HeapPeakBytes = max(g.HeapPeakBytes, rg.HeapPeakBytes)
		g.EmbeddedServer = g.EmbeddedServer || rg.EmbeddedServer
		g.GOMAXPROCS += rg.GOMAXPROCS
		if !rg.Valid {
			g.Valid = false
			if len(rg.InvalidReasons) == 0 {
				g.InvalidReasons = append(g.InvalidReasons, fmt.Sprintf("shard %s: the generator was saturated", label))
			}
			for _, reason := range rg.InvalidReasons {
				g.InvalidReasons = append(g.InvalidReasons, fmt.Sprintf("shard %s: %s", label, reason))
			}
		}
	}
	if !s.Start.IsZero() && s.End.After(s.Start) {
		s.Seconds = s.End.Sub(s.Start).Seconds()
	}
	s.RecomputeOps(out.Hists)
	s.Stopped = strings.Join(stopped, "; ")
	for _, e := range errs {
		s.Errors = append(s.Errors, *e)
	}
	SortErrors(s.Errors)
	s.Phases = phases

	out.IntervalLength = length
	ivs, err := mergeIntervals(results, length)
	if err != nil {
		return nil, err
	}
	out.Intervals = ivs
	out.RecomputePhases()
	return out, nil
}

// mergeServers adds b's counts to a's, by server.
func mergeServers(a, b []ServerCounts) []ServerCounts {
	for _, sc := range b {
		i := slices.IndexFunc(a, func(x ServerCounts) bool { return x.Server == sc.Server })
		if i < 0 {
			a = append(a, sc)
			continue
		}
		m := &a[i]
		m.Users += sc.Users
		m.Posts += sc.Posts
		m.Deliveries += sc.Deliveries
		m.Errors += sc.Errors
		m.SessionsLost += sc.SessionsLost
		m.Reconnected += sc.Reconnected
		m.CPUSeconds = max(m.CPUSeconds, sc.CPUSeconds) // one process, measured by each shard
		m.Killed = m.Killed || sc.Killed
	}
	return a
}

// mergeIntervals aligns the intervals of every result into slots of
// length l counted from the earliest interval start.
func mergeIntervals(results []*Result, l time.Duration) ([]Interval, error) {
	var t0 time.Time
	for _, r := range results {
		for _, iv := range r.Intervals {
			if t0.IsZero() || iv.Start.Before(t0) {
				t0 = iv.Start
			}
		}
	}
	if t0.IsZero() {
		return nil, nil
	}
	if l <= 0 {
		return nil, fmt.Errorf("%w: unknown interval length", ErrIncompatible)
	}
	slots := map[int64]*Interval{}
	for _, r := range results {
		for _, iv := range r.Intervals {
			k := int64((iv.Start.Sub(t0) + l/2) / l)
			m := slots[k]
			if m == nil {
				m = &Interval{Start: iv.Start, End: iv.End}
				slots[k] = m
			}
			if iv.Start.Before(m.Start) {
				m.Start = iv.Start
			}
			if iv.End.After(m.End) {
				m.End = iv.End
			}
			for op, h := range iv.Hists {
				if h == nil || h.TotalCount() == 0 {
					continue
				}
				if !sameGeometry(h) {
					return nil, fmt.Errorf("%w: interval %v: %s histogram has another range or precision", ErrIncompatible, iv.Start, op)
				}
				if m.Hists == nil {
					m.Hists = map[Op]*hdrhistogram.PackedHistogram{}
				}
				if mh := m.Hists[op]; mh == nil {
					m.Hists[op] = h.Clone()
				} else if dropped := mh.Merge(h); dropped != 0 {
					return nil, fmt.Errorf("%w: interval %v: %s: %d values dropped", ErrIncompatible, iv.Start, op, dropped)
				}
			}
			for name, n := range iv.Counters {
				if m.Counters == nil {
					m.Counters = map[string]int64{}
				}
				m.Counters[name] += n
			}
			for name, v := range iv.Gauges {
				if m.Gauges == nil {
					m.Gauges = map[string]float64{}
				}
				m.Gauges[name] += v
			}
		}
	}
	keys := make([]int64, 0, len(slots))
	for k := range slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]Interval, len(keys))
	for i, k := range keys {
		out[i] = *slots[k]
	}
	return out, nil
}
