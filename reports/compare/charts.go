package compare

import (
	"fmt"
	"html/template"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
)

// Colours of the two runs: the base run dashed in light grey, the new one
// in the operation's own colour.
const baseColor = "#a8a8a8"

// chartColumns is the number of panels per row of the comparison charts.
const chartColumns = 3

// buildCharts returns the charts of a comparison, as small multiples of
// the operations in both runs: each one's latency percentile spectrum in
// the base and the new run, and the per-interval p99 values the noise
// test compares (one point per qualifying interval). A chart without any
// operation to show is left out.
func buildCharts(rep *Report, base, new *reports.Result, bd, nd map[reports.Op]*opData) []charts.Chart {
	var out []charts.Chart
	names := fmt.Sprintf("base: %s (grey, dashed), new: %s (the operation's colour)", rep.Base.Name, rep.New.Name)

	spectrum := charts.Chart{
		ID: "compare_spectrum", Title: "Latency by percentile, base and new",
		Note: names, X: charts.Axis{Label: "percentile", Scale: charts.ScalePercentile}, Columns: chartColumns,
	}
	intervals := charts.Chart{
		ID: "compare_p99_intervals", Title: "p99 per interval, base and new: the values the noise test compares",
		Note: names, Columns: chartColumns,
		X: charts.Axis{Label: fmt.Sprintf("interval (those of at least %d samples, in order)", rep.Settings.MinIntervalSamples), Scale: charts.ScaleLinear},
	}
	if rep.Settings.PoolIntervals {
		intervals.X.Label = fmt.Sprintf("interval, or pool of consecutive intervals (of at least %d samples, in order)", rep.Settings.MinIntervalSamples)
	}
	for i := range rep.Ops {
		oc := &rep.Ops[i]
		op := oc.Op
		title := string(op)
		if sc := oc.Stat(StatP99); sc != nil {
			title = fmt.Sprintf("%s\np99 %s", op, formatChange(sc.Delta, sc.Rel, true)) // two lines: three panels a row leave no room for one
			switch n := sc.Noise; {
			case n == nil:
			case n.Beyond:
				title += ", beyond noise"
			case !n.Judged:
				title += ", too few intervals to judge"
			default:
				title += ", within noise"
			}
		}
		bh, nh := base.Hists[op], new.Hists[op]
		if bh != nil && nh != nil && bh.TotalCount() > 1 && nh.TotalCount() > 1 {
			ss := []charts.Series{
				{Name: "base", Color: baseColor, Style: charts.StyleLine, Dashed: true, Points: charts.Thin(charts.SpectrumPoints(bh), charts.DefaultMaxPoints)},
				{Name: "new", Color: charts.OpColor(op), Style: charts.StyleLine, Points: charts.Thin(charts.SpectrumPoints(nh), charts.DefaultMaxPoints)},
			}
			lo, hi := charts.PositiveRange(ss, nil)
			spectrum.Panels = append(spectrum.Panels, charts.Panel{Title: title, Y: charts.LatencyAxis(lo, hi), Series: ss})
		}
		b, n := bd[op], nd[op]
		if b == nil || n == nil || len(b.intervals[StatP99]) == 0 || len(n.intervals[StatP99]) == 0 {
			continue
		}
		ss := []charts.Series{
			{Name: "base", Color: baseColor, Style: charts.StylePoints, Points: intervalPoints(b.intervals[StatP99])},
			{Name: "new", Color: charts.OpColor(op), Style: charts.StylePoints, Points: intervalPoints(n.intervals[StatP99])},
		}
		lo, hi := charts.PositiveRange(ss, nil)
		intervals.Panels = append(intervals.Panels, charts.Panel{Title: title, Y: charts.LatencyAxis(lo, hi), Series: ss})
	}
	for _, c := range []charts.Chart{spectrum, intervals} {
		if len(c.Panels) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// intervalPoints returns one point per value (µs), x the interval's
// number from 1, y in ms.
func intervalPoints(us []float64) []charts.Point {
	pts := make([]charts.Point, len(us))
	for i, v := range us {
		pts[i] = charts.Point{X: float64(i + 1), Y: v / 1e3}
	}
	return pts
}

// htmlChart is a chart rendered for the HTML page.
type htmlChart struct {
	ID, Title string
	SVG       template.HTML
	Err       string
}

func renderCharts(cs []charts.Chart) []htmlChart {
	var out []htmlChart
	for i := range cs {
		svg, err := cs[i].InlineSVG()
		if err != nil {
			out = append(out, htmlChart{ID: cs[i].ID, Title: cs[i].Title, Err: err.Error()})
			continue
		}
		out = append(out, htmlChart{ID: cs[i].ID, Title: cs[i].Title, SVG: template.HTML(svg)})
	}
	return out
}

// Charts returns the charts of the comparison (see WriteHTML); a Report
// decoded from JSON has none.
func (r *Report) Charts() []charts.Chart { return r.charts }
