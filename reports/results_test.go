package reports

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const synthIntervals = 10

// recordSynthetic records the same pseudo-random samples, counters and
// gauges into all (every sample) and into parts (sample i into part
// i%len(parts)), ticking every recorder once a second.
func recordSynthetic(all *Recorder, parts []*Recorder) {
	rng := rand.New(rand.NewPCG(7, 9))
	ops := []Op{OpPostAck, OpPostToDelivery, OpPostToLastDelivery, OpSchedLag, OpJoin}
	i := 0
	for k := range synthIntervals {
		for range 1500 {
			op := ops[rng.IntN(len(ops))]
			if op == OpJoin && k > 2 {
				op = OpHistory
			}
			d := time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(20e6))) * time.Nanosecond
			switch rng.IntN(500) {
			case 0:
				d = 3 * time.Hour // clamped
			case 1:
				d = 0
			}
			p := parts[i%len(parts)]
			code := fmt.Sprintf("sip.%d", 200+100*rng.IntN(2))
			for _, r := range []*Recorder{all, p} {
				r.Record(op, d)
				if op == OpPostAck {
					r.Add(CounterPosts, 1)
				}
				r.Add(code, 1)
			}
			i++
		}
		var online float64
		for j, p := range parts {
			v := float64(100*(j+1) + k)
			p.Gauge("users_online", v)
			online += v
		}
		all.Gauge("users_online", online)
		for _, r := range append([]*Recorder{all}, parts...) {
			r.Tick(sec(k + 1))
		}
	}
}

func synthSummary(shard string) Summary {
	return Summary{
		Scenario:  "synthetic",
		Shard:     shard,
		Target:    "embedded",
		Start:     t0,
		End:       sec(synthIntervals),
		Seconds:   synthIntervals,
		Users:     Users{Planned: 10, SignedIn: 9, Failed: 1, PeakOnline: 9},
		Generator: Generator{Valid: true, CPUSeconds: 1.5, GOMAXPROCS: 2},
	}
}

func synthResults(t *testing.T) (all *Result, parts []*Result) {
	t.Helper()
	a := NewRecorder(t0, time.Second)
	ps := []*Recorder{NewRecorder(t0, time.Second), NewRecorder(t0, time.Second), NewRecorder(t0, time.Second)}
	recordSynthetic(a, ps)
	all = a.Result(synthSummary("1/1"))
	for i, p := range ps {
		parts = append(parts, p.Result(synthSummary(fmt.Sprintf("%d/3", i+1))))
	}
	return all, parts
}

func encodePacked(t *testing.T, h *hdrhistogram.PackedHistogram) string {
	t.Helper()
	e, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(e)
}

func compareIntervals(t *testing.T, got, want []Interval) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d intervals, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) {
			t.Errorf("interval %d: %v..%v, want %v..%v", i, g.Start, g.End, w.Start, w.End)
		}
		if !mapsEqual(g.Counters, w.Counters) || !mapsEqual(g.Gauges, w.Gauges) {
			t.Errorf("interval %d: counters %v gauges %v, want %v %v", i, g.Counters, g.Gauges, w.Counters, w.Gauges)
		}
		if len(g.Hists) != len(w.Hists) {
			t.Errorf("interval %d: %d histograms, want %d", i, len(g.Hists), len(w.Hists))
		}
		for op, wh := range w.Hists {
			gh := g.Hists[op]
			if gh == nil || encodePacked(t, gh) != encodePacked(t, wh) {
				t.Errorf("interval %d: %s histogram differs", i, op)
			}
		}
	}
}

func TestResultsRoundTrip(t *testing.T) {
	res, _ := synthResults(t)
	res.Summary.Verdict, _, res.Summary.Reasons = Decide(&res.Summary)
	th, _ := ParseThreshold("post_ack.p99 < 1s")
	res.Summary.Thresholds = []ThresholdResult{th.Eval(&res.Summary, res.Hists)}
	res.ScenarioYAML = []byte("name: synthetic\n")
	res.Extra = map[string][]byte{"accounting.gob": {1, 2, 3}}
	dir := t.TempDir()
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "plots"), 0o755); err != nil { // ignored by ReadResults
		t.Fatal(err)
	}
	got, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	// read back exactly, with [] and {} where nothing was
	if want := res.Summary.withEmptyLists(); !reflect.DeepEqual(got.Summary, want) {
		t.Errorf("summary:\n%+v\nwant\n%+v", got.Summary, want)
	}
	if string(got.ScenarioYAML) != string(res.ScenarioYAML) || !reflect.DeepEqual(got.Extra, res.Extra) {
		t.Errorf("scenario %q extra %v, want %q %v", got.ScenarioYAML, got.Extra, res.ScenarioYAML, res.Extra)
	}
	if got.IntervalLength != time.Second {
		t.Errorf("interval length %v, want 1s", got.IntervalLength)
	}
	if len(got.Hists) != len(res.Hists) {
		t.Errorf("%d histograms, want %d", len(got.Hists), len(res.Hists))
	}
	for op, h := range res.Hists {
		if g := got.Hists[op]; g == nil || !g.Equals(h) {
			t.Errorf("%s histogram differs after the round trip", op)
		}
		if _, err := os.Stat(filepath.Join(dir, string(op)+ExtHgrm)); err != nil {
			t.Errorf("no .hgrm for %s: %v", op, err)
		}
	}
	compareIntervals(t, got.Intervals, res.Intervals)

	verdict, err := os.ReadFile(filepath.Join(dir, FileVerdict))
	if err != nil || string(verdict) != "fail\n3\n1 of 10 users could not sign in\n" {
		t.Errorf("verdict.txt = %q, %v", verdict, err)
	}
}

