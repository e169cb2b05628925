// Package htmlreport renders the report of a run for people: one
// self-contained HTML file, report.html, in the results folder. Everything
// is inline (CSS, SVG charts); the file fetches nothing and holds no URL,
// so it opens the same offline, attached to a ticket or years later.
//
// The sections, in order: the verdict and its reasons (with the
// invalid-run warnings first when the generator was the bottleneck), the
// scenario, the latency summary per operation, the same per phase with its
// counters, delivery accounting (totals and the worst rooms), counters,
// conformance results by rule, thresholds, the environment and generator
// health, the charts (see package charts), any Env.Extra sections, and the
// glossary (reports.Glossary), to which the operations' and counters'
// names link.
//
// The markup is also well-formed XML (XHTML syntax in an HTML5 document),
// which the tests check with encoding/xml; Env.Extra sections must keep it
// so.
package htmlreport

import (
	"bufio"
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
)

// FileName is the name of the report in a results folder.
const FileName = "report.html"

// MaxRooms is the number of rooms the delivery table lists at most; the
// others are summarized.
const MaxRooms = 50

// RuleResult is one conformance rule's result. Ref (an RFC section, a
// document name) is shown as text, never as a link.
type RuleResult struct {
	ID         string
	Title      string
	Ref        string
	Violations int64
	// NotExercised: the run saw nothing the rule is about, so it neither
	// passed nor failed.
	NotExercised bool
}

// Section is an extra section appended to the report (capacity, ...).
// HTML is inserted as is: it must be self-contained (no URLs) and
// well-formed XML.
type Section struct {
	Title string
	HTML  template.HTML
}

// Env describes where the report comes from: the machine, the software,
// the target, and the optional conformance rules and extra sections.
//
// A run keeps its Env as env.json (the machine and software only: Rules
// and Extra are the report's, not written).
type Env struct {
	Hostname   string `json:"hostname"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model"`
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	Version    string `json:"gcload_version"`
	Target     string `json:"target"` // shown instead of Summary.Target when set
	GOMAXPROCS int    `json:"gomaxprocs"`

	// Rules lists the conformance rules checked, passed ones included;
	// when empty the report lists the rules with violations (from the
	// "violations.<rule>" counters) or says there were none. A rule's
	// count is its counter's when the counter exists, Violations
	// otherwise.
	Rules []RuleResult `json:"-"`
	// Extra sections come after the charts.
	Extra []Section `json:"-"`
}

