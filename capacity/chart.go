package capacity

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gcload/gcload/reports/charts/style"
)

// Chart size: every chart is drawn 10 x 4.2 inches (the page shows it at
// its full width).
const (
	ChartWidth  = 10 * vg.Inch
	ChartHeight = 4.2 * vg.Inch
)

// Style is how a series is drawn.
type Style string

// Series styles.
const (
	StylePoints Style = "points"
	StyleLine   Style = "line"
	StyleDashed Style = "dashed"
)

// Series colours that are not a series' own (a Series.Color of 0 or more
// picks from the palette).
const (
	ColorGrey  = -1 // references: achieved = offered, linear scaling, bands
	ColorBlack = -2 // the fit
	ColorPass  = -3 // a target met (style.PassColor)
	ColorFail  = -4 // a limit or a target missed (style.FailColor)
)

// Series is one set of points of a chart. Series with the same Color share
// a colour (a measurement and its model line) and the legend has one
// entry per colour: give the Name to one of them only (a series without a
// Name has no legend entry).
type Series struct {
	Name  string    `json:"name,omitempty"`
	X     []float64 `json:"x"`
	Y     []float64 `json:"y"`
	Style Style     `json:"style"`
	Color int       `json:"color"`
}

// Chart is the data of one chart: title, caption, axis labels with units,
// scales and series. SVG draws it; the title and caption are the page's
// to show (SVG does not draw them, so that they appear once).
type Chart struct {
	// Name is a file stem, e.g. "capacity-throughput".
	Name  string `json:"name"`
	Title string `json:"title"`
	// Caption says what the chart's line styles mean, in a sentence.
	Caption string `json:"caption,omitempty"`
	// Message replaces the chart when there is nothing to draw that would
	// not mislead (e.g. an unfitted law): the page shows it instead.
	Message string `json:"message,omitempty"`
	XLabel  string `json:"x_label"`
	YLabel  string `json:"y_label"`
	// LogX and LogY ask for logarithmic axes; they are used when the data
	// span more than style.LogRatio (else a log axis would show a flat
	// line and few labels).
	LogX bool `json:"log_x"`
	LogY bool `json:"log_y"`
	// YMax, when positive, clips the y axis (utilisation far past 100%
	// says nothing more).
	YMax   float64  `json:"y_max,omitempty"`
	Series []Series `json:"series"`
}

// Charts returns the capacity report's charts: throughput against load
// with the model's capacity, scalability over cores with the USL fit,
// latency against load, utilisation by resource on the profile, CPU per
// post against room size with the chosen fit, and max posts/s against
// room size with the published 40 messages/s.
func Charts(cal Calibration, p Prediction) []Chart {
	return []Chart{
		ThroughputChart(cal, p.Model),
		ScalabilityChart(p.Model),
		LatencyChart(cal, p.Model),
		UtilizationChart(p),
		CPUPerPostChart(cal, p.Model),
		MaxPostsChart(p),
	}
}

// logSpaced returns n+1 values from lo to hi, evenly spaced on a log
// scale (a line drawn through them is straight or curved as it should be
// on either kind of axis).
func logSpaced(lo, hi float64, n int) []float64 {
	out := make([]float64, n+1)
	for j := range out {
		out[j] = lo * math.Pow(hi/lo, float64(j)/float64(n))
	}
	return out
}

// runGroup is the runs of one room size at one core count.
type runGroup struct {
	size  int
	cores int
	runs  []Measurement
}

func groupRuns(cal Calibration, m Model) []runGroup {
	idx := map[[2]int]int{}
	var gs []runGroup
	for _, i := range m.Used {
		r := cal.Measurements[i]
		key := [2]int{int(math.Round(r.MeanRoomSize())), r.Cores}
		j, ok := idx[key]
		if !ok {
			j = len(gs)
			idx[key] = j
			gs = append(gs, runGroup{size: key[0], cores: key[1]})
		}
		gs[j].runs = append(gs[j].runs, r)
	}
	sort.Slice(gs, func(a, b int) bool {
		if gs[a].size != gs[b].size {
			return gs[a].size < gs[b].size
		}
		return gs[a].cores < gs[b].cores
	})
	for _, g := range gs {
		sort.Slice(g.runs, func(a, b int) bool { return g.runs[a].OfferedPostsPerSec < g.runs[b].OfferedPostsPerSec })
	}
	return gs
}

