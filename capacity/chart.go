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
)

// Chart size: every chart is drawn 7 x 4 inches.
const (
	ChartWidth  = 7 * vg.Inch
	ChartHeight = 4 * vg.Inch
)

// Style is how a series is drawn.
type Style string

// Series styles.
const (
	StylePoints Style = "points"
	StyleLine   Style = "line"
	StyleDashed Style = "dashed"
)

// Series is one set of points of a chart. Series with the same Color index
// share a colour (a measurement and its model line); a series without a
// Name has no legend entry.
type Series struct {
	Name  string    `json:"name,omitempty"`
	X     []float64 `json:"x"`
	Y     []float64 `json:"y"`
	Style Style     `json:"style"`
	Color int       `json:"color"`
}

// Chart is the data of one chart: titles, axis labels with units, scales
// and series. SVG draws it.
type Chart struct {
	// Name is a file stem, e.g. "capacity-throughput".
	Name   string `json:"name"`
	Title  string `json:"title"`
	XLabel string `json:"x_label"`
	YLabel string `json:"y_label"`
	// LogX and LogY ask for logarithmic axes; they are used when the data
	// span at least a factor of 10 (else a log axis would have no labels).
	LogX bool `json:"log_x"`
	LogY bool `json:"log_y"`
	// YMax, when positive, clips the y axis (utilisation far past 100%
	// says nothing more).
	YMax float64 `json:"y_max,omitempty"`
	// LegendRight puts the legend top right instead of top left (out of
	// the data's way).
	LegendRight bool     `json:"legend_right,omitempty"`
	Series      []Series `json:"series"`
}

// Charts returns the capacity report's charts: throughput against load
// with the model's capacity, scalability over cores with the USL fit,
// latency against load, utilisation by resource on the profile, CPU per
// post against room size with the fit, and max posts/s against room size
// with the published 40 messages/s.
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
// core count, with the model's capacity (CPU fit × USL) as dashed lines.
func ThroughputChart(cal Calibration, m Model) Chart {
	c := Chart{Name: "capacity-throughput", Title: "Throughput against load, with the model's capacity (USL fit)",
		XLabel: "offered load (posts/s)", YLabel: "achieved throughput (posts/s)", LogX: true, LogY: true}
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
		c.Series = append(c.Series, Series{Name: "achieved = offered", X: []float64{lo, hi}, Y: []float64{lo, hi}, Style: StyleLine, Color: -1})
	}
	c.Series = append(c.Series, Series{Name: "model capacity (dashed)", Style: StyleDashed, Color: -1})
	return c
}

// ScalabilityChart is throughput relative to one core against cores, the
// USL fit and linear scaling.
func ScalabilityChart(m Model) Chart {
	u := m.USL
	title := "Scalability over cores: Universal Scalability Law"
	if u.SigmaFitted {
		title += fmt.Sprintf(" (σ = %s, κ = %s)", num(u.Sigma), num(u.Kappa))
	}
	c := Chart{Name: "capacity-scalability", Title: title,
		XLabel: "server cores (GOMAXPROCS)", YLabel: "throughput (× one core)"}
	groups := map[string][]USLPoint{}
	var names []string
	maxN := 16.0
	for _, p := range u.Points {
		if _, ok := groups[p.Group]; !ok {
			names = append(names, p.Group)
		}
		groups[p.Group] = append(groups[p.Group], p)
		maxN = math.Max(maxN, float64(p.Cores))
	}
	sizeOf := func(g string) float64 {
		var k float64
		fmt.Sscanf(g, "k=%g", &k)
		return k
	}
	sort.Slice(names, func(i, j int) bool { return sizeOf(names[i]) < sizeOf(names[j]) })
	for i, g := range names {
		s := Series{Name: "measured, rooms of " + num(sizeOf(g)), Style: StylePoints, Color: i}
		for _, p := range groups[g] {
			s.X = append(s.X, float64(p.Cores))
			s.Y = append(s.Y, p.Throughput/u.Lambda[g])
		}
		c.Series = append(c.Series, s)
	}
	fit := Series{Name: "USL fit", Style: StyleLine, Color: -2}
	lin := Series{Name: "linear scaling", Style: StyleDashed, Color: -1}
	for n := 1.0; n <= maxN; n += 0.25 {
		fit.X = append(fit.X, n)
		fit.Y = append(fit.Y, u.Speedup(n))
	}
	lin.X, lin.Y = []float64{1, maxN}, []float64{1, maxN}
	c.Series = append(c.Series, fit, lin)
	return c
}

