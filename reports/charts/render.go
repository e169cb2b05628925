package charts

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gcload/gcload/reports/charts/style"
)

// Chart geometry: every chart is WidthInches wide. A chart of stacked
// panels is HeightInches high plus PanelHeightInches for each panel after
// the first; small multiples are HeaderInches plus CellHeightInches per
// row; a chart with a Message is MessageHeightInches. PNGs are drawn at
// PNGDPI.
const (
	WidthInches         = 11.0
	HeightInches        = 3.8
	PanelHeightInches   = 2.0
	HeaderInches        = 1.0
	CellHeightInches    = 2.3
	MessageHeightInches = 1.3
	PNGDPI              = 96
)

var margin = vg.Points(8)

// ErrNoData is returned when rendering a chart without panels or message.
var ErrNoData = errors.New("charts: chart has no data")

// rows returns the number of panel rows and columns.
func (c *Chart) grid() (rows, cols int) {
	cols = max(c.Columns, 1)
	cols = min(cols, max(len(c.Panels), 1))
	return (len(c.Panels) + cols - 1) / cols, cols
}

// Size returns the chart's size in inches.
func (c *Chart) Size() (w, h float64) {
	if len(c.Panels) == 0 {
		return WidthInches, MessageHeightInches
	}
	rows, cols := c.grid()
	if cols > 1 {
		return WidthInches, HeaderInches + CellHeightInches*float64(rows)
	}
	return WidthInches, HeightInches + PanelHeightInches*float64(rows-1)
}

func (c *Chart) vgSize() (vg.Length, vg.Length) {
	w, h := c.Size()
	return vg.Length(w) * vg.Inch, vg.Length(h) * vg.Inch
}

// WriteSVG renders the chart as a standalone SVG document; its text keeps
// its laid-out width in any font (style.FixSVG).
func (c *Chart) WriteSVG(w io.Writer) error {
	cw, ch := c.vgSize()
	cv := vgsvg.New(cw, ch)
	if err := c.draw(draw.New(cv)); err != nil {
		return err
	}
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return fmt.Errorf("charts: write %s svg: %w", c.ID, err)
	}
	if _, err := w.Write(style.FixSVG(b.Bytes())); err != nil {
		return fmt.Errorf("charts: write %s svg: %w", c.ID, err)
	}
	return nil
}

// WritePNG renders the chart as a PNG image at PNGDPI.
func (c *Chart) WritePNG(w io.Writer) error {
	cw, ch := c.vgSize()
	cv := vgimg.NewWith(vgimg.UseWH(cw, ch), vgimg.UseDPI(PNGDPI))
	if err := c.draw(draw.New(cv)); err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(w); err != nil {
		return fmt.Errorf("charts: write %s png: %w", c.ID, err)
	}
	return nil
}

var (
	svgStart = regexp.MustCompile(`<svg\b[^>]*>`)
	xmlnsRE  = regexp.MustCompile(`\s+xmlns(:[A-Za-z]+)?="[^"]*"`)
)

// InlineSVG renders the chart as an <svg> element to embed in an HTML
// document: without the XML prolog, comment and namespace declarations
// (an HTML parser puts <svg> in the SVG namespace itself), so that it
// holds no URL at all.
func (c *Chart) InlineSVG() ([]byte, error) {
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		return nil, err
	}
	s := b.Bytes()
	loc := svgStart.FindIndex(s)
	if loc == nil {
		return nil, fmt.Errorf("charts: %s: no <svg> element in the rendered SVG", c.ID)
	}
	open := xmlnsRE.ReplaceAll(s[loc[0]:loc[1]], nil)
	out := make([]byte, 0, len(s)-loc[0])
	out = append(out, open...)
	out = append(out, s[loc[1]:]...)
	return bytes.TrimSpace(out), nil
}

