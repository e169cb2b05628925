package capacity

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"regexp"
	"strings"

	"github.com/gcload/gcload/reports/charts/style"
)

// PageFile is the capacity page's file name in a results folder.
const PageFile = "capacity.html"

// WriteHTML writes the prediction as one self-contained page for people
// (capacity.html): the answer first (max posts/s, users per room, users
// per server and per pool on the profile, each with its band and the
// resource that runs out at each edge of it, against the published
// figure), then the validation in green, amber or red, the tables the
// text report has, the model, and the charts with their captions. The
// page is well-formed XHTML with the charts inline and no external
// resource.
func (p Prediction) WriteHTML(w io.Writer, cal Calibration) error {
	v := pageView{P: p, Pass: style.PassHex, Fail: style.FailHex}
	v.Headline = p.headline()
	v.Status = orRed(p.Validation.Status)
	v.Checks = []checkView{
		{Name: "Server CPU", Status: orRed(p.Validation.CPUCheck.Status), Sentence: p.Validation.CPUCheck.Sentence},
		{Name: "Latency", Status: orRed(p.Validation.LatencyCheck.Status), Sentence: p.Validation.LatencyCheck.Sentence},
	}
	v.ValidationRows = validationRows(p.Validation)
	v.Pool = poolViewOf(p.PoolValidation)
	if cc := p.Model.CoreCheck; cc != nil {
		v.CoreCheck = &checkView{Name: "Across core counts", Status: cc.Status(), Sentence: cc.Sentence()}
	}
	for _, c := range p.Constraints {
		v.Constraints = append(v.Constraints, constraintRow{Resource: string(c.Resource), Posts: bandCells(c.MaxPostsPerSec), Users: bandCells(c.MaxUsers)})
	}
	for _, r := range p.BySize {
		v.BySize = append(v.BySize, sizeRow{Size: num(float64(r.RoomSize)), Posts: bandCells(r.MaxPostsPerSec), Deliveries: num(r.MaxDeliveriesPerSec.Mid),
			Binding: string(r.Binding), Latency: durCells(r.LastDeliveryUs), Meets: r.MeetsObjective})
	}
	for _, c := range p.Constraints {
		v.LoadHeads = append(v.LoadHeads, string(c.Resource))
	}
	for _, l := range p.Loads {
		row := loadRow{Posts: num(l.PostsPerSec), Deliveries: num(l.DeliveriesPerSec)}
		for _, c := range p.Constraints {
			cell := "-"
			for _, u := range l.Utilization {
				if u.Resource == c.Resource {
					cell = pct(u.Utilization.Mid) + " (" + pct(u.Utilization.High) + ")"
				}
			}
			row.Use = append(row.Use, cell)
		}
		row.Lat = []string{durMidHigh(l.PostAckP99Us), durMidHigh(l.LastDeliveryP50Us), durMidHigh(l.LastDeliveryP99Us)}
		v.Loads = append(v.Loads, row)
	}
	v.Model = p.modelRows()
	for _, c := range p.Model.CPUModel.Candidates {
		row := candidateRow{Kind: string(c.Kind), Chosen: c.Kind == p.Model.CPUModel.Chosen, CV: "not cross-validated", Note: c.Note}
		if c.Fit.Coef != nil {
			row.Formula = c.Fit.Formula()
		}
		if cv := float64(c.CVError); !math.IsNaN(cv) {
			row.CV = fmt.Sprintf("%.1f%%", 100*cv)
			for _, s := range c.CVBySize {
				row.BySize = append(row.BySize, fmt.Sprintf("%s: %.1f%%", num(s.RoomSize), 100*s.MeanAbs))
			}
		}
		v.Candidates = append(v.Candidates, row)
	}
	for _, c := range Charts(cal, p) {
		fv := figureView{ID: c.Name, Title: c.Title, Caption: c.Caption, Message: c.Message}
		if c.Message == "" {
			svg, err := c.SVG()
			if err != nil {
				return err
			}
			fv.SVG = template.HTML(inlineSVG(svg))
		}
		v.Figures = append(v.Figures, fv)
	}
	return page.Execute(w, v)
}

