package reports

import (
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry shared by every histogram of a run: values in
// microseconds from 1 µs to one hour, 3 significant digits. Histograms of
// the same geometry merge exactly.
const (
	HistogramLowest  int64 = 1             // µs
	HistogramHighest int64 = 3_600_000_000 // µs (one hour)
	HistogramDigits        = 3             // significant decimal digits
)

// DefaultInterval is the interval length NewRecorder uses when given 0.
const DefaultInterval = time.Second

// CounterClamped counts latencies outside the histogram range (negative, or
// above one hour) that were recorded at the nearest bound instead.
const CounterClamped = "clamped"

// maxShards bounds the histogram shards of one operation.
const maxShards = 8

// NewHistogram returns an empty dense histogram of the run geometry
// (about 184 KB).
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistogramLowest, HistogramHighest, HistogramDigits)
}

// NewPackedHistogram returns an empty sparse histogram of the run geometry;
// its size grows with the buckets it populates (typically 0.3-10 KB).
func NewPackedHistogram() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(HistogramLowest, HistogramHighest, HistogramDigits)
}

// Interval is what one interval of a run recorded. Hists holds only the
// operations that recorded something in the interval, as sparse
// PackedHistograms (a dense Histogram costs 184 KB whatever it holds;
// a packed one a few KB), Counters the non-zero counter deltas, Gauges the
// last value of each gauge set during the interval. An Interval returned by
// a Recorder is shared: treat it as read-only.
type Interval struct {
	Start    time.Time
	End      time.Time
	Hists    map[Op]*hdrhistogram.PackedHistogram
	Counters map[string]int64
	Gauges   map[string]float64
}

// Recorder collects latencies, counters and gauges from many goroutines
// and closes an interval at each Tick.
//
// Record costs one map lookup and one uncontended mutex on a histogram
// shard (a goroutine that finds a shard busy tries the next one, so
// contention spreads over up to min(GOMAXPROCS, 8) shards); Add and Gauge
// cost one map lookup and one atomic operation. None of them allocates
// once an operation or counter name has been seen.
//
// Memory: each operation that recorded something holds two dense
// histograms (total and current interval, 184 KB each) per shard in use;
// each closed interval keeps a packed histogram per operation active in it
// (roughly 0.3 KB for a handful of distinct values, up to ~10 KB for a
// wide distribution) plus its counter deltas. A one-hour run with 1 s
// intervals and five busy operations keeps roughly 20-100 MB of intervals.
type Recorder struct {
	start    time.Time
	interval time.Duration
	nshards  int

	regMu    sync.Mutex // registration of new names (copy-on-write maps)
	ops      atomic.Pointer[map[Op]*opRec]
	counters atomic.Pointer[map[string]*counter]
	gauges   atomic.Pointer[map[string]*gauge]
	clamped  *counter

	tickMu   sync.Mutex // Tick and the closed intervals
	curStart time.Time
	closed   []Interval

	errMu    sync.Mutex // the errors by kind
	errKinds map[errKey]*ErrorKind
}

type errKey struct{ op, cause string }

// Error records an error of operation op whose cause is cause ("connection
// refused", "timeout", "SIP 503", ...): kinds are counted, and the first
// error of each kind is kept with msg, its message, and at, when it
// happened. Errors are not the hot path: this takes a mutex.
func (r *Recorder) Error(op, cause, msg string, at time.Time) {
	k := errKey{op, cause}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if e := r.errKinds[k]; e != nil {
		e.Count++
		return
	}
	if r.errKinds == nil {
		r.errKinds = map[errKey]*ErrorKind{}
	}
	r.errKinds[k] = &ErrorKind{Op: op, Cause: cause, Count: 1, First: msg, FirstAt: at.Sub(r.start).Seconds()}
}

// Errors returns the errors recorded, by kind, most frequent first.
func (r *Recorder) Errors() []ErrorKind {
	r.errMu.Lock()
	out := make([]ErrorKind, 0, len(r.errKinds))
	for _, e := range r.errKinds {
		out = append(out, *e)
	}
	r.errMu.Unlock()
	SortErrors(out)
	return out
}

