package style

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

func TestFormatNumber(t *testing.T) {
	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{
		{0, 0, "0"}, {60000, 0, "60,000"}, {1234567.5, 1, "1,234,567.5"}, {2.5, 1, "2.5"}, {2.50, 3, "2.5"},
		{0.25, 2, "0.25"}, {-1500, 0, "-1,500"}, {1e-12, 2, "0"}, {999.999, 2, "1,000"}, {100, 0, "100"},
	} {
		if got := FormatNumber(c.v, c.d); got != c.want {
			t.Errorf("FormatNumber(%g, %d) = %q, want %q", c.v, c.d, got, c.want)
		}
	}
}

func labels(ts []plot.Tick) []string {
	var out []string
	for _, t := range ts {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

// TestLinearTicks: about six labels at 1-2-2.5-5 steps over any range,
// in order, each different, the minor ticks between.
func TestLinearTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 160, "[0 25 50 75 100 125 150]"},
		{0, 8.4, "[0 2 4 6 8]"},
		{0, 1, "[0 0.2 0.4 0.6 0.8 1]"},
		{0, 63000, "[0 10,000 20,000 30,000 40,000 50,000 60,000]"},
		{0, 0.0031, "[0 0.0005 0.001 0.0015 0.002 0.0025 0.003]"},
		{5, 5.5, "[5 5.1 5.2 5.3 5.4 5.5]"},
		{-3, 3, "[-3 -2 -1 0 1 2 3]"},
	} {
		ts := LinearTicks{}.Ticks(c.lo, c.hi)
		if got := fmt.Sprint(labels(ts)); got != c.want {
			t.Errorf("%g..%g: %s, want %s", c.lo, c.hi, got, c.want)
		}
		if len(ts) <= len(labels(ts)) {
			t.Errorf("%g..%g: no minor ticks", c.lo, c.hi)
		}
		for i := 1; i < len(ts); i++ {
			if ts[i].Value <= ts[i-1].Value {
				t.Errorf("%g..%g: ticks out of order at %d", c.lo, c.hi, i)
			}
		}
	}
}

func TestTimeTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 37, "[0 5 10 15 20 25 30 35]"},
		{0, 4.5, "[0 0.5 1 1.5 2 2.5 3 3.5 4 4.5]"},
		{0, 600, "[0 60 120 180 240 300 360 420 480 540 600]"},
		{0, 3700, "[0 600 1,200 1,800 2,400 3,000 3,600]"},
		{0, 0.9, "[0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9]"},
	} {
		if got := fmt.Sprint(labels(TimeTicks{}.Ticks(c.lo, c.hi))); got != c.want {
			t.Errorf("%g..%g s: %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

// TestLogTicks: powers of ten, with 2 and 5 on short axes, every multiple
// within about a decade: at least three labels whenever the axis spans a
// factor of four or more.
func TestLogTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{1, 10000, "[1 10 100 1,000 10,000]"},
		{1.59, 7225, "[10 100 1,000]"},
		{0.8, 130, "[1 2 5 10 20 50 100]"},
		{0.004, 0.9, "[0.005 0.01 0.02 0.05 0.1 0.2 0.5]"},
		{1.5, 9, "[2 3 4 5 6 7 8 9]"},
	} {
		if got := fmt.Sprint(labels(LogTicks{}.Ticks(c.lo, c.hi))); got != c.want {
			t.Errorf("%g..%g: %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
	for lo := 0.001; lo < 1e5; lo *= 1.7 {
		for _, f := range []float64{4, 9, 33, 250, 1e4, 1e7} {
			if n := len(labels(LogTicks{}.Ticks(lo, lo*f))); n < 3 {
				t.Errorf("%g..%g: %d labels", lo, lo*f, n)
			}
		}
	}
}

func TestNeedsLog(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   bool
	}{{1, 40, false}, {1, 51, true}, {0, 1000, false}, {0.1, 163, true}, {2, 5, false}} {
		if got := NeedsLog(c.lo, c.hi); got != c.want {
			t.Errorf("NeedsLog(%g, %g) = %v", c.lo, c.hi, got)
		}
	}
}

func TestPercentileTicks(t *testing.T) {
	for _, c := range []struct {
		ticks PercentileTicks
		hi    float64
		want  string
	}{
		{PercentileTicks{Median: true}, 1000, "[0% 50% 90% 99% 99.9%]"},
		{PercentileTicks{}, 1000, "[0% 90% 99% 99.9%]"},
		{PercentileTicks{MaxLabels: 5}, 1e6, "[0% 90% 99% 99.99% 99.9999%]"},
		{PercentileTicks{MaxLabels: 5}, 1e4, "[0% 90% 99% 99.9% 99.99%]"},
	} {
		if got := fmt.Sprint(labels(c.ticks.Ticks(1, c.hi))); got != c.want {
			t.Errorf("%+v to %g: %s, want %s", c.ticks, c.hi, got, c.want)
		}
	}
	for k, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		if got := PercentileLabel(k); got != want {
			t.Errorf("PercentileLabel(%d) = %q, want %q", k, got, want)
		}
	}
}

// TestFixSVG: every text of a vgsvg drawing gets the width it was laid
// out with in Liberation Sans, and the fallback font list.
func TestFixSVG(t *testing.T) {
	cv := vgsvg.New(4*vg.Inch, vg.Inch)
	dc := draw.New(cv)
	texts := []string{"post_to_last_delivery p99 < 500 ms & more", "99.9%"}
	dc.FillText(Text(Bold, TitleSize), vg.Point{X: 10, Y: 50}, texts[0])
	dc.FillText(Text(Sans, TickSize), vg.Point{X: 10, Y: 20}, texts[1])
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := FixSVG(b.Bytes())
	re := regexp.MustCompile(`textLength="([0-9.]+)" lengthAdjust="spacingAndGlyphs" style="font-family:` + regexp.QuoteMeta(SVGFonts) + `;`)
	m := re.FindAllSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("%d texts fixed, want 2:\n%s", len(m), out)
	}
	for i, f := range []struct {
		f    font.Font
		size vg.Length
	}{{Bold, TitleSize}, {Sans, TickSize}} {
		face := font.DefaultCache.Lookup(f.f, f.size)
		want := face.Width(texts[i]).Points()
		got, _ := strconv.ParseFloat(string(m[i][1]), 64)
		if math.Abs(got-want) > 0.01 || got < 10 {
			t.Errorf("text %q: textLength %g, want %g", texts[i], got, want)
		}
	}
	if !strings.Contains(string(out), "&amp; more</text>") {
		t.Errorf("text content changed:\n%s", out)
	}
}
