package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gcload/gcload/internal/jsonshape"
	"github.com/gcload/gcload/reports"
)

// textStats are the statistics of an operation the text and HTML tables
// show; JSON has them all.
var textStats = []string{StatCount, StatP50, StatP90, StatP99, StatP999, StatMax}

// describeRun renders "smoke, 2026-11-22 00:52:28 UTC, 37s, 37 intervals".
func describeRun(ri RunInfo) string {
	var parts []string
	if ri.Scenario != "" {
		parts = append(parts, ri.Scenario)
	}
	if !ri.Start.IsZero() {
		parts = append(parts, ri.Start.UTC().Format(time.DateTime+" MST"))
	}
	parts = append(parts, fmtNum(math.Round(ri.Seconds*10)/10)+"s", fmt.Sprintf("%d intervals", ri.Intervals))
	if ri.Verdict != "" {
		parts = append(parts, "verdict "+ri.Verdict)
	}
	return strings.Join(parts, ", ")
}

// settingsLine describes the noise test.
func settingsLine(s Settings) string {
	units := "intervals"
	if s.PoolIntervals {
		units = "intervals, sparse ones pooled,"
	}
	return fmt.Sprintf("noise test: %s (%s of at least %d samples, at least %d per run), alpha %s, minimum effect %s%%",
		s.Method, units, s.MinIntervalSamples, s.MinIntervals, fmtNum(s.Alpha), fmtNum(100*s.MinEffect))
}

// noiseCells returns the p-value and judgement cells of a statistic.
func noiseCells(n *Noise) (p, verdict string) {
	if n == nil {
		return "", ""
	}
	if !n.Judged {
		return "-", fmt.Sprintf("%s (%d and %d intervals)", NoiseTooFew, n.BaseIntervals, n.NewIntervals)
	}
	return formatP(n.P), n.Verdict
}

// statCells renders a statistic's base, new and change cells.
func statCells(sc *StatComparison) (base, new, change string) {
	micros := IsLatencyStat(sc.Stat)
	unit := ""
	if micros {
		unit = "µs"
	}
	return fmtValue(sc.Base, unit), fmtValue(sc.New, unit), formatChange(sc.Delta, sc.Rel, micros)
}

// WriteText writes the report for people: the runs and the method, any
// warnings, a table per operation (count, p50, p90, p99, p99.9, max, with
// the noise test of p50, p90 and p99), the delivery figures and counters,
// the rules, and the verdict line last.
func (r *Report) WriteText(w io.Writer) error {
	ew := &reports.ErrWriter{W: w}
	fmt.Fprintf(ew, "base: %s (%s)\n", r.Base.Name, describeRun(r.Base))
	fmt.Fprintf(ew, "new:  %s (%s)\n", r.New.Name, describeRun(r.New))
	fmt.Fprintln(ew, settingsLine(r.Settings))
	if len(r.Warnings) > 0 {
		fmt.Fprintln(ew)
		fmt.Fprintln(ew, "warnings")
		for _, wr := range r.Warnings {
			fmt.Fprintf(ew, "  - %s\n", wr)
		}
	}

	fmt.Fprintln(ew)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "operation\tstat\tbase\tnew\tchange\tp\tnoise")
	for i := range r.Ops {
		oc := &r.Ops[i]
		for j, st := range textStats {
			sc := oc.Stat(st)
			if sc == nil {
				continue
			}
			name := ""
			if j == 0 {
				name = string(oc.Op)
			}
			b, n, c := statCells(sc)
			p, v := noiseCells(sc.Noise)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, statLabel(st), b, n, c, p, v)
		}
	}
	tw.Flush()
	if len(r.Ops) == 0 {
		fmt.Fprintln(ew, "(no operation in both runs)")
	}
	if len(r.OnlyInBase) > 0 {
		fmt.Fprintf(ew, "only in %s: %s\n", r.Base.Name, joinOpsList(r.OnlyInBase))
	}
	if len(r.OnlyInNew) > 0 {
		fmt.Fprintf(ew, "only in %s: %s\n", r.New.Name, joinOpsList(r.OnlyInNew))
	}

	fmt.Fprintln(ew)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "delivery and counters\tbase\tnew\tchange\t")
	for _, c := range r.Counters {
		mark := ""
		if c.Worse {
			mark = "rose from zero"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, fmtNum(c.Base), fmtNum(c.New), formatChange(c.Delta, c.Rel, false), mark)
	}
	tw.Flush()

	if len(r.Rules) > 0 {
		fmt.Fprintln(ew)
		fmt.Fprintln(ew, "rules")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, rr := range r.Rules {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", ruleMark(rr.Status), rr.Rule.Raw, rr.Detail)
		}
		tw.Flush()
	}

	fmt.Fprintln(ew)
	for _, s := range r.Inconclusive {
		fmt.Fprintf(ew, "inconclusive: %s\n", s)
	}
	if r.Regressed {
		fmt.Fprintln(ew, "verdict: REGRESSION")
		for _, s := range r.Regressions {
			fmt.Fprintf(ew, "  - %s\n", s)
		}
	} else {
		fmt.Fprintf(ew, "verdict: %s\n", r.Verdict)
	}
	return ew.Err
}

func ruleMark(status string) string {
	switch status {
	case RuleFail:
		return "FAIL"
	case RuleInconclusive:
		return "INCONCLUSIVE"
	}
	return "pass"
}

func joinOpsList[T ~string](ops []T) string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

// WriteJSON writes the comparison as indented JSON: snake_case keys, and
// [] for an empty list, never null.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonshape.Filled(r))
}