type pageView struct {
	P              Prediction
	Pass, Fail     string
	Headline       []headlineRow
	Status         Status
	Checks         []checkView
	CoreCheck      *checkView
	Pool           *poolView
	ValidationRows []validationRow
	Constraints    []constraintRow
	BySize         []sizeRow
	LoadHeads      []string
	Loads          []loadRow
	Model          [][2]string
	Candidates     []candidateRow
	Figures        []figureView
}

type headlineRow struct {
	What      string
	Band      [3]string
	Binding   [3]string
	Runs      string // the binding resources, once when one binds the whole band
	Published string
	Headroom  string
	Meets     bool
	Note      string
}

type poolView struct {
	Status   Status
	Sentence string
	Rows     []poolRow
	Note     string
}

type poolRow struct {
	What, Measured, Predicted, Error, Target string
	Status                                   Status
}

// poolView is the pool validation as a status box and a table: the mean
// over the runs, then each run.
func poolViewOf(pv *PoolValidation) *poolView {
	if pv == nil {
		return nil
	}
	v := &poolView{Status: orRed(pv.Status), Sentence: pv.Sentence}
	row := func(what string, c PoolCheck, format func(float64) string) poolRow {
		r := poolRow{What: what, Measured: format(c.Measured), Predicted: "-", Error: "-", Target: fmt.Sprintf("%.0f%%", 100*c.Target), Status: orRed(c.Status)}
		if c.Predicted > 0 {
			r.Predicted, r.Error = format(c.Predicted), fmtErr(c.RelError)
			if c.Runs > 0 {
				r.Error = fmt.Sprintf("%.1f%% (mean |error|)", 100*c.MeanAbs)
			}
		}
		return r
	}
	runs := fmt.Sprintf("mean of %d runs", pv.CPU.Runs)
	v.Rows = []poolRow{row("servers' CPU (all together), "+runs, pv.CPU, fmtCPUSeconds), row("p99 post → last delivery, "+runs, pv.Latency, fmtDur)}
	var notes []string
	for i, rv := range pv.Runs {
		v.Rows = append(v.Rows, row(fmt.Sprintf("run %d: servers' CPU", i+1), rv.CPU, fmtCPUSeconds), row(fmt.Sprintf("run %d: p99 post → last delivery", i+1), rv.Latency, fmtDur))
		r := rv.Run
		var per []string
		for j, c := range r.PerServerCPUSeconds {
			per = append(per, fmt.Sprintf("server %d %s", j+1, fmtCPUSeconds(c)))
		}
		notes = append(notes, fmt.Sprintf("Run %d, %s, load average %.2f before and %.2f after: %d servers of %d cores each, %s s window, %s posts/s achieved; %s (idle taken out); PostgreSQL %s (not modelled), its commit %s mean, %s p99 before the run.",
			i+1, r.Time.UTC().Format("2006-01-02 15:04:05 UTC"), r.LoadAverage[0], r.LoadAverage[1], r.Servers, r.Cores, num(r.WallSeconds), num(r.AchievedPostsPerSec),
			strings.Join(per, ", "), fmtCPUSeconds(r.DatabaseCPUSeconds), fmtDur(r.DBCommitMeanUs), fmtDur(r.DBCommitP99Us)))
	}
	v.Note = strings.Join(notes, " ")
	return v
}

type checkView struct {
	Name     string
	Status   Status
	Sentence string
}

type validationRow struct {
	Size, CPURuns, CPU, LatRuns, Lat string
	CPUStatus, LatStatus             Status
}

type constraintRow struct {
	Resource string
	Posts    [3]string
	Users    [3]string
}

type sizeRow struct {
	Size       string
	Posts      [3]string
	Deliveries string
	Binding    string
	Latency    [3]string
	Meets      bool
}

type loadRow struct {
	Posts, Deliveries string
	Use               []string
	Lat               []string
}

type candidateRow struct {
	Kind, Formula, CV, Note string
	BySize                  []string
	Chosen                  bool
}

type figureView struct {
	ID, Title, Caption, Message string
	SVG                         template.HTML
}

func bandCells(b Band) [3]string { return [3]string{num(b.Low), num(b.Mid), num(b.High)} }

func durCells(b Band) [3]string { return [3]string{fmtDur(b.Low), fmtDur(b.Mid), fmtDur(b.High)} }

