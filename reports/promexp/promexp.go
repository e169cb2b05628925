// Package promexp serves the live measurements of a run as Prometheus
// metrics for --metrics-addr, with the official Go client
// (github.com/prometheus/client_golang): a Handler is a
// prometheus.Collector that reads a *reports.Recorder at scrape time, so
// recording a sample costs what the Recorder costs and nothing more, and
// promhttp serves the exposition in whichever format the scraper asks for
// (the text format 0.0.4 by default, OpenMetrics or protobuf when asked).
//
// It reads the Recorder through the methods that are safe during a run
// (Hists, Counters and Snapshot: they copy or load atomically and never
// modify the Recorder) and a caller's callback for a few gauges. The
// metrics are:
//
//	gcload_operations_total{op}                 samples recorded per operation
//	gcload_operation_latency_seconds{op}        latency histogram (_bucket{le}, _sum, _count)
//	gcload_<counter>_total                      each known counter (dropped_sends, errors, posts, ...)
//	gcload_violations_total{rule}               "violations.<rule>" counters
//	gcload_sip_responses_total{code}            "sip.<code>" counters
//	gcload_users_online, gcload_rooms,
//	gcload_generator_cpu_utilization            the callback's gauges
//	gcload_elapsed_seconds,
//	gcload_interval_posts_per_second,
//	gcload_interval_deliveries_per_second,
//	gcload_interval_post_to_delivery_p99_seconds the last closed interval
//
// and, with Options.ProcessMetrics, the client's standard go_* and
// process_* metrics of the generator process (heap, GC, goroutines, CPU,
// open files).
//
// The fan-out completion time (op="post_to_last_delivery") counts each
// post when its fan-out completes during the run (see sipclient/swarm);
// the run's summary recomputes it exactly once the accounting is done.
//
// Cardinality is bounded: the only labels are op, rule, code (and le), no
// user or room ever labels a series, and each of op, rule and code takes
// at most Options.MaxLabelValues values. The first values seen keep their
// series for the whole run; later ones are added into the value "_other",
// so every series stays monotone.
//
// The latency buckets have fixed bounds (DefaultBuckets, 0.5 ms to 60 s).
// A bucket counts the HdrHistogram buckets whose lowest equivalent value
// is at most its bound, so it is exact to the histogram's resolution (3
// significant digits: a value up to 0.1% above a bound may count under
// it). _sum adds each HdrHistogram bucket's count times its median
// equivalent value, as HdrHistogram's Mean does.
package promexp

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/bits"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/gcload/gcload/reports"
)

// ContentType is the media type of the text exposition format, which a
// scrape without an Accept header gets.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// DefaultBuckets are the latency histogram's bucket bounds, in seconds.
var DefaultBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.0075,
	0.01, 0.025, 0.05, 0.075,
	0.1, 0.25, 0.5, 0.75,
	1, 2.5, 5, 7.5,
	10, 30, 60,
}

// DefaultMaxLabelValues bounds each of the op, rule and code label sets.
const DefaultMaxLabelValues = 200

// OtherLabel is the label value that collects the counts of the values
// beyond Options.MaxLabelValues.
const OtherLabel = "_other"

// Gauges are the live figures the run supplies at each scrape.
type Gauges struct {
	UsersOnline int // users signed in now
	Rooms       int // rooms in the scenario (or active)
	// CPUUtilization is the generator process's CPU time over wall time
	// times GOMAXPROCS, 0 to 1.
	CPUUtilization float64
}

// Options tunes a Handler.
type Options struct {
	// Buckets are the latency bucket bounds in seconds, ascending
	// (default DefaultBuckets).
	Buckets []float64
	// Gauges, if set, is called at each scrape for the live gauges; it
	// must be safe to call from the HTTP server's goroutines.
	Gauges func() Gauges
	// MaxLabelValues bounds each label set (default 200).
	MaxLabelValues int
	// Now is the clock for the elapsed time (default time.Now).
	Now func() time.Time
	// ProcessMetrics adds the Go client's go_* and process_* metrics of
	// the running process.
	ProcessMetrics bool
}

// Handler serves a Recorder's metrics. It is safe for concurrent use.
type Handler struct {
	rec     *reports.Recorder
	buckets []float64 // seconds
	bounds  []int64   // µs
	gauges  func() Gauges
	now     func() time.Time
	max     int
	reg     *prometheus.Registry
	http    http.Handler

	mu     sync.Mutex // the label sets and descs
	ops    *labelSet
	rules  *labelSet
	codes  *labelSet
	extras *labelSet // counters beyond the known ones, by name
	descs  map[string]*prometheus.Desc
}

