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
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gcload/gcload/reports"
)

// Chart geometry: every chart is WidthInches wide and HeightInches high,
// plus PanelHeightInches for each panel after the first. PNGs are drawn
// at PNGDPI.
const (
	WidthInches       = 8.0
	HeightInches      = 3.5
	PanelHeightInches = 1.75
	PNGDPI            = 96
)

// Fonts and line widths shared by every chart.
var (
	fontSans = font.Font{Typeface: "Liberation", Variant: "Sans"}
	fontBold = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}

	titleSize  = vg.Points(12)
	noteSize   = vg.Points(8)
	labelSize  = vg.Points(10)
	tickSize   = vg.Points(9)
	legendSize = vg.Points(9)
	lineWidth  = vg.Points(1.25)
	glyphSize  = vg.Points(2)
	gridColor  = color.Gray{Y: 0xdd}
	noteColor  = color.Gray{Y: 0x55}
	margin     = vg.Points(6)
)

// ErrNoData is returned when rendering a chart without panels.
var ErrNoData = errors.New("charts: chart has no data")

// Size returns the chart's size in inches.
func (c *Chart) Size() (w, h float64) {
	n := max(len(c.Panels), 1)
	return WidthInches, HeightInches + PanelHeightInches*float64(n-1)
}

func (c *Chart) vgSize() (vg.Length, vg.Length) {
	w, h := c.Size()
	return vg.Length(w) * vg.Inch, vg.Length(h) * vg.Inch
}

// svgFonts is the font family list of the SVG text: the Liberation Sans
// the text was measured with, then its metric-compatible equivalents.
const svgFonts = "font-family:Liberation Sans,Arial,Helvetica,sans-serif;"

// WriteSVG renders the chart as a standalone SVG document.
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
	out := bytes.ReplaceAll(b.Bytes(), []byte("font-family:Liberation Sans;"), []byte(svgFonts))
	if _, err := w.Write(out); err != nil {
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

func textStyle(f font.Font, size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(f, size), Handler: plot.DefaultTextHandler}
}

// draw draws the chart on dc: title and note at the top, the legend in a
// column on the right when there is more than one series, the panels
// stacked and aligned in the rest.
func (c *Chart) draw(dc draw.Canvas) (err error) {
	if len(c.Panels) == 0 {
		return ErrNoData
	}
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("charts: draw %s: %v", c.ID, e)
		}
	}()
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	area := draw.Crop(dc, margin, -margin, margin/2, -margin)

	ts := textStyle(fontBold, titleSize)
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	area.FillText(ts, vg.Point{X: area.Center().X, Y: area.Max.Y}, c.Title)
	area.Max.Y -= ts.Rectangle(c.Title).Size().Y + margin/2
	if c.Note != "" {
		ns := textStyle(fontSans, noteSize)
		ns.Color = noteColor
		ns.XAlign, ns.YAlign = draw.XCenter, draw.YTop
		area.FillText(ns, vg.Point{X: area.Center().X, Y: area.Max.Y}, c.Note)
		area.Max.Y -= ns.Rectangle(c.Note).Size().Y + margin/2
	}

	leg := plot.NewLegend()
	leg.TextStyle = textStyle(fontSans, legendSize)
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = vg.Points(16)
	leg.Padding = vg.Points(2)

	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, p := range c.Panels {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if c.X.Scale != ScaleLinear && pt.X <= 0 {
					continue
				}
				xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			}
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 1, 10
	}

	plots := make([][]*plot.Plot, len(c.Panels))
	for i, panel := range c.Panels {
		p, err := c.panelPlot(panel, i == len(c.Panels)-1, xmin, xmax, &leg)
		if err != nil {
			return err
		}
		plots[i] = []*plot.Plot{p}
	}

	if c.SeriesCount() > 1 {
		lw := leg.Rectangle(area).Size().X + 2*margin
		legC := draw.Crop(area, area.Size().X-lw+margin, 0, 0, 0)
		leg.Draw(legC)
		area = draw.Crop(area, 0, -lw, 0, 0)
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: margin}
	for i, row := range plot.Align(plots, tiles, area) {
		plots[i][0].Draw(row[0])
	}
	return nil
}

