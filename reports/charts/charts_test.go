package charts

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot/plotter"

	"github.com/gcload/gcload/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var pointRE = regexp.MustCompile(`\[\s+([-+.eE0-9]+),\s+([-+.eE0-9]+)\s+\]`)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func packed(vals map[int64]int64) *hdrhistogram.PackedHistogram {
	h := reports.NewPackedHistogram()
	for v, n := range vals {
		if err := h.RecordValues(v, n); err != nil {
			panic(err)
		}
	}
	return h
}

// synthetic returns a small Result with known values:
//
//   - post_ack: in interval i (0-4), 98 samples of (i+1) ms, one of
//     10(i+1) ms and one of 60 ms, so p50 = (i+1) ms, p99 = 10(i+1) ms and
//     max = 60 ms; its total histogram is the sum of the intervals.
//   - signin: 1,000 samples of 1, 2, ..., 1000 ms in the total histogram
//     only (no interval data, so no latency-over-time chart).
//   - counters: posts 10(i+1), deliveries 100(i+1) per interval, errors 3
//     in interval 2; users_online 100(i+1) except interval 3 (unset).
//   - the last interval lasts 0.5 s, the others 1 s.
//   - rooms: two of 10 members (100/100 and 90/100 received), one of 50
//     members (500/500), one of 5 that expected nothing.
//   - thresholds: post_ack.p99 < 100ms (passes), post_ack.p50 < 2ms
//     (fails), lost == 0 (fails), signin.p99 < 1s (passes).
//   - the scenario of syntheticScenario.
func synthetic() *reports.Result {
	r := &reports.Result{
		Hists:          map[reports.Op]*hdrhistogram.Histogram{},
		IntervalLength: time.Second,
	}
	total := reports.NewHistogram()
	start := t0
	for i := int64(0); i < 5; i++ {
		length := time.Second
		if i == 4 {
			length = 500 * time.Millisecond
		}
		h := packed(map[int64]int64{(i + 1) * 1000: 98, (i + 1) * 10000: 1, 60000: 1})
		h.MergeInto(total)
		iv := reports.Interval{
			Start:    start,
			End:      start.Add(length),
			Hists:    map[reports.Op]*hdrhistogram.PackedHistogram{reports.OpPostAck: h},
			Counters: map[string]int64{reports.CounterPosts: 10 * (i + 1), reports.CounterDeliveries: 100 * (i + 1)},
		}
		if i == 2 {
			iv.Counters[reports.CounterErrors] = 3
		}
		if i != 3 {
			iv.Gauges = map[string]float64{GaugeUsersOnline: float64(100 * (i + 1))}
		}
		r.Intervals = append(r.Intervals, iv)
		start = start.Add(length)
	}
	r.Hists[reports.OpPostAck] = total
	signin := reports.NewHistogram()
	for v := int64(1); v <= 1000; v++ {
		_ = signin.RecordValue(v * 1000)
	}
	r.Hists[reports.OpSignIn] = signin
	r.Summary = reports.Summary{
		Scenario: "synthetic", Shard: "1/1", Target: "test",
		Start: t0, End: start, Seconds: start.Sub(t0).Seconds(),
		Rooms: []reports.RoomDelivery{
			{Room: "a", Members: 10, Delivery: reports.Delivery{Posts: 10, Expected: 100, Received: 100}},
			{Room: "b", Members: 10, Delivery: reports.Delivery{Posts: 10, Expected: 100, Received: 90, Lost: 10}},
			{Room: "c", Members: 50, Delivery: reports.Delivery{Posts: 10, Expected: 500, Received: 500}},
			{Room: "d", Members: 5},
		},
	}
	r.Summary.Delivery = reports.Delivery{Posts: 30, Expected: 700, Received: 690, Lost: 10}
	r.Summary.RecomputeOps(r.Hists)
	for _, th := range []string{"post_ack.p99 < 100ms", "post_ack.p50 < 2ms", "lost == 0", "signin.p99 < 1s"} {
		parsed, err := reports.ParseThreshold(th)
		if err != nil {
			panic(err)
		}
		r.Summary.Thresholds = append(r.Summary.Thresholds, parsed.Eval(&r.Summary, r.Hists))
	}
	r.ScenarioYAML = []byte(syntheticScenario)
	return r
}