// SortErrors sorts error kinds most frequent first, then by operation and
// cause.
func SortErrors(es []ErrorKind) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		return a.Cause < b.Cause
	})
}

type opRec struct {
	shards []shard
}

type shard struct {
	mu    sync.Mutex
	total *hdrhistogram.Histogram // nil until first use
	cur   *hdrhistogram.Histogram
	_     [40]byte // keep shards on separate cache lines
}

type counter struct {
	v    atomic.Int64
	last int64 // total at the last Tick (tickMu)
	_    [48]byte
}

type gauge struct {
	bits atomic.Uint64
	set  atomic.Bool // set since the last Tick
	_    [48]byte
}

// NewRecorder returns a Recorder whose first interval starts at start.
// interval is the nominal interval length (DefaultInterval when 0); the
// caller closes intervals with Tick.
func NewRecorder(start time.Time, interval time.Duration) *Recorder {
	if interval <= 0 {
		interval = DefaultInterval
	}
	n := min(runtime.GOMAXPROCS(0), maxShards)
	r := &Recorder{start: start, interval: interval, nshards: n, curStart: start}
	ops := map[Op]*opRec{}
	for _, op := range Ops {
		ops[op] = &opRec{shards: make([]shard, n)}
	}
	r.ops.Store(&ops)
	cs := map[string]*counter{}
	r.counters.Store(&cs)
	gs := map[string]*gauge{}
	r.gauges.Store(&gs)
	r.clamped = r.counter(CounterClamped)
	return r
}

// Start returns the start of the first interval.
func (r *Recorder) Start() time.Time { return r.start }

// IntervalLength returns the nominal interval length.
func (r *Recorder) IntervalLength() time.Duration { return r.interval }

// Record records d, in microseconds, into op's total histogram and its
// current interval histogram. A negative d is recorded as 0 and a d above
// one hour as one hour; both are counted in CounterClamped. Durations under
// 1 µs are recorded as 0.
func (r *Recorder) Record(op Op, d time.Duration) {
	v := int64(d / time.Microsecond)
	if v < 0 {
		v = 0
		r.clamped.v.Add(1)
	} else if v > HistogramHighest {
		v = HistogramHighest
		r.clamped.v.Add(1)
	}
	o, ok := (*r.ops.Load())[op]
	if !ok {
		o = r.addOp(op)
	}
	s := o.lock()
	if s.total == nil {
		s.total, s.cur = NewHistogram(), NewHistogram()
	}
	// v is within range, so these cannot fail.
	_ = s.total.RecordValue(v)
	_ = s.cur.RecordValue(v)
	s.mu.Unlock()
}

// lock locks and returns the first free shard, or waits for shard 0.
func (o *opRec) lock() *shard {
	for i := range o.shards {
		if o.shards[i].mu.TryLock() {
			return &o.shards[i]
		}
	}
	o.shards[0].mu.Lock()
	return &o.shards[0]
}

func (r *Recorder) addOp(op Op) *opRec {
	return register(&r.regMu, &r.ops, op, func() *opRec { return &opRec{shards: make([]shard, r.nshards)} })
}

// register returns the value of k in the copy-on-write map p, adding mk()
// under mu when k is new: readers load the map without locking, and a
// writer replaces it with a copy holding one more entry.
func register[K comparable, V any](mu *sync.Mutex, p *atomic.Pointer[map[K]*V], k K, mk func() *V) *V {
	mu.Lock()
	defer mu.Unlock()
	old := *p.Load()
	if v, ok := old[k]; ok {
		return v
	}
	m := make(map[K]*V, len(old)+1)
	maps.Copy(m, old)
	v := mk()
	m[k] = v
	p.Store(&m)
	return v
}

