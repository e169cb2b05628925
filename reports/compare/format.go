package compare

import (
	"math"
	"strconv"

	"github.com/gcload/gcload/reports"
)

// fmtNum renders integers exactly and other values with up to four
// significant digits, never in exponent form.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// fmtValue renders a value in unit "µs" (as a duration) or a plain number.
func fmtValue(v float64, unit string) string {
	if unit == "µs" {
		return reports.FormatMicros(v)
	}
	return fmtNum(v)
}

func signed(s string, v float64) string {
	if v > 0 {
		return "+" + s
	}
	return s
}

// formatPct renders a fraction as a signed percentage: "+29.8%".
func formatPct(rel float64) string {
	return signed(strconv.FormatFloat(100*rel, 'f', 1, 64)+"%", rel)
}

// formatRel renders a relative change, "n/a" for one from zero.
func formatRel(rel *float64) string {
	if rel == nil {
		return "from 0"
	}
	return formatPct(*rel)
}

// formatChange renders an absolute and relative change: "+585µs (+29.0%)",
// "+5 (from 0)".
func formatChange(delta float64, rel *float64, micros bool) string {
	var abs string
	if micros {
		abs = signed(reports.FormatMicros(delta), delta)
	} else {
		abs = signed(fmtNum(delta), delta)
	}
	if delta == 0 {
		return abs
	}
	return abs + " (" + formatRel(rel) + ")"
}

// formatP renders a p-value with up to two significant digits, "<0.0001"
// below that.
func formatP(p float64) string {
	if p < 1e-4 {
		return "<0.0001"
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'g', 2, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// statLabel names a statistic for people: p99_9 is "p99.9".
func statLabel(stat string) string {
	if stat == StatP999 {
		return "p99.9"
	}
	return stat
}

// pEquals renders "p=0.012" or "p<0.0001".
func pEquals(p float64) string {
	if f := formatP(p); f[0] == '<' {
		return "p" + f
	}
	return "p=" + formatP(p)
}
