// Package charts computes the charts of a run from its *reports.Result as
// plain data (series of points with axis labels and units) and renders
// them to SVG and PNG with gonum.org/v1/plot.
//
// The charts, in the order Build returns them:
//
//   - "latency_spectrum": the latency percentile spectrum of every
//     operation with data, from its total histogram, on HdrHistogram's
//     percentile axis: x is 1/(1-p), log scale, labelled 0%, 90%, 99%,
//     99.9%, ...; y is the latency in ms. One line per operation.
//   - "latency_<op>" for each operation of Options.TimeOps with interval
//     data: p50, p99 and max latency (ms) per interval over time.
//   - "throughput": posts/s and deliveries/s (the "posts" and "deliveries"
//     interval counters divided by the interval length, or the post_ack and
//     post_to_delivery interval counts when a counter was never used) and
//     users online (the "users_online" gauge), in stacked panels.
//   - "problems": errors, dropped sends, timeouts and conformance
//     violations per second over time (the "errors", "dropped_sends",
//     "timeouts" and "conformance_violations" interval counters); counters
//     that stayed at zero are left out.
//   - "fanout": fan-out completion against room size, from
//     Summary.Rooms: for each room size (members), the deliveries received
//     as a percentage of those expected over all rooms of that size, and
//     in the worst room of that size. A run records fan-out latency
//     (post_to_last_delivery) per operation, not per room, so latency by
//     room size cannot be plotted; see the spectrum and latency_<op>
//     charts for it.
//
// Time axes are in seconds since the start of the run (the earlier of
// Summary.Start and the first interval's start, as in run.hlog); a point
// is plotted at the end of its interval. A chart with no data is not
// built. When a series would have more than Options.MaxPoints points,
// consecutive intervals are aggregated (latencies from their merged
// histograms, rates over their summed length, gauges at their last
// value) and the chart's Note says so, which keeps a 10-minute run with
// 1 s intervals, or a much longer one, to a few hundred KB of SVG.
//
// Every chart is WidthInches wide and HeightInches high, plus
// PanelHeightInches for each panel after the first; fonts, line widths
// and the colour of each operation and series are fixed.
package charts

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gcload/gcload/reports"
)

// GaugeUsersOnline is the gauge of users online (sipclient/swarm).
const GaugeUsersOnline = "users_online"

// DefaultMaxPoints is the number of points per series above which
// intervals are aggregated.
const DefaultMaxPoints = 1000

// DefaultTimeOps are the operations that get a latency-over-time chart by
// default.
var DefaultTimeOps = []reports.Op{
	reports.OpPostToLastDelivery, reports.OpPostToDelivery, reports.OpPostAck,
	reports.OpSignIn, reports.OpHistory, reports.OpSearch, reports.OpSchedLag,
}

// Scale values of an Axis.
const (
	ScaleLinear     = "linear"     // from 0
	ScaleLog        = "log"        // base 10
	ScalePercentile = "percentile" // x = 1/(1-p), log scale, ticks labelled as percentiles
)

// Style values of a Series.
const (
	StyleLine       = "line"
	StyleLinePoints = "linepoints"
)

// Point is one point of a series; it encodes in JSON as [x, y].
type Point struct {
	X, Y float64
}

// MarshalJSON encodes p as [x, y].
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]float64{p.X, p.Y})
}

// UnmarshalJSON decodes [x, y].
func (p *Point) UnmarshalJSON(b []byte) error {
	var a [2]float64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	p.X, p.Y = a[0], a[1]
	return nil
}

// Series is one line of a chart.
type Series struct {
	Name   string  `json:"name"`
	Color  string  `json:"color"` // "#rrggbb", fixed per operation or series name
	Style  string  `json:"style"` // StyleLine or StyleLinePoints
	Dashed bool    `json:"dashed,omitempty"`
	Points []Point `json:"points"`
}

// Axis describes an axis; the label drawn is "Label (Unit)".
type Axis struct {
	Label string `json:"label"`
	Unit  string `json:"unit,omitempty"`
	Scale string `json:"scale"`
}

// Text returns the axis label as drawn.
func (a Axis) Text() string {
	if a.Unit == "" {
		return a.Label
	}
	return a.Label + " (" + a.Unit + ")"
}