func durMidHigh(b Band) string { return fmtDur(b.Mid) + " (" + fmtDur(b.High) + ")" }

func bindingCells(b Binding) [3]string {
	return [3]string{bindName(b.Low), bindName(b.Mid), bindName(b.High)}
}

// headline is the answer: the four published figures, predicted.
func (p Prediction) headline() []headlineRow {
	obj := p.Objective
	pool, poolBinding := p.PoolUsers(TargetServersPerPool)
	latency := fmt.Sprintf("latency (p%g ≤ %s)", obj.Percentile, fmtDur(obj.PostToLastDeliveryUs))
	rows := []headlineRow{
		{What: "Max posts/s", Band: bandCells(p.MaxPostsPerSec), Binding: bindingCells(p.PostsBindingBand), Published: "40",
			Note: "for the mix " + mixName(p.Mix)},
		{What: "Users per room", Band: bandCells(p.MaxUsersPerRoom), Binding: [3]string{latency, latency, latency}, Published: "1,000",
			Note: fmt.Sprintf("the largest room whose p%g post → last delivery stays within %s at %g posts/s", obj.Percentile, fmtDur(obj.PostToLastDeliveryUs), obj.AtPostsPerSec)},
		{What: "Users per server", Band: bandCells(p.MaxUsers), Binding: bindingCells(p.UsersBindingBand), Published: "20,000",
			Note: "concurrent users of the mix"},
		{What: "Users per pool", Band: bandCells(pool), Binding: bindingCells(poolBinding), Published: "60,000",
			Note: PoolNote(TargetServersPerPool)},
	}
	for i := range rows {
		b := rows[i].Binding
		rows[i].Runs = b[0] + " / " + b[1] + " / " + b[2]
		if b[0] == b[1] && b[1] == b[2] {
			rows[i].Runs = b[1]
		}
	}
	for i, h := range p.Headroom {
		if i < len(rows) {
			rows[i].Headroom = ratio(h.Ratio.Mid)
			rows[i].Meets = h.Ratio.Mid >= 1
		}
	}
	return rows
}

// validationRows joins the two checks' errors by room size.
func validationRows(v Validation) []validationRow {
	idx := map[float64]int{}
	var rows []validationRow
	var sizes []float64
	row := func(s float64) *validationRow {
		i, ok := idx[s]
		if !ok {
			i = len(rows)
			idx[s] = i
			rows = append(rows, validationRow{Size: num(s), CPU: "-", Lat: "-", CPURuns: "0", LatRuns: "0"})
			sizes = append(sizes, s)
		}
		return &rows[i]
	}
	judge := func(e, target float64) Status {
		switch {
		case e <= target:
			return StatusGreen
		case e <= FarOff*target:
			return StatusAmber
		}
		return StatusRed
	}
	for _, s := range v.CPUCheck.BySize {
		r := row(s.RoomSize)
		r.CPU = fmt.Sprintf("%s (worst %s)", pctErr(s.MeanAbs), pctErr(s.Worst))
		r.CPURuns = fmt.Sprint(s.Runs)
		r.CPUStatus = judge(s.MeanAbs, CPUTarget)
	}
	for _, s := range v.LatencyCheck.BySize {
		r := row(s.RoomSize)
		r.Lat = fmt.Sprintf("%s (worst %s)", pctErr(s.MeanAbs), pctErr(s.Worst))
		r.LatRuns = fmt.Sprint(s.Runs)
		r.LatStatus = judge(s.MeanAbs, LatencyTarget)
	}
	// In room-size order.
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			if sizes[j] < sizes[i] {
				rows[i], rows[j] = rows[j], rows[i]
				sizes[i], sizes[j] = sizes[j], sizes[i]
			}
		}
	}
	return rows
}