func (g runGroup) label() string {
	return fmt.Sprintf("rooms of %s, %d core%s", num(float64(g.size)), g.cores, plural(g.cores))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ThroughputChart is achieved against offered posts/s per room size and
// core count, with the model's capacity on this machine (dashed, in each
// group's colour) and the line achieved = offered, sampled densely so that
// it is drawn right on any axes.
func ThroughputChart(cal Calibration, m Model) Chart {
	c := Chart{Name: "capacity-throughput", Title: "Throughput against load",
		Caption: "Points: the runs of the sweep. Dashed, in the colour of its runs: the capacity the model gives that room size and core count on this machine. Grey: achieved = offered.",
		XLabel:  "offered load (posts/s)", YLabel: "achieved throughput (posts/s)", LogX: true, LogY: true}
	lo, hi := math.Inf(1), 0.0
	for i, g := range groupRuns(cal, m) {
		s := Series{Name: g.label(), Style: StylePoints, Color: i}
		for _, r := range g.runs {
			s.X = append(s.X, r.OfferedPostsPerSec)
			s.Y = append(s.Y, r.AchievedPostsPerSec)
			lo, hi = math.Min(lo, r.OfferedPostsPerSec), math.Max(hi, r.OfferedPostsPerSec)
		}
		c.Series = append(c.Series, s)
		e := m.localEngine(g.cores)
		capX := MaxThroughput(e.demands(SingleSize(g.size), mid))
		if finite(capX) && len(s.X) > 0 {
			c.Series = append(c.Series, Series{X: []float64{s.X[0], s.X[len(s.X)-1]}, Y: []float64{capX, capX}, Style: StyleDashed, Color: i})
		}
	}
	if hi > 0 {
		xs := logSpaced(lo, hi, 60)
		c.Series = append(c.Series, Series{Name: "achieved = offered", X: xs, Y: xs, Style: StyleLine, Color: ColorGrey})
	}
	return c
}

// ScalabilityChart is throughput relative to one core against cores:
// the measured points, the USL fit and linear scaling. When the USL could
// not be fitted the chart is a Message saying why: an assumed σ = κ = 0
// is never drawn as a fit.
func ScalabilityChart(m Model) Chart {
	u := m.USL
	c := Chart{Name: "capacity-scalability", Title: "Scalability over cores (Universal Scalability Law)",
		XLabel: "server cores (GOMAXPROCS)", YLabel: "throughput (× one core)"}
	if !u.SigmaFitted {
		c.Message = u.Note + "."
		return c
	}
	c.Title += fmt.Sprintf(": σ = %s, κ = %s", num(u.Sigma), num(u.Kappa))
	c.Caption = "Points: the highest saturated throughput of each room size and core count, relative to its fitted one-core throughput λ. Black: the USL fit. Grey dashed: linear scaling."
	var names []string
	maxN := 16.0
	pts := u.AllotmentPoints
	for _, p := range u.Points {
		pts = append(pts, ScalePoint{Cores: float64(p.Cores), Throughput: p.Throughput, Group: p.Group})
	}
	if len(u.AllotmentPoints) > 0 {
		c.XLabel = "server CPU (cgroup allotment, cores, net of idle)"
		c.Caption = "Points: the knee throughput of the CPU-limited sweep at each allotment, relative to its fitted one-core throughput λ. Black: the USL fit. Grey dashed: linear scaling."
	}
	groups := map[string][]ScalePoint{}
	for _, p := range pts {
		if _, ok := groups[p.Group]; !ok {
			names = append(names, p.Group)
		}
		groups[p.Group] = append(groups[p.Group], p)
		maxN = math.Max(maxN, p.Cores)
	}
	sizeOf := func(g string) float64 {
		var k float64
		if _, err := fmt.Sscanf(g, "k=%g", &k); err != nil {
			fmt.Sscanf(g, "k%g", &k) // the CPU-limited sweep's groups
		}
		return k
	}
	sort.Slice(names, func(i, j int) bool { return sizeOf(names[i]) < sizeOf(names[j]) })
	for i, g := range names {
		s := Series{Name: "measured, rooms of " + num(sizeOf(g)), Style: StylePoints, Color: i}
		for _, p := range groups[g] {
			s.X = append(s.X, p.Cores)
			s.Y = append(s.Y, p.Throughput/u.Lambda[g])
		}
		c.Series = append(c.Series, s)
	}
	name := "USL fit"
	if !u.KappaFitted {
		name = "USL fit (κ = 0: not identifiable)"
	}
	fit := Series{Name: name, Style: StyleLine, Color: ColorBlack}
	lin := Series{Name: "linear scaling", Style: StyleDashed, Color: ColorGrey}
	n0 := 1.0
	for _, p := range pts {
		n0 = math.Min(n0, p.Cores)
	}
	for n := n0; n <= maxN; n += 0.25 {
		fit.X = append(fit.X, n)
		fit.Y = append(fit.Y, u.Speedup(n))
	}
	lin.X, lin.Y = []float64{n0, maxN}, []float64{n0, maxN}
	c.Series = append(c.Series, fit, lin)
	return c
}

// LatencyChart is measured p99 post → last delivery against achieved
// posts/s per room size and core count, with the model on this machine
// (dashed, in each group's colour).
func LatencyChart(cal Calibration, m Model) Chart {
	c := Chart{Name: "capacity-latency", Title: "Latency against load: p99 post → last delivery",
		Caption: "Points: the runs of the sweep. Dashed, in the colour of its runs: the model on this machine (queueing, commit, fan-out and the fitted latency tail).",
		XLabel:  "achieved load (posts/s)", YLabel: "p99 post → last delivery (ms)", LogX: true, LogY: true}
	for i, g := range groupRuns(cal, m) {
		s := Series{Name: g.label(), Style: StylePoints, Color: i}
		var xmin, xmax float64
		xmin = math.Inf(1)
		for _, r := range g.runs {
			if r.Latency.PostLastDeliveryP99 > 0 {
				s.X = append(s.X, r.AchievedPostsPerSec)
				s.Y = append(s.Y, r.Latency.PostLastDeliveryP99/1000)
			}
			xmax = math.Max(xmax, r.AchievedPostsPerSec)
			xmin = math.Min(xmin, r.AchievedPostsPerSec)
		}
		if len(s.X) == 0 {
			continue
		}
		c.Series = append(c.Series, s)
		e := m.localEngine(g.cores)
		mix := SingleSize(g.size)
		capX := MaxThroughput(e.demands(mix, mid))
		top := math.Min(0.98*capX, 1.2*xmax)
		model := Series{Style: StyleDashed, Color: i}
		for _, x := range logSpaced(xmin/1.2, top, 40) {
			_, last := e.latency(mix, x, mid, 0.99)
			if finite(last) {
				model.X = append(model.X, x)
				model.Y = append(model.Y, last*1000)
			}
		}
		c.Series = append(c.Series, model)
	}
	return c
}

// UtilizationChart is the utilisation of each resource of the profile
// against posts/s of the mix (central estimates).
func UtilizationChart(p Prediction) Chart {
	c := Chart{Name: "capacity-utilization", Title: fmt.Sprintf("Utilisation by resource on %s, mix %s", p.Profile.Name, mixName(p.Mix)),
		Caption: "Central estimates. Red: saturation, where a resource is fully used.",
		XLabel:  "load (posts/s of the mix)", YLabel: "utilisation (%)", YMax: 150}
	top := p.MaxPostsPerSec.High
	if !finite(top) || top <= 0 {
		top = 1.2 * p.MaxPostsPerSec.Mid
	}
	if !finite(top) || top <= 0 {
		top = 2 * p.Objective.AtPostsPerSec
	}
	e := p.engine()
	for i, k := range p.Constraints {
		use := func(x float64) float64 { return e.use(k.Resource, p.Mix, x, mid) }
		if k.Resource == RAM {
			if p.Mix.PostsPerUserPerHour <= 0 || !(k.MaxUsers.Mid > 0) || !finite(k.MaxUsers.Mid) {
				continue
			}
			use = func(x float64) float64 { return x * 3600 / p.Mix.PostsPerUserPerHour / k.MaxUsers.Mid }
		}
		s := Series{Name: string(k.Resource), Style: StyleLine, Color: i}
		for j := 0; j <= 50; j++ {
			x := top * float64(j) / 50
			s.X = append(s.X, x)
			s.Y = append(s.Y, 100*use(x))
		}
		c.Series = append(c.Series, s)
	}
	c.Series = append(c.Series, Series{Name: "saturation (100%)", X: []float64{0, top}, Y: []float64{100, 100}, Style: StyleDashed, Color: ColorFail})
	return c
}

// CPUPerPostChart is the server CPU per post against room size, the form
// cross-validation chose and its confidence interval.
func CPUPerPostChart(cal Calibration, m Model) Chart {
	f := m.CPUModel.Fit
	c := Chart{Name: "capacity-cpu-per-post", Title: fmt.Sprintf("Server CPU per post against room size: %s (%s form)", f.Formula(), f.Kind),
		Caption: fmt.Sprintf("Points: the runs. Black: the %s form, chosen by leaving out each room size in turn. Grey dashed: its %.0f%% confidence interval.", f.Kind, 100*Confidence),
		XLabel:  "room size k (deliveries per post)", YLabel: "server CPU per post (µs)", LogX: true, LogY: true}
	pts := Series{Name: "runs", Style: StylePoints, Color: 0}
	for _, i := range m.Used {
		r := cal.Measurements[i]
		pts.X = append(pts.X, r.FanOut())
		pts.Y = append(pts.Y, r.CPUPerPostUs())
	}
	c.Series = append(c.Series, pts)
	lo, hi := math.Max(f.XMin/1.5, 1), f.XMax*1.5
	fit := Series{Name: "fit: " + string(f.Kind), Style: StyleLine, Color: ColorBlack}
	ciLo := Series{Name: fmt.Sprintf("%.0f%% confidence interval", 100*Confidence), Style: StyleDashed, Color: ColorGrey}
	ciHi := Series{Style: StyleDashed, Color: ColorGrey}
	for _, k := range logSpaced(lo, hi, 60) {
		fit.X = append(fit.X, k)
		fit.Y = append(fit.Y, f.At(k))
		l, h := f.Interval(k, Confidence)
		ciLo.X, ciHi.X = append(ciLo.X, k), append(ciHi.X, k)
		ciLo.Y, ciHi.Y = append(ciLo.Y, l), append(ciHi.Y, h)
	}
	c.Series = append(c.Series, fit)
	if f.SEKnown {
		c.Series = append(c.Series, ciLo, ciHi)
	}
	return c
}

// MaxPostsChart is the profile's max posts/s against room size (the
// central estimate and the band) with the published 40 messages/s, green
// when the central estimate meets it up to rooms of 1,000, red when not.
func MaxPostsChart(p Prediction) Chart {
	c := Chart{Name: "capacity-max-posts", Title: fmt.Sprintf("Max posts/s against room size on %s", p.Profile.Name),
		Caption: "Blue: the central estimate; grey dashed: the band (low and high). The published 40 messages/s, for rooms of up to 1,000, is green where the central estimate meets it and red where it does not.",
		XLabel:  "room size (users per room)", YLabel: "max posts/s", LogX: true, LogY: true}
	e := p.engine()
	lo, hi := 10.0, 16000.0
	for _, r := range p.BySize {
		lo, hi = math.Min(lo, float64(r.RoomSize)), math.Max(hi, float64(r.RoomSize))
	}
	meets := true
	for _, l := range []level{mid, pess, opt} {
		s := Series{Name: "mid", Style: StyleLine, Color: 0}
		w := 1.0
		switch l {
		case pess:
			s = Series{Name: "band (low, high)", Style: StyleDashed, Color: ColorGrey}
			w = 1 - math.Min(p.widen(), 0.9)
		case opt:
			s = Series{Style: StyleDashed, Color: ColorGrey}
			w = 1 + math.Min(p.widen(), 0.9)
		}
		for _, kf := range logSpaced(lo, hi, 60) {
			k := math.Round(kf)
			x := MaxThroughput(e.demands(SingleSize(int(k)), l)) * w
			if finite(x) {
				s.X = append(s.X, k)
				s.Y = append(s.Y, x)
				if l == mid && k <= TargetUsersPerRoom && x < TargetPostsPerSec {
					meets = false
				}
			}
		}
		c.Series = append(c.Series, s)
	}
	col := ColorPass
	if !meets {
		col = ColorFail
	}
	c.Series = append(c.Series, Series{Name: "published: 40 messages/s", X: []float64{lo, TargetUsersPerRoom}, Y: []float64{TargetPostsPerSec, TargetPostsPerSec}, Style: StyleDashed, Color: col})
	return c
}

// engine rebuilds the evaluator Predict used.
func (p Prediction) engine() engine {
	h := p.Profile.resolve()
	h.factor = p.CPUFactor
	return newEngine(p.Model, h, 1)
}

// widen is the validation error Predict widened capacity bands by.
func (p Prediction) widen() float64 {
	if !p.Validation.Done {
		return 0
	}
	return p.Validation.Error
}

// SVG draws the chart as SVG, ChartWidth x ChartHeight, in the look of
// package style (Liberation Sans, its tick labellers, text that keeps its
// width in any font), with the legend in a row above the data; the title
// and caption are left to the page. A chart with a Message has no SVG.
func (c Chart) SVG() ([]byte, error) {
	if c.Message != "" {
		return nil, fmt.Errorf("chart %s: no data to draw: %s", c.Name, c.Message)
	}
	p, entries, err := c.plot()
	if err != nil {
		return nil, err
	}
	canvas := vgsvg.New(ChartWidth, ChartHeight)
	dc := draw.New(canvas)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	area := draw.Crop(dc, vg.Points(6), -vg.Points(10), vg.Points(4), -vg.Points(6))
	if len(entries) > 0 {
		area.Max.Y -= drawLegend(area, entries) + vg.Points(6)
	}
	// The axis labels are drawn here, not by gonum, which centres a log
	// axis's label on the arithmetic mean of its range and pads the plot
	// for it.
	ls := style.Text(style.Sans, style.LabelSize)
	labelH := ls.Rectangle("Mg").Size().Y
	p.X.Label.Text, p.Y.Label.Text = "", ""
	plotArea := draw.Crop(area, labelH+vg.Points(4), 0, labelH+vg.Points(4), 0)
	p.Draw(plotArea)
	da := p.DataCanvas(plotArea)
	xs := ls
	xs.XAlign, xs.YAlign = draw.XCenter, draw.YBottom
	area.FillText(xs, vg.Point{X: (da.Min.X + da.Max.X) / 2, Y: area.Min.Y}, c.XLabel)
	ys := ls
	ys.Rotation = math.Pi / 2
	ys.XAlign, ys.YAlign = draw.XCenter, draw.YTop
	area.FillText(ys, vg.Point{X: area.Min.X, Y: (da.Min.Y + da.Max.Y) / 2}, c.YLabel)
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, err
	}
	return style.FixSVG(buf.Bytes()), nil
}

