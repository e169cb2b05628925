// Package charts computes the charts of a run from its *reports.Result as
// plain data (panels of series with axis labels and units, threshold
// lines, phase boundaries) and renders them to SVG and PNG with
// gonum.org/v1/plot, in the look of package style (sans-serif text,
// legends above the data, enough labelled ticks, logarithmic latency axes
// where the range calls for it).
//
// The charts, in the order Build returns them:
//
//   - "latency_spectrum": small multiples, one panel per operation with
//     data, of its latency percentile spectrum from its total histogram,
//     on HdrHistogram's percentile axis: x is 1/(1-p), log scale, labelled
//     0%, 50%, 90%, 99%, 99.9%, ...; y is the latency in ms, logarithmic
//     when the panel's values span more than style.LogRatio. An operation
//     with fewer than two samples is named in the note instead.
//   - "latency_<op>" for each operation of Options.TimeOps with interval
//     data: p50 (line), p99 (line, for intervals of at least MinP99Samples
//     samples: below that the p99 of an interval is its max) and max
//     (points) latency per interval over time.
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
// The scenario's latency thresholds (Summary.Thresholds, such as
// "post_to_last_delivery.p99 < 500ms") are drawn as horizontal lines on
// the spectrum panel and the latency_<op> chart of their operation, and
// "lost == 0" and "lost_ratio < X" on the fan-out chart, in green when
// they passed and red when they failed. The time charts mark the
// boundaries of the scenario's phases (from Result.ScenarioYAML) and the
// start of the drain.
//
// A chart without data is not built. A chart with too little data to draw
// a line (a time chart with one interval, a fan-out chart with one room
// size) is built with a Message saying in words what it would show, and
// no panels.
//
// Time axes are in seconds since the start of the run (the earlier of
// Summary.Start and the first interval's start, as in run.hlog); a point
// is plotted at the end of its interval. When a series would have more
// than Options.MaxPoints points, consecutive intervals are aggregated
// (latencies from their merged histograms, rates over their summed
// length, gauges at their last value) and the chart's Note says so, which
// keeps a 10-minute run with 1 s intervals, or a much longer one, to a few
// hundred KB of SVG.
package charts

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts/style"
	"github.com/gcload/gcload/scenarios"
)

// GaugeUsersOnline is the gauge of users online (sipclient/swarm).
const GaugeUsersOnline = "users_online"

// DefaultMaxPoints is the number of points per series above which
// intervals are aggregated.
const DefaultMaxPoints = 1000

// MinP99Samples is the fewest samples an interval needs for its p99 to
// be drawn: with fewer than 100 the 99th percentile is the largest
// sample, which the max already shows.
const MinP99Samples = 100

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
	ScaleTime       = "time"       // linear, seconds, ticks at steps of seconds, minutes, hours
	ScalePercentile = "percentile" // x = 1/(1-p), log scale, ticks labelled as percentiles
)

// Style values of a Series.
const (
	StyleLine       = "line"
	StyleLinePoints = "linepoints"
	StylePoints     = "points" // markers only
)