// modelRows are the model's figures as label, value.
func (p Prediction) modelRows() [][2]string {
	m := p.Model
	var rows [][2]string
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	add("CPU factor", fmt.Sprintf("%s / %s / %s (one core of the profile against one of this machine), from %s", num(p.CPUFactor.Low), num(p.CPUFactor.Mid), num(p.CPUFactor.High), p.CPUFactorSource))
	add("CPU per post", m.CPUModel.Sentence)
	blo, bhi := m.CPU.CIB(Confidence)
	add("CPU per delivery", fmt.Sprintf("%s µs [%s..%s] as a straight line a + b·k (R² %.3f); the hot-path micro-calibration says %s µs", num(m.CPU.B), num(blo), num(bhi), m.CPU.R2, num(m.HotPathDeliveryUs)))
	u := m.USL
	usl := u.Note
	if u.SigmaFitted {
		usl = fmt.Sprintf("σ = %s", num(u.Sigma))
		if u.SEKnown {
			usl += " ± " + num(u.SESigma)
		}
		if u.KappaFitted {
			usl += fmt.Sprintf(", κ = %s, N* = %s", num(u.Kappa), num(u.PeakCores()))
		}
		over := fmt.Sprint(u.CoreCounts)
		if len(u.Allotments) > 0 {
			over = "CPU allotments " + fmtCores(u.Allotments)
		}
		usl += fmt.Sprintf(" over cores %s; speedup at %d cores %s. %s", over, p.Profile.Cores, num(u.Speedup(float64(p.Profile.Cores))), u.Note)
	}
	add("Scalability over cores", usl)
	if m.Sweep != "" {
		add("CPU-limited sweep", "the server limited by the cgroup cpu controller and driven to its knee by "+m.Sweep)
	}
	if m.CoreCheck != nil {
		add("Cross-check across core counts", m.CoreCheck.Sentence())
	}
	add("Throughput at saturation ÷ CPU bound", fmt.Sprintf("%s [%s..%s]", num(m.CPUEfficiency.Mid), num(m.CPUEfficiency.Low), num(m.CPUEfficiency.High)))
	add("Group commit", m.Batching.Sentence)
	if m.DiskBytesPerPost.Mid > 0 {
		add("Disk writes", num(m.DiskBytesPerPost.Mid)+" bytes per post")
	}
	if m.MemPerUser.Mid > 0 {
		add("Memory", fmt.Sprintf("%s bytes per user, %s per joined room (rooms per user in the mix: %s)", num(m.MemPerUser.Mid), num(m.MemPerJoinedRoom.Mid), num(p.Mix.roomsPerUser())))
	}
	if m.WireKnown {
		add("Bytes on the wire", fmt.Sprintf("%s + %s·k per post (R² %.3f)", num(m.Wire.A), num(m.Wire.B), m.Wire.R2))
	}
	add("Latency outside the queueing model", fmt.Sprintf("base %s; p99 post → last delivery tail %s + %s per recipient (%d runs; the per-recipient part, mostly the load generator's, is not carried to the profile)", fmtDur(m.BaseLatencyUs), fmtDur(m.TailP99.C0), fmtDur(m.TailP99.C1), m.TailP99.Runs))
	add("Micro-calibrations", fmt.Sprintf("hot path %s µs per delivery; fsync %s mean, %s p99", num(m.HotPathDeliveryUs), fmtDur(m.FsyncMeanUs), fmtDur(m.FsyncP99Us)))
	add("Runs", fmt.Sprintf("%d used at %d room sizes", len(m.Used), m.RoomSizes))
	for _, x := range m.Excluded {
		add("Left out", x)
	}
	return rows
}

var (
	svgOpen  = regexp.MustCompile(`<svg\b[^>]*>`)
	svgXmlns = regexp.MustCompile(`\s+xmlns(:[A-Za-z]+)?="[^"]*"`)
)

// inlineSVG is an SVG document as an element to embed in the page: from
// <svg on, without namespace declarations (and so without URLs).
func inlineSVG(svg []byte) string {
	s := string(svg)
	loc := svgOpen.FindStringIndex(s)
	if loc == nil {
		return ""
	}
	open := svgXmlns.ReplaceAllString(s[loc[0]:loc[1]], "")
	return strings.TrimSpace(open + s[loc[1]:])
}