// Add adds n to the named counter (created at 0 on first use) and to its
// delta of the current interval.
func (r *Recorder) Add(name string, n int64) {
	c, ok := (*r.counters.Load())[name]
	if !ok {
		c = r.counter(name)
	}
	c.v.Add(n)
}

func (r *Recorder) counter(name string) *counter {
	return register(&r.regMu, &r.counters, name, func() *counter { return &counter{} })
}

// Gauge sets a sampled gauge (users_online, ...); each interval keeps the
// last value set during it. NaN and infinite values are ignored.
func (r *Recorder) Gauge(name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	g, ok := (*r.gauges.Load())[name]
	if !ok {
		g = r.gauge(name)
	}
	g.bits.Store(math.Float64bits(v))
	g.set.Store(true)
}

func (r *Recorder) gauge(name string) *gauge {
	return register(&r.regMu, &r.gauges, name, func() *gauge { return &gauge{} })
}

// Tick closes the current interval at now and starts the next one. Call it
// every interval and once at the end of the run, from one goroutine at a
// time. Every value recorded before Tick is in exactly one interval, so
// the intervals of an operation always add up to its total.
func (r *Recorder) Tick(now time.Time) {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	iv := Interval{Start: r.curStart, End: now}
	for op, o := range *r.ops.Load() {
		var p *hdrhistogram.PackedHistogram
		for i := range o.shards {
			s := &o.shards[i]
			s.mu.Lock()
			if s.cur != nil && s.cur.TotalCount() > 0 {
				if p == nil {
					p = NewPackedHistogram()
				}
				p.MergeFrom(s.cur)
				s.cur.Reset()
			}
			s.mu.Unlock()
		}
		if p != nil {
			p.Compact()
			if iv.Hists == nil {
				iv.Hists = map[Op]*hdrhistogram.PackedHistogram{}
			}
			iv.Hists[op] = p
		}
	}
	for name, c := range *r.counters.Load() {
		t := c.v.Load()
		if d := t - c.last; d != 0 {
			if iv.Counters == nil {
				iv.Counters = map[string]int64{}
			}
			iv.Counters[name] = d
		}
		c.last = t
	}
	for name, g := range *r.gauges.Load() {
		if g.set.Swap(false) {
			if iv.Gauges == nil {
				iv.Gauges = map[string]float64{}
			}
			iv.Gauges[name] = math.Float64frombits(g.bits.Load())
		}
	}
	r.closed = append(r.closed, iv)
	r.curStart = now
}

// Histogram returns a copy of op's total histogram (empty if op recorded
// nothing).
func (r *Recorder) Histogram(op Op) *hdrhistogram.Histogram {
	h := NewHistogram()
	o, ok := (*r.ops.Load())[op]
	if !ok {
		return h
	}
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		if s.total != nil {
			h.Merge(s.total)
		}
		s.mu.Unlock()
	}
	return h
}

// Hists returns a copy of the total histogram of every operation that
// recorded something.
func (r *Recorder) Hists() map[Op]*hdrhistogram.Histogram {
	m := map[Op]*hdrhistogram.Histogram{}
	for op := range *r.ops.Load() {
		if h := r.Histogram(op); h.TotalCount() > 0 {
			m[op] = h
		}
	}
	return m
}

// Counters returns the total of every counter used so far.
func (r *Recorder) Counters() map[string]int64 {
	cs := *r.counters.Load()
	m := make(map[string]int64, len(cs))
	for name, c := range cs {
		m[name] = c.v.Load()
	}
	return m
}

// Intervals returns the closed intervals, oldest first. The intervals are
// shared with the Recorder: do not modify them.
func (r *Recorder) Intervals() []Interval {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	return slices.Clone(r.closed)
}

// IntervalsSince returns the closed intervals from the n-th on (0: all),
// oldest first, for who follows a run interval by interval. The
// intervals are shared with the Recorder: do not modify them.
func (r *Recorder) IntervalsSince(n int) []Interval {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	if n >= len(r.closed) {
		return nil
	}
	return slices.Clone(r.closed[max(n, 0):])
}