// syntheticScenario has a 1 s sign-in phase (10 users at 10/s) and a 2 s
// steady phase, so phases start at 0 and 1 s and the drain at 3 s.
const syntheticScenario = `name: synthetic
users: {count: 10}
rooms:
  classes: [{name: r, size: 5, count: 2}]
phases:
  - name: signin
    signin: {rate: 10/s, arrival: constant}
  - name: steady
    duration: 2s
    posts: {rate: 1/s}
`

func find(t *testing.T, cs []Chart, id string) *Chart {
	t.Helper()
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i]
		}
	}
	t.Fatalf("no chart %q", id)
	return nil
}

func series(t *testing.T, c *Chart, name string) *Series {
	t.Helper()
	for i := range c.Panels {
		for j := range c.Panels[i].Series {
			if c.Panels[i].Series[j].Name == name {
				return &c.Panels[i].Series[j]
			}
		}
	}
	t.Fatalf("chart %s: no series %q", c.ID, name)
	return nil
}

func near(a, b, rel float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func TestBuildCharts(t *testing.T) {
	cs := Build(synthetic(), Options{})
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	want := "latency_spectrum latency_post_ack throughput problems fanout"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("charts %q, want %q (charts without data omitted)", got, want)
	}

	// Spectrum: signin's 1..1000 ms; x = 1/(1-p).
	// Small multiples: one panel per operation, in report order, each
	// titled with it.
	sp := find(t, cs, "latency_spectrum")
	if sp.X.Scale != ScalePercentile || sp.Panels[0].Y.Unit != "ms" || sp.Columns != SpectrumColumns {
		t.Errorf("spectrum axes %+v %+v, %d columns", sp.X, sp.Panels[0].Y, sp.Columns)
	}
	if len(sp.Panels) != 2 || sp.Panels[0].Series[0].Name != "signin" || sp.Panels[1].Series[0].Name != "post_ack" ||
		sp.Panels[0].Title != "signin (1,000 samples)" || sp.Panels[1].Title != "post_ack (500 samples)" {
		t.Fatalf("spectrum panels in report order: %+v", sp.Panels)
	}
	// signin's 1 to 1,000 ms span more than style.LogRatio: a log axis;
	// post_ack's 1 to 60 ms too; thresholds on post_ack are drawn on its
	// panel, in their pass/fail colour.
	if sp.Panels[0].Y.Scale != ScaleLog || sp.Panels[1].Y.Scale != ScaleLog {
		t.Errorf("spectrum y scales %s %s, want log", sp.Panels[0].Y.Scale, sp.Panels[1].Y.Scale)
	}
	wantLines := []RefLine{{Label: "threshold post_ack.p99 < 100ms: pass", Y: 100, Color: "#1b7f2a"}, {Label: "threshold post_ack.p50 < 2ms: FAIL", Y: 2, Color: "#b00020"}}
	signinLine := RefLine{Label: "threshold signin.p99 < 1s: pass", Y: 1000, Color: "#1b7f2a"}
	if got := sp.Panels[1].Lines; fmt.Sprint(got) != fmt.Sprint(wantLines) || fmt.Sprint(sp.Panels[0].Lines) != fmt.Sprint([]RefLine{signinLine}) {
		t.Errorf("spectrum threshold lines %v and %v, want %v and %v", sp.Panels[0].Lines, got, signinLine, wantLines)
	}
	si := series(t, sp, "signin").Points
	if si[0].X != 1 || !near(si[0].Y, 1, 1e-9) {
		t.Errorf("spectrum first point %v, want [1, 1]", si[0])
	}
	// at returns y of the last point at or before x (the percentile ticks
	// hit 50% and 90% exactly, 99% within a tick).
	at := func(pts []Point, x float64) float64 {
		y := math.NaN()
		for _, p := range pts {
			if p.X <= x*(1+1e-9) {
				y = p.Y
			}
		}
		return y
	}
	for _, c := range []struct{ x, ms, tol float64 }{{2, 500, 0.001}, {10, 900, 0.001}, {100, 990, 0.002}} {
		if got := at(si, c.x); !near(got, c.ms, c.tol) {
			t.Errorf("signin at x=%g (p%g): %g ms, want %g", c.x, 100*(1-1/c.x), got, c.ms)
		}
	}
	// The 100th percentile is plotted at x = the count (1000) or the
	// previous tick's x if larger (here 1024, p99.90234375).
	last, prev := si[len(si)-1], si[len(si)-2]
	if last.X != math.Max(1000, prev.X) || last.X < 1000 || !near(last.Y, 1000, 0.001) {
		t.Errorf("signin last point %v after %v, want x = max(1000 samples, previous x), y = max 1000 ms", last, prev)
	}
	for i := 1; i < len(si); i++ {
		if si[i].X < si[i-1].X || si[i].Y < si[i-1].Y {
			t.Fatalf("spectrum not monotonic at %d: %v %v", i, si[i-1], si[i])
		}
	}

	// Latency over time: p50 (i+1) ms, p99 10(i+1) ms, max 60 ms at the
	// interval ends (1, 2, 3, 4, 4.5 s); max as markers; the thresholds;
	// the phases.
	lt := find(t, cs, "latency_post_ack")
	if ss := lt.Panels[0].Series; len(ss) != 3 || ss[2].Name != "max" || ss[2].Style != StylePoints || ss[0].Name != "p50" || ss[1].Name != "p99" || ss[0].MaxGap != 1.5 {
		t.Errorf("latency series %+v", ss)
	}
	if fmt.Sprint(lt.Panels[0].Lines) != fmt.Sprint(wantLines) {
		t.Errorf("latency threshold lines %v, want %v", lt.Panels[0].Lines, wantLines)
	}
	wantMarkers := []Marker{{X: 0, Label: "signin"}, {X: 1, Label: "steady"}, {X: 3, Label: "drain"}}
	if fmt.Sprint(lt.Markers) != fmt.Sprint(wantMarkers) || fmt.Sprint(lt.Extent) != "[0 4.5]" {
		t.Errorf("phase markers %v, extent %v; want %v, [0 4.5]", lt.Markers, lt.Extent, wantMarkers)
	}
	ends := []float64{1, 2, 3, 4, 4.5}
	for name, f := range map[string]func(i int) float64{
		"p50": func(i int) float64 { return float64(i + 1) },
		"p99": func(i int) float64 { return float64(10 * (i + 1)) },
		"max": func(int) float64 { return 60 },
	} {
		pts := series(t, lt, name).Points
		if len(pts) != 5 {
			t.Fatalf("%s: %d points, want 5", name, len(pts))
		}
		for i, p := range pts {
			if p.X != ends[i] || !near(p.Y, f(i), 0.001) {
				t.Errorf("%s[%d] = %v, want [%g, %g]", name, i, p, ends[i], f(i))
			}
		}
	}

	// Throughput: rates per second of interval, the last interval 0.5 s.
	th := find(t, cs, "throughput")
	if len(th.Panels) != 3 {
		t.Fatalf("throughput panels %d, want 3", len(th.Panels))
	}
	posts := series(t, th, "posts/s").Points
	if posts[0].Y != 10 || posts[4].Y != 100 || posts[4].X != 4.5 {
		t.Errorf("posts/s %v", posts)
	}
	if d := series(t, th, "deliveries/s").Points; d[1].Y != 200 || d[4].Y != 1000 {
		t.Errorf("deliveries/s %v", d)
	}
	if u := series(t, th, "users online").Points; len(u) != 4 || u[3] != (Point{4.5, 500}) {
		t.Errorf("users online %v (interval 3 unset: no point)", u)
	}

	if th := find(t, cs, "throughput"); fmt.Sprint(th.Markers) != fmt.Sprint(wantMarkers) {
		t.Errorf("throughput markers %v", th.Markers)
	}

	// Problems: errors only, 3 in interval 2.
	pr := find(t, cs, "problems")
	if pr.SeriesCount() != 1 {
		t.Fatalf("problems series %d, want errors only", pr.SeriesCount())
	}
	if e := series(t, pr, "errors").Points; len(e) != 5 || e[2].Y != 3 || e[1].Y != 0 {
		t.Errorf("errors %v", e)
	}

	// Fan-out: size 10 at 95% (worst 90%), size 50 at 100%.
	fo := find(t, cs, "fanout")
	all := series(t, fo, "all rooms of that size").Points
	worst := series(t, fo, "worst room of that size").Points
	if len(all) != 2 || all[0] != (Point{10, 95}) || all[1] != (Point{50, 100}) || worst[0] != (Point{10, 90}) {
		t.Errorf("fanout all %v worst %v", all, worst)
	}
	// lost == 0 failed (room b lost 10): a red line at 100%.
	if l := fo.Panels[0].Lines; len(l) != 1 || l[0] != (RefLine{Label: "threshold lost == 0: FAIL", Y: 100, Color: "#b00020"}) {
		t.Errorf("fanout lines %v", l)
	}

	// Every series has its fixed colour.
	if c := series(t, sp, "post_ack").Color; c != OpColor(reports.OpPostAck) || c != "#ff7f0e" {
		t.Errorf("post_ack colour %s", c)
	}
}