// Panel is one plot area of a chart, with its own y axis; the panels of a
// chart are stacked and share the x axis.
type Panel struct {
	Y      Axis     `json:"y"`
	Series []Series `json:"series"`
}

// Chart is one chart as plain data.
type Chart struct {
	ID     string  `json:"id"` // stable, usable as a file name
	Title  string  `json:"title"`
	Note   string  `json:"note,omitempty"` // e.g. how points were aggregated
	X      Axis    `json:"x"`
	Panels []Panel `json:"panels"`
}

// SeriesCount returns the number of series in all panels.
func (c *Chart) SeriesCount() int {
	n := 0
	for _, p := range c.Panels {
		n += len(p.Series)
	}
	return n
}

// Options tune Build; the zero value gives the defaults.
type Options struct {
	// MaxPoints bounds the points of a series (DefaultMaxPoints when 0).
	MaxPoints int
	// TimeOps are the operations with a latency-over-time chart
	// (DefaultTimeOps when nil).
	TimeOps []reports.Op
}

func (o Options) maxPoints() int {
	if o.MaxPoints > 0 {
		return o.MaxPoints
	}
	return DefaultMaxPoints
}

// Build computes every chart of r that has data, in the order of the
// package comment.
func Build(r *reports.Result, o Options) []Chart {
	var out []Chart
	add := func(c Chart, ok bool) {
		if ok {
			out = append(out, c)
		}
	}
	mp := o.maxPoints()
	add(Spectrum(r, mp))
	ops := o.TimeOps
	if ops == nil {
		ops = DefaultTimeOps
	}
	for _, op := range ops {
		add(LatencyOverTime(r, op, mp))
	}
	add(Throughput(r, mp))
	add(Problems(r, mp))
	add(FanOut(r, mp))
	return out
}

// opColors are the fixed colours of the known operations.
var opColors = map[reports.Op]string{
	reports.OpSignIn:             "#1f77b4",
	reports.OpRegister:           "#17becf",
	reports.OpLookup:             "#bcbd22",
	reports.OpChannelInvite:      "#7f7f7f",
	reports.OpJoin:               "#8c564b",
	reports.OpPostAck:            "#ff7f0e",
	reports.OpPostToDelivery:     "#2ca02c",
	reports.OpPostToLastDelivery: "#d62728",
	reports.OpHistory:            "#9467bd",
	reports.OpSearch:             "#e377c2",
	reports.OpPart:               "#393b79",
	reports.OpSchedLag:           "#000000",
}

// seriesColors are the fixed colours of the other series.
var seriesColors = map[string]string{
	"p50":                     "#1f77b4",
	"p99":                     "#ff7f0e",
	"max":                     "#d62728",
	"posts/s":                 "#ff7f0e",
	"deliveries/s":            "#2ca02c",
	"users online":            "#1f77b4",
	"errors":                  "#d62728",
	"dropped sends":           "#ff7f0e",
	"timeouts":                "#9467bd",
	"violations":              "#8c564b",
	"all rooms of that size":  "#2ca02c",
	"worst room of that size": "#d62728",
}

// fallback colours for operations not in opColors, chosen by name.
var fallbackColors = []string{"#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5"}

// OpColor returns the fixed colour of an operation.
func OpColor(op reports.Op) string {
	if c, ok := opColors[op]; ok {
		return c
	}
	var h uint32 = 2166136261
	for i := 0; i < len(op); i++ {
		h = (h ^ uint32(op[i])) * 16777619
	}
	return fallbackColors[h%uint32(len(fallbackColors))]
}

func seriesColor(name string) string {
	if c, ok := seriesColors[name]; ok {
		return c
	}
	return OpColor(reports.Op(name))
}

// spectrumTicks is the number of percentile ticks per half distance, as in
// the .hgrm files.
const spectrumTicks = 5

