package htmlreport

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gcload/gcload/internal/jsonshape"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// synthetic returns a Result of users signing in and posting in rooms for
// n one-second intervals, with every operation of reports.Ops in every
// interval, nrooms rooms (every 7th losing deliveries), 2 violations of
// rule "xccos-4.2" and one failed threshold.
func synthetic(users, n, nrooms int) *reports.Result {
	r := &reports.Result{IntervalLength: time.Second, Hists: map[reports.Op]*hdrhistogram.Histogram{}}
	for _, op := range reports.Ops {
		r.Hists[op] = reports.NewHistogram()
	}
	for i := 0; i < n; i++ {
		s := t0.Add(time.Duration(i) * time.Second)
		iv := reports.Interval{
			Start: s, End: s.Add(time.Second),
			Hists: map[reports.Op]*hdrhistogram.PackedHistogram{},
			Counters: map[string]int64{
				reports.CounterPosts: 40, reports.CounterDeliveries: 40 * int64(users) / 100,
				reports.CounterErrors: int64(i % 4), reports.CounterTimeouts: int64(i % 7 / 6),
			},
			Gauges: map[string]float64{"users_online": float64(min(users, users*(i+1)/10))},
		}
		if i == n/2 {
			iv.Counters[reports.CounterViolations] = 2
			iv.Counters["violations.xccos-4.2"] = 2
		}
		for j, op := range reports.Ops {
			h := reports.NewPackedHistogram()
			_ = h.RecordValues(int64(800+10*j+i%50), 300)
			_ = h.RecordValues(int64(3000+37*i+j), 20)
			_ = h.RecordValues(int64(150000+i*j), 1)
			h.MergeInto(r.Hists[op])
			iv.Hists[op] = h
		}
		r.Intervals = append(r.Intervals, iv)
	}
	end := t0.Add(time.Duration(n) * time.Second)
	s := reports.Summary{
		Scenario: "synthetic <big>", Shard: "1/1", Target: "sip:chat@example.com",
		Start: t0, End: end, Seconds: float64(n),
		Users:    reports.Users{Planned: users, SignedIn: users, PeakOnline: users},
		Counters: map[string]int64{},
		Generator: reports.Generator{
			Valid: true, CPUSeconds: 12.5, CPUUtilization: 0.31, SchedLagP99: 1500, GoSchedP99: 90,
			GCPauseTotal: 0.012, GCPauseMax: 0.0009, HeapPeakBytes: 512 << 20, GOMAXPROCS: 8,
		},
	}
	for _, iv := range r.Intervals {
		for k, v := range iv.Counters {
			s.Counters[k] += v
		}
	}
	for i := 0; i < nrooms; i++ {
		members := 10 + (i%20)*5
		d := reports.Delivery{Posts: 20, Expected: int64(20 * members)}
		d.Received = d.Expected
		if i%7 == 3 {
			d.Lost = int64(i % 5)
			d.Received -= d.Lost
		}
		if i%11 == 5 {
			d.Duplicated = 1
		}
		s.Delivery.Posts += d.Posts
		s.Delivery.Expected += d.Expected
		s.Delivery.Received += d.Received
		s.Delivery.Lost += d.Lost
		s.Delivery.Duplicated += d.Duplicated
		s.Rooms = append(s.Rooms, reports.RoomDelivery{Room: fmt.Sprintf("room-%04d", i), Members: members, Delivery: d})
	}
	s.Thresholds = []reports.ThresholdResult{
		{Expr: "post_to_last_delivery.p99 < 500ms", Metric: "post_to_last_delivery.p99", Actual: 4000, Pass: true, Detail: "p99 4ms < 500ms"},
		{Expr: "lost == 0", Metric: "lost", Actual: float64(s.Delivery.Lost), Pass: s.Delivery.Lost == 0, Detail: fmt.Sprintf("lost %d == 0", s.Delivery.Lost)},
	}
	if n >= 6 {
		s.Phases = []reports.PhaseSummary{
			{Name: "signin", StartS: 0, Seconds: 3, Counts: map[string]int64{"signin": int64(users)}},
			{Name: "steady", StartS: 3, Seconds: float64(n) - 5, Counts: map[string]int64{"post_ack": 40 * int64(n-5)}},
		}
	}
	r.Summary = s
	r.RecomputePhases()
	r.Summary.RecomputeOps(r.Hists)
	r.Summary.Verdict, _, r.Summary.Reasons = reports.Decide(&r.Summary)
	r.ScenarioYAML = []byte("name: synthetic\n# <script>alert(1)</script> & more\nusers:\n  count: " + fmt.Sprint(users) + "\n")
	return r
}

