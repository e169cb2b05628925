package reports

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// phaseRun records a run of 10 intervals whose ticks are not aligned with
// its phases (signin 0-2.5 s, steady 2.5-8 s, then the drain): the first
// interval starts 0.4 s before the run (connections set up), the others
// end at 0.6 s, 1.6 s, ... 9.6 s. By their midpoints (0.1 s, 1.1 s, ...
// 9.1 s) intervals 0-2 are the sign-in's, 3-7 the steady phase's and 8-9
// the drain's. The samples go into the unsplit recorder, into one of
// three shards in turn, and into the expected histogram of their
// interval's phase.
func phaseRun(t *testing.T) (all *Result, shards []*Result, want map[string]map[Op]*hdrhistogram.Histogram, wantCounters map[string]map[string]int64) {
	t.Helper()
	start := t0
	origin := start.Add(-400 * time.Millisecond)
	of := []string{"signin", "signin", "signin", "steady", "steady", "steady", "steady", "steady", DrainPhase, DrainPhase}
	a := NewRecorder(origin, time.Second)
	parts := []*Recorder{NewRecorder(origin, time.Second), NewRecorder(origin, time.Second), NewRecorder(origin, time.Second)}
	want = map[string]map[Op]*hdrhistogram.Histogram{}
	wantCounters = map[string]map[string]int64{}
	rng := rand.New(rand.NewPCG(3, 5))
	n := 0
	for k, ph := range of {
		if want[ph] == nil {
			want[ph], wantCounters[ph] = map[Op]*hdrhistogram.Histogram{}, map[string]int64{}
		}
		ops := map[string][]Op{"signin": {OpSignIn, OpRegister}, "steady": {OpPostAck, OpPostToDelivery, OpHistory}, DrainPhase: {OpPostToDelivery}}[ph]
		base := map[string]float64{"signin": 2000, "steady": 20000, DrainPhase: 200000}[ph]
		for range 200 + 100*k {
			op := ops[rng.IntN(len(ops))]
			us := int64(base * (0.5 + rng.Float64()))
			p := parts[n%len(parts)]
			n++
			for _, r := range []*Recorder{a, p} {
				r.Record(op, time.Duration(us)*time.Microsecond)
				r.Add(CounterPosts, 1)
			}
			if want[ph][op] == nil {
				want[ph][op] = NewHistogram()
			}
			_ = want[ph][op].RecordValue(us)
			wantCounters[ph][CounterPosts]++
		}
		if k == 6 {
			a.Add(CounterErrors, 3)
			parts[1].Add(CounterErrors, 3)
			wantCounters[ph][CounterErrors] += 3
		}
		end := start.Add(600*time.Millisecond + time.Duration(k)*time.Second)
		for _, r := range append([]*Recorder{a}, parts...) {
			r.Tick(end)
		}
	}
	sum := func(shard string) Summary {
		return Summary{
			Scenario: "phases", Shard: shard, Start: start, End: start.Add(9600 * time.Millisecond), Seconds: 9.6,
			Generator: Generator{Valid: true},
			Phases: []PhaseSummary{
				{Name: "signin", StartS: 0, Seconds: 2.5, Counts: map[string]int64{"signin": 10}},
				{Name: "steady", StartS: 2.5, Seconds: 5.5, Counts: map[string]int64{"post_ack": 55}},
			},
		}
	}
	all = a.Result(sum("1/1"))
	all.RecomputePhases()
	for i, p := range parts {
		r := p.Result(sum(fmt.Sprintf("%d/3", i+1)))
		r.RecomputePhases()
		shards = append(shards, r)
	}
	return all, shards, want, wantCounters
}