// UnmarshalJSON reads env.json, also as gcload wrote it before its keys
// were snake_case (Hostname, CPUModel, GoVersion, Version, ...).
func (e *Env) UnmarshalJSON(b []byte) error {
	type plain Env
	var v struct {
		plain
		// the old keys that do not match the new ones (encoding/json
		// matches the others whatever their case: OS, CPUs, GOMAXPROCS)
		OldCPUModel  string `json:"CPUModel"`
		OldGoVersion string `json:"GoVersion"`
		OldVersion   string `json:"Version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Env(v.plain)
	e.CPUModel = cmp.Or(e.CPUModel, v.OldCPUModel)
	e.GoVersion = cmp.Or(e.GoVersion, v.OldGoVersion)
	e.Version = cmp.Or(e.Version, v.OldVersion)
	return nil
}

// CurrentEnv returns the Env of the running process: host name, OS and
// architecture, CPU model (from /proc/cpuinfo where there is one) and
// count, Go version and GOMAXPROCS, with the given gcload version and
// target. Note that when a saved run is re-rendered this describes the
// machine rendering it; the run's own GOMAXPROCS and CPU use are in its
// summary's generator section, which the report shows too.
func CurrentEnv(version, target string) Env {
	e := Env{
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		Version:    version,
		Target:     target,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	e.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		e.CPUModel = cpuModel(f)
		f.Close()
	}
	return e
}

// cpuModel returns the CPU model named in /proc/cpuinfo content: "model
// name" (x86, recent arm64), "Hardware" or "Processor" (older arm),
// "cpu model" (mips) or "cpu" (powerpc).
func cpuModel(r io.Reader) string {
	found := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := found[k]; !seen && v != "" {
			found[k] = v
		}
	}
	for _, k := range []string{"model name", "Hardware", "Processor", "cpu model", "cpu"} {
		if v := found[k]; v != "" {
			return v
		}
	}
	return ""
}

// Write renders the report of r into dir/report.html (creating dir if
// needed), replacing any previous report atomically.
func Write(dir string, r *reports.Result, env Env) error {
	var b bytes.Buffer
	if err := Render(&b, r, env); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	f, err := os.CreateTemp(dir, ".report-*.html")
	if err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, FileName))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("htmlreport: write %s: %w", FileName, err)
	}
	return nil
}

// Render writes the report of r to w.
func Render(w io.Writer, r *reports.Result, env Env) error {
	v := build(r, env)
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	return nil
}

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Parse(pageText))

// kv is one row of a two-column table.
type kv struct {
	Key, Value string
	Class      string // "bad", "good", "warn" or ""
}

type opRow struct {
	Op                                    string
	Count, Rate, P50, P90, P99, P999, Max string
	Ref                                   termRef
}

// termRef links a name to its glossary entry: Anchor is the entry's id,
// Title what it counts (shown on hover).
type termRef struct{ Anchor, Title string }

type counterRow struct {
	Name, Value, Class string
	Ref                termRef
}

type phaseView struct {
	Name, Span, Planned, Note string
	Ops                       []opRow
	Counters                  []counterRow
}

type glossaryGroup struct {
	Title, What, When string // What, When: the columns' headings
	Terms             []glossaryRow
}

type glossaryRow struct {
	Name, Anchor        string
	What, When, Verdict template.HTML
}

type roomRow struct {
	Room, Members, Posts, Expected, Received, Lost, Completion, Duplicated, OutOfOrder, Spoofed, Extra string
	Bad                                                                                                bool
}

// serverRow is one server's share of a run on several servers.
type serverRow struct {
	Server, Users, Posts, Deliveries, Errors, SessionsLost, Reconnected, CPU string
	Killed, Bad                                                              bool
}

type ruleRow struct {
	ID, Title, Ref, Violations string
	Bad, NotExercised          bool
}

type errorRow struct {
	Count, Kind, First, At string
}

type thresholdRow struct {
	Expr, Detail string
	Pass         bool
}

type chartView struct {
	ID, Title, Note, Message string
	SVG                      template.HTML
}

type view struct {
	Title          string
	Verdict        string
	VerdictClass   string
	ExitCode       int
	Reasons        []string
	Invalid        bool
	InvalidReasons []string
	Aborted        bool

	Scenario     []kv
	ScenarioYAML string

	Ops []opRow

	Delivery  []kv
	Rooms     []roomRow
	RoomsNote string

	Servers []serverRow

	Counters []counterRow

	Phases []phaseView

	Glossary []glossaryGroup

	Rules           []ruleRow
	RulesListed     bool // Env.Rules given
	ViolationsTotal string
	ViolationsNote  string

	Thresholds []thresholdRow

	Errors []errorRow

	Env       []kv
	Generator []kv

	Charts      []chartView
	ChartErrors []string

	Extra []Section
}

func build(r *reports.Result, env Env) *view {
	s := r.Summary
	v := &view{Verdict: s.Verdict, Reasons: s.Reasons}
	if v.Verdict == "" {
		v.Verdict, _, v.Reasons = reports.Decide(&s)
	}
	v.ExitCode = reports.ExitCode(v.Verdict)
	v.VerdictClass = "v-" + v.Verdict
	v.Invalid = !s.Generator.Valid || len(s.Generator.InvalidReasons) > 0
	v.InvalidReasons = s.Generator.InvalidReasons
	v.Aborted = s.Aborted
	name := s.Scenario
	if name == "" {
		name = "run"
	}
	v.Title = "gcload report: " + name

	target := cmp.Or(env.Target, s.Target)
	v.Scenario = []kv{
		{Key: "scenario", Value: orDash(s.Scenario)},
		{Key: "shard", Value: orDash(s.Shard)},
		{Key: "target", Value: orDash(target)},
		{Key: "start", Value: formatTime(s.Start)},
		{Key: "end", Value: formatTime(s.End)},
		{Key: "duration", Value: formatSeconds(s.Seconds)},
		{Key: "users", Value: fmt.Sprintf("%s planned, %s signed in, %s failed, peak online %s",
			reports.FormatCount(int64(s.Users.Planned)), reports.FormatCount(int64(s.Users.SignedIn)), reports.FormatCount(int64(s.Users.Failed)), reports.FormatCount(int64(s.Users.PeakOnline)))},
	}
	if s.Users.Failed > 0 {
		v.Scenario[len(v.Scenario)-1].Class = "bad"
	}
	v.ScenarioYAML = string(r.ScenarioYAML)

	v.Ops = opRows(s.Ops)
	v.Phases = phases(s.Phases)
	v.Glossary = glossary()

	d := s.Delivery
	bad := func(n int64) string {
		if n != 0 {
			return "bad"
		}
		return ""
	}
	lost := reports.FormatCount(d.Lost)
	if d.Expected > 0 {
		lost += " (" + percent(float64(d.Lost)/float64(d.Expected)) + ")"
	}
	received := reports.FormatCount(d.Received)
	if d.Expected > 0 {
		received += " (" + percent(float64(d.Received)/float64(d.Expected)) + ")"
	}
	v.Delivery = []kv{
		{Key: "posts acknowledged", Value: reports.FormatCount(d.Posts)},
		{Key: "posts rejected", Value: reports.FormatCount(s.Counters[reports.CounterRejectedPosts]), Class: bad(s.Counters[reports.CounterRejectedPosts])},
		{Key: "deliveries expected", Value: reports.FormatCount(d.Expected)},
		{Key: "received", Value: received},
		{Key: "lost", Value: lost, Class: bad(d.Lost)},
		{Key: "duplicated", Value: reports.FormatCount(d.Duplicated), Class: bad(d.Duplicated)},
		{Key: "out of order", Value: reports.FormatCount(d.OutOfOrder), Class: bad(d.OutOfOrder)},
		{Key: "spoofed", Value: reports.FormatCount(d.Spoofed), Class: bad(d.Spoofed)},
		{Key: "extra (members joining or leaving)", Value: reports.FormatCount(d.Extra)},
	}
	if d.MissedOffline > 0 || s.Counters[reports.CounterReconnected] > 0 {
		v.Delivery = append(v.Delivery, kv{Key: "missed while offline (found in history after reconnecting)", Value: reports.FormatCount(d.MissedOffline)})
	}
	v.Rooms, v.RoomsNote = rooms(s.Rooms)
	v.Servers = servers(s.Servers)

	v.Counters = counterRows(s.Counters, false)

	v.Rules, v.ViolationsTotal, v.ViolationsNote = rules(s.Counters, env.Rules)
	v.RulesListed = len(env.Rules) > 0

	for _, t := range s.Thresholds {
		v.Thresholds = append(v.Thresholds, thresholdRow{Expr: t.Expr, Detail: t.Detail, Pass: t.Pass})
	}
	for _, e := range s.Errors {
		v.Errors = append(v.Errors, errorRow{Count: reports.FormatCount(e.Count), Kind: e.Op + ": " + e.Cause, First: e.First, At: formatSeconds(e.FirstAt)})
	}

	v.Env = []kv{
		{Key: "host", Value: orDash(env.Hostname)},
		{Key: "OS/arch", Value: orDash(strings.Trim(env.OS+"/"+env.Arch, "/"))},
		{Key: "CPU", Value: orDash(env.CPUModel)},
		{Key: "CPUs", Value: intOrDash(env.CPUs)},
		{Key: "GOMAXPROCS", Value: intOrDash(env.GOMAXPROCS)},
		{Key: "Go", Value: orDash(env.GoVersion)},
		{Key: "gcload", Value: orDash(env.Version)},
		{Key: "target", Value: orDash(target)},
	}
	g := s.Generator
	valid := kv{Key: "valid", Value: "yes", Class: "good"}
	if !g.Valid {
		valid = kv{Key: "valid", Value: "no: the generator, not the server, was the bottleneck", Class: "bad"}
	}
	server := "external"
	if g.EmbeddedServer {
		server = "embedded (its CPU is included above)"
	}
	v.Generator = []kv{
		valid,
		{Key: "CPU", Value: fmt.Sprintf("%s s, %s of GOMAXPROCS", num(g.CPUSeconds), percent(g.CPUUtilization))},
		{Key: "GOMAXPROCS", Value: intOrDash(g.GOMAXPROCS)},
		{Key: "scheduling lag p99", Value: msUnit(g.SchedLagP99)},
		{Key: "Go run-queue latency p99", Value: msUnit(g.GoSchedP99)},
		{Key: "GC pauses", Value: fmt.Sprintf("%s total, %s max", msUnit(int64(math.Round(g.GCPauseTotal*1e6))), msUnit(int64(math.Round(g.GCPauseMax*1e6))))},
		{Key: "heap peak", Value: bytesSize(g.HeapPeakBytes)},
		{Key: "server", Value: server},
	}

	for _, c := range charts.Build(r, charts.Options{}) {
		if c.Message != "" {
			v.Charts = append(v.Charts, chartView{ID: c.ID, Title: c.Title, Message: c.Message})
			continue
		}
		svg, err := c.InlineSVG()
		if err != nil {
			v.ChartErrors = append(v.ChartErrors, fmt.Sprintf("%s: %v", c.Title, err))
			continue
		}
		v.Charts = append(v.Charts, chartView{ID: c.ID, Title: c.Title, Note: c.Note, SVG: template.HTML(svg)})
	}
	v.Extra = env.Extra
	return v
}

// opRows returns the latency table's rows, in report order.
func opRows(ops map[reports.Op]reports.OpSummary) []opRow {
	var rows []opRow
	for _, op := range reports.SortedOps(ops) {
		o := ops[op]
		rows = append(rows, opRow{
			Op: string(op), Count: reports.FormatCount(o.Count), Rate: rate(o.Rate),
			P50: ms(o.P50), P90: ms(o.P90), P99: ms(o.P99), P999: ms(o.P999), Max: ms(o.Max), Ref: ref(string(op)),
		})
	}
	return rows
}

// counterRows returns the counters by name, problems marked; nonZero
// leaves out those that stayed zero.
func counterRows(counters map[string]int64, nonZero bool) []counterRow {
	var rows []counterRow
	for _, k := range reports.SortedKeys(counters) {
		n := counters[k]
		if nonZero && n == 0 {
			continue
		}
		c := ""
		if n != 0 && isProblemCounter(k) {
			c = "bad"
		}
		rows = append(rows, counterRow{Name: k, Value: reports.FormatCount(n), Class: c, Ref: ref(k)})
	}
	return rows
}

// phases returns a view of each phase: its time, the rates by intended
// time, and the latency table and counters of its intervals.
func phases(ps []reports.PhaseSummary) []phaseView {
	var out []phaseView
	for _, p := range ps {
		ms := func(s float64) string { return num(math.Round(s*1000) / 1000) }
		pv := phaseView{Name: p.Name, Span: fmt.Sprintf("%s to %s s from the start (%s s)", ms(p.StartS), ms(p.StartS+p.Seconds), ms(p.Seconds))}
		if p.Drain {
			pv.Name += " (after the last phase)"
		}
		var planned []string
		for _, k := range reports.SortedKeys(p.Rates) {
			planned = append(planned, fmt.Sprintf("%s %s", k, rate(p.Rates[k])))
		}
		pv.Planned = strings.Join(planned, ", ")
		switch {
		case p.Ops == nil && p.Intervals == 0:
			pv.Note = "No per-phase latencies in these results (written by an older gcload)."
		case p.Intervals == 0:
			pv.Note = "No interval of its own: the phase is shorter than an interval, so its operations count in the phase next to it."
		default:
			pv.Note = fmt.Sprintf("%s of the run's intervals (%s s).", reports.FormatCount(int64(p.Intervals)), ms(p.IntervalSeconds))
			if len(p.Ops) == 0 && len(p.Counters) == 0 {
				pv.Note += " Nothing was recorded in them."
			}
		}
		pv.Ops = opRows(p.Ops)
		pv.Counters = counterRows(p.Counters, true)
		out = append(out, pv)
	}
	return out
}

// ref links a metric or counter name to its glossary entry ("" when the
// glossary does not know it).
func ref(name string) termRef {
	t, ok := reports.Describe(name)
	if !ok {
		return termRef{}
	}
	return termRef{Anchor: anchor(t.Name), Title: strings.ReplaceAll(t.What, "`", "")}
}

// anchor is the id of a glossary entry.
func anchor(name string) string {
	return "g-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, name)
}

// glossary returns reports.Glossary as the report shows it.
func glossary() []glossaryGroup {
	var out []glossaryGroup
	for _, g := range reports.GlossarySections() {
		gg := glossaryGroup{Title: g.Title, What: g.What, When: g.When}
		for _, t := range g.Terms {
			gg.Terms = append(gg.Terms, glossaryRow{Name: t.Name, Anchor: anchor(t.Name), What: code(t.What), When: code(t.When), Verdict: code(cmp.Or(t.Verdict, "–"))})
		}
		out = append(out, gg)
	}
	return out
}

// code renders text with `code` spans as HTML, escaping the rest.
func code(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(part))
		}
	}
	return template.HTML(b.String())
}