// WriteFiles writes <id>.svg and <id>.png of each chart into dir.
func WriteFiles(dir string, cs []Chart) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	for i := range cs {
		c := &cs[i]
		for _, f := range []struct {
			ext   string
			write func(io.Writer) error
		}{{".svg", c.WriteSVG}, {".png", c.WritePNG}} {
			var b bytes.Buffer
			if err := f.write(&b); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, c.ID+f.ext), b.Bytes(), 0o644); err != nil {
				return fmt.Errorf("charts: %w", err)
			}
		}
	}
	return nil
}

func parseColor(s string) color.Color {
	s = strings.TrimPrefix(s, "#")
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 6 {
		return color.Black
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// legendEntry is one item of the legend row.
type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
	line   bool // a reference line, not a series
}

// draw draws the chart on dc: the title and note at the top left, the
// legend in a row under them (outside the data), the phase names above
// the panels, and the panels stacked or in a grid, aligned; or, for a
// chart with a Message, the message in a box.
func (c *Chart) draw(dc draw.Canvas) (err error) {
	if len(c.Panels) == 0 && c.Message == "" {
		return ErrNoData
	}
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("charts: draw %s: %v", c.ID, e)
		}
	}()
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	area := draw.Crop(dc, margin, -margin, margin, -margin)

	ts := style.Text(style.Bold, style.TitleSize)
	ts.XAlign, ts.YAlign = draw.XLeft, draw.YTop
	area.FillText(ts, vg.Point{X: area.Min.X, Y: area.Max.Y}, c.Title)
	area.Max.Y -= ts.Rectangle(c.Title).Size().Y + margin/2
	if c.Note != "" {
		ns := style.Text(style.Sans, style.NoteSize)
		ns.Color = style.NoteColor
		ns.XAlign, ns.YAlign = draw.XLeft, draw.YTop
		area.FillText(ns, vg.Point{X: area.Min.X, Y: area.Max.Y}, c.Note)
		area.Max.Y -= ns.Rectangle(c.Note).Size().Y + margin/2
	}
	if len(c.Panels) == 0 {
		drawMessage(area, c.Message)
		return nil
	}

	xmin, xmax := c.xRange()
	rows, cols := c.grid()
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	// The legend names the series, unless each panel has one that its
	// title (small multiples) or its y axis label already names; and the
	// reference lines.
	seriesLegend := false
	for _, p := range c.Panels {
		named := len(p.Series) == 1 && (c.Columns > 1 && p.Title != "" ||
			strings.EqualFold(strings.TrimSuffix(p.Series[0].Name, "/s"), p.Y.Label))
		seriesLegend = seriesLegend || len(p.Series) > 0 && !named
	}
	var legend []legendEntry
	seen := map[string]bool{}
	for i, panel := range c.Panels {
		row, col := i/cols, i%cols
		// the x labels on the bottom plot of each column only
		bottom := row == rows-1 || (row == rows-2 && i+cols >= len(c.Panels))
		p, entries, err := c.panelPlot(panel, bottom, xmin, xmax)
		if err != nil {
			return err
		}
		plots[row][col] = p
		for _, e := range entries {
			if !e.line && !seriesLegend {
				continue
			}
			if !seen[e.label] {
				seen[e.label] = true
				legend = append(legend, e)
			}
		}
	}
	if len(legend) > 0 {
		area.Max.Y -= drawLegend(area, legend) + margin/2
	}
	labels := style.Text(style.Sans, style.TickSize)
	labels.Color = style.NoteColor
	if len(c.Markers) > 0 {
		area.Max.Y -= labels.Rectangle("Mg").Size().Y + margin/2
	}
	// Axis labels and panel titles are drawn here rather than by gonum
	// (which places a log axis's label off centre and pads the plot for
	// it): the x label once under the panels, the y label once left of a
	// grid or left of each stacked panel, titles at the same height over
	// each panel of a row.
	axisText := style.Text(style.Sans, style.LabelSize)
	labelH := axisText.Rectangle("Mg").Size().Y
	titleText := style.Text(style.Bold, style.PanelTitleSize)
	titleH := vg.Length(0)
	for _, p := range c.Panels {
		if p.Title != "" {
			// a title may run over several lines (name, then figures)
			titleH = max(titleH, titleText.Rectangle(p.Title).Size().Y+vg.Points(3))
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadY: margin + titleH, PadX: 2 * margin,
		PadTop: titleH, PadLeft: labelH + margin/2, PadBottom: labelH + margin/2}
	canvases := plot.Align(plots, tiles, area)
	for r := range plots {
		for col, p := range plots[r] {
			if p != nil {
				p.Draw(canvases[r][col])
			}
		}
	}
	if len(c.Markers) > 0 {
		c.drawMarkers(plots, canvases, labels)
	}

	// the data areas, for placing the labels
	das := make([][]draw.Canvas, rows)
	left, right := vg.Length(math.Inf(1)), vg.Length(math.Inf(-1))
	top, bottom := vg.Length(math.Inf(-1)), vg.Length(math.Inf(1))
	for r := range plots {
		das[r] = make([]draw.Canvas, cols)
		for col, p := range plots[r] {
			if p == nil {
				continue
			}
			da := p.DataCanvas(canvases[r][col])
			das[r][col] = da
			left, right = min(left, da.Min.X), max(right, da.Max.X)
			top, bottom = max(top, da.Max.Y), min(bottom, da.Min.Y)
		}
	}
	xs := axisText
	xs.XAlign, xs.YAlign = draw.XCenter, draw.YBottom
	area.FillText(xs, vg.Point{X: (left + right) / 2, Y: area.Min.Y}, c.X.Text())
	ys := axisText
	ys.Rotation = math.Pi / 2
	ys.XAlign, ys.YAlign = draw.XCenter, draw.YTop
	if cols > 1 {
		area.FillText(ys, vg.Point{X: area.Min.X, Y: (top + bottom) / 2}, c.Panels[0].Y.Text())
	}
	titleText.XAlign, titleText.YAlign = draw.XCenter, draw.YBottom
	for i, panel := range c.Panels {
		da := das[i/cols][i%cols]
		if cols == 1 {
			area.FillText(ys, vg.Point{X: area.Min.X, Y: (da.Min.Y + da.Max.Y) / 2}, panel.Y.Text())
		}
		if panel.Title != "" {
			area.FillText(titleText, vg.Point{X: (da.Min.X + da.Max.X) / 2, Y: da.Max.Y + vg.Points(3)}, panel.Title)
		}
	}
	return nil
}