func TestBuildGolden(t *testing.T) {
	got := Build(synthetic(), Options{})
	path := filepath.Join("testdata", "synthetic.golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		// One point per line: [x, y].
		b = pointRE.ReplaceAll(b, []byte("[$1, $2]"))
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	var want []Chart
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := diffCharts(got, want); diff != "" {
		t.Errorf("chart data differs from %s (rerun with -update if intended):\n%s", path, diff)
	}
}

// diffCharts compares chart data: everything but the points exactly,
// the points within a relative 1e-9.
func diffCharts(got, want []Chart) string {
	var b strings.Builder
	if len(got) != len(want) {
		fmt.Fprintf(&b, "%d charts, want %d\n", len(got), len(want))
		return b.String()
	}
	shape := func(c Chart) string {
		c.Panels = slices.Clone(c.Panels)
		for i := range c.Panels {
			c.Panels[i].Series = slices.Clone(c.Panels[i].Series)
			for j := range c.Panels[i].Series {
				c.Panels[i].Series[j].Points = c.Panels[i].Series[j].Points[:0:0]
			}
		}
		j, _ := json.Marshal(c)
		return string(j)
	}
	for i := range got {
		g, w := got[i], want[i]
		if sg, sw := shape(g), shape(w); sg != sw {
			fmt.Fprintf(&b, "chart %d:\n got %s\nwant %s\n", i, sg, sw)
			continue
		}
		for j := range g.Panels {
			for k := range g.Panels[j].Series {
				gs, ws := g.Panels[j].Series[k], w.Panels[j].Series[k]
				if len(gs.Points) != len(ws.Points) {
					fmt.Fprintf(&b, "%s %s: %d points, want %d\n", g.ID, gs.Name, len(gs.Points), len(ws.Points))
					continue
				}
				for n := range gs.Points {
					if !near(gs.Points[n].X, ws.Points[n].X, 1e-9) || !near(gs.Points[n].Y, ws.Points[n].Y, 1e-9) {
						fmt.Fprintf(&b, "%s %s point %d: %v, want %v\n", g.ID, gs.Name, n, gs.Points[n], ws.Points[n])
					}
				}
			}
		}
	}
	return b.String()
}

func TestBuildEmpty(t *testing.T) {
	if cs := Build(&reports.Result{}, Options{}); len(cs) != 0 {
		t.Errorf("empty result gave %d charts", len(cs))
	}
	// Counters that stayed at zero and rooms that expected nothing give
	// no chart.
	r := &reports.Result{
		Intervals: []reports.Interval{{Start: t0, End: t0.Add(time.Second), Counters: map[string]int64{"sip.200": 5}}},
		Summary:   reports.Summary{Rooms: []reports.RoomDelivery{{Room: "x", Members: 3}}},
	}
	if cs := Build(r, Options{}); len(cs) != 0 {
		t.Errorf("result without chart data gave %v", cs)
	}
	var c Chart
	if err := c.WriteSVG(io.Discard); err != ErrNoData {
		t.Errorf("WriteSVG of an empty chart: %v, want ErrNoData", err)
	}
}

// long returns a Result with n one-second intervals: post_ack samples of
// i ms in interval i, one post per interval.
func long(n int) *reports.Result {
	r := &reports.Result{IntervalLength: time.Second}
	for i := 0; i < n; i++ {
		s := t0.Add(time.Duration(i) * time.Second)
		r.Intervals = append(r.Intervals, reports.Interval{
			Start:    s,
			End:      s.Add(time.Second),
			Hists:    map[reports.Op]*hdrhistogram.PackedHistogram{reports.OpPostAck: packed(map[int64]int64{int64(i+1) * 1000: 1})},
			Counters: map[string]int64{reports.CounterPosts: int64(i + 1)},
			Gauges:   map[string]float64{GaugeUsersOnline: float64(i + 1)},
		})
	}
	r.Summary.Start = t0
	return r
}

func TestAggregation(t *testing.T) {
	r := long(2500)
	cs := Build(r, Options{})
	lt := find(t, cs, "latency_post_ack")
	if lt.Note != "each point aggregates 3 intervals (3s); no interval has 100 samples, so p99 is not drawn (it would be the max)" {
		t.Errorf("note %q", lt.Note)
	}
	pmax := series(t, lt, "max").Points
	p50 := series(t, lt, "p50").Points
	if len(pmax) != 834 {
		t.Fatalf("%d points, want 834 (2500 intervals by 3)", len(pmax))
	}
	// Bucket 1 holds intervals 3, 4, 5: samples of 4, 5 and 6 ms.
	if pmax[1].X != 6 || !near(pmax[1].Y, 6, 0.001) || !near(p50[1].Y, 5, 0.001) {
		t.Errorf("bucket 1: max %v p50 %v, want [6, 6] and [6, 5]", pmax[1], p50[1])
	}
	// The last bucket holds interval 2499 alone.
	if l := pmax[len(pmax)-1]; l.X != 2500 || !near(l.Y, 2500, 0.001) {
		t.Errorf("last bucket %v", l)
	}
	th := find(t, cs, "throughput")
	posts := series(t, th, "posts/s").Points
	if posts[1].Y != 5 || posts[len(posts)-1].Y != 2500 {
		t.Errorf("posts/s %v ... %v, want mean of 4, 5, 6 then 2500", posts[1], posts[len(posts)-1])
	}
	if u := series(t, th, "users online").Points; u[1].Y != 6 {
		t.Errorf("users online bucket 1 %v, want the last value 6", u[1])
	}
	for _, c := range cs {
		for _, p := range c.Panels {
			for _, s := range p.Series {
				if len(s.Points) > DefaultMaxPoints {
					t.Errorf("%s %s: %d points", c.ID, s.Name, len(s.Points))
				}
			}
		}
	}
}

// svgDoc is the structure of an SVG document the tests look at.
type svgDoc struct {
	XMLName xml.Name
	Width   string
	Height  string
	Texts   []string
	Paths   []string // style attributes
}

func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var doc svgDoc
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			if depth == 0 {
				doc.XMLName = e.Name
				doc.Width, doc.Height = attr("width"), attr("height")
			}
			switch e.Name.Local {
			case "text":
				var s string
				if err := d.DecodeElement(&s, &e); err != nil {
					t.Fatal(err)
				}
				doc.Texts = append(doc.Texts, s)
				continue
			case "path":
				doc.Paths = append(doc.Paths, attr("style"))
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced SVG (depth %d)", depth)
	}
	return doc
}