// isProblemCounter reports whether a non-zero counter is bad news.
func isProblemCounter(name string) bool {
	switch name {
	case reports.CounterDropped, reports.CounterTimeouts, reports.CounterErrors, reports.CounterViolations,
		reports.CounterSignInFailed, reports.CounterRejectedPosts, reports.CounterClamped:
		return true
	}
	return strings.HasPrefix(name, "violations.")
}

// rooms returns the rooms table: every room when there are at most
// MaxRooms, otherwise the worst MaxRooms of those with a problem (lost,
// duplicated, out-of-order or spoofed deliveries), worst first (most
// lost, then most of the other problems), and a sentence on the others.
func rooms(rs []reports.RoomDelivery) (rows []roomRow, note string) {
	if len(rs) == 0 {
		return nil, "No per-room accounting in this run."
	}
	problems := func(r *reports.RoomDelivery) int64 { return r.Duplicated + r.OutOfOrder + r.Spoofed }
	sorted := slices.Clone(rs)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := &sorted[i], &sorted[j]
		if a.Lost != b.Lost {
			return a.Lost > b.Lost
		}
		if pa, pb := problems(a), problems(b); pa != pb {
			return pa > pb
		}
		return a.Room < b.Room
	})
	isBad := func(r *reports.RoomDelivery) bool { return r.Lost+problems(r) > 0 }
	nbad, idle := 0, 0
	for i := range sorted {
		if isBad(&sorted[i]) {
			nbad++
		}
		if sorted[i].StatusOf() == reports.NotExercised {
			idle++
		}
	}
	shown := sorted
	if len(sorted) > MaxRooms {
		shown = sorted[:min(nbad, MaxRooms)]
	}
	for i := range shown {
		r := &shown[i]
		completion := "–"
		if r.Expected > 0 {
			completion = percent(float64(r.Received) / float64(r.Expected))
		}
		rows = append(rows, roomRow{
			Room: r.Room, Members: reports.FormatCount(int64(r.Members)), Posts: reports.FormatCount(r.Posts), Expected: reports.FormatCount(r.Expected),
			Received: reports.FormatCount(r.Received), Lost: reports.FormatCount(r.Lost), Completion: completion, Duplicated: reports.FormatCount(r.Duplicated),
			OutOfOrder: reports.FormatCount(r.OutOfOrder), Spoofed: reports.FormatCount(r.Spoofed), Extra: reports.FormatCount(r.Extra), Bad: isBad(r),
		})
	}
	rest := sorted[len(shown):]
	switch {
	case idle == len(sorted):
		note = fmt.Sprintf("None of the %s rooms was exercised: no delivery was expected in any of them.", reports.FormatCount(int64(len(sorted))))
	case nbad == 0 && idle > 0:
		note = fmt.Sprintf("%s of %s rooms are clean (no lost, duplicated, out-of-order or spoofed deliveries); %s were not exercised (no delivery expected).", reports.FormatCount(int64(len(sorted)-idle)), reports.FormatCount(int64(len(sorted))), reports.FormatCount(int64(idle)))
	case nbad == 0:
		note = fmt.Sprintf("All %s rooms are clean: no lost, duplicated, out-of-order or spoofed deliveries.", reports.FormatCount(int64(len(sorted))))
	case len(rest) == 0:
		note = fmt.Sprintf("%s of %s rooms had lost, duplicated, out-of-order or spoofed deliveries.", reports.FormatCount(int64(nbad)), reports.FormatCount(int64(len(sorted))))
	default:
		var agg reports.Delivery
		restBad := 0
		for i := range rest {
			agg.Posts += rest[i].Posts
			agg.Expected += rest[i].Expected
			agg.Received += rest[i].Received
			agg.Lost += rest[i].Lost
			if isBad(&rest[i]) {
				restBad++
			}
		}
		note = fmt.Sprintf("%s rooms in all, %s with lost, duplicated, out-of-order or spoofed deliveries", reports.FormatCount(int64(len(sorted))), reports.FormatCount(int64(nbad)))
		if len(shown) > 0 {
			note += fmt.Sprintf(" (the worst %s listed)", reports.FormatCount(int64(len(shown))))
		}
		note += fmt.Sprintf(". The %s rooms not listed", reports.FormatCount(int64(len(rest))))
		if restBad == 0 {
			note += " are all clean"
		} else {
			note += fmt.Sprintf(" include %s with problems", reports.FormatCount(int64(restBad)))
		}
		note += fmt.Sprintf(": %s posts, %s deliveries expected, %s received, %s lost.", reports.FormatCount(agg.Posts), reports.FormatCount(agg.Expected), reports.FormatCount(agg.Received), reports.FormatCount(agg.Lost))
	}
	return rows, note
}