// xRange returns the data range of the x axis.
func (c *Chart) xRange() (xmin, xmax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, p := range c.Panels {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if c.logX() && pt.X <= 0 {
					continue
				}
				xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			}
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 1, 10
	}
	if len(c.Extent) == 2 {
		xmin, xmax = math.Min(xmin, c.Extent[0]), math.Max(xmax, c.Extent[1])
	}
	return xmin, xmax
}

func (c *Chart) logX() bool { return c.X.Scale == ScaleLog || c.X.Scale == ScalePercentile }

// drawMessage writes msg, wrapped, in a light box filling area.
func drawMessage(area draw.Canvas, msg string) {
	box := vg.Rectangle{Min: area.Min, Max: area.Max}
	area.SetColor(color.Gray{Y: 0xf6})
	area.Fill(box.Path())
	area.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0xcc}, Width: vg.Points(0.75)})
	area.Stroke(box.Path())
	st := style.Text(style.Sans, style.LegendSize+vg.Points(1))
	st.Color = color.Gray{Y: 0x33}
	st.XAlign, st.YAlign = draw.XLeft, draw.YTop
	inner := draw.Crop(area, 1.5*margin, -1.5*margin, margin, -margin)
	y := inner.Max.Y
	for _, line := range wrap(st, msg, inner.Max.X-inner.Min.X) {
		inner.FillText(st, vg.Point{X: inner.Min.X, Y: y}, line)
		y -= st.Rectangle(line).Size().Y * 1.15
	}
}