// Glyph values of a Series.
const (
	GlyphCircle   = ""
	GlyphTriangle = "triangle"
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

// Series is one line (or set of markers) of a panel.
type Series struct {
	Name   string `json:"name"`
	Color  string `json:"color"` // "#rrggbb", fixed per operation or series name
	Style  string `json:"style"` // StyleLine, StyleLinePoints or StylePoints
	Dashed bool   `json:"dashed,omitempty"`
	// Glyph is the marker of points: GlyphCircle (default) or
	// GlyphTriangle.
	Glyph string `json:"glyph,omitempty"`
	// MaxGap, when positive, leaves consecutive points further apart than
	// MaxGap on x unjoined (intervals without a value).
	MaxGap float64 `json:"max_gap,omitempty"`
	Points []Point `json:"points"`
}

// RefLine is a horizontal reference line across a panel, such as a
// threshold in its pass or fail colour.
type RefLine struct {
	Label string  `json:"label"`
	Y     float64 `json:"y"`
	Color string  `json:"color"`
}

// Marker is a vertical line across every panel at X, labelled above the
// panels: the start of a phase.
type Marker struct {
	X     float64 `json:"x"`
	Label string  `json:"label"`
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

// Panel is one plot area of a chart, with its own y axis. The panels of a
// chart share the x axis; they are stacked, or laid out Chart.Columns to
// a row as small multiples, each with its Title.
type Panel struct {
	Title  string    `json:"title,omitempty"`
	Y      Axis      `json:"y"`
	Series []Series  `json:"series"`
	Lines  []RefLine `json:"lines,omitempty"`
}

// Chart is one chart as plain data.
type Chart struct {
	ID    string `json:"id"` // stable, usable as a file name
	Title string `json:"title"`
	Note  string `json:"note,omitempty"` // e.g. how points were aggregated
	// Message, for a chart with too little data to plot, says in words
	// what it would show; such a chart has no panels.
	Message string `json:"message,omitempty"`
	X       Axis   `json:"x"`
	// Columns is the number of panels per row (small multiples); 0 or 1
	// stacks the panels.
	Columns int `json:"columns,omitempty"`
	// Extent, when set, is the [min, max] the x axis covers at least: the
	// whole run for time charts, so that they line up.
	Extent  []float64 `json:"extent,omitempty"`
	Markers []Marker  `json:"markers,omitempty"`
	Panels  []Panel   `json:"panels"`
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

// ms renders microseconds as milliseconds for notes and messages.
func ms(us float64) string {
	return reports.FormatMicros(us)
}

// LatencyAxis returns the latency axis for values from lo to hi ms (the
// smallest and largest positive ones): logarithmic when they span more
// than style.LogRatio.
func LatencyAxis(lo, hi float64) Axis {
	a := Axis{Label: "latency", Unit: "ms", Scale: ScaleLinear}
	if style.NeedsLog(lo, hi) {
		a.Scale = ScaleLog
	}
	return a
}

// PositiveRange returns the smallest and largest positive Y of the series
// and lines (+Inf, 0 when there is none).
func PositiveRange(ss []Series, ls []RefLine) (lo, hi float64) {
	lo = math.Inf(1)
	for _, s := range ss {
		for _, p := range s.Points {
			if p.Y > 0 {
				lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
			}
		}
	}
	for _, l := range ls {
		if l.Y > 0 {
			lo, hi = math.Min(lo, l.Y), math.Max(hi, l.Y)
		}
	}
	return lo, hi
}

// latencyThresholds returns the reference lines of r's thresholds on a
// latency statistic of op, in ms: "threshold post_ack.p99 < 500ms: pass".
func latencyThresholds(r *reports.Result, op reports.Op) []RefLine {
	var out []RefLine
	for _, tr := range r.Summary.Thresholds {
		th, err := reports.ParseThreshold(tr.Expr)
		if err != nil || th.Metric != string(op) || th.Stat == "" || th.Stat == "count" || th.Stat == "rate" {
			continue
		}
		out = append(out, thresholdLine(tr, th.Value/1e3))
	}
	return out
}

// thresholdLine returns the reference line of a threshold result at y.
func thresholdLine(tr reports.ThresholdResult, y float64) RefLine {
	l := RefLine{Label: "threshold " + tr.Expr + ": pass", Y: y, Color: style.PassHex}
	if !tr.Pass {
		l.Label, l.Color = "threshold "+tr.Expr+": FAIL", style.FailHex
	}
	return l
}

// spectrumTicks is the number of percentile ticks per half distance, as in
// the .hgrm files.
const spectrumTicks = 5

// SpectrumColumns is the number of panels per row of the spectrum chart.
const SpectrumColumns = 3

// Spectrum returns the latency percentile spectrum chart: per operation
// with at least two samples in r.Hists, a panel of the points
// (1/(1-p), latency ms) of HdrHistogram's percentile distribution (5 ticks
// per half distance), with the operation's latency thresholds. The 100th
// percentile, whose 1/(1-p) is infinite, is plotted at x = the count of
// samples (the percentile of the last sample), or at the previous x if
// that is larger. Operations with one sample are named in the note. ok is
// false when no operation has data.
func Spectrum(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	c = Chart{
		ID:      "latency_spectrum",
		Title:   "Latency by percentile, per operation",
		X:       Axis{Label: "percentile", Scale: ScalePercentile},
		Columns: SpectrumColumns,
	}
	var single []string
	for _, op := range reports.SortedOps(r.Hists) {
		h := r.Hists[op]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		if h.TotalCount() < 2 {
			single = append(single, fmt.Sprintf("%s (one sample, %s)", op, ms(float64(h.Max()))))
			continue
		}
		s := Series{Name: string(op), Color: OpColor(op), Style: StyleLine, Points: thin(SpectrumPoints(h), maxPoints)}
		lines := latencyThresholds(r, op)
		lo, hi := PositiveRange([]Series{s}, lines)
		c.Panels = append(c.Panels, Panel{
			Title: fmt.Sprintf("%s (%s samples)", op, reports.FormatCount(h.TotalCount())),
			Y:     LatencyAxis(lo, hi), Series: []Series{s}, Lines: lines,
		})
	}
	if len(single) > 0 {
		c.Note = "not plotted: " + strings.Join(single, ", ")
	}
	if len(c.Panels) == 0 {
		if len(single) == 0 {
			return c, false
		}
		c.Message = "Every operation has a single sample: " + strings.Join(single, ", ") + ". A percentile spectrum needs at least two."
		c.Note = ""
	}
	return c, true
}

// SpectrumPoints returns the points (1/(1-p), latency ms) of h's
// percentile distribution, 5 ticks per half distance, as the spectrum
// chart plots them.
func SpectrumPoints(h *hdrhistogram.Histogram) []Point {
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

// Thin keeps at most max points of pts, evenly spaced, always keeping the
// first and the last.
func Thin(pts []Point, max int) []Point { return thin(pts, max) }

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

// intervalLength returns r's nominal interval length (or the first
// interval's), 0 when unknown.
func intervalLength(r *reports.Result) time.Duration {
	d := r.IntervalLength
	if d <= 0 && len(r.Intervals) > 0 {
		d = r.Intervals[0].End.Sub(r.Intervals[0].Start).Round(time.Millisecond)
	}
	return d
}

func aggregateNote(k int, r *reports.Result) string {
	if k <= 1 {
		return ""
	}
	note := fmt.Sprintf("each point aggregates %d intervals", k)
	if d := intervalLength(r); d > 0 {
		note += " (" + (time.Duration(k) * d).String() + ")"
	}
	return note
}

func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

// runExtent returns the x extent of r's time charts: from base to the end
// of the last interval or of the run, whichever is later.
func runExtent(r *reports.Result, base time.Time) []float64 {
	end := r.Summary.End
	if n := len(r.Intervals); n > 0 && r.Intervals[n-1].End.After(end) {
		end = r.Intervals[n-1].End
	}
	if end.IsZero() || !end.After(base) {
		return nil
	}
	return []float64{0, end.Sub(base).Seconds()}
}

func timeAxis() Axis { return Axis{Label: "time since start", Unit: "s", Scale: ScaleTime} }

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

// span describes a bucket's time span for messages: "0-1 s".
func span(b []reports.Interval, base time.Time) string {
	return style.FormatNumber(b[0].Start.Sub(base).Seconds(), 3) + "–" + style.FormatNumber(bucketEnd(b, base), 3) + " s"
}

// PhaseMarkers returns the start of each phase of r's scenario (from
// Result.ScenarioYAML, the scenario as run), and of the drain when the
// run lasted beyond its phases, in seconds since base; nil when the
// scenario is missing or does not parse.
func PhaseMarkers(r *reports.Result, base time.Time) []Marker {
	if len(r.ScenarioYAML) == 0 || r.Summary.Start.IsZero() {
		return nil
	}
	spec, _, err := scenarios.Parse("scenario.yaml", r.ScenarioYAML, nil)
	if err != nil {
		return nil
	}
	off := r.Summary.Start.Sub(base).Seconds()
	var out []Marker
	t := 0.0
	for i, d := range spec.PhaseDurations() {
		out = append(out, Marker{X: off + t, Label: spec.Phases[i].Name})
		t += d.Seconds()
	}
	if end := r.Summary.End.Sub(r.Summary.Start).Seconds(); end > t+1e-3 && len(out) > 0 {
		out = append(out, Marker{X: off + t, Label: "drain"})
	}
	return out
}

// LatencyOverTime returns the chart of op's latency per interval, from
// the intervals' histograms: p50 as a line, p99 as a line through the
// intervals with at least MinP99Samples samples (left out, and the note
// says so, when none has), max as markers, and op's latency thresholds;
// intervals without samples of op have no point and break the lines. With
// samples in a single interval the chart has a Message instead. ok is
// false when no interval has samples of op.
func LatencyOverTime(r *reports.Result, op reports.Op, maxPoints int) (c Chart, ok bool) {
	bs, k, base := timeBuckets(r, maxPoints)
	gap := 1.5 * float64(k) * intervalLength(r).Seconds()
	p50 := Series{Name: "p50", Color: seriesColor("p50"), Style: StyleLine, MaxGap: gap}
	p99 := Series{Name: "p99", Color: seriesColor("p99"), Style: StyleLine, MaxGap: gap}
	pmax := Series{Name: "max", Color: seriesColor("max"), Style: StylePoints, Glyph: GlyphTriangle}
	var withData [][]reports.Interval
	var only *hdrhistogram.PackedHistogram
	sparse := 0
	for _, b := range bs {
		h := mergedHist(b, op)
		if h == nil {
			continue
		}
		withData, only = append(withData, b), h
		x := bucketEnd(b, base)
		q := h.ValueAtPercentilesSlice([]float64{50, 99})
		p50.Points = append(p50.Points, Point{X: x, Y: float64(q[0]) / 1e3})
		if h.TotalCount() >= MinP99Samples {
			p99.Points = append(p99.Points, Point{X: x, Y: float64(q[1]) / 1e3})
		} else {
			sparse++
		}
		pmax.Points = append(pmax.Points, Point{X: x, Y: float64(h.Max()) / 1e3})
	}
	c = Chart{
		ID:    "latency_" + string(op),
		Title: "Latency over time: " + string(op),
		X:     timeAxis(),
	}
	switch len(withData) {
	case 0:
		return c, false
	case 1:
		q := only.ValueAtPercentilesSlice([]float64{50, 99})
		c.Message = fmt.Sprintf("All %s samples of %s fell in one interval (%s): p50 %s, p99 %s, max %s. A chart over time needs samples in at least two intervals.",
			reports.FormatCount(only.TotalCount()), op, span(withData[0], base), ms(float64(q[0])), ms(float64(q[1])), ms(float64(only.Max())))
		return c, true
	}
	var p99Note string
	switch {
	case len(p99.Points) == 0:
		p99Note = fmt.Sprintf("no interval has %d samples, so p99 is not drawn (it would be the max)", MinP99Samples)
	case sparse > 0:
		p99Note = fmt.Sprintf("p99 drawn for intervals of at least %d samples", MinP99Samples)
	}
	c.Note = joinNotes(aggregateNote(k, r), p99Note)
	series := []Series{p50}
	if len(p99.Points) > 0 {
		series = append(series, p99)
	}
	series = append(series, pmax)
	lines := latencyThresholds(r, op)
	lo, hi := PositiveRange(series, lines)
	c.Panels = []Panel{{Y: LatencyAxis(lo, hi), Series: series, Lines: lines}}
	c.Markers, c.Extent = PhaseMarkers(r, base), runExtent(r, base)
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

// oneInterval returns the message of a time chart of a run with a single
// interval: its span and each series' value.
func oneInterval(b []reports.Interval, base time.Time, ss []Series) string {
	var parts []string
	for _, s := range ss {
		if len(s.Points) > 0 {
			parts = append(parts, s.Name+" "+style.FormatNumber(s.Points[0].Y, 2))
		}
	}
	return "The run has a single interval (" + span(b, base) + "): " + strings.Join(parts, ", ") + ". A chart over time needs at least two."
}

// Throughput returns the chart of posts/s, deliveries/s and users online
// over time, one panel each (a panel without data is left out), with the
// phase boundaries. ok is false when none has data.
func Throughput(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	bs, k, base := timeBuckets(r, maxPoints)
	c = Chart{
		ID:    "throughput",
		Title: "Throughput and users online",
		Note:  aggregateNote(k, r),
		X:     timeAxis(),
	}
	var all []Series
	if s := rateSeries(bs, base, "posts/s", reports.CounterPosts, reports.OpPostAck); s != nil {
		c.Panels = append(c.Panels, Panel{Y: Axis{Label: "posts", Unit: "per s", Scale: ScaleLinear}, Series: []Series{*s}})
		all = append(all, *s)
	}
	if s := rateSeries(bs, base, "deliveries/s", reports.CounterDeliveries, reports.OpPostToDelivery); s != nil {
		c.Panels = append(c.Panels, Panel{Y: Axis{Label: "deliveries", Unit: "per s", Scale: ScaleLinear}, Series: []Series{*s}})
		all = append(all, *s)
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
		all = append(all, users)
	}
	if len(c.Panels) == 0 {
		return c, false
	}
	if len(bs) == 1 {
		c.Message, c.Panels, c.Note = oneInterval(bs[0], base, all), nil, ""
		return c, true
	}
	c.Markers, c.Extent = PhaseMarkers(r, base), runExtent(r, base)
	return c, true
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
// conformance violations per second over time, with the phase boundaries;
// a counter that is zero in every interval is left out. ok is false when
// all are.
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
	if len(bs) == 1 {
		c.Message, c.Note = oneInterval(bs[0], base, p.Series), ""
		return c, true
	}
	c.Panels = []Panel{p}
	c.Markers, c.Extent = PhaseMarkers(r, base), runExtent(r, base)
	return c, true
}

// fanoutThresholds returns the lines of r's thresholds on lost deliveries
// in % received: "lost == 0" (or "lost <= 0") at 100%, "lost_ratio < X"
// at 100% - X.
func fanoutThresholds(r *reports.Result) []RefLine {
	var out []RefLine
	for _, tr := range r.Summary.Thresholds {
		th, err := reports.ParseThreshold(tr.Expr)
		if err != nil || th.Stat != "" {
			continue
		}
		switch {
		case th.Metric == "lost" && th.Value == 0 && (th.Op == "==" || th.Op == "<="):
			out = append(out, thresholdLine(tr, 100))
		case th.Metric == "lost_ratio" && (th.Op == "<" || th.Op == "<="):
			out = append(out, thresholdLine(tr, 100*(1-th.Value)))
		}
	}
	return out
}

// FanOut returns the fan-out completion chart: x is the room size
// (members), y the deliveries received as a percentage of those expected,
// over all rooms of that size ("all rooms of that size") and in the worst
// room of that size ("worst room of that size"), with the thresholds on
// lost deliveries. Rooms that expected no delivery are left out; when
// there are more room sizes than maxPoints, neighbouring sizes are grouped
// and plotted at the largest. With a single room size the chart has a
// Message instead. ok is false when no room expected a delivery.
func FanOut(r *reports.Result, maxPoints int) (c Chart, ok bool) {
	type agg struct {
		members            int
		rooms              int
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
		a.rooms++
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
	if len(sizes) == 1 {
		a := bySize[sizes[0]]
		rooms := fmt.Sprintf("All %s rooms that expected deliveries have", reports.FormatCount(int64(a.rooms)))
		if a.rooms == 1 {
			rooms = "The one room that expected deliveries has"
		}
		c.Message = fmt.Sprintf("%s %s members: %s of %s expected deliveries received (%s), the worst room %s. A chart of completion by room size needs rooms of at least two sizes.",
			rooms, reports.FormatCount(int64(a.members)), reports.FormatCount(a.received), reports.FormatCount(a.expected),
			percent(float64(a.received)/float64(a.expected)), percent(a.worst/100))
		return c, true
	}
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
	if style.NeedsLog(float64(sizes[0]), float64(sizes[len(sizes)-1])) {
		c.X.Scale = ScaleLog
	}
	c.Panels = []Panel{{Y: Axis{Label: "deliveries received", Unit: "% of expected", Scale: ScaleLinear}, Series: []Series{all, worst}, Lines: fanoutThresholds(r)}}
	return c, true
}

// percent renders a fraction as a percentage with two decimals, never
// rounding a shortfall up to 100%.
func percent(f float64) string {
	p := 100 * f
	if p != 100 && p > 99.99 {
		p = 99.99
	}
	return style.FormatNumber(math.Round(p*100)/100, 2) + "%"
}