// Spectrum returns the latency percentile spectrum chart: per operation
// with data in r.Hists, the points (1/(1-p), latency ms) of HdrHistogram's
// percentile distribution (5 ticks per half distance). The 100th
// percentile, whose 1/(1-p) is infinite, is plotted at x = the count of
// samples (the percentile of the last sample), or at the previous x if that
// is larger. ok is false when no operation has data.
func Spectrum(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	c = Chart{
		ID:    "latency_spectrum",
		Title: "Latency by percentile",
		X:     Axis{Label: "percentile", Scale: ScalePercentile},
	}
	p := Panel{Y: Axis{Label: "latency", Unit: "ms", Scale: ScaleLinear}}
	for _, op := range reports.SortedOps(r.Hists) {
		h := r.Hists[op]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		pts := spectrumPoints(h)
		p.Series = append(p.Series, Series{Name: string(op), Color: OpColor(op), Style: StyleLine, Points: thin(pts, maxPoints)})
	}
	if len(p.Series) == 0 {
		return c, false
	}
	c.Panels = []Panel{p}
	return c, true
}

func spectrumPoints(h *hdrhistogram.Histogram) []Point {
	n := float64(h.TotalCount())
	var pts []Point
	last := 1.0
	for _, b := range h.CumulativeDistributionWithTicks(spectrumTicks) {
		x := 1 / (1 - b.Quantile/100)
		if b.Quantile >= 100 || math.IsInf(x, 0) || math.IsNaN(x) {
			x = math.Max(n, last)
		}
		x = math.Max(x, last)
		last = x
		pts = append(pts, Point{X: x, Y: float64(b.ValueAt) / 1e3})
	}
	return pts
}

// thin keeps at most max points of pts, evenly spaced, always keeping the
// first and the last.
func thin(pts []Point, max int) []Point {
	if max < 2 || len(pts) <= max {
		return pts
	}
	out := make([]Point, 0, max)
	step := float64(len(pts)-1) / float64(max-1)
	for i := 0; i < max; i++ {
		out = append(out, pts[int(math.Round(float64(i)*step))])
	}
	return out
}

// timeBuckets groups the intervals of r into at most maxPoints runs of k
// consecutive intervals; it returns the buckets, k and the time origin.
func timeBuckets(r *reports.Result, maxPoints int) (bs [][]reports.Interval, k int, base time.Time) {
	base = r.Summary.Start
	for _, iv := range r.Intervals {
		if base.IsZero() || iv.Start.Before(base) {
			base = iv.Start
		}
	}
	n := len(r.Intervals)
	if n == 0 {
		return nil, 1, base
	}
	if maxPoints < 1 {
		maxPoints = DefaultMaxPoints
	}
	k = (n + maxPoints - 1) / maxPoints
	for i := 0; i < n; i += k {
		bs = append(bs, r.Intervals[i:min(i+k, n)])
	}
	return bs, k, base
}

func aggregateNote(k int, r *reports.Result) string {
	if k <= 1 {
		return ""
	}
	note := fmt.Sprintf("each point aggregates %d intervals", k)
	if len(r.Intervals) > 0 {
		d := r.IntervalLength
		if d <= 0 {
			d = r.Intervals[0].End.Sub(r.Intervals[0].Start).Round(time.Millisecond)
		}
		if d > 0 {
			note += " (" + (time.Duration(k) * d).String() + ")"
		}
	}
	return note
}

func timeAxis() Axis { return Axis{Label: "time since start", Unit: "s", Scale: ScaleLinear} }

func bucketEnd(b []reports.Interval, base time.Time) float64 {
	return b[len(b)-1].End.Sub(base).Seconds()
}

func bucketSeconds(b []reports.Interval) float64 {
	s := 0.0
	for _, iv := range b {
		s += iv.End.Sub(iv.Start).Seconds()
	}
	return s
}

// LatencyOverTime returns the chart of op's p50, p99 and max latency (ms)
// per interval, from the intervals' histograms (max dashed, drawn last, so
// that p99 shows through where they are equal); intervals without samples
// of op have no point. ok is false when no interval has samples of op.
func LatencyOverTime(r *reports.Result, op reports.Op, maxPoints int) (c Chart, ok bool) {
	bs, k, base := timeBuckets(r, maxPoints)
	p50 := Series{Name: "p50", Color: seriesColor("p50"), Style: StyleLine}
	p99 := Series{Name: "p99", Color: seriesColor("p99"), Style: StyleLine}
	pmax := Series{Name: "max", Color: seriesColor("max"), Style: StyleLine, Dashed: true}
	for _, b := range bs {
		h := mergedHist(b, op)
		if h == nil {
			continue
		}
		x := bucketEnd(b, base)
		q := h.ValueAtPercentilesSlice([]float64{50, 99})
		p50.Points = append(p50.Points, Point{X: x, Y: float64(q[0]) / 1e3})
		p99.Points = append(p99.Points, Point{X: x, Y: float64(q[1]) / 1e3})
		pmax.Points = append(pmax.Points, Point{X: x, Y: float64(h.Max()) / 1e3})
	}
	c = Chart{
		ID:    "latency_" + string(op),
		Title: "Latency over time: " + string(op),
		Note:  aggregateNote(k, r),
		X:     timeAxis(),
	}
	if len(p50.Points) == 0 {
		return c, false
	}
	c.Panels = []Panel{{Y: Axis{Label: "latency", Unit: "ms", Scale: ScaleLinear}, Series: []Series{p50, p99, pmax}}}
	return c, true
}