// wrap breaks s into lines no wider than width in style st.
func wrap(st text.Style, s string, width vg.Length) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		try := w
		if line != "" {
			try = line + " " + w
		}
		if line != "" && st.Width(try) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		line = try
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
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
		for _, t := range e.thumbs {
			t.Thumbnail(&tc)
		}
		area.FillText(st, vg.Point{X: x + thumb + vg.Points(4), Y: y}, e.label)
		x += w + vg.Points(16)
	}
	return used
}

// drawMarkers draws each marker as a dotted line across every panel and
// its label above the top row (skipped where it would run into the
// previous one or off the chart).
func (c *Chart) drawMarkers(plots [][]*plot.Plot, canvases [][]draw.Canvas, st text.Style) {
	ls := draw.LineStyle{Color: style.MarkerColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	st.XAlign, st.YAlign = draw.XLeft, draw.YBottom
	for r := range plots {
		for col, p := range plots[r] {
			if p == nil {
				continue
			}
			da := p.DataCanvas(canvases[r][col])
			for _, m := range c.Markers {
				// none on the y axis itself
				if m.X <= p.X.Min+(p.X.Max-p.X.Min)*0.01 || m.X > p.X.Max {
					continue
				}
				x := da.X(p.X.Norm(m.X))
				da.StrokeLine2(ls, x, da.Min.Y, x, da.Max.Y)
			}
		}
	}
	top := plots[0][0]
	da := top.DataCanvas(canvases[0][0])
	right := vg.Length(math.Inf(-1))
	for _, m := range c.Markers {
		if m.X < top.X.Min || m.X >= top.X.Max {
			continue
		}
		x := da.X(top.X.Norm(m.X)) + vg.Points(3)
		w := st.Width(m.Label)
		if x < right+vg.Points(6) || x+w > canvases[0][0].Max.X {
			continue
		}
		da.FillText(st, vg.Point{X: x, Y: da.Max.Y + vg.Points(3)}, m.Label)
		right = x + w
	}
}

// markers is a series of markers drawn as one filled path (a scatter
// plot draws each glyph as an element of its own, which for a few
// thousand points makes SVGs ten times larger): circles, or triangles
// pointing up.
type markers struct {
	xys      plotter.XYs
	color    color.Color
	radius   vg.Length
	triangle bool
}

func (m *markers) glyph(path *vg.Path, pt vg.Point) {
	r := m.radius
	if m.triangle {
		h := r * 0.866
		path.Move(vg.Point{X: pt.X, Y: pt.Y + r})
		path.Line(vg.Point{X: pt.X - h, Y: pt.Y - r/2})
		path.Line(vg.Point{X: pt.X + h, Y: pt.Y - r/2})
		path.Close()
		return
	}
	path.Move(vg.Point{X: pt.X + r, Y: pt.Y})
	path.Arc(pt, r, 0, 2*math.Pi)
	path.Close()
}

// Plot implements plot.Plotter.
func (m *markers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	var path vg.Path
	for _, xy := range m.xys {
		pt := vg.Point{X: trX(xy.X), Y: trY(xy.Y)}
		if c.Contains(pt) {
			m.glyph(&path, pt)
		}
	}
	if len(path) == 0 {
		return
	}
	c.SetColor(m.color)
	c.Fill(path)
}

// GlyphBoxes implements plot.GlyphBoxer, so that markers at the edges are
// not clipped.
func (m *markers) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	bs := make([]plot.GlyphBox, len(m.xys))
	for i, xy := range m.xys {
		bs[i] = plot.GlyphBox{X: p.X.Norm(xy.X), Y: p.Y.Norm(xy.Y), Rectangle: vg.Rectangle{Min: vg.Point{X: -m.radius, Y: -m.radius}, Max: vg.Point{X: m.radius, Y: m.radius}}}
	}
	return bs
}

// Thumbnail implements plot.Thumbnailer: one marker in the middle.
func (m *markers) Thumbnail(c *draw.Canvas) {
	var path vg.Path
	m.glyph(&path, c.Center())
	c.SetColor(m.color)
	c.Fill(path)
}