var page = template.Must(template.New("capacity").Funcs(template.FuncMap{"mul100": func(x float64) float64 { return 100 * x }}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>Capacity on {{.P.Profile.Name}}</title>
<style>
body{font-family:"Liberation Sans",Arimo,Arial,Helvetica,sans-serif;color:#222;max-width:1180px;margin:0 auto;padding:1em 1.5em;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin:1.2em 0 .3em}
p.sub{color:#555;margin:.2em 0 1em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.93em}th,td{padding:.3em .7em;border-bottom:1px solid #e4e4e4;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
table.answer{font-size:1.05em;width:100%}table.answer td.what{font-weight:bold}
.status{border-left:.5em solid;padding:.5em 1em;margin:.6em 0}
.status.green{border-color:{{.Pass}};background:#eef8f0}.status.amber{border-color:#b26a00;background:#fff6e5}.status.red{border-color:{{.Fail}};background:#fdeef0}
.tag{display:inline-block;padding:0 .5em;border-radius:.2em;color:#fff;font-weight:bold;font-size:.85em;text-transform:uppercase}
.tag.green{background:{{.Pass}}}.tag.amber{background:#b26a00}.tag.red{background:{{.Fail}}}
td.green{color:{{.Pass}}}td.amber{color:#b26a00}td.red{color:{{.Fail}}}
td:not(.l){white-space:nowrap}td.met{color:{{.Pass}}}td.missed{color:{{.Fail}};font-weight:bold}
figure{margin:1em 0 2em}figure svg{width:100%;height:auto;display:block}figcaption{color:#555;font-size:.93em}
p.message{border:1px dashed #bbb;padding:.8em 1em;color:#444}
ul.warnings li{margin:.2em 0}
</style>
</head><body>
<h1>Capacity on {{.P.Profile.Name}}</h1>
<p class="sub">{{.P.Profile.Description}}. Mix: {{.P.Mix.Name}}. Bands are low / mid / high: every uncertain input at its pessimistic, central and optimistic edge, widened by the validation error; for a capacity low is the pessimistic end.</p>

<h2>The answer <span class="tag {{.Status}}" id="answer-status">validation {{.Status}}</span></h2>
<table class="answer" id="answer">
<thead><tr><th class="l">quantity</th><th>low</th><th>mid</th><th>high</th><th class="l">runs out of (low / mid / high)</th><th>published</th><th>mid ÷ published</th></tr></thead>
<tbody>
{{range .Headline}}<tr><td class="l what">{{.What}}</td><td>{{index .Band 0}}</td><td>{{index .Band 1}}</td><td>{{index .Band 2}}</td><td class="l">{{.Runs}}</td><td>{{.Published}}</td><td class="{{if .Meets}}met{{else}}missed{{end}}">{{.Headroom}}</td></tr>
{{end}}</tbody>
</table>
<p class="sub">{{range .Headline}}<b>{{.What}}</b>: {{.Note}}. {{end}}</p>

<h2>Validation</h2>
<div class="status {{.Status}}" id="validation"><span class="tag {{.Status}}">{{.Status}}</span> The model against runs it was not fitted on: server CPU within {{printf "%.0f" (mul100 .P.Validation.CPUCheck.Target)}}% and p99 post → last delivery within {{printf "%.0f" (mul100 .P.Validation.LatencyCheck.Target)}}% at every room size is green; missing a target is amber; far off (more than twice the target) or not validated is red.</div>
{{range .Checks}}<div class="status {{.Status}} check"><span class="tag {{.Status}}">{{.Status}}</span> {{.Sentence}}</div>
{{end}}<table id="validation-by-size">
<thead><tr><th>room size</th><th>runs</th><th>server CPU error</th><th>runs</th><th>p99 post → last delivery error</th></tr></thead>
<tbody>
{{range .ValidationRows}}<tr><td>{{.Size}}</td><td>{{.CPURuns}}</td><td class="{{.CPUStatus}}">{{.CPU}}</td><td>{{.LatRuns}}</td><td class="{{.LatStatus}}">{{.Lat}}</td></tr>
{{end}}</tbody>
</table>
<p class="sub">{{.P.Validation.Sentence}}</p>
{{with .CoreCheck}}<div class="status {{.Status}}" id="core-check"><span class="tag {{.Status}}">{{.Status}}</span> {{.Sentence}}</div>
{{end}}{{with .Pool}}<h3>The pool prediction against a measured pool</h3>
<div class="status {{.Status}}" id="pool-check"><span class="tag {{.Status}}">{{.Status}}</span> {{.Sentence}}</div>
<table id="pool-validation">
<thead><tr><th class="l">quantity</th><th>measured</th><th>predicted</th><th>error</th><th>target</th><th class="l">status</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td class="l">{{.What}}</td><td>{{.Measured}}</td><td>{{.Predicted}}</td><td class="{{.Status}}">{{.Error}}</td><td>{{.Target}}</td><td class="l {{.Status}}">{{.Status}}</td></tr>
{{end}}</tbody>
</table>
<p class="sub">{{.Note}}</p>
{{end}}
<h2>Resources</h2>
<table id="constraints">
<thead><tr><th class="l">resource</th><th>max posts/s low</th><th>mid</th><th>high</th><th>max users low</th><th>mid</th><th>high</th></tr></thead>
<tbody>
{{range .Constraints}}<tr><td class="l">{{.Resource}}</td><td>{{index .Posts 0}}</td><td>{{index .Posts 1}}</td><td>{{index .Posts 2}}</td><td>{{index .Users 0}}</td><td>{{index .Users 1}}</td><td>{{index .Users 2}}</td></tr>
{{end}}</tbody>
</table>

<h2>By room size</h2>
<p class="sub">Posts into rooms of one size; the latency is p{{.P.Objective.Percentile}} post → last delivery at {{.P.Objective.AtPostsPerSec}} posts/s.</p>
<table id="by-size">
<thead><tr><th>room size</th><th>max posts/s low</th><th>mid</th><th>high</th><th>deliveries/s (mid)</th><th class="l">runs out of</th><th>latency low</th><th>mid</th><th>high</th><th class="l">objective</th></tr></thead>
<tbody>
{{range .BySize}}<tr><td>{{.Size}}</td><td>{{index .Posts 0}}</td><td>{{index .Posts 1}}</td><td>{{index .Posts 2}}</td><td>{{.Deliveries}}</td><td class="l">{{.Binding}}</td><td>{{index .Latency 0}}</td><td>{{index .Latency 1}}</td><td>{{index .Latency 2}}</td><td class="l {{if .Meets}}met{{else}}missed{{end}}">{{if .Meets}}met{{else}}missed{{end}}</td></tr>
{{end}}</tbody>
</table>

<h2>At load</h2>
<p class="sub">The mix at each load: utilisation mid (high), latency mid (high).</p>
<table id="loads">
<thead><tr><th>posts/s</th><th>deliveries/s</th>{{range .LoadHeads}}<th>{{.}}</th>{{end}}<th>ack p99</th><th>last p50</th><th>last p99</th></tr></thead>
<tbody>
{{range .Loads}}<tr><td>{{.Posts}}</td><td>{{.Deliveries}}</td>{{range .Use}}<td>{{.}}</td>{{end}}{{range .Lat}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>

<h2>The model</h2>
<table id="model">
<thead><tr><th class="l">part</th><th class="l">fitted on this machine</th></tr></thead>
<tbody>
{{range .Model}}<tr><td class="l">{{index . 0}}</td><td class="l">{{index . 1}}</td></tr>
{{end}}</tbody>
</table>
<h3>CPU per post: the forms cross-validation chose from</h3>
<table id="cpu-forms">
<thead><tr><th class="l">form</th><th class="l">fitted on every run</th><th>error, each room size left out</th><th class="l">by room size</th><th class="l">chosen</th></tr></thead>
<tbody>
{{range .Candidates}}<tr><td class="l">{{.Kind}}</td><td class="l">{{.Formula}}</td><td>{{.CV}}</td><td class="l">{{range $i, $s := .BySize}}{{if $i}}, {{end}}{{$s}}{{end}}{{.Note}}</td><td class="l">{{if .Chosen}}chosen{{end}}</td></tr>
{{end}}</tbody>
</table>
{{with .P.Warnings}}<h3>Warnings</h3>
<ul class="warnings">{{range .}}<li>{{.}}</li>{{end}}</ul>
{{end}}
<h2>Charts</h2>
{{range .Figures}}<figure id="{{.ID}}"><h3>{{.Title}}</h3>{{if .Message}}<p class="message">{{.Message}}</p>{{else}}{{.SVG}}<figcaption>{{.Caption}}</figcaption>{{end}}</figure>
{{end}}</body></html>
`))
