// Package style is the look of gcload's charts, shared by every package
// that draws one with gonum.org/v1/plot (reports/charts; the capacity page
// can use it too): a sans-serif font (the Liberation fonts gonum/plot
// ships), text sizes, tick markers that label enough ticks with readable
// numbers (linear, time, logarithmic 1-2-5 and HdrHistogram's percentile
// axis), the rule for when a latency axis should be logarithmic, the
// pass/fail colours of thresholds, and a fix-up that keeps SVG text the
// width it was measured at whatever font the viewer substitutes.
//
// Nothing here changes gonum's process-wide defaults: Axes and Text apply
// the fonts to the plots and styles they are given.
package style

import (
	"bytes"
	"html"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// Fonts: Liberation Sans, which gonum/plot embeds (metric-compatible with
// Arial and Helvetica).
var (
	Sans = font.Font{Typeface: "Liberation", Variant: "Sans"}
	Bold = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// Text sizes and line widths.
var (
	TitleSize      = vg.Points(13)
	PanelTitleSize = vg.Points(10.5)
	NoteSize       = vg.Points(9)
	LabelSize      = vg.Points(10.5)
	TickSize       = vg.Points(9.5)
	LegendSize     = vg.Points(10)
	LineWidth      = vg.Points(1.5)
	GlyphRadius    = vg.Points(2.2)
)

// Colours that are not a series' own.
var (
	GridColor   = color.Gray{Y: 0xe2}
	NoteColor   = color.Gray{Y: 0x55}
	MarkerColor = color.Gray{Y: 0x88} // phase boundaries
	PassColor   = color.RGBA{R: 0x1b, G: 0x7f, B: 0x2a, A: 0xff}
	FailColor   = color.RGBA{R: 0xb0, G: 0x00, B: 0x20, A: 0xff}
)

// PassHex and FailHex are PassColor and FailColor as "#rrggbb".
const (
	PassHex = "#1b7f2a"
	FailHex = "#b00020"
)

// Text returns a text style in font f at size.
func Text(f font.Font, size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(f, size), Handler: plot.DefaultTextHandler}
}

// Axes gives p's title, axis labels, tick labels and legend the sans-serif
// fonts and sizes of this package, and its axes the LinearTicks marker.
func Axes(p *plot.Plot) {
	p.Title.TextStyle.Font = font.From(Bold, PanelTitleSize)
	p.Legend.TextStyle.Font = font.From(Sans, LegendSize)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(Sans, LabelSize)
		a.Tick.Label.Font = font.From(Sans, TickSize)
		a.Tick.Marker = LinearTicks{}
		a.Padding = vg.Points(2)
	}
}

// LogRatio is how many times larger the largest positive value must be
// than the smallest for a latency axis to be logarithmic.
const LogRatio = 50

// NeedsLog reports whether values from lo to hi (the smallest and largest
// positive values on the axis) call for a logarithmic axis: hi/lo >
// LogRatio. On a linear axis such values leave the small ones as a flat
// line at the bottom.
func NeedsLog(lo, hi float64) bool {
	return lo > 0 && hi/lo > LogRatio && !math.IsInf(hi, 0)
}