// svgText is a text element of an SVG: its position, laid-out width and
// whether it is rotated (inside a rotate transform).
type svgText struct {
	x, y, width float64
	rotated     bool
	text        string
}

// svgTexts returns the text elements of an SVG drawn by WriteSVG.
func svgTexts(t *testing.T, b []byte) []svgText {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []svgText
	var rot []bool // per open element: a rotate transform
	rotated := func() bool { return slices.Contains(rot, true) }
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			if e.Name.Local == "text" {
				var s string
				if err := d.DecodeElement(&s, &e); err != nil {
					t.Fatal(err)
				}
				x, _ := strconv.ParseFloat(attr["x"], 64)
				y, _ := strconv.ParseFloat(attr["y"], 64)
				w, err := strconv.ParseFloat(attr["textLength"], 64)
				if err != nil {
					t.Errorf("text %q has no textLength (style.FixSVG)", s)
				}
				out = append(out, svgText{x: x, y: y, width: w, rotated: rotated(), text: s})
				continue
			}
			rot = append(rot, strings.Contains(attr["transform"], "rotate"))
		case xml.EndElement:
			rot = rot[:len(rot)-1]
		}
	}
	return out
}

// overlaps returns the pairs of unrotated texts on the same baseline
// whose boxes overlap horizontally (tick labels run together).
func overlaps(ts []svgText) []string {
	var out []string
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			a, b := ts[i], ts[j]
			if a.rotated || b.rotated || math.Abs(a.y-b.y) > 1 {
				continue
			}
			if a.x < b.x+b.width && b.x < a.x+a.width {
				out = append(out, fmt.Sprintf("%q at %.1f+%.1f and %q at %.1f+%.1f", a.text, a.x, a.width, b.text, b.x, b.width))
			}
		}
	}
	return out
}