// NewHandler returns a Handler serving rec's metrics. It panics if
// opts.Buckets is not strictly ascending and positive.
func NewHandler(rec *reports.Recorder, opts Options) *Handler {
	b := opts.Buckets
	if b == nil {
		b = DefaultBuckets
	}
	for i, v := range b {
		if !(v > 0) || math.IsInf(v, 0) || i > 0 && v <= b[i-1] {
			panic(fmt.Sprintf("promexp: buckets must be ascending, positive and finite: %v", b))
		}
	}
	h := &Handler{rec: rec, buckets: slices.Clone(b), gauges: opts.Gauges, now: opts.Now, max: opts.MaxLabelValues, descs: map[string]*prometheus.Desc{}}
	if h.now == nil {
		h.now = time.Now
	}
	if h.max <= 0 {
		h.max = DefaultMaxLabelValues
	}
	for _, s := range h.buckets {
		h.bounds = append(h.bounds, int64(math.Round(s*1e6)))
	}
	h.ops, h.rules, h.codes, h.extras = newLabelSet(h.max), newLabelSet(h.max), newLabelSet(h.max), newLabelSet(h.max)
	h.reg = prometheus.NewRegistry()
	h.reg.MustRegister(h)
	if opts.ProcessMetrics {
		h.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	h.http = promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return h
}

// ServeHTTP serves the metrics to GET and HEAD requests, in the format the
// request's Accept header asks for.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.http.ServeHTTP(w, r)
}

// WriteTo writes the metrics in the text exposition format to w.
func (h *Handler) WriteTo(w io.Writer) (int64, error) {
	mfs, err := h.reg.Gather()
	if err != nil {
		return 0, fmt.Errorf("promexp: %w", err)
	}
	cw := &countingWriter{w: w}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return cw.n, fmt.Errorf("promexp: %w", err)
		}
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// labelSet is a sticky, bounded set of label values: the first max values
// admitted keep their own series, the rest go to OtherLabel.
type labelSet struct {
	max  int
	keep map[string]bool
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, keep: map[string]bool{}} }

// admit admits the new values among names, in order, while there is room.
func (s *labelSet) admit(names []string) {
	for _, n := range names {
		if len(s.keep) >= s.max {
			return
		}
		s.keep[n] = true
	}
}

// label returns name's label value: itself or OtherLabel.
func (s *labelSet) label(name string) string {
	if s.keep[name] {
		return name
	}
	return OtherLabel
}

// counterHelp describes a counter from the glossary (reports.Glossary),
// the one description of every counter gcload has.
func counterHelp(name string) string {
	t, ok := reports.Describe(name)
	if !ok || t.Kind == reports.TermFamily {
		return ""
	}
	what := strings.ReplaceAll(t.What, "`", "")
	return strings.ToUpper(what[:1]) + what[1:] + "."
}

const (
	prefixViolations = "violations."
	prefixSIP        = "sip."
)

// reserved are metric names the exporter makes itself, which an extra
// counter must not take.
var reserved = []string{
	"gcload_operations_total", "gcload_violations_total", "gcload_sip_responses_total",
	"gcload_operation_latency_seconds",
}

