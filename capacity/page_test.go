package capacity

import (
	"bytes"
	"context"
	"encoding/xml"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/reports/charts/style"
)

// node is an element of the page with its attributes, text and children.
type node struct {
	name     string
	attrs    map[string]string
	text     string
	children []*node
}

// parsePage parses the page with encoding/xml in strict mode: one root,
// every element closed, entities known.
func parsePage(t *testing.T, page []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				t.Fatal("two root elements")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text += string(tk)
			}
		}
	}
	if root == nil || root.name != "html" {
		t.Fatal("no <html> root")
	}
	return root
}

func (n *node) all(pred func(*node) bool) []*node {
	var out []*node
	if pred(n) {
		out = append(out, n)
	}
	for _, c := range n.children {
		out = append(out, c.all(pred)...)
	}
	return out
}

func (n *node) byID(id string) *node {
	if ns := n.all(func(x *node) bool { return x.attrs["id"] == id }); len(ns) == 1 {
		return ns[0]
	}
	return nil
}

func (n *node) named(name string) []*node {
	return n.all(func(x *node) bool { return x.name == name })
}

func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// tableRows checks a table's structure (a header row, body rows with as
// many cells as the header) and returns the body rows' cell texts.
func tableRows(t *testing.T, table *node) [][]string {
	t.Helper()
	heads := table.named("th")
	if len(table.named("thead")) != 1 || len(table.named("tbody")) != 1 || len(heads) == 0 {
		t.Fatalf("table %q: want a thead with th cells and a tbody", table.attrs["id"])
	}
	var rows [][]string
	for _, tr := range table.named("tbody")[0].named("tr") {
		var cells []string
		for _, td := range tr.named("td") {
			cells = append(cells, clean(td.text))
		}
		if len(cells) != len(heads) {
			t.Errorf("table %q: a row of %d cells under %d headers: %q", table.attrs["id"], len(cells), len(heads), cells)
		}
		rows = append(rows, cells)
	}
	return rows
}

func renderPage(t *testing.T, cal Calibration) (Prediction, []byte) {
	t.Helper()
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.WriteHTML(&b, cal); err != nil {
		t.Fatal(err)
	}
	return p, b.Bytes()
}

// TestPage renders the page of the real sweep: well-formed, the answer
// first with its bands and each edge's binding resource, the validation
// in the colours of its statuses, tables instead of preformatted text,
// the charts with their titles once.
func TestPage(t *testing.T) {
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	p, page := renderPage(t, cal)
	root := parsePage(t, page)
	if n := len(root.named("pre")); n != 0 {
		t.Errorf("%d <pre> blocks", n)
	}

	// The answer comes first, before any other section.
	h2 := root.named("h2")
	if len(h2) == 0 || !strings.HasPrefix(clean(h2[0].text), "The answer") {
		t.Fatalf("the first section is %q", clean(h2[0].text))
	}
	answer := root.byID("answer")
	if answer == nil {
		t.Fatal("no answer table")
	}
	rows := tableRows(t, answer)
	want := [][]string{
		{"Max posts/s", num(p.MaxPostsPerSec.Low), num(p.MaxPostsPerSec.Mid), num(p.MaxPostsPerSec.High), "nic", "40"},
		{"Users per room", num(p.MaxUsersPerRoom.Low), num(p.MaxUsersPerRoom.Mid), num(p.MaxUsersPerRoom.High), "latency (p99 ≤ 500 ms)", "1,000"},
		{"Users per server", num(p.MaxUsers.Low), num(p.MaxUsers.Mid), num(p.MaxUsers.High), "ram / nic / nic", "20,000"},
		{"Users per pool", num(3 * p.MaxUsers.Low), num(3 * p.MaxUsers.Mid), num(3 * p.MaxUsers.High), "ram / nic / nic", "60,000"},
	}
	if len(rows) != len(want) {
		t.Fatalf("answer rows %q", rows)
	}
	for i, w := range want {
		if strings.Join(rows[i][:6], "|") != strings.Join(w, "|") {
			t.Errorf("answer row %d: %q, want %q", i, rows[i][:6], w)
		}
	}

	// The validation: the real sweep misses its targets, and says so in
	// the statuses' colours, never green.
	v := p.Validation
	if v.Status != StatusRed || v.CPUCheck.Status != StatusAmber || v.LatencyCheck.Status != StatusRed {
		t.Fatalf("statuses %s (CPU %s, latency %s): the test data changed?", v.Status, v.CPUCheck.Status, v.LatencyCheck.Status)
	}
	if box := root.byID("validation"); box == nil || box.attrs["class"] != "status red" {
		t.Errorf("validation box %+v", box)
	}
	if tag := root.byID("answer-status"); tag == nil || tag.attrs["class"] != "tag red" {
		t.Errorf("the answer's status tag %+v", tag)
	}
	checks := root.all(func(n *node) bool { return strings.HasSuffix(n.attrs["class"], " check") })
	if len(checks) != 2 || checks[0].attrs["class"] != "status amber check" || checks[1].attrs["class"] != "status red check" ||
		!strings.Contains(clean(checks[0].text), "Server CPU misses its 10% target") {
		t.Errorf("checks %v", checks)
	}
	if strings.Contains(string(page), `class="status green`) {
		t.Error("a green box on a page whose validation is red")
	}
	if css := string(page); !strings.Contains(css, "status.green{border-color:"+style.PassHex) || !strings.Contains(css, "status.red{border-color:"+style.FailHex) {
		t.Error("the statuses do not use the shared pass and fail colours")
	}
	byRoom := tableRows(t, root.byID("validation-by-size"))
	if len(byRoom) != 4 || byRoom[3][0] != "1,000" {
		t.Errorf("validation by room size %q", byRoom)
	}
	for _, id := range []string{"constraints", "by-size", "loads", "model", "cpu-forms"} {
		if tb := root.byID(id); tb == nil || len(tableRows(t, tb)) == 0 {
			t.Errorf("table %q missing or empty", id)
		}
	}

	// Charts: each titled once (by the page), the unfitted USL as a
	// sentence.
	figs := root.named("figure")
	if len(figs) != 6 {
		t.Fatalf("%d figures", len(figs))
	}
	for _, f := range figs {
		title := clean(f.named("h3")[0].text)
		if c := len(root.all(func(n *node) bool { return len(n.children) == 0 && clean(n.text) == title })); c != 1 {
			t.Errorf("title %q appears %d times", title, c)
		}
		svgs, msgs := f.named("svg"), f.all(func(n *node) bool { return n.attrs["class"] == "message" })
		if len(svgs)+len(msgs) != 1 {
			t.Errorf("figure %s: %d charts and %d messages", f.attrs["id"], len(svgs), len(msgs))
		}
		if f.attrs["id"] == "capacity-scalability" && (len(msgs) != 1 || !strings.Contains(msgs[0].text, "USL not fitted")) {
			t.Errorf("the unfitted USL is not a sentence")
		}
	}
}