func TestSVGStructure(t *testing.T) {
	for _, c := range Build(synthetic(), Options{}) {
		t.Run(c.ID, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			doc := parseSVG(t, b.Bytes())
			if doc.XMLName.Local != "svg" {
				t.Fatalf("root element %v", doc.XMLName)
			}
			w, h := c.Size()
			dw, _ := strconv.ParseFloat(strings.TrimSuffix(doc.Width, "pt"), 64)
			dh, _ := strconv.ParseFloat(strings.TrimSuffix(doc.Height, "pt"), 64)
			if math.Abs(dw-w*72) > 0.01 || math.Abs(dh-h*72) > 0.01 {
				t.Errorf("size %s x %s, want %gin x %gin", doc.Width, doc.Height, w, h)
			}
			texts := strings.Join(doc.Texts, "\n")
			count := func(s string) int {
				n := 0
				for _, x := range doc.Texts {
					if x == s {
						n++
					}
				}
				return n
			}
			// One title, one x axis label; the y label once for small
			// multiples, per panel when stacked; panel titles; the legend
			// with the thresholds; the phase names.
			if n := count(c.Title); n != 1 {
				t.Errorf("title %q %d times", c.Title, n)
			}
			if n := count(c.X.Text()); n != 1 {
				t.Errorf("x label %q %d times", c.X.Text(), n)
			}
			var want []string
			for _, p := range c.Panels {
				want = append(want, p.Y.Text())
				if p.Title != "" {
					want = append(want, p.Title)
				}
				for _, l := range p.Lines {
					want = append(want, l.Label)
				}
				if len(p.Series) > 1 {
					for _, s := range p.Series {
						want = append(want, s.Name)
					}
				}
			}
			for _, m := range c.Markers {
				want = append(want, m.Label)
			}
			for _, s := range want {
				if !strings.Contains(texts, s) {
					t.Errorf("no text %q in %q", s, doc.Texts)
				}
			}
			for _, p := range c.Panels {
				for _, s := range p.Series {
					col := strings.ToUpper(s.Color)
					n := 0
					for _, st := range doc.Paths {
						if strings.Contains(st, "stroke:"+col) || strings.Contains(st, "fill:"+col) {
							n++
						}
					}
					if n == 0 {
						t.Errorf("series %s: no path in %s", s.Name, s.Color)
					}
				}
				for _, l := range p.Lines {
					if !slices.ContainsFunc(doc.Paths, func(st string) bool { return strings.Contains(st, "stroke:"+strings.ToUpper(l.Color)) }) {
						t.Errorf("line %s: no path stroked %s", l.Label, l.Color)
					}
				}
			}
			if c.ID == "latency_spectrum" {
				for _, l := range []string{"0%", "90%", "99%", "99.9%"} {
					if !strings.Contains(texts, "\n"+l+"\n") {
						t.Errorf("percentile axis has no %q tick label", l)
					}
				}
			}
			if ov := overlaps(svgTexts(t, b.Bytes())); len(ov) > 0 {
				t.Errorf("texts run into each other: %s", strings.Join(ov, "; "))
			}

			in, err := c.InlineSVG()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(in, []byte("<svg ")) || bytes.Contains(in, []byte("//")) || bytes.Contains(in, []byte("<?xml")) {
				t.Errorf("inline SVG starts %q, or has a URL or prolog", in[:min(len(in), 200)])
			}
			if d := parseSVG(t, in); d.XMLName.Local != "svg" || len(d.Texts) != len(doc.Texts) {
				t.Errorf("inline SVG differs from the document")
			}
		})
	}
}