func validMetricPart(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// geometry is the bucket layout of an HdrHistogram, to know the width of
// the bucket a value starts: HdrHistogram does not export it.
type geometry struct {
	unitMagnitude      uint
	subBucketMagnitude uint // log2 of the sub-bucket count
}

// newGeometry follows hdrhistogram.New: values below 2×10^digits (in
// units of the lowest discernible value) have a bucket of their own, and
// each power of two above doubles the bucket width.
func newGeometry(lowest int64, digits int) geometry {
	largestSingle := 2 * math.Pow10(digits)
	return geometry{
		unitMagnitude:      uint(max(0, bits.Len64(uint64(max(lowest, 1)))-1)),
		subBucketMagnitude: uint(math.Ceil(math.Log2(largestSingle))),
	}
}

// width returns the width of the bucket starting at v.
func (g geometry) width(v int64) int64 {
	mask := uint64(1)<<(g.subBucketMagnitude+g.unitMagnitude) - 1
	bucket := bits.Len64(uint64(v)|mask) - int(g.subBucketMagnitude+g.unitMagnitude)
	return int64(1) << (uint(bucket) + g.unitMagnitude)
}

// Collect implements prometheus.Collector: it reads the Recorder (and
// the Gauges callback) and sends every metric as a constant metric, so
// that recording costs nothing more than the Recorder itself.
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.collectLatency(ch)
	h.collectCounters(ch)
	if h.gauges != nil {
		g := h.gauges()
		ch <- prometheus.MustNewConstMetric(descUsersOnline, prometheus.GaugeValue, float64(g.UsersOnline))
		ch <- prometheus.MustNewConstMetric(descRooms, prometheus.GaugeValue, float64(g.Rooms))
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.GaugeValue, g.CPUUtilization)
	}
	snap := h.rec.Snapshot(h.now())
	ch <- prometheus.MustNewConstMetric(descElapsed, prometheus.GaugeValue, snap.Elapsed.Seconds())
	ch <- prometheus.MustNewConstMetric(descPostsRate, prometheus.GaugeValue, snap.PostsPerSec)
	ch <- prometheus.MustNewConstMetric(descDeliveriesRate, prometheus.GaugeValue, snap.DeliveriesPerSec)
	ch <- prometheus.MustNewConstMetric(descP99, prometheus.GaugeValue, snap.P99PostToDelivery.Seconds())
}

// Describe implements prometheus.Collector. It sends nothing: the
// Handler is an unchecked collector, because the counters beyond the
// known ones appear during the run.
func (h *Handler) Describe(chan<- *prometheus.Desc) {}

// Fixed metric descriptions.
var (
	descOperations     = prometheus.NewDesc("gcload_operations_total", "Latency samples recorded, per operation.", []string{"op"}, nil)
	descLatency        = prometheus.NewDesc("gcload_operation_latency_seconds", "Operation latency from the intended time, in seconds (HdrHistogram totals in fixed buckets).", []string{"op"}, nil)
	descViolations     = prometheus.NewDesc("gcload_violations_total", "Protocol violations, per rule.", []string{"rule"}, nil)
	descSIP            = prometheus.NewDesc("gcload_sip_responses_total", "SIP responses received, per status code.", []string{"code"}, nil)
	descUsersOnline    = prometheus.NewDesc("gcload_users_online", "Simulated users signed in now.", nil, nil)
	descRooms          = prometheus.NewDesc("gcload_rooms", "Rooms of the run.", nil, nil)
	descCPU            = prometheus.NewDesc("gcload_generator_cpu_utilization", "Generator CPU time over wall time times GOMAXPROCS (0 to 1).", nil, nil)
	descElapsed        = prometheus.NewDesc("gcload_elapsed_seconds", "Time since the start of the run.", nil, nil)
	descPostsRate      = prometheus.NewDesc("gcload_interval_posts_per_second", "Posts per second in the last closed interval.", nil, nil)
	descDeliveriesRate = prometheus.NewDesc("gcload_interval_deliveries_per_second", "Deliveries per second in the last closed interval.", nil, nil)
	descP99            = prometheus.NewDesc("gcload_interval_post_to_delivery_p99_seconds", "99th percentile of post_to_delivery in the last closed interval.", nil, nil)
)

// counterDesc returns the description of gcload_<name>_total.
func (h *Handler) counterDesc(name string) *prometheus.Desc {
	if d, ok := h.descs[name]; ok {
		return d
	}
	help := counterHelp(name)
	if help == "" {
		help = "Counter " + name + "."
	}
	d := prometheus.NewDesc("gcload_"+name+"_total", help, nil, nil)
	h.descs[name] = d
	return d
}