// gridLines draws the grid at the labelled ticks of both axes.
type gridLines struct{}

func (gridLines) Plot(c draw.Canvas, p *plot.Plot) {
	ls := draw.LineStyle{Color: style.GridColor, Width: vg.Points(0.6)}
	trX, trY := p.Transforms(&c)
	for _, t := range majorTicks(p.X) {
		x := trX(t)
		c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
	}
	for _, t := range majorTicks(p.Y) {
		y := trY(t)
		c.StrokeLine2(ls, c.Min.X, y, c.Max.X, y)
	}
}

// majorTicks returns the values of the ticks a of the axis would label.
func majorTicks(a plot.Axis) []float64 {
	m := a.Tick.Marker
	if u, ok := m.(unlabelled); ok {
		m = u.Ticker
	}
	var out []float64
	for _, t := range m.Ticks(a.Min, a.Max) {
		if t.Label != "" && t.Value >= a.Min && t.Value <= a.Max {
			out = append(out, t.Value)
		}
	}
	return out
}

// unlabelled is a ticker without labels: the upper panels of a stacked
// chart share the bottom one's x labels.
type unlabelled struct{ plot.Ticker }

func (u unlabelled) Ticks(lo, hi float64) []plot.Tick {
	ts := u.Ticker.Ticks(lo, hi)
	for i := range ts {
		ts[i].Label = ""
	}
	return ts
}

// segments splits pts where consecutive points are further apart than
// gap on x (gap 0: never).
func segments(pts plotter.XYs, gap float64) []plotter.XYs {
	if gap <= 0 || len(pts) < 2 {
		return []plotter.XYs{pts}
	}
	var out []plotter.XYs
	start := 0
	for i := 1; i < len(pts); i++ {
		if pts[i].X-pts[i-1].X > gap {
			out = append(out, pts[start:i])
			start = i
		}
	}
	return append(out, pts[start:])
}