// mergedHist returns op's histogram over the intervals of b: the
// interval's own when b has one interval, a merged copy otherwise, nil
// when there are no samples.
func mergedHist(b []reports.Interval, op reports.Op) *hdrhistogram.PackedHistogram {
	var one, merged *hdrhistogram.PackedHistogram
	for _, iv := range b {
		h := iv.Hists[op]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		if one == nil {
			one = h
			continue
		}
		if merged == nil {
			merged = reports.NewPackedHistogram()
			addPacked(merged, one)
		}
		addPacked(merged, h)
	}
	if merged != nil {
		return merged
	}
	return one
}

func addPacked(dst, src *hdrhistogram.PackedHistogram) {
	src.ForEachBucket(func(v, n int64) bool {
		_ = dst.RecordValues(v, n)
		return true
	})
}

// rateSeries returns the per-second rate of a counter per bucket, nil when
// the counter is in no interval. If the counter is never used and op is
// not empty, the counts of op's interval histograms are used instead.
func rateSeries(bs [][]reports.Interval, base time.Time, name, counter string, op reports.Op) *Series {
	used := false
	for _, b := range bs {
		for _, iv := range b {
			if _, ok := iv.Counters[counter]; ok {
				used = true
			}
		}
	}
	count := func(iv reports.Interval) int64 { return iv.Counters[counter] }
	if !used && op != "" {
		for _, b := range bs {
			for _, iv := range b {
				if h := iv.Hists[op]; h != nil && h.TotalCount() > 0 {
					used = true
				}
			}
		}
		count = func(iv reports.Interval) int64 {
			if h := iv.Hists[op]; h != nil {
				return h.TotalCount()
			}
			return 0
		}
	}
	if !used {
		return nil
	}
	s := &Series{Name: name, Color: seriesColor(name), Style: StyleLine}
	for _, b := range bs {
		secs := bucketSeconds(b)
		if secs <= 0 {
			continue
		}
		var n int64
		for _, iv := range b {
			n += count(iv)
		}
		s.Points = append(s.Points, Point{X: bucketEnd(b, base), Y: float64(n) / secs})
	}
	if len(s.Points) == 0 {
		return nil
	}
	return s
}

// Throughput returns the chart of posts/s, deliveries/s and users online
// over time, one panel each (a panel without data is left out). ok is
// false when none has data.
func Throughput(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	bs, k, base := timeBuckets(r, maxPoints)
	c = Chart{
		ID:    "throughput",
		Title: "Throughput and users online",
		Note:  aggregateNote(k, r),
		X:     timeAxis(),
	}
	if s := rateSeries(bs, base, "posts/s", reports.CounterPosts, reports.OpPostAck); s != nil {
		c.Panels = append(c.Panels, Panel{Y: Axis{Label: "posts", Unit: "per s", Scale: ScaleLinear}, Series: []Series{*s}})
	}
	if s := rateSeries(bs, base, "deliveries/s", reports.CounterDeliveries, reports.OpPostToDelivery); s != nil {
		c.Panels = append(c.Panels, Panel{Y: Axis{Label: "deliveries", Unit: "per s", Scale: ScaleLinear}, Series: []Series{*s}})
	}
	users := Series{Name: "users online", Color: seriesColor("users online"), Style: StyleLine}
	for _, b := range bs {
		for i := len(b) - 1; i >= 0; i-- {
			if v, ok := b[i].Gauges[GaugeUsersOnline]; ok {
				users.Points = append(users.Points, Point{X: bucketEnd(b, base), Y: v})
				break
			}
		}
	}
	if len(users.Points) > 0 {
		c.Panels = append(c.Panels, Panel{Y: Axis{Label: "users online", Scale: ScaleLinear}, Series: []Series{users}})
	}
	return c, len(c.Panels) > 0
}