// collectLatency sends the operation counts and latency histograms: the
// known operations always, others once they have data.
func (h *Handler) collectLatency(ch chan<- prometheus.Metric) {
	hists := h.rec.Hists()
	var extra []string
	for op := range hists {
		if !slices.Contains(reports.Ops, op) {
			extra = append(extra, string(op))
		}
	}
	sort.Strings(extra)
	names := make([]string, 0, len(reports.Ops)+len(extra))
	for _, op := range reports.Ops {
		names = append(names, string(op))
	}
	names = append(names, extra...)
	h.ops.admit(names)

	type opStats struct {
		buckets []uint64 // non-cumulative, len(bounds)+1 (the last is above every bound)
		count   uint64
		sumUS   float64
	}
	stats := map[string]*opStats{}
	var labels []string
	for _, name := range names {
		l := h.ops.label(name)
		st := stats[l]
		if st == nil {
			st = &opStats{buckets: make([]uint64, len(h.bounds)+1)}
			stats[l] = st
			labels = append(labels, l)
		}
		hist := hists[reports.Op(name)]
		if hist == nil || hist.TotalCount() == 0 {
			continue
		}
		// Walk the populated buckets only: a sparse copy costs what it
		// holds, where Distribution would list every bucket up to the max.
		packed := reports.NewPackedHistogram()
		packed.MergeFrom(hist)
		geom := newGeometry(hist.LowestTrackableValue(), int(hist.SignificantFigures()))
		j := 0
		for from, count := range packed.ForEachBucket {
			if count <= 0 {
				continue
			}
			for j < len(h.bounds) && h.bounds[j] < from {
				j++
			}
			st.buckets[j] += uint64(count)
			st.count += uint64(count)
			st.sumUS += float64(count) * float64(from+geom.width(from)/2)
		}
	}
	for _, l := range labels {
		st := stats[l]
		cum := make(map[float64]uint64, len(h.buckets))
		var c uint64
		for j, bound := range h.buckets {
			c += st.buckets[j]
			cum[bound] = c
		}
		ch <- prometheus.MustNewConstMetric(descOperations, prometheus.CounterValue, float64(st.count), validUTF8(l))
		ch <- prometheus.MustNewConstHistogram(descLatency, st.count, st.sumUS/1e6, cum, validUTF8(l))
	}
}

// collectCounters sends the known counters (always), the other counters
// with valid names (bounded), and the violations and SIP response
// families.
func (h *Handler) collectCounters(ch chan<- prometheus.Metric) {
	counters := h.rec.Counters()
	var extraCounters, rules, codes []string
	for name := range counters {
		switch {
		case strings.HasPrefix(name, prefixViolations) && len(name) > len(prefixViolations):
			rules = append(rules, name[len(prefixViolations):])
		case strings.HasPrefix(name, prefixSIP) && len(name) > len(prefixSIP):
			codes = append(codes, name[len(prefixSIP):])
		case !slices.Contains(reports.CounterMetrics, name) && validMetricPart(name) && !slices.Contains(reserved, "gcload_"+name+"_total"):
			extraCounters = append(extraCounters, name)
		}
	}
	for _, name := range reports.CounterMetrics {
		if validMetricPart(name) {
			ch <- prometheus.MustNewConstMetric(h.counterDesc(name), prometheus.CounterValue, float64(counters[name]))
		}
	}
	sort.Strings(extraCounters)
	h.extras.admit(extraCounters)
	for _, name := range extraCounters {
		if h.extras.label(name) == OtherLabel {
			continue // an unbounded set of names must not make unbounded metrics
		}
		ch <- prometheus.MustNewConstMetric(h.counterDesc(name), prometheus.CounterValue, float64(counters[name]))
	}
	labelled(ch, descViolations, prefixViolations, rules, h.rules, counters)
	labelled(ch, descSIP, prefixSIP, codes, h.codes, counters)
}

// labelled sends a counter family with one label from a counter family
// ("violations.<rule>", "sip.<code>"), its values bounded by set: every
// admitted value keeps its series, and the others add into _other.
func labelled(ch chan<- prometheus.Metric, desc *prometheus.Desc, prefix string, values []string, set *labelSet, counters map[string]int64) {
	sort.Strings(values)
	set.admit(values)
	sums := map[string]int64{}
	for v := range set.keep {
		sums[v] = counters[prefix+v]
	}
	for _, v := range values {
		if l := set.label(v); l == OtherLabel {
			sums[l] += counters[prefix+v]
		}
	}
	for l, n := range sums {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), validUTF8(l))
	}
}

// validUTF8 replaces the invalid bytes of a label value, which the
// exposition cannot carry.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Serve listens on addr (host:port; ":0" picks a free port) and serves h
// at /metrics, with a pointer to it at /, in a new goroutine. It returns
// the server, to Shutdown or Close when the run ends, and the address it
// listens on.
func Serve(addr string, h http.Handler) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("promexp: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "gcload: Prometheus metrics at /metrics\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("promexp: serving %s: %v", ln.Addr(), err)
		}
	}()
	return srv, ln.Addr(), nil
}
