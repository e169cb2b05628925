package compare

import (
	"html/template"
	"io"
)

// htmlRow is one row of the operations table.
type htmlRow struct {
	Op                   string
	First                bool
	Span                 int
	Stat                 string
	Base, New, Change, P string
	Noise                string
	Class                string // slower, faster, toofew or ""
}

type htmlCounter struct {
	Name, Base, New, Change string
	Worse                   bool
}

type htmlRule struct {
	Mark, Class, Rule, Detail string
}

type htmlData struct {
	R                 *Report
	Base, New         string
	Settings          string
	Rows              []htmlRow
	OnlyBase, OnlyNew string
	Counters          []htmlCounter
	Rules             []htmlRule
	Charts            []htmlChart
}

func (r *Report) htmlData() htmlData {
	d := htmlData{R: r, Base: describeRun(r.Base), New: describeRun(r.New), Settings: settingsLine(r.Settings)}
	for i := range r.Ops {
		oc := &r.Ops[i]
		first := true
		for _, st := range textStats {
			sc := oc.Stat(st)
			if sc == nil {
				continue
			}
			b, n, c := statCells(sc)
			p, v := noiseCells(sc.Noise)
			row := htmlRow{Op: string(oc.Op), First: first, Span: len(textStats), Stat: statLabel(st), Base: b, New: n, Change: c, P: p, Noise: v}
			if sc.Noise != nil {
				switch {
				case sc.Noise.Beyond && sc.Delta > 0:
					row.Class = "slower"
				case sc.Noise.Beyond:
					row.Class = "faster"
				case !sc.Noise.Judged:
					row.Class = "toofew"
				}
			}
			first = false
			d.Rows = append(d.Rows, row)
		}
	}
	d.OnlyBase, d.OnlyNew = joinOpsList(r.OnlyInBase), joinOpsList(r.OnlyInNew)
	for _, c := range r.Counters {
		d.Counters = append(d.Counters, htmlCounter{Name: c.Name, Base: fmtNum(c.Base), New: fmtNum(c.New), Change: formatChange(c.Delta, c.Rel, false), Worse: c.Worse})
	}
	for _, rr := range r.Rules {
		d.Rules = append(d.Rules, htmlRule{Mark: ruleMark(rr.Status), Class: rr.Status, Rule: rr.Rule.Raw, Detail: rr.Detail})
	}
	d.Charts = renderCharts(r.charts)
	return d
}

// htmlTemplate holds "fragment", a <section> with its own scoped style,
// and "page", a whole document around it. Nothing refers to another
// resource: no external URL, script, font or image.
var htmlTemplate = template.Must(template.New("compare").Parse(`{{define "fragment"}}<section class="gcload-compare">
<style>
.gcload-compare{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;font-size:14px;line-height:1.4;color:#222}
.gcload-compare figure{margin:1.2em 0}
.gcload-compare figure svg{width:100%;height:auto;display:block}
.gcload-compare table{border-collapse:collapse;margin:0.5em 0 1.5em}
.gcload-compare th,.gcload-compare td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
.gcload-compare th{background:#f3f3f3}
.gcload-compare td.name,.gcload-compare th.name,.gcload-compare td.text{text-align:left}
.gcload-compare tr.slower td{background:#fde2e1}
.gcload-compare tr.faster td{background:#e2f5e4}
.gcload-compare tr.toofew td{color:#777}
.gcload-compare td.worse,.gcload-compare .fail{color:#b00020;font-weight:bold}
.gcload-compare .inconclusive{color:#a15c00;font-weight:bold}
.gcload-compare .verdict{font-size:1.2em;font-weight:bold;padding:0.5em;border-radius:4px}
.gcload-compare .verdict.ok{background:#e2f5e4}
.gcload-compare .verdict.bad{background:#fde2e1}
.gcload-compare .warn{color:#a15c00}
</style>
{{if .R.Regressed}}<p class="verdict bad">Regression</p>
<ul>{{range .R.Regressions}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p class="verdict ok">{{.R.Verdict}}</p>{{end}}
{{range .R.Inconclusive}}<p class="inconclusive">inconclusive: {{.}}</p>{{end}}
<dl>
<dt>base: {{.R.Base.Name}}</dt><dd>{{.Base}}</dd>
<dt>new: {{.R.New.Name}}</dt><dd>{{.New}}</dd>
</dl>
<p>{{.Settings}}</p>
{{if .R.Warnings}}<ul class="warn">{{range .R.Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h3>Latency per operation</h3>
<table>
<thead><tr><th class="name">operation</th><th class="name">stat</th><th>base</th><th>new</th><th>change</th><th>p</th><th class="name">noise</th></tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Class}} class="{{.Class}}"{{end}}>{{if .First}}<td class="name" rowspan="{{.Span}}">{{.Op}}</td>{{end}}<td class="name">{{.Stat}}</td><td>{{.Base}}</td><td>{{.New}}</td><td>{{.Change}}</td><td>{{.P}}</td><td class="text">{{.Noise}}</td></tr>
{{end}}</tbody>
</table>
{{if .OnlyBase}}<p>only in {{.R.Base.Name}}: {{.OnlyBase}}</p>{{end}}
{{if .OnlyNew}}<p>only in {{.R.New.Name}}: {{.OnlyNew}}</p>{{end}}
<h3>Delivery and counters</h3>
<table>
<thead><tr><th class="name">figure</th><th>base</th><th>new</th><th>change</th></tr></thead>
<tbody>
{{range .Counters}}<tr><td class="name">{{.Name}}</td><td>{{.Base}}</td><td{{if .Worse}} class="worse"{{end}}>{{.New}}</td><td>{{.Change}}</td></tr>
{{end}}</tbody>
</table>
{{if .Rules}}<h3>Rules</h3>
<table>
<thead><tr><th class="name">outcome</th><th class="name">rule</th><th class="name">detail</th></tr></thead>
<tbody>
{{range .Rules}}<tr><td class="name {{.Class}}">{{.Mark}}</td><td class="name">{{.Rule}}</td><td class="text">{{.Detail}}</td></tr>
{{end}}</tbody>
</table>{{end}}
{{if .Charts}}<h3>Charts</h3>
{{range .Charts}}{{if .Err}}<p class="fail">Chart not drawn: {{.Title}}: {{.Err}}</p>
{{else}}<figure id="chart-{{.ID}}" role="img" aria-label="{{.Title}}">
{{.SVG}}
</figure>
{{end}}{{end}}{{end}}</section>
{{end}}{{define "page"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gcload compare: {{.R.Base.Name}} → {{.R.New.Name}}</title>
<style>body{margin:0 auto;padding:0 1.5em 3em;max-width:1180px;font-family:"Liberation Sans",Arial,Helvetica,sans-serif}</style>
</head>
<body>
<h2>gcload compare: {{.R.Base.Name}} → {{.R.New.Name}}</h2>
{{template "fragment" .}}</body>
</html>
{{end}}`))

// WriteHTML writes the report as a self-contained HTML page: inline
// style, no scripts, no external resources.
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlTemplate.ExecuteTemplate(w, "page", r.htmlData())
}

// WriteHTMLFragment writes the report as one self-contained <section>
// (its style scoped to the section's class) for embedding in another
// page, such as report.html.
func (r *Report) WriteHTMLFragment(w io.Writer) error {
	return htmlTemplate.ExecuteTemplate(w, "fragment", r.htmlData())
}