// problemCounters are the counters of the problems chart, in order, with
// their series names.
var problemCounters = []struct{ counter, name string }{
	{reports.CounterErrors, "errors"},
	{reports.CounterDropped, "dropped sends"},
	{reports.CounterTimeouts, "timeouts"},
	{reports.CounterViolations, "violations"},
}

// Problems returns the chart of errors, dropped sends, timeouts and
// conformance violations per second over time; a counter that is zero in
// every interval is left out. ok is false when all are.
func Problems(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	bs, k, base := timeBuckets(r, maxPoints)
	c = Chart{
		ID:    "problems",
		Title: "Errors, dropped sends, timeouts and violations",
		Note:  aggregateNote(k, r),
		X:     timeAxis(),
	}
	p := Panel{Y: Axis{Label: "events", Unit: "per s", Scale: ScaleLinear}}
	for _, pc := range problemCounters {
		nonzero := false
		for _, iv := range r.Intervals {
			if iv.Counters[pc.counter] != 0 {
				nonzero = true
				break
			}
		}
		if !nonzero {
			continue
		}
		if s := rateSeries(bs, base, pc.name, pc.counter, ""); s != nil {
			p.Series = append(p.Series, *s)
		}
	}
	if len(p.Series) == 0 {
		return c, false
	}
	c.Panels = []Panel{p}
	return c, true
}

// FanOut returns the fan-out completion chart: x is the room size
// (members), y the deliveries received as a percentage of those expected,
// over all rooms of that size ("all rooms of that size") and in the worst
// room of that size ("worst room of that size"). Rooms that expected no
// delivery are left out; when there are more room sizes than maxPoints,
// neighbouring sizes are grouped and plotted at the largest. ok is false
// when no room expected a delivery.
func FanOut(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	type agg struct {
		members            int
		expected, received int64
		worst              float64
	}
	bySize := map[int]*agg{}
	for _, rd := range r.Summary.Rooms {
		if rd.Expected <= 0 {
			continue
		}
		a := bySize[rd.Members]
		if a == nil {
			a = &agg{members: rd.Members, worst: math.Inf(1)}
			bySize[rd.Members] = a
		}
		a.expected += rd.Expected
		a.received += rd.Received
		a.worst = math.Min(a.worst, 100*float64(rd.Received)/float64(rd.Expected))
	}
	c = Chart{
		ID:    "fanout",
		Title: "Fan-out completion by room size",
		X:     Axis{Label: "room size", Unit: "members", Scale: ScaleLinear},
	}
	if len(bySize) == 0 {
		return c, false
	}
	sizes := make([]int, 0, len(bySize))
	for s := range bySize {
		sizes = append(sizes, s)
	}
	sort.Ints(sizes)
	if maxPoints < 1 {
		maxPoints = DefaultMaxPoints
	}
	k := (len(sizes) + maxPoints - 1) / maxPoints
	all := Series{Name: "all rooms of that size", Color: seriesColor("all rooms of that size"), Style: StyleLinePoints}
	worst := Series{Name: "worst room of that size", Color: seriesColor("worst room of that size"), Style: StyleLinePoints}
	for i := 0; i < len(sizes); i += k {
		g := agg{worst: math.Inf(1)}
		for _, s := range sizes[i:min(i+k, len(sizes))] {
			a := bySize[s]
			g.members = a.members
			g.expected += a.expected
			g.received += a.received
			g.worst = math.Min(g.worst, a.worst)
		}
		x := float64(g.members)
		all.Points = append(all.Points, Point{X: x, Y: 100 * float64(g.received) / float64(g.expected)})
		worst.Points = append(worst.Points, Point{X: x, Y: g.worst})
	}
	if k > 1 {
		c.Note = fmt.Sprintf("room sizes grouped by %d", k)
	}
	c.Panels = []Panel{{Y: Axis{Label: "deliveries received", Unit: "% of expected", Scale: ScaleLinear}, Series: []Series{all, worst}}}
	return c, true
}