// TestPageGreen: a calibration the model predicts within its targets gets
// green boxes and no amber or red one.
func TestPageGreen(t *testing.T) {
	cal := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
	m, err := Fit(cal)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cal.Measurements {
		r := &cal.Measurements[i]
		if _, last := m.localEngine(r.Cores).latency(runMix(*r), r.AchievedPostsPerSec, mid, 0.99); finite(last) {
			r.Latency.PostLastDeliveryP99 = last * 1e6
		}
	}
	p, page := renderPage(t, cal)
	if p.Validation.Status != StatusGreen {
		t.Fatalf("status %s: %s %s", p.Validation.Status, p.Validation.CPUCheck.Sentence, p.Validation.LatencyCheck.Sentence)
	}
	root := parsePage(t, page)
	boxes := root.all(func(n *node) bool { return strings.HasPrefix(n.attrs["class"], "status ") })
	if len(boxes) != 3 {
		t.Fatalf("%d status boxes", len(boxes))
	}
	for _, b := range boxes {
		if !strings.HasPrefix(b.attrs["class"], "status green") {
			t.Errorf("box %q on an all-green validation", b.attrs["class"])
		}
	}
	// The fitted USL is drawn, labelled as a fit.
	if f := root.byID("capacity-scalability"); f == nil || len(f.named("svg")) != 1 {
		t.Error("the fitted USL is not drawn")
	}
}

// TestPageScreenshot has a headless Chromium (Debian's chromium, which
// .ci/run installs) take a picture of the real sweep's page: not blank,
// and the red of the validation shows near the top (the answer's tag and
// the first box), where a person looks first. GCLOAD_SCREENSHOTS=DIR
// keeps the picture.
func TestPageScreenshot(t *testing.T) {
	browser := ""
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium on the PATH (.ci/run installs Debian's)")
	}
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	_, page := renderPage(t, cal)
	dir := t.TempDir()
	file := filepath.Join(dir, PageFile)
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "capacity.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
		"--hide-scrollbars", "--window-size=1280,1000", "--screenshot="+shot, "file://"+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("GCLOAD_SCREENSHOTS"); keep != "" {
		if err := os.WriteFile(filepath.Join(keep, "capacity.png"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var inked, red, total int
	bo := img.Bounds()
	for y := bo.Min.Y; y < bo.Max.Y; y++ {
		for x := bo.Min.X; x < bo.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				inked++
			}
			if isFail(img, x, y) {
				red++
			}
		}
	}
	t.Logf("screenshot %dx%d: %.1f%% inked, %d pixels in the fail colour", bo.Dx(), bo.Dy(), 100*float64(inked)/float64(total), red)
	if inked*100 < total*3 {
		t.Errorf("the page looks blank: %d of %d pixels inked", inked, total)
	}
	if red < 500 {
		t.Errorf("the red validation is not visible near the top: %d pixels in %s", red, style.FailHex)
	}
}

// isFail reports whether the pixel is style.FailColor (give or take
// antialiasing).
func isFail(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	fr, fg, fb, _ := style.FailColor.RGBA()
	d := func(a, b uint32) bool { return a>>8 >= b>>8 && a>>8-b>>8 <= 8 || b>>8 > a>>8 && b>>8-a>>8 <= 8 }
	return d(r, fr) && d(g, fg) && d(b, fb)
}