// deep returns a Result of four operations with two million samples each,
// from 0.1 ms to 10 s: a percentile axis of seven decades.
func deep() *reports.Result {
	r := &reports.Result{Hists: map[reports.Op]*hdrhistogram.Histogram{}}
	for _, op := range []reports.Op{reports.OpSignIn, reports.OpPostAck, reports.OpPostToDelivery, reports.OpHistory} {
		h := reports.NewHistogram()
		for v, n := int64(100), int64(1_000_000); v <= 10_000_000; v, n = v*10, n/10 {
			_ = h.RecordValues(v, n+1)
		}
		_ = h.RecordValues(500, 900_000)
		r.Hists[op] = h
	}
	return r
}

// TestTickLabels: every axis of every chart of a short and a long run has
// at least three labelled ticks, and no two labels run into each other.
func TestTickLabels(t *testing.T) {
	for _, r := range []*reports.Result{synthetic(), long(2500), long(40), deep()} {
		for _, c := range Build(r, Options{}) {
			if len(c.Panels) == 0 {
				continue
			}
			var b bytes.Buffer
			if err := c.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			ts := svgTexts(t, b.Bytes())
			if ov := overlaps(ts); len(ov) > 0 {
				t.Errorf("%s: texts run into each other: %s", c.ID, strings.Join(ov, "; "))
			}
			// numeric labels: unrotated texts that parse as numbers or
			// percentiles, grouped by baseline (x axes) or right edge (y
			// axes)
			rows, cols := map[int]int{}, map[int]int{}
			for _, tx := range ts {
				v := strings.TrimSuffix(strings.ReplaceAll(tx.text, ",", ""), "%")
				if _, err := strconv.ParseFloat(v, 64); err != nil || tx.rotated {
					continue
				}
				rows[int(math.Round(tx.y))]++
				cols[int(math.Round(tx.x+tx.width))]++
			}
			xAxes, yAxes := 0, 0
			for _, n := range rows {
				if n >= 3 {
					xAxes++
				}
			}
			for _, n := range cols {
				if n >= 3 {
					yAxes++
				}
			}
			if xAxes == 0 || yAxes < 1 {
				t.Errorf("%s: %d x axes and %d y axes with at least 3 labels (%v %v)", c.ID, xAxes, yAxes, rows, cols)
			}
		}
	}
}