// Plot builds the chart as a gonum plot with its legend inside, for other
// formats (p.Save(ChartWidth, ChartHeight, "x.png")).
func (c Chart) Plot() (*plot.Plot, error) {
	p, entries, err := c.plot()
	if err != nil {
		return nil, err
	}
	p.Title.Text = c.Title
	p.Legend.Top, p.Legend.Left = true, true
	for _, e := range entries {
		p.Legend.Add(e.label, e.thumb)
	}
	return p, nil
}

// legendEntry is one legend item: a series' name and its look.
type legendEntry struct {
	label string
	thumb plot.Thumbnailer
}

// plot builds the gonum plot of the data, and the legend entries.
func (c Chart) plot() (*plot.Plot, []legendEntry, error) {
	p := plot.New()
	style.Axes(p)
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	xlo, xhi := c.extent(true)
	ylo, yhi := c.extent(false)
	logX, logY := c.LogX && style.NeedsLog(xlo, xhi), c.LogY && style.NeedsLog(ylo, yhi)
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = style.LogTicks{}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = style.LogTicks{}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = style.GridColor, style.GridColor
	p.Add(grid)
	var entries []legendEntry
	for _, s := range c.Series {
		var xys plotter.XYs
		for i := range s.X {
			if i >= len(s.Y) {
				break
			}
			x, y := s.X[i], s.Y[i]
			if !finite(x) || !finite(y) || (logX && x <= 0) || (logY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		col := seriesColor(s.Color)
		var thumb plot.Thumbnailer
		switch s.Style {
		case StylePoints:
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, nil, fmt.Errorf("chart %s: %w", c.Name, err)
			}
			sc.GlyphStyle.Color = col
			sc.GlyphStyle.Shape = plotutil.Shape(max(s.Color, 0))
			sc.GlyphStyle.Radius = vg.Points(3)
			if len(xys) > 0 {
				p.Add(sc)
			}
			thumb = sc
		default:
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, nil, fmt.Errorf("chart %s: %w", c.Name, err)
			}
			l.Color = col
			l.Width = style.LineWidth
			if s.Style == StyleDashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			if len(xys) > 0 {
				p.Add(l)
			}
			thumb = l
		}
		if s.Name != "" {
			entries = append(entries, legendEntry{s.Name, thumb})
		}
	}
	if c.YMax > 0 {
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, 0), c.YMax
	}
	return p, entries, nil
}

