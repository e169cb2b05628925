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
		series     []string // legend entries, exactly
	}{
		{"capacity-throughput", "offered load (posts/s)", "achieved throughput (posts/s)",
			[]string{"rooms of 10, 1 core", "rooms of 10, 2 cores", "rooms of 30, 1 core", "rooms of 30, 2 cores", "rooms of 150, 1 core", "rooms of 150, 2 cores", "rooms of 1,000, 1 core", "rooms of 1,000, 2 cores", "achieved = offered"}},
		{"capacity-scalability", "server cores (GOMAXPROCS)", "throughput (× one core)",
			[]string{"measured, rooms of 10", "measured, rooms of 30", "measured, rooms of 150", "measured, rooms of 1,000", "USL fit (κ = 0: not identifiable)", "linear scaling"}},
		{"capacity-latency", "achieved load (posts/s)", "p99 post → last delivery (ms)",
			[]string{"rooms of 10, 1 core", "rooms of 10, 2 cores", "rooms of 30, 1 core", "rooms of 30, 2 cores", "rooms of 150, 1 core", "rooms of 150, 2 cores", "rooms of 1,000, 1 core", "rooms of 1,000, 2 cores"}},
		{"capacity-utilization", "load (posts/s of the mix)", "utilisation (%)", []string{"cpu", "disk-sync", "disk-iops", "nic", "ram", "saturation (100%)"}},
		{"capacity-cpu-per-post", "room size k (deliveries per post)", "server CPU per post (µs)", []string{"runs", "fit: linear", "90% confidence interval"}},
		{"capacity-max-posts", "room size (users per room)", "max posts/s", []string{"mid", "band (low, high)", "published: 40 messages/s"}},
	}
	if len(charts) != len(want) {
		t.Fatalf("%d charts, want %d", len(charts), len(want))
	}
	for i, w := range want {
		c := charts[i]
		if c.Name != w.name || c.XLabel != w.x || c.YLabel != w.y {
			t.Errorf("chart %d: %q x %q y %q; want %q %q %q", i, c.Name, c.XLabel, c.YLabel, w.name, w.x, w.y)
		}
		// One legend entry per colour: named series have distinct
		// colours, and the legend is exactly the named series.
		var names []string
		colours := map[int]string{}
		for _, s := range c.Series {
			if s.Name == "" {
				continue
			}
			names = append(names, s.Name)
			if other, ok := colours[s.Color]; ok {
				t.Errorf("%s: %q and %q share colour %d", c.Name, other, s.Name, s.Color)
			}
			colours[s.Color] = s.Name
		}
		if strings.Join(names, "|") != strings.Join(w.series, "|") {
			t.Errorf("%s: legend %q, want %q", c.Name, names, w.series)
		}
		svg, err := c.SVG()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		// Well-formed XML with an <svg> root, 10 x 4.2 in (720 x 302.4 pt).
		var root struct {
			XMLName xml.Name
			Width   string `xml:"width,attr"`
			Height  string `xml:"height,attr"`
		}
		if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" {
			t.Fatalf("%s: not SVG: %v", c.Name, err)
		}
		if root.Width != "720pt" || root.Height != "302.4pt" {
			t.Errorf("%s: size %s x %s, want 720pt x 302.4pt", c.Name, root.Width, root.Height)
		}
		texts := svgTexts(t, svg)
		for _, s := range append([]string{c.XLabel, c.YLabel}, w.series...) {
			if texts[s] != 1 {
				t.Errorf("%s: text %q appears %d times in the SVG, want once", c.Name, s, texts[s])
			}
		}
		// The title is the page's: drawn once, there, not in the SVG.
		if texts[c.Title] != 0 {
			t.Errorf("%s: the title is in the SVG", c.Name)
		}
		if !strings.Contains(string(svg), "Liberation Sans") {
			t.Errorf("%s: not in the shared style's font", c.Name)
		}
	}

	// The data behind the charts.
	maxPosts := charts[5]
	line := maxPosts.Series[len(maxPosts.Series)-1]
	if len(line.Y) != 2 || line.Y[0] != 40 || line.Y[1] != 40 || line.Color != ColorPass {
		t.Errorf("40 messages/s line %+v (want it green: the synthetic server meets it)", line)
	}
	mid := maxPosts.Series[0]
	for j := 1; j < len(mid.Y); j++ {
		if mid.Y[j] > mid.Y[j-1]*(1+1e-9) {
			t.Errorf("max posts/s rises with room size at k=%g", mid.X[j])
		}
	}
	fit := charts[4].Series[1]
	if !near(fit.Y[0], p.Model.CPUModel.Fit.At(fit.X[0]), 1e-12) {
		t.Errorf("CPU fit line %+v", fit.Name)
	}
	for _, s := range charts[1].Series {
		if strings.HasPrefix(s.Name, "USL fit") && (s.X[0] != 1 || !near(s.Y[0], 1, 1e-12)) {
			t.Errorf("USL curve starts at (%g, %g), want (1, 1)", s.X[0], s.Y[0])
		}
	}
	// achieved = offered is sampled densely, so that it is drawn right
	// on a linear x and a log y axis alike.
	for _, s := range charts[0].Series {
		if s.Name == "achieved = offered" && len(s.X) < 50 {
			t.Errorf("achieved = offered has %d points", len(s.X))
		}
	}

	// An unfitted USL is a sentence, never a curve called a fit.
	one := synth(defaultTruth(), synthSizes, []int{2}, synthLoads)
	m, err := Fit(one)
	if err != nil {
		t.Fatal(err)
	}
	sc := ScalabilityChart(m)
	if sc.Message == "" || len(sc.Series) != 0 || !strings.Contains(sc.Message, "not fitted") {
		t.Errorf("unfitted USL chart: %+v", sc)
	}
	if _, err := sc.SVG(); err == nil {
		t.Error("a chart with a message drew an SVG")
	}

	// An empty chart still draws.
	if _, err := (Chart{Name: "empty", Title: "t", XLabel: "x (s)", YLabel: "y (s)", LogX: true, LogY: true}).SVG(); err != nil {
		t.Errorf("empty chart: %v", err)
	}
}

// svgTexts counts the contents of the <text> elements of an SVG.
func svgTexts(t *testing.T, svg []byte) map[string]int {
	t.Helper()
	out := map[string]int{}
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
		out[html.UnescapeString(s[j+1:k])]++
		s = s[k:]
	}
}