// LatencyChart is measured p99 post → last delivery against achieved
// posts/s per room size and core count, with the model on this machine
// as dashed lines.
func LatencyChart(cal Calibration, m Model) Chart {
	c := Chart{Name: "capacity-latency", Title: "Latency against load: p99 post → last delivery, measured and modelled",
		XLabel: "achieved load (posts/s)", YLabel: "p99 post → last delivery (ms)", LogX: true, LogY: true}
	for i, g := range groupRuns(cal, m) {
		s := Series{Name: g.label(), Style: StylePoints, Color: i}
		var xmax float64
		for _, r := range g.runs {
			if r.Latency.PostLastDeliveryP99 > 0 {
				s.X = append(s.X, r.AchievedPostsPerSec)
				s.Y = append(s.Y, r.Latency.PostLastDeliveryP99/1000)
			}
			xmax = math.Max(xmax, r.AchievedPostsPerSec)
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
		for j := 1; j <= 40; j++ {
			x := top * float64(j) / 40
			_, last := e.latency(mix, x, mid, 0.99)
			if finite(last) {
				model.X = append(model.X, x)
				model.Y = append(model.Y, last*1000)
			}
		}
		c.Series = append(c.Series, model)
	}
	c.Series = append(c.Series, Series{Name: "model (dashed)", Style: StyleDashed, Color: -1})
	return c
}

// UtilizationChart is the utilisation of each resource of the profile
// against posts/s of the mix (central estimates).
func UtilizationChart(p Prediction) Chart {
	c := Chart{Name: "capacity-utilization", Title: fmt.Sprintf("Utilisation by resource on %s, mix %s", p.Profile.Name, mixName(p.Mix)),
		XLabel: "load (posts/s of the mix)", YLabel: "utilisation (%)", YMax: 150}
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
	c.Series = append(c.Series, Series{Name: "saturation (100%)", X: []float64{0, top}, Y: []float64{100, 100}, Style: StyleDashed, Color: -1})
	return c
}

// CPUPerPostChart is the server CPU per post against room size, the fit
// a + b·k and its confidence interval.
func CPUPerPostChart(cal Calibration, m Model) Chart {
	c := Chart{Name: "capacity-cpu-per-post", Title: fmt.Sprintf("Server CPU per post against room size: a + b·k = %s + %s·k µs (R² %.3f)", num(m.CPU.A), num(m.CPU.B), m.CPU.R2),
		XLabel: "room size k (deliveries per post)", YLabel: "server CPU per post (µs)", LogX: true, LogY: true}
	pts := Series{Name: "runs", Style: StylePoints, Color: 0}
	for _, i := range m.Used {
		r := cal.Measurements[i]
		pts.X = append(pts.X, r.FanOut())
		pts.Y = append(pts.Y, r.CPUPerPostUs())
	}
	c.Series = append(c.Series, pts)
	lo, hi := math.Max(m.CPU.XMin/1.5, 1), m.CPU.XMax*1.5
	fit := Series{Name: "fit a + b·k", Style: StyleLine, Color: 1}
	ciLo := Series{Name: fmt.Sprintf("%.0f%% confidence interval", 100*Confidence), Style: StyleDashed, Color: 1}
	ciHi := Series{Style: StyleDashed, Color: 1}
	for j := 0; j <= 60; j++ {
		k := lo * math.Pow(hi/lo, float64(j)/60)
		fit.X = append(fit.X, k)
		fit.Y = append(fit.Y, m.CPU.At(k))
		l, h := m.CPU.Interval(k, Confidence)
		ciLo.X, ciHi.X = append(ciLo.X, k), append(ciHi.X, k)
		ciLo.Y, ciHi.Y = append(ciLo.Y, l), append(ciHi.Y, h)
	}
	c.Series = append(c.Series, fit)
	if m.CPU.SEKnown {
		c.Series = append(c.Series, ciLo, ciHi)
	}
	return c
}

// MaxPostsChart is the profile's max posts/s against room size (low, mid,
// high) with the published 40 messages/s.
func MaxPostsChart(p Prediction) Chart {
	c := Chart{Name: "capacity-max-posts", Title: fmt.Sprintf("Max posts/s against room size on %s", p.Profile.Name),
		XLabel: "room size (users per room)", YLabel: "max posts/s", LogX: true, LogY: true, LegendRight: true}
	e := p.engine()
	lo, hi := 10.0, 16000.0
	for _, r := range p.BySize {
		lo, hi = math.Min(lo, float64(r.RoomSize)), math.Max(hi, float64(r.RoomSize))
	}
	names := map[level]string{mid: "mid", pess: "low (pessimistic)", opt: "high (optimistic)"}
	for _, l := range []level{mid, pess, opt} {
		s := Series{Name: names[l], Style: StyleLine, Color: 0}
		if l != mid {
			s.Style = StyleDashed
		}
		w := 1.0
		switch l {
		case pess:
			w = 1 - math.Min(p.widen(), 0.9)
		case opt:
			w = 1 + math.Min(p.widen(), 0.9)
		}
		for j := 0; j <= 60; j++ {
			k := math.Round(lo * math.Pow(hi/lo, float64(j)/60))
			x := MaxThroughput(e.demands(SingleSize(int(k)), l)) * w
			if finite(x) {
				s.X = append(s.X, k)
				s.Y = append(s.Y, x)
			}
		}
		c.Series = append(c.Series, s)
	}
	c.Series = append(c.Series, Series{Name: "published: 40 messages/s", X: []float64{lo, hi}, Y: []float64{TargetPostsPerSec, TargetPostsPerSec}, Style: StyleDashed, Color: 3})
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

// SVG draws the chart as SVG, ChartWidth x ChartHeight.
func (c Chart) SVG() ([]byte, error) {
	p, err := c.Plot()
	if err != nil {
		return nil, err
	}
	canvas := vgsvg.New(ChartWidth, ChartHeight)
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Plot builds the chart as a gonum plot, for other formats
// (p.Save(ChartWidth, ChartHeight, "x.png")).
func (c Chart) Plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	logX, logY := c.LogX && c.span(true) >= 10, c.LogY && c.span(false) >= 10
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, !c.LegendRight
	p.Legend.TextStyle.Font.Size = vg.Points(8)
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
		switch s.Style {
		case StylePoints:
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("chart %s: %w", c.Name, err)
			}
			sc.GlyphStyle.Color = col
			sc.GlyphStyle.Shape = plotutil.Shape(max(s.Color, 0))
			sc.GlyphStyle.Radius = vg.Points(3)
			if len(xys) > 0 {
				p.Add(sc)
			}
			if s.Name != "" {
				p.Legend.Add(s.Name, sc)
			}
		default:
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("chart %s: %w", c.Name, err)
			}
			l.Color = col
			l.Width = vg.Points(1.5)
			if s.Style == StyleDashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			if len(xys) > 0 {
				p.Add(l)
			}
			if s.Name != "" {
				p.Legend.Add(s.Name, l)
			}
		}
	}
	if c.YMax > 0 {
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, 0), c.YMax
	}
	return p, nil
}

// span is max/min of the positive finite values on one axis (0 for none).
func (c Chart) span(x bool) float64 {
	lo, hi := math.Inf(1), 0.0
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
		return 0
	}
	return hi / lo
}

func seriesColor(i int) color.Color {
	switch i {
	case -1:
		return color.Gray{Y: 90}
	case -2:
		return color.Black
	}
	return plotutil.Color(i)
}