// drawLegend draws the entries left to right from the top left of area,
// wrapping to more rows when needed, and returns the height it took.
func drawLegend(area draw.Canvas, entries []legendEntry) vg.Length {
	st := style.Text(style.Sans, style.LegendSize)
	st.XAlign, st.YAlign = draw.XLeft, draw.YCenter
	h := st.Rectangle("Mg").Size().Y
	thumb := vg.Points(22)
	x, y := area.Min.X, area.Max.Y-h/2
	used := h
	for _, e := range entries {
		w := thumb + vg.Points(4) + st.Width(e.label)
		if x > area.Min.X && x+w > area.Max.X {
			x, y = area.Min.X, y-h*1.3
			used += h * 1.3
		}
		tc := draw.Canvas{Canvas: area.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x, Y: y - h/2}, Max: vg.Point{X: x + thumb, Y: y + h/2}}}
		e.thumb.Thumbnail(&tc)
		area.FillText(st, vg.Point{X: x + thumb + vg.Points(4), Y: y}, e.label)
		x += w + vg.Points(16)
	}
	return used
}

// extent is the smallest and largest positive finite value on one axis
// (0, 0 for none).
func (c Chart) extent(x bool) (lo, hi float64) {
	lo = math.Inf(1)
	for _, s := range c.Series {
		vs := s.Y
		if x {
			vs = s.X
		}
		for _, v := range vs {
			if finite(v) && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return 0, 0
	}
	return lo, hi
}

// palette is the series colours, as in reports/charts.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff}, color.RGBA{0xe3, 0x77, 0xc2, 0xff},
	color.RGBA{0x17, 0xbe, 0xcf, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff},
}

func seriesColor(i int) color.Color {
	switch i {
	case ColorGrey:
		return color.Gray{Y: 0x80}
	case ColorBlack:
		return color.Black
	case ColorPass:
		return style.PassColor
	case ColorFail:
		return style.FailColor
	}
	return palette[i%len(palette)]
}
