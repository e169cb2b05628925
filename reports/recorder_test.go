package reports

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 4, 10, 0, 0, 123_456_789, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(t0, time.Second)
	const workers, perWorker = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				r.Record(OpPostAck, time.Duration(1+i%977)*time.Millisecond)
				r.Record(Op("upload"), time.Duration(w+1)*time.Microsecond)
				r.Add(CounterPosts, 1)
				r.Add("sip.200", 2)
				r.Gauge("users_online", float64(w))
			}
		}()
	}
	// Close intervals while the workers record.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 20; i++ {
			r.Tick(sec(i))
			_ = r.Snapshot(sec(i))
			_ = r.Histogram(OpPostAck)
		}
	}()
	wg.Wait()
	<-done
	r.Tick(sec(21))

	const n = workers * perWorker
	if got := r.Histogram(OpPostAck).TotalCount(); got != n {
		t.Errorf("post_ack total = %d, want %d", got, n)
	}
	if got := r.Histogram("upload").TotalCount(); got != n {
		t.Errorf("upload total = %d, want %d", got, n)
	}
	c := r.Counters()
	if c[CounterPosts] != n || c["sip.200"] != 2*n {
		t.Errorf("counters = %v, want posts %d, sip.200 %d", c, n, 2*n)
	}
	var hsum, csum int64
	for _, iv := range r.Intervals() {
		if h := iv.Hists[OpPostAck]; h != nil {
			hsum += h.TotalCount()
		}
		csum += iv.Counters[CounterPosts]
	}
	if hsum != n || csum != n {
		t.Errorf("sum over intervals: post_ack %d, posts %d; want %d", hsum, csum, n)
	}
}

func TestRecorderIntervals(t *testing.T) {
	r := NewRecorder(t0, 0)
	if r.IntervalLength() != DefaultInterval {
		t.Fatalf("interval = %v, want %v", r.IntervalLength(), DefaultInterval)
	}
	r.Record(OpJoin, 5*time.Millisecond)
	r.Add(CounterErrors, 1)
	r.Gauge("users_online", 10)
	r.Tick(sec(1))

	r.Record(OpPostAck, 2*time.Millisecond)
	r.Record(OpPostAck, 3*time.Millisecond)
	r.Add(CounterErrors, 2)
	r.Tick(sec(2))

	r.Tick(sec(3)) // nothing recorded

	r.Record(OpPostAck, -time.Second)         // clamped to 0
	r.Record(OpPostAck, 2*time.Hour)          // clamped to 1 h
	r.Record(OpSchedLag, 300*time.Nanosecond) // 0 µs, not clamped
	r.Gauge("users_online", 12)
	r.Gauge("users_online", 11)
	r.Tick(sec(4))

	ivs := r.Intervals()
	if len(ivs) != 4 {
		t.Fatalf("%d intervals, want 4", len(ivs))
	}
	tests := []struct {
		name     string
		iv       Interval
		start    time.Time
		hists    map[Op]int64
		counters map[string]int64
		gauges   map[string]float64
	}{
		{"first", ivs[0], t0, map[Op]int64{OpJoin: 1}, map[string]int64{CounterErrors: 1}, map[string]float64{"users_online": 10}},
		{"second", ivs[1], sec(1), map[Op]int64{OpPostAck: 2}, map[string]int64{CounterErrors: 2}, nil},
		{"empty", ivs[2], sec(2), nil, nil, nil},
		{"clamped", ivs[3], sec(3), map[Op]int64{OpPostAck: 2, OpSchedLag: 1}, map[string]int64{CounterClamped: 2}, map[string]float64{"users_online": 11}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.iv.Start.Equal(tc.start) || !tc.iv.End.Equal(tc.start.Add(time.Second)) {
				t.Errorf("interval %v..%v, want start %v", tc.iv.Start, tc.iv.End, tc.start)
			}
			if len(tc.iv.Hists) != len(tc.hists) {
				t.Errorf("hists %v, want %v", tc.iv.Hists, tc.hists)
			}
			for op, n := range tc.hists {
				if h := tc.iv.Hists[op]; h == nil || h.TotalCount() != n {
					t.Errorf("%s: histogram %v, want %d values", op, h, n)
				}
			}
			if !mapsEqual(tc.iv.Counters, tc.counters) {
				t.Errorf("counters %v, want %v", tc.iv.Counters, tc.counters)
			}
			if !mapsEqual(tc.iv.Gauges, tc.gauges) {
				t.Errorf("gauges %v, want %v", tc.iv.Gauges, tc.gauges)
			}
		})
	}
	h := r.Histogram(OpPostAck)
	if h.Min() != 0 || !h.ValuesAreEquivalent(h.Max(), HistogramHighest) {
		t.Errorf("clamped min %d max %d, want 0 and %d", h.Min(), h.Max(), HistogramHighest)
	}
	if got := r.Histogram(OpSearch).TotalCount(); got != 0 {
		t.Errorf("unused op has %d values", got)
	}
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRecorderSnapshot(t *testing.T) {
	r := NewRecorder(t0, 2*time.Second)
	for i := range 100 {
		r.Record(OpPostToDelivery, time.Duration(i+1)*time.Millisecond)
	}
	r.Add(CounterPosts, 10)
	r.Add(CounterErrors, 3)
	r.Add(CounterDropped, 1)
	r.Add(CounterViolations, 2)
	r.Tick(sec(2))
	got := r.Snapshot(sec(3))
	want := Snapshot{
		Elapsed:           3 * time.Second,
		PostsPerSec:       5,
		DeliveriesPerSec:  50,
		P99PostToDelivery: 99 * time.Millisecond,
		HasP99:            true,
		Errors:            3,
		Dropped:           1,
		Violations:        2,
	}
	// p99 is bucketed: 99 ms is recorded within 0.1%.
	if d := got.P99PostToDelivery - want.P99PostToDelivery; d < 0 || d > 100*time.Microsecond {
		t.Errorf("p99 = %v, want about %v", got.P99PostToDelivery, want.P99PostToDelivery)
	}
	got.P99PostToDelivery = want.P99PostToDelivery
	if got != want {
		t.Errorf("Snapshot = %+v\nwant %+v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 1000; i++ {
		_ = h.RecordValue(i)
	}
	s := Summarize(h, 10)
	want := OpSummary{Count: 1000, Rate: 100, Min: 1, Mean: h.Mean(), P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if s != want {
		t.Errorf("Summarize = %+v\nwant %+v", s, want)
	}
	if s := Summarize(nil, 1); s != (OpSummary{}) {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(t0, time.Second)
	d := make([]time.Duration, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range d {
		d[i] = time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.Record(OpPostToDelivery, d[i&1023])
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	r := NewRecorder(t0, time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Record(OpPostToDelivery, time.Duration(i&4095)*time.Microsecond*7)
			i++
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	r := NewRecorder(t0, time.Second)
	b.ReportAllocs()
	for b.Loop() {
		r.Add(CounterDeliveries, 1)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	r := NewRecorder(t0, time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add("sip.200", 1)
		}
	})
}