// rules returns the conformance rows: env's rules in order, then any other
// rule with a violations.<rule> counter, by count then ID; without env
// rules only the violated ones.
func rules(counters map[string]int64, env []RuleResult) (rows []ruleRow, total, note string) {
	byRule := map[string]int64{}
	var sum int64
	for k, n := range counters {
		if id, ok := strings.CutPrefix(k, "violations."); ok {
			byRule[id] = n
			sum += n
		}
	}
	listed := map[string]bool{}
	var envOnly int64 // violations known from env alone
	for _, r := range env {
		n := r.Violations
		if c, ok := byRule[r.ID]; ok {
			n = c
		} else {
			envOnly += n
		}
		listed[r.ID] = true
		rows = append(rows, ruleRow{ID: r.ID, Title: r.Title, Ref: r.Ref, Violations: reports.FormatCount(n), Bad: n > 0, NotExercised: n == 0 && r.NotExercised})
	}
	t, ok := counters[reports.CounterViolations]
	if !ok {
		t = sum + envOnly
	}
	total = reports.FormatCount(t)
	var others []string
	for id, n := range byRule {
		if !listed[id] && n != 0 {
			others = append(others, id)
		}
	}
	sort.Slice(others, func(i, j int) bool {
		if byRule[others[i]] != byRule[others[j]] {
			return byRule[others[i]] > byRule[others[j]]
		}
		return others[i] < others[j]
	})
	for _, id := range others {
		rows = append(rows, ruleRow{ID: id, Violations: reports.FormatCount(byRule[id]), Bad: true})
	}
	switch {
	case t == 0 && len(others) == 0:
		note = "No protocol violations."
	case t > 0 && sum == 0 && envOnly == 0:
		note = fmt.Sprintf("%s protocol violations, not broken down by rule.", total)
	}
	return rows, total, note
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func intOrDash(n int) string {
	if n == 0 {
		return "–"
	}
	return reports.FormatCount(int64(n))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Millisecond)
	if d >= time.Minute {
		return fmt.Sprintf("%s s (%s)", num(s), d)
	}
	return num(s) + " s"
}