func testEnv() Env {
	return Env{
		Hostname: "loadgen-1", OS: "linux", Arch: "amd64", CPUModel: "Test CPU @ 3.0GHz", CPUs: 16,
		GoVersion: "go1.26.0", Version: "v0.9.0-test", GOMAXPROCS: 16,
		Rules: []RuleResult{
			{ID: "xccos-4.2", Title: "grpchat delivery carries the author", Ref: "MS-XCCOSIP 4.2"},
			{ID: "info/200-empty", Title: "INFO answered with an empty 200", Ref: "MS-XCCOSIP 3.1", Violations: 0},
		},
		Extra: []Section{{Title: "Capacity", HTML: template.HTML(`<p id="capacity-text">capacity estimate: 50,000 users</p>`)}},
	}
}

// element is what the well-formedness check reports of the document.
type element struct {
	name  string
	id    string
	attrs []xml.Attr
}

// parseXHTML parses the report with encoding/xml (strict) and returns its
// elements in document order; it fails the test if the document is not
// well formed.
func parseXHTML(t *testing.T, b []byte) []element {
	t.Helper()
	els, err := wellFormed(b)
	if err != nil {
		t.Fatal(err)
	}
	return els
}

// wellFormed parses b with encoding/xml (strict): one <html> root, every
// element closed.
func wellFormed(b []byte) ([]element, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var els []element
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := d.InputPos()
			return nil, fmt.Errorf("report is not well formed at %d:%d: %w", line, col, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			el := element{name: e.Name.Local, attrs: e.Attr}
			for _, a := range e.Attr {
				if a.Name.Local == "id" {
					el.id = a.Value
				}
			}
			els = append(els, el)
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 || roots != 1 {
		return nil, fmt.Errorf("report has %d roots and ends at depth %d", roots, depth)
	}
	if els[0].name != "html" {
		return nil, fmt.Errorf("root element is <%s>, not <html>", els[0].name)
	}
	return els, nil
}

var forbiddenElements = map[string]bool{"script": true, "link": true, "img": true, "iframe": true, "object": true, "embed": true, "image": true, "use": true, "audio": true, "video": true, "source": true, "base": true, "form": true}

// checkSelfContained fails the test if the report could fetch anything or
// link outside itself.
func checkSelfContained(t *testing.T, b []byte, els []element) {
	t.Helper()
	for _, p := range externalRefs(b, els) {
		t.Error(p)
	}
}

// externalRefs lists what in a report could fetch something or point
// outside it: URL schemes anywhere in the text, CSS imports and url(),
// elements that load resources, src-like attributes, hrefs that are not
// "#fragment", attribute values starting with "//".
func externalRefs(b []byte, els []element) []string {
	var out []string
	lower := bytes.ToLower(b)
	for _, s := range []string{"http://", "https://", "@import", "url(", "data:", "javascript:"} {
		if i := bytes.Index(lower, []byte(s)); i >= 0 {
			out = append(out, fmt.Sprintf("report contains %q: %q", s, b[max(0, i-60):min(len(b), i+60)]))
		}
	}
	for _, e := range els {
		if forbiddenElements[e.name] {
			out = append(out, fmt.Sprintf("report has a <%s> element", e.name))
		}
		for _, a := range e.attrs {
			v := strings.TrimSpace(a.Value)
			switch a.Name.Local {
			case "href":
				if !strings.HasPrefix(v, "#") {
					out = append(out, fmt.Sprintf("<%s href=%q> is not a link within the page", e.name, v))
				}
			case "src", "srcset", "action", "poster", "data", "xmlns", "background":
				out = append(out, fmt.Sprintf("<%s %s=%q>", e.name, a.Name.Local, v))
			}
			if strings.HasPrefix(v, "//") || strings.Contains(v, "://") {
				out = append(out, fmt.Sprintf("<%s %s=%q> holds a URL", e.name, a.Name.Local, v))
			}
		}
	}
	return out
}

// TestCheckers makes sure the well-formedness and self-containment checks
// catch what they are for.
func TestCheckers(t *testing.T) {
	for _, bad := range []string{
		`<!DOCTYPE html><html><body><p>unclosed</body></html>`,
		`<!DOCTYPE html><html><body><br></body></html>`,
		`<!DOCTYPE html><html><body>a &nbsp; b</body></html>`,
		`<!DOCTYPE html><html></html><html></html>`,
		`<!DOCTYPE html><body></body>`,
	} {
		if _, err := wellFormed([]byte(bad)); err == nil {
			t.Errorf("wellFormed accepted %q", bad)
		}
	}
	for _, bad := range []string{
		`<html><body><a href="//cdn.example.com/x">x</a></body></html>`,
		`<html><body><img src="x.png"/></body></html>`,
		`<html><body><script>1</script></body></html>`,
		`<html><body><p>see https://example.com</p></body></html>`,
		`<html><head><style>@import "x.css";</style></head></html>`,
		`<html><body><svg xmlns="http://www.w3.org/2000/svg"></svg></body></html>`,
		`<html><body><a href="page.html">x</a></body></html>`,
	} {
		els, err := wellFormed([]byte(bad))
		if err != nil {
			t.Fatalf("%q: %v", bad, err)
		}
		if len(externalRefs([]byte(bad), els)) == 0 {
			t.Errorf("externalRefs missed %q", bad)
		}
	}
	ok := `<!DOCTYPE html><html><body><a href="#x">x</a><p id="x">&lt;&amp;&#160;</p></body></html>`
	els, err := wellFormed([]byte(ok))
	if err != nil || len(externalRefs([]byte(ok), els)) != 0 {
		t.Errorf("checkers reject a good page: %v %v", err, externalRefs([]byte(ok), els))
	}
}

func TestEmptyResult(t *testing.T) {
	b := render(t, &reports.Result{}, Env{})
	checkSelfContained(t, b, parseXHTML(t, b))
	html := string(b)
	for _, s := range []string{"No chart data in this run.", "No operation recorded a latency.", "No per-room accounting in this run.", `class="v-invalid"`} {
		if !strings.Contains(html, s) {
			t.Errorf("empty report lacks %q", s)
		}
	}
	if strings.Contains(html, "<svg") {
		t.Error("empty report has a chart")
	}
}

func render(t testing.TB, r *reports.Result, env Env) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r, env); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sectionOrder(els []element) []string {
	var ids []string
	for _, e := range els {
		if e.name == "section" {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func TestReport(t *testing.T) {
	r := synthetic(500, 30, 40)
	b := render(t, r, testEnv())
	els := parseXHTML(t, b)
	checkSelfContained(t, b, els)

	want := "verdict scenario latency phases delivery counters conformance thresholds environment charts extra-0 glossary"
	if got := strings.Join(sectionOrder(els), " "); got != want {
		t.Errorf("sections %q, want %q", got, want)
	}
	html := string(b)
	vi, ci := strings.Index(html, `id="verdict"`), strings.Index(html, "<svg")
	if vi < 0 || ci < 0 || vi > ci {
		t.Errorf("verdict at %d, first chart at %d: verdict must come first", vi, ci)
	}
	if r.Summary.Verdict != reports.VerdictNonconf {
		t.Fatalf("synthetic verdict %q", r.Summary.Verdict)
	}
	// The verdict and its reasons.
	for _, s := range append([]string{`<span class="verdict">nonconformant</span> (exit code 4)`}, r.Summary.Reasons...) {
		if !strings.Contains(html, template.HTMLEscapeString(s)) && !strings.Contains(html, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	svgs := 0
	for _, e := range els {
		if e.name == "svg" {
			svgs++
		}
	}
	if svgs < 5 {
		t.Errorf("%d charts, want at least 5", svgs)
	}
	for _, s := range []string{
		// scenario, escaped
		"synthetic &lt;big&gt;", "# &lt;script&gt;alert(1)&lt;/script&gt; &amp; more", "<details>",
		// operations table
		">post_to_delivery</a></td>", ">sched_lag</a></td>",
		// conformance by rule: the violated rule, a passed rule
		"<td>xccos-4.2</td><td>grpchat delivery carries the author</td><td>MS-XCCOSIP 4.2</td><td class=\"n\">2</td>",
		"<td>info/200-empty</td>", `<span class="good">passed</span>`,
		// thresholds
		"lost == 0", `<span class="bad">FAIL</span>`,
		// environment
		"loadgen-1", "Test CPU @ 3.0GHz", "go1.26.0", "v0.9.0-test", "linux/amd64",
		// extra section, unescaped
		`<p id="capacity-text">capacity estimate: 50,000 users</p>`,
	} {
		if !strings.Contains(html, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("scenario YAML not escaped")
	}
	// Each chart's title once (inside its picture; no caption repeats
	// it), full-width charts.
	for _, c := range charts.Build(r, charts.Options{}) {
		if n := strings.Count(html, ">"+template.HTMLEscapeString(c.Title)+"<"); n != 1 {
			t.Errorf("chart title %q %d times", c.Title, n)
		}
	}
	if !strings.Contains(html, "figure svg{width:100%;") || strings.Contains(html, "<figcaption") {
		t.Errorf("charts are not full width, or have captions")
	}
}

// TestChartMessages: a chart with too little data is a sentence in the
// report, not a picture of a dot.
func TestChartMessages(t *testing.T) {
	r := synthetic(50, 1, 3) // one interval, rooms of 10 and 15 members
	b := render(t, r, testEnv())
	checkSelfContained(t, b, parseXHTML(t, b))
	html := string(b)
	for _, c := range charts.Build(r, charts.Options{}) {
		if c.Message == "" {
			continue
		}
		want := `<figure id="chart-` + c.ID + `" class="message">` + "\n<p><strong>" + template.HTMLEscapeString(c.Title) + "</strong>: not drawn.</p>\n<p>" + template.HTMLEscapeString(c.Message) + "</p>"
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !strings.Contains(html, "A chart over time needs samples in at least two intervals.") {
		t.Errorf("no message for the one-interval latency charts")
	}
}

func TestVerdicts(t *testing.T) {
	r := synthetic(50, 5, 3)
	r.Summary.Counters = map[string]int64{}
	r.Summary.Thresholds = nil
	r.Summary.Generator = reports.Generator{Valid: false, InvalidReasons: []string{"CPU utilization 97% > 80%"}}
	r.Summary.Verdict, r.Summary.Reasons = "", nil // decided at render time
	b := render(t, r, Env{})
	html := string(b)
	for _, s := range []string{`class="v-invalid"`, ">invalid</span> (exit code 5)", "Invalid run:", "<li>CPU utilization 97% &gt; 80%</li>", "No protocol violations.", "The scenario sets no thresholds."} {
		if !strings.Contains(html, s) {
			t.Errorf("invalid run report lacks %q", s)
		}
	}
	checkSelfContained(t, b, parseXHTML(t, b))

	r.Summary.Generator = reports.Generator{Valid: true}
	r.Summary.Delivery.Lost, r.Summary.Verdict, r.Summary.Reasons = 0, "", nil
	for i := range r.Summary.Rooms {
		r.Summary.Rooms[i].Lost, r.Summary.Rooms[i].Duplicated = 0, 0
	}
	html = string(render(t, r, Env{}))
	if !strings.Contains(html, `class="v-pass"`) || !strings.Contains(html, "Every check passed.") || strings.Contains(html, "Invalid run:") {
		t.Error("pass report wrong")
	}
	if !strings.Contains(html, "All 3 rooms are clean") {
		t.Error("clean rooms not summarized")
	}
}

func TestRoomsCapped(t *testing.T) {
	r := synthetic(60000, 10, 1000)
	html := string(render(t, r, Env{}))
	rows := regexp.MustCompile(`<tr class="bad"><td>room-\d+</td>`).FindAllString(html, -1)
	if len(rows) != MaxRooms {
		t.Errorf("%d room rows, want the %d worst", len(rows), MaxRooms)
	}
	// Worst first: rooms losing 4 deliveries (i%7==3 and i%5==4), the one
	// with a duplicate too (i%11==5) first, then by name.
	if !strings.Contains(rows[0], "room-0269") || !strings.Contains(rows[1], "room-0654") || !strings.Contains(rows[2], "room-0024") {
		t.Errorf("first room rows %q, want room-0269 and room-0654 (4 lost, 1 duplicated), room-0024 (4 lost)", rows[:3])
	}
	if !strings.Contains(html, "1,000 rooms in all") || !strings.Contains(html, "The 950 rooms not listed include") {
		t.Errorf("rooms summary missing: %s", regexp.MustCompile(`[^>]*rooms in all[^<]*`).FindString(html))
	}
}

func TestRulesWithoutEnv(t *testing.T) {
	rows, total, note := rules(map[string]int64{"violations.b": 1, "violations.a": 5, reports.CounterViolations: 6, "sip.200": 3}, nil)
	if total != "6" || note != "" || len(rows) != 2 || rows[0].ID != "a" || rows[1].ID != "b" || rows[0].Violations != "5" {
		t.Errorf("rules = %+v %q %q", rows, total, note)
	}
	rows, _, note = rules(map[string]int64{reports.CounterViolations: 3}, nil)
	if len(rows) != 0 || !strings.Contains(note, "not broken down") {
		t.Errorf("unattributed violations: %+v %q", rows, note)
	}
	rows, total, note = rules(nil, []RuleResult{{ID: "r1", Violations: 2}, {ID: "r2"}})
	if len(rows) != 2 || !rows[0].Bad || rows[1].Bad || note != "" || total != "2" {
		t.Errorf("env rules: %+v %q %q", rows, total, note)
	}
}

// TestFromResultsFolder renders the report of a results folder written by
// reports.WriteResults and read back with reports.ReadResults.
func TestFromResultsFolder(t *testing.T) {
	dir := t.TempDir()
	if err := reports.WriteResults(dir, synthetic(200, 20, 12)); err != nil {
		t.Fatal(err)
	}
	r, err := reports.ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, r, CurrentEnv("test", "")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	els := parseXHTML(t, b)
	checkSelfContained(t, b, els)
	svgs := 0
	for _, e := range els {
		if e.name == "svg" {
			svgs++
		}
	}
	if svgs < 5 {
		t.Errorf("%d charts from the results folder, want at least 5", svgs)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report.html mode: %v %v", fi.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".report-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestSmokeResults renders the checked-in smoke run when it is there.
func TestSmokeResults(t *testing.T) {
	dirs, _ := filepath.Glob("../../results/smoke-*")
	if len(dirs) == 0 {
		t.Skip("no smoke results folder")
	}
	r, err := reports.ReadResults(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	b := render(t, r, CurrentEnv("test", ""))
	checkSelfContained(t, b, parseXHTML(t, b))
	t.Logf("%s: report of %d bytes", dirs[0], len(b))
}

func bigResult() *reports.Result { return synthetic(60000, 600, 1000) }

func TestBigReportSize(t *testing.T) {
	r := bigResult()
	b := render(t, r, testEnv())
	t.Logf("report of a 60,000-user, 600-interval, %d-operation, %d-room run: %d bytes (%.2f MB)", len(r.Hists), len(r.Summary.Rooms), len(b), float64(len(b))/(1<<20))
	if len(b) >= 3<<20 {
		t.Errorf("report is %d bytes, want < 3 MB", len(b))
	}
	checkSelfContained(t, b, parseXHTML(t, b))
}

func BenchmarkRender(b *testing.B) {
	r := bigResult()
	env := testEnv()
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := Render(&buf, r, env); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/report")
}

func TestCPUModel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nHardware\t: BCM2835\n", "BCM2835"},
		{"processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n", "POWER9 (architected), altivec supported"},
		{"processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
	} {
		if got := cpuModel(strings.NewReader(c.in)); got != c.want {
			t.Errorf("cpuModel = %q, want %q", got, c.want)
		}
	}
}

func TestCurrentEnv(t *testing.T) {
	e := CurrentEnv("v1", "sip:x@example.com")
	if e.Version != "v1" || e.Target != "sip:x@example.com" || e.GoVersion == "" || e.CPUs < 1 || e.GOMAXPROCS < 1 || e.OS == "" || e.Arch == "" {
		t.Errorf("CurrentEnv = %+v", e)
	}
}

// TestNotExercised: a run that exchanged nothing (the target was not
// there) says its rooms and rules were not exercised, never that they are
// clean or passed, and lists its errors by kind.
func TestNotExercised(t *testing.T) {
	r := &reports.Result{Summary: reports.Summary{
		Scenario: "smoke", Users: reports.Users{Planned: 50, Failed: 50}, Unreachable: true,
		Rooms:  []reports.RoomDelivery{{Room: "room-0", Members: 10}, {Room: "room-1", Members: 10}},
		Errors: []reports.ErrorKind{{Op: "connect", Cause: "connection refused", Count: 1, First: "dial tcp 127.0.0.1:9: connect: connection refused"}},
	}}
	env := Env{Rules: []RuleResult{{ID: "fanout/order", NotExercised: true}, {ID: "envelope/namespace", NotExercised: true}}}
	b := render(t, r, env)
	checkSelfContained(t, b, parseXHTML(t, b))
	html := string(b)
	for _, want := range []string{"None of the 2 rooms was exercised", "not exercised", "connect: connection refused", `id="errors"`, `class="v-unreachable"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, bad := range []string{"are clean", ">passed<"} {
		if strings.Contains(html, bad) {
			t.Errorf("the report says %q of a run that exchanged nothing", bad)
		}
	}
}

// TestEnvJSON: env.json has snake_case keys and no rules or sections;
// an env.json written with the old PascalCase keys still reads.
func TestEnvJSON(t *testing.T) {
	e := Env{Hostname: "h", OS: "linux", Arch: "amd64", CPUModel: "EPYC", CPUs: 2, GoVersion: "go1.26", Version: "1.0", Target: "t", GOMAXPROCS: 2,
		Rules: []RuleResult{{ID: "x"}}, Extra: []Section{{Title: "s"}}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if p := jsonshape.Check(b, reflect.TypeFor[Env](), false, nil); len(p) != 0 || strings.Contains(string(b), "rules") || strings.Contains(string(b), "null") {
		t.Errorf("env.json %s: %v", b, p)
	}
	want := e
	want.Rules, want.Extra = nil, nil
	var back Env
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("read back %+v, %v; want %+v", back, err, want)
	}
	old := `{"Hostname":"h","OS":"linux","Arch":"amd64","CPUModel":"EPYC","CPUs":2,"GoVersion":"go1.26","Version":"1.0","Target":"t","GOMAXPROCS":2,"Rules":null,"Extra":null}`
	back = Env{}
	if err := json.Unmarshal([]byte(old), &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("old env.json read as %+v, %v; want %+v", back, err, want)
	}
}

// TestPhasesAndGlossary: report.html has a table per phase (the drain
// included) with the figures of summary.json's phases, and a glossary
// every counter, operation and phase counter links to.
func TestPhasesAndGlossary(t *testing.T) {
	r := synthetic(500, 30, 40)
	r.Summary.Counters["sip.503"] = 2
	b := render(t, r, testEnv())
	els := parseXHTML(t, b)
	html := string(b)
	ps := r.Summary.Phases
	if len(ps) != 3 || !ps[2].Drain {
		t.Fatalf("phases %+v", ps)
	}
	phases := html[strings.Index(html, `<section id="phases">`):]
	phases = phases[:strings.Index(phases, "</section>")]
	for i, p := range ps {
		name := p.Name
		if p.Drain {
			name += " (after the last phase)"
		}
		at := strings.Index(phases, "<h3>"+name+" ")
		if at < 0 {
			t.Fatalf("no heading for phase %s", name)
		}
		part := phases[at:]
		if i+1 < len(ps) {
			part = part[:strings.Index(part[4:], "<h3>")+4]
		}
		if got := strings.Count(part, "<tr><td>"); got != len(p.Ops) || len(p.Ops) == 0 {
			t.Errorf("phase %s: %d table rows, %d operations", p.Name, got, len(p.Ops))
		}
		o := p.Ops[reports.OpPostAck]
		row := fmt.Sprintf(`>post_ack</a></td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td>`, reports.FormatCount(o.Count), rate(o.Rate), ms(o.P50))
		if !strings.Contains(part, row) {
			t.Errorf("phase %s lacks %s", p.Name, row)
		}
		if n := p.Counters[reports.CounterPosts]; !strings.Contains(part, ">posts</a> <span class=\"n\">"+reports.FormatCount(n)+"</span>") {
			t.Errorf("phase %s lacks its %d posts", p.Name, n)
		}
	}
	if !strings.Contains(phases, "By intended time: signin 166.7/s.") {
		t.Errorf("the sign-in phase's rate by intended time is missing")
	}
	// every link to the glossary has its entry; every counter links
	ids := map[string]bool{}
	for _, e := range els {
		if e.id != "" {
			ids[e.id] = true
		}
	}
	links := 0
	for _, m := range regexp.MustCompile(`href="#(g-[^"]+)" title="([^"]*)">([^<]+)<`).FindAllStringSubmatch(html, -1) {
		links++
		if !ids[m[1]] || m[2] == "" {
			t.Errorf("%s links to %q (title %q), which is not in the glossary", m[3], m[1], m[2])
		}
	}
	for name := range r.Summary.Counters {
		if !strings.Contains(html, `">`+name+`</a></th>`) {
			t.Errorf("counter %s does not link to the glossary", name)
		}
	}
	if links < len(r.Summary.Counters)+len(r.Summary.Ops) {
		t.Errorf("%d glossary links", links)
	}
	for _, tm := range reports.Glossary {
		if tm.Kind == reports.TermSearch {
			continue // a breakpoint search's, in docs/results.md only
		}
		if !ids[anchor(tm.Name)] {
			t.Errorf("glossary entry %s missing from the report", tm.Name)
		}
	}
	if !strings.Contains(html, `<td><code>sip.&lt;code&gt;</code></td><td>SIP responses with that status code</td>`) ||
		!strings.Contains(html, "<code>limits.max_lag</code>") {
		t.Error("the glossary's text is not rendered")
	}
}

// TestServers: a run on several servers has a Servers section with each
// server's share from summary.json (the killed one marked, one with lost
// sessions flagged) and the posts its users missed while offline; a run
// on one server has neither.
func TestServers(t *testing.T) {
	r := synthetic(500, 30, 40)
	b := render(t, r, testEnv())
	if html := string(b); strings.Contains(html, `id="servers"`) || strings.Contains(html, "missed while offline") {
		t.Fatal("a run without servers has a Servers section or an offline row")
	}
	r.Summary.Servers = []reports.ServerCounts{
		{Server: "127.0.0.1:5061", Users: 260, Posts: 1200, Deliveries: 34567, Reconnected: 40, CPUSeconds: 12.345},
		{Server: "127.0.0.1:5062", Users: 240, Posts: 300, Deliveries: 9000, Errors: 3, SessionsLost: 40, Killed: true},
	}
	r.Summary.Delivery.MissedOffline = 77
	r.Summary.Counters[reports.CounterReconnected] = 40
	b = render(t, r, testEnv())
	els := parseXHTML(t, b)
	if got := strings.Join(sectionOrder(els), " "); !strings.Contains(got, "delivery servers counters") {
		t.Errorf("sections %q: want servers after delivery", got)
	}
	html := string(b)
	for _, want := range []string{
		`<a href="#servers">Servers</a>`,
		`<tr><td>127.0.0.1:5061</td><td class="n">260</td><td class="n">1,200</td><td class="n">34,567</td><td class="n">0</td><td class="n">0</td><td class="n">40</td><td class="n">12.35</td></tr>`,
		`<tr class="bad"><td>127.0.0.1:5062 (killed)</td><td class="n">240</td><td class="n">300</td><td class="n">9,000</td><td class="n">3</td><td class="n">40</td><td class="n">0</td><td class="n">–</td></tr>`,
		`<tr><th>missed while offline (found in history after reconnecting)</th><td class="n">77</td></tr>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %s", want)
		}
	}
}