// FormatNumber renders v for a tick label or a legend: integers with
// thousands separators (60,000), others with at most the given decimals
// and no trailing zeros (2.5, 0.25).
func FormatNumber(v float64, decimals int) string {
	if math.Abs(v) < 0.5*math.Pow10(-decimals) {
		v = 0
	}
	s := strconv.FormatFloat(v, 'f', max(decimals, 0), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

// decimalsFor returns the decimals that tell ticks step apart.
func decimalsFor(step float64) int {
	d := 0
	for d < 12 && math.Abs(step*math.Pow10(d)-math.Round(step*math.Pow10(d))) > 1e-9*math.Pow10(d) {
		d++
	}
	return d
}

// bestStep returns the step among candidates that labels a number of
// ticks from lo to hi closest to want (the larger step on a tie).
func bestStep(lo, hi float64, want int, candidates []float64) float64 {
	best, bestDiff := 0.0, math.Inf(1)
	for _, s := range candidates {
		if !(s > 0) {
			continue
		}
		n := math.Floor(hi/s+1e-9) - math.Ceil(lo/s-1e-9) + 1
		if d := math.Abs(n - float64(want)); d < bestDiff || d == bestDiff && s > best {
			best, bestDiff = s, d
		}
	}
	if best == 0 {
		return 1
	}
	return best
}

// niceSteps returns the steps m×10^k (m in 1, 2, 2.5, 5) around raw.
func niceSteps(raw float64) []float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return []float64{1}
	}
	var out []float64
	k := math.Floor(math.Log10(raw))
	for e := k - 1; e <= k+1; e++ {
		for _, m := range []float64{1, 2, 2.5, 5} {
			out = append(out, m*math.Pow(10, e))
		}
	}
	return out
}

// linearTicks returns labelled ticks every step from lo to hi and minor
// ticks every step/minor.
func linearTicks(lo, hi, step float64, minor int, label func(float64) string) []plot.Tick {
	if !(hi > lo) || !(step > 0) {
		return []plot.Tick{{Value: lo, Label: label(lo)}}
	}
	var ts []plot.Tick
	sub := step / float64(minor)
	first := math.Ceil(lo/sub - 1e-9)
	for k := first; ; k++ {
		v := k * sub
		if v > hi+sub*1e-9 {
			break
		}
		if math.Abs(v) < sub*1e-9 {
			v = 0
		}
		major := math.Abs(math.Mod(k, float64(minor))) < 1e-9
		t := plot.Tick{Value: v}
		if major {
			t.Label = label(v)
		}
		ts = append(ts, t)
	}
	return ts
}

// LinearTicks labels about N ticks (7 when 0) at steps of 1, 2, 2.5 or 5
// times a power of ten, with minor ticks between, numbers formatted by
// FormatNumber.
type LinearTicks struct{ N int }

// Ticks implements plot.Ticker.
func (t LinearTicks) Ticks(lo, hi float64) []plot.Tick {
	n := t.N
	if n <= 0 {
		n = 7
	}
	step := bestStep(lo, hi, n, niceSteps((hi-lo)/float64(n)))
	minor := 5
	if m := step / math.Pow(10, math.Floor(math.Log10(step))); math.Abs(m-2) < 1e-9 {
		minor = 4
	}
	d := decimalsFor(step)
	return linearTicks(lo, hi, step, minor, func(v float64) string { return FormatNumber(v, d) })
}

// TimeTicks labels a time axis in seconds at steps a person counts in:
// fractions, 1, 2, 5, 10, 15, 20, 30 s, whole minutes and hours; about N
// labels (9 when 0).
type TimeTicks struct{ N int }

var timeSteps = []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// Ticks implements plot.Ticker.
func (t TimeTicks) Ticks(lo, hi float64) []plot.Tick {
	n := t.N
	if n <= 0 {
		n = 9
	}
	step := bestStep(lo, hi, n, timeSteps)
	minor := 5
	switch step {
	case 2, 20, 120, 1200, 7200:
		minor = 4
	case 15, 30, 900, 1800, 10800, 21600, 43200:
		minor = 3
	case 60, 3600:
		minor = 4
	case 86400:
		minor = 4
	}
	d := decimalsFor(step)
	return linearTicks(lo, hi, step, minor, func(v float64) string { return FormatNumber(v, d) })
}

// LogTicks labels a base-10 logarithmic axis: the powers of ten, and the
// 2 and 5 multiples too when the axis spans at most three decades (every
// multiple within one decade), so that there are always several labels;
// minor ticks at the other multiples.
type LogTicks struct{}