// panelPlot builds the gonum plot of one panel and returns its legend
// entries. The x ticks are labelled on bottom panels only; draw writes
// the axis labels and the title.
func (c *Chart) panelPlot(panel Panel, bottom bool, xmin, xmax float64) (*plot.Plot, []legendEntry, error) {
	p := plot.New()
	p.BackgroundColor = nil
	style.Axes(p)
	p.Add(gridLines{})
	// the reference lines go under the data; their ends are set once the
	// x range is known
	var refs []*plotter.Line
	for _, rl := range panel.Lines {
		if panel.Y.Scale == ScaleLog && rl.Y <= 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: rl.Y}, {X: 1, Y: rl.Y}})
		if err != nil {
			return nil, nil, fmt.Errorf("charts: %s: %s: %w", c.ID, rl.Label, err)
		}
		l.Color, l.Width, l.Dashes = parseColor(rl.Color), vg.Points(1.5), []vg.Length{vg.Points(7), vg.Points(3)}
		p.Add(l)
		refs = append(refs, l)
	}

	logY := panel.Y.Scale == ScaleLog
	// Series of markers only are drawn first, under the lines (the max
	// under p50 and p99); the legend keeps the series' order.
	order := make([]int, 0, len(panel.Series))
	for pass := 0; pass < 2; pass++ {
		for i, s := range panel.Series {
			if (s.Style == StylePoints) == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	entries := make([]legendEntry, len(panel.Series))
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, si := range order {
		s := panel.Series[si]
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if math.IsNaN(pt.X) || math.IsNaN(pt.Y) || math.IsInf(pt.X, 0) || math.IsInf(pt.Y, 0) {
				continue
			}
			if (c.logX() && pt.X <= 0) || (logY && pt.Y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
		col := parseColor(s.Color)
		var thumbs []plot.Thumbnailer
		if s.Style != StylePoints {
			for _, seg := range segments(xys, s.MaxGap) {
				if len(seg) == 0 {
					continue
				}
				if len(seg) == 1 && s.Style == StyleLine {
					// a point between gaps: a dot, or it would not show
					p.Add(&markers{xys: seg, color: col, radius: style.LineWidth * 1.2})
					continue
				}
				l, err := plotter.NewLine(seg)
				if err != nil {
					return nil, nil, fmt.Errorf("charts: %s: %s: %w", c.ID, s.Name, err)
				}
				l.Color, l.Width = col, style.LineWidth
				if s.Dashed {
					l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				}
				p.Add(l)
				if len(thumbs) == 0 {
					thumbs = append(thumbs, l)
				}
			}
		}
		if s.Style == StylePoints || s.Style == StyleLinePoints {
			// the series drawn first gets the larger circles, so that equal
			// values of two series show both
			sc := &markers{xys: xys, color: col, radius: style.GlyphRadius}
			if si == order[0] && len(panel.Series) > 1 {
				sc.radius *= 1.5
			}
			if s.Glyph == GlyphTriangle {
				sc.triangle, sc.radius = true, style.GlyphRadius*1.6
			}
			if len(xys) > 0 {
				p.Add(sc)
			}
			thumbs = append(thumbs, sc)
		}
		if len(thumbs) == 0 && s.Style == StyleLine {
			// only isolated points: the legend shows the line style anyway
			l := &plotter.Line{LineStyle: draw.LineStyle{Color: col, Width: style.LineWidth}}
			thumbs = append(thumbs, l)
		}
		entries[si] = legendEntry{label: s.Name, thumbs: thumbs}
	}
	entries = slices.DeleteFunc(entries, func(e legendEntry) bool { return len(e.thumbs) == 0 })
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	for _, rl := range panel.Lines {
		if logY && rl.Y <= 0 {
			continue
		}
		ymin, ymax = math.Min(ymin, rl.Y), math.Max(ymax, rl.Y)
	}

	switch c.X.Scale {
	case ScalePercentile:
		p.X.Scale = plot.LogScale{}
		if c.Columns > 1 {
			p.X.Tick.Marker = style.PercentileTicks{MaxLabels: 5}
		} else {
			p.X.Tick.Marker = style.PercentileTicks{Median: true, MaxLabels: 8}
		}
		p.X.Min, p.X.Max = 1, math.Pow(10, math.Max(1, math.Ceil(math.Log10(xmax)-1e-9)))
	case ScaleLog:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = style.LogTicks{}
		p.X.Min, p.X.Max = xmin/1.1, math.Max(xmax*1.1, xmin*10)
	case ScaleTime:
		p.X.Tick.Marker = style.TimeTicks{}
		p.X.Min, p.X.Max = math.Min(0, xmin), xmax
	default:
		p.X.Min, p.X.Max = math.Min(0, xmin), xmax
		if c.hasPoints() {
			p.X.Max += (p.X.Max - p.X.Min) * 0.05 // room for the last glyph
		}
	}
	if p.X.Max <= p.X.Min {
		p.X.Max = p.X.Min + 1
	}
	if !bottom {
		p.X.Tick.Marker = unlabelled{p.X.Tick.Marker}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = style.LogTicks{}
		p.Y.Min, p.Y.Max = ymin/1.3, ymax*1.3
	} else {
		p.Y.Min, p.Y.Max = math.Min(0, ymin), ymax*1.06
		if p.Y.Max <= p.Y.Min {
			p.Y.Max = p.Y.Min + 1
		}
	}
	i := 0
	for _, rl := range panel.Lines {
		if logY && rl.Y <= 0 {
			continue
		}
		l := refs[i]
		i++
		l.XYs[0].X, l.XYs[1].X = p.X.Min, p.X.Max
		entries = append(entries, legendEntry{label: rl.Label, thumbs: []plot.Thumbnailer{l}, line: true})
	}
	return p, entries, nil
}

func (c *Chart) hasPoints() bool {
	for _, p := range c.Panels {
		for _, s := range p.Series {
			if s.Style == StyleLinePoints || s.Style == StylePoints {
				return true
			}
		}
	}
	return false
}
