package loadrun

import (
	"bytes"
	"html/template"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/htmlreport"
)

// shardsHTML is report.html's section on a merged run's shards (or a
// coordinated shard's clock): each shard's state, host and clock offsets
// with their uncertainty, the reason of a dead or missing one, and the
// clock warning. XHTML syntax, as htmlreport wants of extra sections.
var shardsHTML = template.Must(template.New("shards").Parse(`
{{- if .Clock}}
<p>This shard's clock was measured against the coordinator's: coordinator minus this machine <strong>{{.Clock}}</strong> (round trip {{.ClockRTT}}, {{.Clock.Samples}} samples). The times in these results are on the coordinator's clock.</p>
{{- end}}
{{- if .ClockWarning}}
<p class="bad">{{.ClockWarning}}</p>
{{- end}}
{{- if .Shards}}
<p>Clock offset: the coordinator's clock minus the shard's, ± its uncertainty (half the round trip of the best of the exchanges), before the start and before the shard sent its results. A delivery latency from a post sent on one shard to a delivery on another is corrected by both offsets and wrong by at most the sum of their uncertainties.</p>
<table>
<tr><th>shard</th><th>state</th><th>host</th><th>offset before</th><th>offset after</th><th>why</th></tr>
{{- range .Shards}}
<tr{{if ne .State "done"}} class="bad"{{end}}><td>{{.Index}}/{{.Of}}</td><td>{{.State}}</td><td>{{.Host}}{{if .Addr}} ({{.Addr}}){{end}}</td><td class="n">{{with .Clock}}{{.}}{{else}}-{{end}}</td><td class="n">{{with .EndClock}}{{.}}{{else}}-{{end}}</td><td>{{.Why}}</td></tr>
{{- end}}
</table>
{{- end}}
`))

// shardsSection is report.html's section on the shards and clocks of s
// (nil when s has none: an unsplit run without a coordinator).
func shardsSection(s *reports.Summary) (*htmlreport.Section, error) {
	if s.Clock == nil && len(s.Shards) == 0 {
		return nil, nil
	}
	v := struct {
		*reports.Summary
		ClockRTT string
	}{Summary: s}
	if s.Clock != nil {
		v.ClockRTT = reports.FormatMicros(float64(s.Clock.RTTUS))
	}
	var b bytes.Buffer
	if err := shardsHTML.Execute(&b, v); err != nil {
		return nil, err
	}
	title := "Shards and clocks"
	if len(s.Shards) == 0 {
		title = "Clock"
	}
	return &htmlreport.Section{Title: title, HTML: template.HTML(b.String())}, nil
}