// Ticks implements plot.Ticker.
func (LogTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: FormatNumber(lo, 3)}}
	}
	decades := math.Log10(hi / lo)
	var ts []plot.Tick
	for k := math.Floor(math.Log10(lo)); k <= math.Ceil(math.Log10(hi)); k++ {
		p := math.Pow(10, k)
		for m := 1; m < 10; m++ {
			v := float64(m) * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			label := m == 1 || decades <= 3 && (m == 2 || m == 5) || decades <= 1.2
			t := plot.Tick{Value: v}
			if label {
				t.Label = FormatNumber(v, max(0, int(-k)))
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// PercentileTicks labels HdrHistogram's percentile axis, where x =
// 1/(1-p) on a log scale: 0%, 90%, 99%, 99.9%, ... at the powers of ten,
// minor ticks at the other multiples, and with Median 50% at 2 too (when
// the axis spans at most five decades; a narrow axis has no room for it).
// With MaxLabels > 0, when there would be more labels than that, 0%, 90%
// and 99% keep theirs and only every second (third, ...) power of ten
// beyond is labelled.
type PercentileTicks struct {
	Median    bool
	MaxLabels int
}

// Ticks implements plot.Ticker.
func (t PercentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	decades := math.Log10(hi)
	every := 1
	if n := int(math.Floor(decades+1e-9)) + 1; t.MaxLabels > 3 && n > t.MaxLabels {
		every = (n - 3 + t.MaxLabels - 4) / (t.MaxLabels - 3)
	}
	for k := 0; k < 19; k++ {
		v := math.Pow(10, float64(k))
		if v > hi*(1+1e-9) {
			break
		}
		label := ""
		if k <= 2 || (k-2)%every == 0 {
			label = PercentileLabel(k)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
		for m := 2; m < 10; m++ {
			mv := float64(m) * v
			if mv > hi {
				break
			}
			label := ""
			if k == 0 && m == 2 && t.Median && decades <= 5 {
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

// SVGFonts is the font-family list FixSVG writes: the Liberation Sans the
// text was measured with, then its metric-compatible equivalents, then any
// sans-serif.
const SVGFonts = "Liberation Sans,Arimo,Arial,Helvetica,sans-serif"

var (
	svgText   = regexp.MustCompile(`<text ([^>]*?)style="([^"]*)">([^<]*)</text>`)
	svgWeight = regexp.MustCompile(`font-weight:(\w+)`)
	svgSize   = regexp.MustCompile(`font-size:([0-9.]+)px`)
)

// FixSVG rewrites the text of an SVG that gonum's vgsvg drew in Liberation
// Sans so that it looks the same in any browser: the font family falls
// back to SVGFonts, and each text element gets the width it was laid out
// with (textLength, lengthAdjust="spacingAndGlyphs"), so that a viewer
// without Liberation Sans, Arial or Helvetica, which substitutes a wider
// font such as DejaVu Sans, still fits every label in its place instead of
// running it into the axis or off the chart.
func FixSVG(svg []byte) []byte {
	return svgText.ReplaceAllFunc(svg, func(m []byte) []byte {
		sub := svgText.FindSubmatch(m)
		attrs, style, content := string(sub[1]), string(sub[2]), string(sub[3])
		f := Sans
		if w := svgWeight.FindStringSubmatch(style); w != nil && w[1] == "bold" {
			f = Bold
		}
		size := 10.0
		if s := svgSize.FindStringSubmatch(style); s != nil {
			size, _ = strconv.ParseFloat(s[1], 64)
		}
		style = strings.Replace(style, "font-family:Liberation Sans;", "font-family:"+SVGFonts+";", 1)
		face := font.DefaultCache.Lookup(f, vg.Points(size))
		width := face.Width(html.UnescapeString(content))
		var b bytes.Buffer
		b.WriteString("<text ")
		b.WriteString(attrs)
		if width > 0 {
			b.WriteString(`textLength="` + strconv.FormatFloat(width.Points(), 'f', 2, 64) + `" lengthAdjust="spacingAndGlyphs" `)
		}
		b.WriteString(`style="` + style + `">` + content + "</text>")
		return b.Bytes()
	})
}