// TestHlogStandardReader reads run.hlog with hdrhistogram-go's own reader.
func TestHlogStandardReader(t *testing.T) {
	res, _ := synthResults(t)
	dir := t.TempDir()
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, FileHlog))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type line struct {
		tag     string
		startMs int64
		count   int64
		max     int64
	}
	var want []line
	for _, iv := range res.Intervals {
		for _, op := range SortedOps(iv.Hists) {
			h := iv.Hists[op]
			want = append(want, line{string(op), iv.Start.UnixMilli(), h.TotalCount(), h.Max()})
		}
	}
	lr := hdrhistogram.NewHistogramLogReader(f)
	var got []line
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		got = append(got, line{h.Tag(), h.StartTimeMs(), h.TotalCount(), h.Max()})
	}
	if len(got) != len(want) {
		t.Fatalf("standard reader read %d histograms, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// The reader computes times in float seconds: allow 1 ms.
		if g.tag != w.tag || g.count != w.count || g.max != w.max || g.startMs < w.startMs-1 || g.startMs > w.startMs+1 {
			t.Errorf("histogram %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestWriteResultsBadExtra(t *testing.T) {
	for _, name := range []string{"../escape", "sub/file", FileSummary, "post_ack.hgrm", ""} {
		t.Run(name, func(t *testing.T) {
			err := WriteResults(t.TempDir(), &Result{Extra: map[string][]byte{name: nil}})
			if !errors.Is(err, ErrBadResults) {
				t.Errorf("WriteResults with extra %q: %v, want ErrBadResults", name, err)
			}
		})
	}
}

func TestReadResultsMissing(t *testing.T) {
	_, err := ReadResults(t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadResults(empty dir) = %v, want ErrNotExist", err)
	}
}

// TestMergeExact splits samples over three recorders, writes and reads
// each shard's results, merges them and compares with one recorder that
// saw every sample.
func TestMergeExact(t *testing.T) {
	all, parts := synthResults(t)
	var read []*Result
	for _, p := range parts {
		dir := t.TempDir()
		if err := WriteResults(dir, p); err != nil {
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
	if len(m.Hists) != len(all.Hists) {
		t.Fatalf("merged %d histograms, want %d", len(m.Hists), len(all.Hists))
	}
	var qs []float64
	for q := 0.0; q <= 100; q += 0.1 {
		qs = append(qs, q)
	}
	qs = append(qs, 99.99, 99.999, 100)
	for op, want := range all.Hists {
		got := m.Hists[op]
		if got == nil {
			t.Errorf("%s missing from the merge", op)
			continue
		}
		if got.TotalCount() != want.TotalCount() || got.Max() != want.Max() || got.Min() != want.Min() || got.Mean() != want.Mean() {
			t.Errorf("%s: count %d max %d min %d mean %v, want %d %d %d %v", op,
				got.TotalCount(), got.Max(), got.Min(), got.Mean(), want.TotalCount(), want.Max(), want.Min(), want.Mean())
		}
		for _, q := range qs {
			if g, w := got.ValueAtQuantile(q), want.ValueAtQuantile(q); g != w {
				t.Errorf("%s p%v = %d, want %d", op, q, g, w)
			}
		}
		if !got.Equals(want) {
			t.Errorf("%s: merged histogram differs", op)
		}
	}
	if !reflect.DeepEqual(m.Summary.Ops, all.Summary.Ops) {
		t.Errorf("merged ops:\n%+v\nwant\n%+v", m.Summary.Ops, all.Summary.Ops)
	}
	if !reflect.DeepEqual(m.Summary.Counters, all.Summary.Counters) {
		t.Errorf("merged counters %v, want %v", m.Summary.Counters, all.Summary.Counters)
	}
	if m.Summary.Counters[CounterClamped] == 0 {
		t.Error("no clamped values in the synthetic data")
	}
	compareIntervals(t, m.Intervals, all.Intervals)

	s := m.Summary
	wantUsers := Users{Planned: 30, SignedIn: 27, Failed: 3, PeakOnline: 27}
	if s.Shard != "merged(3)" || s.Users != wantUsers || s.Generator.CPUSeconds != 4.5 || !s.Generator.Valid || s.Seconds != synthIntervals {
		t.Errorf("merged summary: shard %q users %+v generator %+v seconds %v", s.Shard, s.Users, s.Generator, s.Seconds)
	}
}

func TestMergeGenerator(t *testing.T) {
	a := &Result{Summary: Summary{Shard: "1/2", Generator: Generator{Valid: true, CPUUtilization: 0.5, HeapPeakBytes: 10}}}
	b := &Result{Summary: Summary{Shard: "2/2", Aborted: true, Generator: Generator{CPUUtilization: 0.97, HeapPeakBytes: 5,
		InvalidReasons: []string{"generator CPU 97% of 2 cores"}}}}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	g := m.Summary.Generator
	if g.Valid || g.CPUUtilization != 0.97 || g.HeapPeakBytes != 10 || !m.Summary.Aborted ||
		!reflect.DeepEqual(g.InvalidReasons, []string{"shard 2/2: generator CPU 97% of 2 cores"}) {
		t.Errorf("merged generator %+v aborted %v", g, m.Summary.Aborted)
	}
}

func TestMergeIncompatible(t *testing.T) {
	iv := func(l time.Duration) []Interval { return []Interval{{Start: t0, End: t0.Add(l)}} }
	tests := []struct {
		name string
		rs   []*Result
	}{
		{"nothing", nil},
		{"interval lengths", []*Result{
			{Intervals: iv(time.Second), IntervalLength: time.Second},
			{Intervals: iv(2 * time.Second), IntervalLength: 2 * time.Second},
		}},
		{"scenarios", []*Result{
			{Summary: Summary{Scenario: "a"}},
			{Summary: Summary{Scenario: "b"}},
		}},
		{"scenario files", []*Result{
			{ScenarioYAML: []byte("a")},
			{ScenarioYAML: []byte("b")},
		}},
		{"histogram precision", []*Result{
			{Hists: map[Op]*hdrhistogram.Histogram{OpJoin: hdrhistogram.New(1, 1000, 2)}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Merge(tc.rs...); !errors.Is(err, ErrIncompatible) {
				t.Errorf("Merge = %v, want ErrIncompatible", err)
			}
		})
	}
}

func TestReadResultsHlogOnly(t *testing.T) {
	res, _ := synthResults(t)
	dir := t.TempDir()
	if err := WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, FileCounters)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Intervals) != len(res.Intervals) {
		t.Fatalf("%d intervals, want %d", len(got.Intervals), len(res.Intervals))
	}
	for i, iv := range res.Intervals {
		g := got.Intervals[i]
		if g.Start.UnixMilli() != iv.Start.UnixMilli() || len(g.Hists) != len(iv.Hists) {
			t.Errorf("interval %d: start %v, %d histograms; want %v, %d", i, g.Start, len(g.Hists), iv.Start, len(iv.Hists))
		}
		for op, h := range iv.Hists {
			if gh := g.Hists[op]; gh == nil || encodePacked(t, gh) != encodePacked(t, h) {
				t.Errorf("interval %d: %s differs", i, op)
			}
		}
	}
}

func FuzzParseHlog(f *testing.F) {
	h := NewPackedHistogram()
	_ = h.RecordValue(1234)
	e, _ := h.Encode()
	f.Add([]byte("#[BaseTime: 1741082400.123 (seconds since epoch)]\nTag=post_ack,0.000,1.000,1.234," + string(e) + "\n"))
	f.Add([]byte("#[StartTime: 1.5 (seconds since epoch), x]\n\"legend\"\n1.000,1.000,1.234," + string(e)))
	f.Add([]byte("Tag=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseHlog(data)
	})
}

// TestMergeServers: merged shards' per-server counts are summed by
// server (written and read back as summary.json), a server only one shard
// used is kept, CPU seconds (one process, measured by each shard) are the
// largest and a server killed in any shard is killed.
func TestMergeServers(t *testing.T) {
	_, parts := synthResults(t)
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	a, b := "10.0.0.1:5061", "10.0.0.2:5061"
	parts[0].Summary.Servers = []ServerCounts{
		{Server: a, Users: 10, Posts: 20, Deliveries: 300, Errors: 1, SessionsLost: 0, Reconnected: 2, CPUSeconds: 1.5},
		{Server: b, Users: 5, Posts: 7, Deliveries: 90, SessionsLost: 5, CPUSeconds: 0.5, Killed: true},
	}
	parts[1].Summary.Servers = []ServerCounts{
		{Server: a, Users: 11, Posts: 21, Deliveries: 310, Errors: 2, Reconnected: 3, CPUSeconds: 1.75},
	}
	var read []*Result
	for _, p := range parts {
		dir := t.TempDir()
		if err := WriteResults(dir, p); err != nil {
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
	want := []ServerCounts{
		{Server: a, Users: 21, Posts: 41, Deliveries: 610, Errors: 3, Reconnected: 5, CPUSeconds: 1.75},
		{Server: b, Users: 5, Posts: 7, Deliveries: 90, SessionsLost: 5, CPUSeconds: 0.5, Killed: true},
	}
	if !reflect.DeepEqual(m.Summary.Servers, want) {
		t.Fatalf("merged servers\n got %+v\nwant %+v", m.Summary.Servers, want)
	}
}