// TestPhasesFromIntervals: each phase's counts and percentiles are those
// of the samples recorded in the intervals whose midpoint falls in it,
// exactly; the drain is a phase of its own; the phases add up to the run.
func TestPhasesFromIntervals(t *testing.T) {
	all, _, want, wantCounters := phaseRun(t)
	ps := all.Summary.Phases
	if len(ps) != 3 || ps[0].Name != "signin" || ps[1].Name != "steady" || ps[2].Name != DrainPhase || !ps[2].Drain || ps[0].Drain || ps[1].Drain {
		t.Fatalf("phases %+v", ps)
	}
	if d := ps[2]; d.StartS != 8 || d.Seconds < 1.59 || d.Seconds > 1.61 {
		t.Errorf("drain from %v s for %v s, want from 8 s for 1.6 s", d.StartS, d.Seconds)
	}
	wantIntervals := map[string]int{"signin": 3, "steady": 5, DrainPhase: 2}
	total := map[Op]int64{}
	for _, p := range ps {
		if p.Intervals != wantIntervals[p.Name] || p.IntervalSeconds < float64(p.Intervals)-0.001 || p.IntervalSeconds > float64(p.Intervals)+0.001 {
			t.Errorf("%s: %d intervals over %v s, want %d", p.Name, p.Intervals, p.IntervalSeconds, wantIntervals[p.Name])
		}
		if len(p.Ops) != len(want[p.Name]) {
			t.Errorf("%s: ops %v, want %d", p.Name, SortedOps(p.Ops), len(want[p.Name]))
		}
		for op, h := range want[p.Name] {
			if got, w := p.Ops[op], Summarize(h, p.IntervalSeconds); got != w {
				t.Errorf("%s %s:\n got %+v\nwant %+v", p.Name, op, got, w)
			}
			total[op] += p.Ops[op].Count
		}
		if !reflect.DeepEqual(p.Counters, wantCounters[p.Name]) {
			t.Errorf("%s: counters %v, want %v", p.Name, p.Counters, wantCounters[p.Name])
		}
	}
	for op, o := range all.Summary.Ops {
		if total[op] != o.Count {
			t.Errorf("%s: the phases count %d, the run %d", op, total[op], o.Count)
		}
	}
	// the intended-time counts are kept, rates over the phase's own time
	if ps[0].Counts["signin"] != 10 || ps[0].Rates["signin"] != 4 {
		t.Errorf("signin counts %v rates %v", ps[0].Counts, ps[0].Rates)
	}
	// recomputing is idempotent (a merge recomputes a merged result)
	before := fmt.Sprintf("%+v", all.Summary.Phases)
	all.RecomputePhases()
	if after := fmt.Sprintf("%+v", all.Summary.Phases); after != before {
		t.Errorf("recomputed phases differ:\n%s\n%s", after, before)
	}
}

// TestPhasesMerge: the merged results of the shards, written and read
// back, give the same per-phase figures as the unsplit run.
func TestPhasesMerge(t *testing.T) {
	all, shards, _, _ := phaseRun(t)
	var read []*Result
	for _, s := range shards {
		dir := t.TempDir()
		if err := WriteResults(dir, s); err != nil {
			t.Fatal(err)
		}
		r, err := ReadResults(dir)
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, r)
	}
	m, err := Merge(read...)
	if err != nil {
		t.Fatal(err)
	}
	got, want := m.Summary.Phases, all.Summary.Phases
	if len(got) != len(want) {
		t.Fatalf("merged %d phases, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// the shards' intended-time counts add up
		for k, n := range w.Counts {
			w.Counts[k] = 3 * n
		}
		w.Rates = PhaseRates(w.Counts, w.Seconds)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("phase %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestPhaseIndex(t *testing.T) {
	ps := []PhaseSummary{{Name: "a", StartS: 0, Seconds: 2}, {Name: "b", StartS: 2, Seconds: 3}, {Name: DrainPhase, Drain: true, StartS: 5, Seconds: 9}}
	for _, c := range []struct {
		mid  float64
		want int
	}{{-0.5, 0}, {0, 0}, {1.99, 0}, {2, 1}, {4.99, 1}, {5, -1}, {100, -1}} {
		if got := PhaseIndex(ps, c.mid); got != c.want {
			t.Errorf("PhaseIndex(%v) = %d, want %d", c.mid, got, c.want)
		}
	}
	if got := PhaseIndex(nil, 1); got != -1 {
		t.Errorf("no phases: %d", got)
	}
}
