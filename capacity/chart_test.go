package capacity

import (
	"encoding/xml"
	"html"
	"strings"
	"testing"
)

func TestCharts(t *testing.T) {
	cal := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	charts := Charts(cal, p)
	want := []struct {
		name, x, y string
		series     []string // legend entries that must be there
	}{
		{"capacity-throughput", "offered load (posts/s)", "achieved throughput (posts/s)", []string{"rooms of 1,000, 2 cores", "model capacity (dashed)", "achieved = offered"}},
		{"capacity-scalability", "server cores (GOMAXPROCS)", "throughput (× one core)", []string{"USL fit", "linear scaling", "measured, rooms of 150"}},
		{"capacity-latency", "achieved load (posts/s)", "p99 post → last delivery (ms)", []string{"rooms of 10, 1 core", "model (dashed)"}},
		{"capacity-utilization", "load (posts/s of the mix)", "utilisation (%)", []string{"cpu", "nic", "ram", "saturation (100%)"}},
		{"capacity-cpu-per-post", "room size k (deliveries per post)", "server CPU per post (µs)", []string{"runs", "fit a + b·k", "90% confidence interval"}},
		{"capacity-max-posts", "room size (users per room)", "max posts/s", []string{"mid", "low (pessimistic)", "high (optimistic)", "published: 40 messages/s"}},
	}
	if len(charts) != len(want) {
		t.Fatalf("%d charts, want %d", len(charts), len(want))
	}
	for i, w := range want {
		c := charts[i]
		if c.Name != w.name || c.XLabel != w.x || c.YLabel != w.y {
			t.Errorf("chart %d: %q x %q y %q; want %q %q %q", i, c.Name, c.XLabel, c.YLabel, w.name, w.x, w.y)
		}
		svg, err := c.SVG()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		// Well-formed XML with an <svg> root, 7 x 4 in (504 x 288 pt).
		var root struct {
			XMLName xml.Name
			Width   string `xml:"width,attr"`
			Height  string `xml:"height,attr"`
		}
		if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" {
			t.Fatalf("%s: not SVG: %v", c.Name, err)
		}
		if root.Width != "504pt" || root.Height != "288pt" {
			t.Errorf("%s: size %s x %s, want 504pt x 288pt", c.Name, root.Width, root.Height)
		}
		texts := svgTexts(t, svg)
		for _, s := range append([]string{c.Title, c.XLabel, c.YLabel}, w.series...) {
			if !texts[s] {
				t.Errorf("%s: no text %q in the SVG", c.Name, s)
			}
		}
	}

	// The data behind the charts.
	maxPosts := charts[5]
	var line Series
	for _, s := range maxPosts.Series {
		if strings.HasPrefix(s.Name, "published") {
			line = s
		}
	}
	if len(line.Y) != 2 || line.Y[0] != 40 || line.Y[1] != 40 {
		t.Errorf("40 messages/s line %+v", line)
	}
	mid := maxPosts.Series[0]
	for j := 1; j < len(mid.Y); j++ {
		if mid.Y[j] > mid.Y[j-1]*(1+1e-9) {
			t.Errorf("max posts/s rises with room size at k=%g", mid.X[j])
		}
	}
	fit := charts[4].Series[1]
	if fit.Name != "fit a + b·k" || !near(fit.Y[0], p.Model.CPU.At(fit.X[0]), 1e-12) {
		t.Errorf("CPU fit line %+v", fit.Name)
	}
	usl := charts[1]
	for _, s := range usl.Series {
		if s.Name == "USL fit" && (s.X[0] != 1 || !near(s.Y[0], 1, 1e-12)) {
			t.Errorf("USL curve starts at (%g, %g), want (1, 1)", s.X[0], s.Y[0])
		}
	}

	// An empty chart still draws.
	if _, err := (Chart{Name: "empty", Title: "t", XLabel: "x (s)", YLabel: "y (s)", LogX: true, LogY: true}).SVG(); err != nil {
		t.Errorf("empty chart: %v", err)
	}
}

// svgTexts returns the contents of the <text> elements of an SVG.
func svgTexts(t *testing.T, svg []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	s := string(svg)
	for {
		i := strings.Index(s, "<text")
		if i < 0 {
			return out
		}
		s = s[i:]
		j := strings.Index(s, ">")
		k := strings.Index(s, "</text>")
		if j < 0 || k < 0 {
			t.Fatal("unterminated <text>")
		}
		out[html.UnescapeString(s[j+1:k])] = true
		s = s[k:]
	}
}