// panelPlot builds the gonum plot of one panel and adds its series to the
// legend.
func (c *Chart) panelPlot(panel Panel, bottom bool, xmin, xmax float64, leg *plot.Legend) (*plot.Plot, error) {
	p := plot.New()
	p.BackgroundColor = nil
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(fontSans, labelSize)
		a.Tick.Label.Font = font.From(fontSans, tickSize)
		a.Padding = vg.Points(2)
	}
	if bottom {
		p.X.Label.Text = c.X.Text()
	}
	p.Y.Label.Text = panel.Y.Text()

	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = gridColor, gridColor
	grid.Vertical.Width, grid.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(grid)

	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range panel.Series {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if math.IsNaN(pt.X) || math.IsNaN(pt.Y) || math.IsInf(pt.X, 0) || math.IsInf(pt.Y, 0) {
				continue
			}
			if (c.X.Scale != ScaleLinear && pt.X <= 0) || (panel.Y.Scale == ScaleLog && pt.Y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
		if len(xys) == 0 {
			continue
		}
		col := parseColor(s.Color)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("charts: %s: %s: %w", c.ID, s.Name, err)
		}
		l.Color, l.Width = col, lineWidth
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		thumbs := []plot.Thumbnailer{l}
		if s.Style == StyleLinePoints {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("charts: %s: %s: %w", c.ID, s.Name, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: glyphSize, Shape: draw.CircleGlyph{}}
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		leg.Add(s.Name, thumbs...)
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}

	switch c.X.Scale {
	case ScalePercentile:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = percentileTicks{}
		p.X.Min, p.X.Max = 1, math.Pow(10, math.Max(1, math.Ceil(math.Log10(xmax)-1e-9)))
	case ScaleLog:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.X.Min, p.X.Max = xmin, math.Max(xmax, xmin*10)
	default:
		p.X.Tick.Marker = countTicks{}
		p.X.Min, p.X.Max = math.Min(0, xmin), xmax
		if c.hasPoints() {
			p.X.Max += (p.X.Max - p.X.Min) * 0.05 // room for the last glyph
		}
		if p.X.Max <= p.X.Min {
			p.X.Max = p.X.Min + 1
		}
	}
	switch panel.Y.Scale {
	case ScaleLog:
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = ymin, math.Max(ymax, ymin*10)
	default:
		p.Y.Tick.Marker = countTicks{}
		p.Y.Min, p.Y.Max = math.Min(0, ymin), ymax*1.05
		if p.Y.Max <= p.Y.Min {
			p.Y.Max = p.Y.Min + 1
		}
	}
	return p, nil
}

// percentileTicks labels the 1/(1-p) log axis as percentiles: 0%, 90%,
// 99%, 99.9%, ... at the powers of ten, 50% at 2 (when the axis spans at
// most six decades), minor ticks at the other multiples.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	decades := math.Log10(hi)
	for k := 0; k < 19; k++ {
		v := math.Pow(10, float64(k))
		if v > hi*(1+1e-9) {
			break
		}
		ts = append(ts, plot.Tick{Value: v, Label: PercentileLabel(k)})
		for m := 2; m < 10; m++ {
			mv := float64(m) * v
			if mv > hi {
				break
			}
			label := ""
			if k == 0 && m == 2 && decades <= 6 {
				label = "50%"
			}
			ts = append(ts, plot.Tick{Value: mv, Label: label})
		}
	}
	return ts
}

// PercentileLabel returns the label of x = 10^k on the percentile axis:
// "0%", "90%", "99%", "99.9%", "99.99%", ...
func PercentileLabel(k int) string {
	switch {
	case k <= 0:
		return "0%"
	case k == 1:
		return "90%"
	case k == 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", k-2) + "%"
}

// countTicks are gonum's default ticks with labels in their shortest form
// and thousands separators: 60,000 rather than 60000, 25 rather than
// 25.00.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label == "" {
			continue
		}
		v, err := strconv.ParseFloat(ts[i].Label, 64)
		if err != nil {
			continue
		}
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			ts[i].Label = reports.FormatCount(int64(v))
		} else {
			ts[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ts
}

func (c *Chart) hasPoints() bool {
	for _, p := range c.Panels {
		for _, s := range p.Series {
			if s.Style == StyleLinePoints {
				return true
			}
		}
	}
	return false
}