func TestPNG(t *testing.T) {
	c := find(t, Build(synthetic(), Options{}), "throughput")
	var b bytes.Buffer
	if err := c.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	w, h := c.Size()
	if sz := img.Bounds().Size(); math.Abs(float64(sz.X)-w*PNGDPI) > 1 || math.Abs(float64(sz.Y)-h*PNGDPI) > 1 {
		t.Errorf("PNG %v, want %gx%g in at %d dpi", sz, w, h, PNGDPI)
	}
	colours := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 3 {
		for x := 0; x < img.Bounds().Dx(); x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(colours) < 4 {
		t.Errorf("PNG looks blank: %d colours", len(colours))
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	cs := Build(synthetic(), Options{})
	if err := WriteFiles(dir, cs); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		for _, ext := range []string{".svg", ".png"} {
			if fi, err := os.Stat(filepath.Join(dir, c.ID+ext)); err != nil || fi.Size() == 0 {
				t.Errorf("%s%s: %v", c.ID, ext, err)
			}
		}
	}
}

func TestBigRunSize(t *testing.T) {
	// 600 one-second intervals, every operation in every interval.
	r := &reports.Result{IntervalLength: time.Second, Hists: map[reports.Op]*hdrhistogram.Histogram{}}
	for i := 0; i < 600; i++ {
		s := t0.Add(time.Duration(i) * time.Second)
		iv := reports.Interval{Start: s, End: s.Add(time.Second), Hists: map[reports.Op]*hdrhistogram.PackedHistogram{},
			Counters: map[string]int64{reports.CounterPosts: 40, reports.CounterDeliveries: 40000, reports.CounterErrors: int64(i % 3), reports.CounterTimeouts: int64(i % 5)},
			Gauges:   map[string]float64{GaugeUsersOnline: 60000}}
		for j, op := range reports.Ops {
			iv.Hists[op] = packed(map[int64]int64{int64(1000 + i + j): 500, int64(20000 + 37*i): 5, int64(400000 + i*j): 1})
		}
		r.Intervals = append(r.Intervals, iv)
	}
	for _, op := range reports.Ops {
		h := reports.NewHistogram()
		for _, iv := range r.Intervals {
			iv.Hists[op].MergeInto(h)
		}
		r.Hists[op] = h
	}
	total := 0
	for _, c := range Build(r, Options{TimeOps: reports.Ops}) {
		var b bytes.Buffer
		if err := c.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		total += b.Len()
	}
	t.Logf("SVG of every chart of a 600-interval run of all %d operations: %d bytes", len(reports.Ops), total)
	// about 2 MB for the 27 operations of old: 76 KiB an operation
	if limit := len(reports.Ops) * 76 << 10; total > limit {
		t.Errorf("charts total %d bytes, want under %d (76 KiB for each of %d operations)", total, limit, len(reports.Ops))
	}
}

// TestDegenerate draws charts of a run with one interval and one sample,
// a zero latency, and gauges and counters that never change.
func TestDegenerate(t *testing.T) {
	r := &reports.Result{Hists: map[reports.Op]*hdrhistogram.Histogram{}}
	one := reports.NewHistogram()
	_ = one.RecordValue(0)
	r.Hists[reports.OpPostAck] = one
	r.Intervals = []reports.Interval{{
		Start: t0, End: t0.Add(time.Second),
		Hists:    map[reports.Op]*hdrhistogram.PackedHistogram{reports.OpPostAck: packed(map[int64]int64{0: 1})},
		Counters: map[string]int64{reports.CounterPosts: 1, reports.CounterErrors: 1},
		Gauges:   map[string]float64{GaugeUsersOnline: 0},
	}}
	r.Summary.Rooms = []reports.RoomDelivery{{Room: "a", Members: 1, Delivery: reports.Delivery{Expected: 1}}}
	cs := Build(r, Options{})
	if len(cs) != 5 {
		t.Errorf("%d charts, want 5", len(cs))
	}
	for _, c := range cs {
		var b bytes.Buffer
		if err := c.WriteSVG(&b); err != nil {
			t.Errorf("%s: %v", c.ID, err)
			continue
		}
		parseSVG(t, b.Bytes())
		if err := c.WritePNG(io.Discard); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
	}
	// With one sample, one interval and one room size there is nothing
	// to draw a line through: every chart says what it would show in
	// words instead of drawing a dot.
	for id, want := range map[string]string{
		"latency_spectrum": "Every operation has a single sample: post_ack (one sample, 0µs)",
		"latency_post_ack": "All 1 samples of post_ack fell in one interval (0–1 s): p50 0µs, p99 0µs, max 0µs.",
		"throughput":       "The run has a single interval (0–1 s): posts/s 1, users online 0.",
		"problems":         "The run has a single interval (0–1 s): errors 1.",
		"fanout":           "The one room that expected deliveries has 1 members: 0 of 1 expected deliveries received (0%), the worst room 0%.",
	} {
		c := find(t, cs, id)
		if len(c.Panels) != 0 || !strings.HasPrefix(c.Message, want) {
			t.Errorf("%s: %d panels, message %q; want none and %q", id, len(c.Panels), c.Message, want)
		}
		var b bytes.Buffer
		if err := c.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		if texts := strings.Join(parseSVG(t, b.Bytes()).Texts, " "); !strings.Contains(texts, "needs") || !strings.Contains(texts, c.Title) {
			t.Errorf("%s: the SVG does not say why it has no chart: %q", id, texts)
		}
	}
}

// TestLowRates: at a few samples per interval the p99 is the max, so the
// latency chart draws p50 and max and says so; intervals without samples
// break the line.
func TestLowRates(t *testing.T) {
	r := long(10)
	// no samples in intervals 4 and 5
	for _, i := range []int{4, 5} {
		r.Intervals[i].Hists = nil
	}
	c, ok := LatencyOverTime(r, reports.OpPostAck, DefaultMaxPoints)
	if !ok || len(c.Panels) != 1 {
		t.Fatalf("chart %+v", c)
	}
	var names []string
	for _, s := range c.Panels[0].Series {
		names = append(names, s.Name)
	}
	if fmt.Sprint(names) != "[p50 max]" || !strings.Contains(c.Note, "p99 is not drawn") {
		t.Errorf("series %v, note %q: want p50 and max, and a note on p99", names, c.Note)
	}
	p50 := c.Panels[0].Series[0]
	if p50.MaxGap != 1.5 || len(p50.Points) != 8 {
		t.Errorf("p50 %+v", p50)
	}
	if segs := segments(toXYs(p50.Points), p50.MaxGap); len(segs) != 2 || len(segs[0]) != 4 || len(segs[1]) != 4 {
		t.Errorf("p50 segments %v, want the 4 points before the gap and the 4 after", segs)
	}
	// A linear axis for values within style.LogRatio of each other.
	if c.Panels[0].Y.Scale != ScaleLinear {
		t.Errorf("1 to 10 ms on a %s axis", c.Panels[0].Y.Scale)
	}
}

func toXYs(pts []Point) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i] = plotter.XY{X: p.X, Y: p.Y}
	}
	return out
}