// LastInterval returns the interval closed last (false: none yet).
func (r *Recorder) LastInterval() (Interval, bool) {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	if len(r.closed) == 0 {
		return Interval{}, false
	}
	return r.closed[len(r.closed)-1], true
}

// Result returns the results of the run so far: s with its Ops computed
// from the total histograms (rates over s.Seconds) and its Counters set to
// the Recorder's, the total histograms and the closed intervals. Call Tick
// one last time first.
func (r *Recorder) Result(s Summary) *Result {
	hists := r.Hists()
	s.Counters = r.Counters()
	s.RecomputeOps(hists)
	return &Result{Summary: s, Hists: hists, Intervals: r.Intervals(), IntervalLength: r.interval}
}

// Snapshot summarises the last closed interval for live progress: posts
// and deliveries per second (from the posts and deliveries counters, or
// the post_ack and post_to_delivery counts when those counters are not
// used), the p99 of post_to_delivery in that interval, and the run's
// cumulative errors, dropped sends and violations. The users fields and
// Phase are left for the caller.
func (r *Recorder) Snapshot(now time.Time) Snapshot {
	s := Snapshot{Elapsed: now.Sub(r.start)}
	cs := *r.counters.Load()
	total := func(name string) int64 {
		if c, ok := cs[name]; ok {
			return c.v.Load()
		}
		return 0
	}
	s.Errors = total(CounterErrors)
	s.Dropped = total(CounterDropped)
	s.Violations = total(CounterViolations)
	s.Deliveries = total(CounterDeliveries)

	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	if len(r.closed) == 0 {
		return s
	}
	iv := r.closed[len(r.closed)-1]
	secs := iv.End.Sub(iv.Start).Seconds()
	count := func(counter string, op Op) int64 {
		if n := iv.Counters[counter]; n != 0 {
			return n
		}
		if h := iv.Hists[op]; h != nil {
			return h.TotalCount()
		}
		return 0
	}
	if secs > 0 {
		s.PostsPerSec = float64(count(CounterPosts, OpPostAck)) / secs
		s.DeliveriesPerSec = float64(count(CounterDeliveries, OpPostToDelivery)) / secs
	}
	if h := iv.Hists[OpPostToDelivery]; h != nil && h.TotalCount() > 0 {
		s.P99PostToDelivery = time.Duration(h.ValueAtPercentile(99)) * time.Microsecond
		s.HasP99 = true
	}
	return s
}

// Summarize summarises a histogram of microseconds; the rate is the count
// over seconds (0 when seconds is not positive). An empty or nil histogram
// gives the zero OpSummary.
func Summarize(h *hdrhistogram.Histogram, seconds float64) OpSummary {
	if h == nil || h.TotalCount() == 0 {
		return OpSummary{}
	}
	n := h.TotalCount()
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	s := OpSummary{
		Count: n,
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   q[0],
		P90:   q[1],
		P99:   q[2],
		P999:  q[3],
		Max:   h.Max(),
	}
	if seconds > 0 {
		s.Rate = float64(n) / seconds
	}
	return s
}

// RecomputeOps sets s.Ops from hists: one OpSummary per operation that
// recorded something, rates over s.Seconds.
func (s *Summary) RecomputeOps(hists map[Op]*hdrhistogram.Histogram) {
	s.Ops = make(map[Op]OpSummary, len(hists))
	for op, h := range hists {
		if h != nil && h.TotalCount() > 0 {
			s.Ops[op] = Summarize(h, s.Seconds)
		}
	}
}

// SortedOps returns the keys of m: the known operations in report order,
// then any others by name.
func SortedOps[V any](m map[Op]V) []Op {
	out := make([]Op, 0, len(m))
	for _, op := range Ops {
		if _, ok := m[op]; ok {
			out = append(out, op)
		}
	}
	var extra []Op
	for op := range m {
		if !slices.Contains(Ops, op) {
			extra = append(extra, op)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	return append(out, extra...)
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