// num renders v with up to 4 significant digits (integers in full).
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return reports.FormatCount(int64(v))
	}
	if math.Abs(v) >= 1000 {
		return reports.FormatCount(int64(math.Round(v)))
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func rate(v float64) string { return num(v) + "/s" }

// ms renders microseconds as milliseconds with 3 decimals.
func ms(us int64) string { return strconv.FormatFloat(float64(us)/1e3, 'f', 3, 64) }

func msUnit(us int64) string { return reports.FormatMicros(float64(us)) }

func percent(f float64) string {
	if f != 0 && math.Abs(f) < 0.0001 {
		return strconv.FormatFloat(100*f, 'g', 2, 64) + "%"
	}
	p := 100 * f
	if p != 100 && p > 99.99 {
		p = 99.99 // do not round a shortfall up to 100%
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

func bytesSize(n uint64) string {
	switch {
	case n == 0:
		return "–"
	case n < 1<<20:
		return num(float64(n)/(1<<10)) + " KiB"
	case n < 1<<30:
		return num(float64(n)/(1<<20)) + " MiB"
	}
	return num(float64(n)/(1<<30)) + " GiB"
}

// servers are the rows of the servers table: each server's share of a run
// on several servers (summary.json servers).
func servers(scs []reports.ServerCounts) []serverRow {
	var rows []serverRow
	for _, sc := range scs {
		cpu := "–"
		if sc.CPUSeconds > 0 {
			cpu = strconv.FormatFloat(sc.CPUSeconds, 'f', 2, 64)
		}
		rows = append(rows, serverRow{
			Server: sc.Server, Users: reports.FormatCount(sc.Users), Posts: reports.FormatCount(sc.Posts),
			Deliveries: reports.FormatCount(sc.Deliveries), Errors: reports.FormatCount(sc.Errors),
			SessionsLost: reports.FormatCount(sc.SessionsLost), Reconnected: reports.FormatCount(sc.Reconnected), CPU: cpu,
			Killed: sc.Killed, Bad: sc.Errors > 0 || sc.SessionsLost > 0,
		})
	}
	return rows
}
