package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Threshold is a parsed pass/fail rule, "METRIC OP VALUE", such as
// "post_to_last_delivery.p99 < 500ms" or "lost == 0".
type Threshold struct {
	// Metric is the metric name ("post_to_last_delivery", "lost",
	// "violations.RULE-ID").
	Metric string
	// Stat is the statistic of a latency metric (count, rate, min, mean,
	// p50, p90, p99, p99.9, p99.99, max), "" for a counter.
	Stat string
	// Op is one of < <= > >= == !=.
	Op string
	// Value is the bound: durations in microseconds, percentages as a
	// fraction (5% is 0.05), other numbers as written.
	Value float64
	// Raw is the rule as written, trimmed.
	Raw string
}

// statNames are the statistics a threshold may take of a latency metric.
const statNames = "p99.99 p99.9 count rate mean min max p50 p90 p99"

// latencyOps are the operations with latency histograms; a dot after one
// must introduce a statistic.
const latencyOps = "signin register lookup channel_invite join post_ack post_to_delivery post_to_last_delivery history search part sched_lag"

var (
	metricRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	valueRE  = regexp.MustCompile(`^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(\S*)$`)
)

// ParseThreshold parses a threshold's syntax: METRIC OP VALUE, where
// METRIC is NAME or NAME.STAT (STAT one of count, rate, min, mean, p50,
// p90, p99, p99.9, p99.99, max; NAME may be a family member such as
// violations.RULE-ID or sip.503), OP one of < <= > >= == !=, and VALUE a
// number with an optional unit (us, µs, ms, s, m; % for ratios). Whether
// NAME is a known metric, and whether the statistic and unit suit it, is
// left to the reports package that evaluates thresholds.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Raw: strings.TrimSpace(s)}
	fail := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%q: %s", s, fmt.Sprintf(format, args...))
	}
	str := strings.TrimSpace(s)
	i := strings.IndexAny(str, "<>=!")
	if i < 0 {
		return fail("missing operator (want METRIC OP VALUE, such as \"lost == 0\")")
	}
	metric, rest := strings.TrimSpace(str[:i]), str[i:]
	j := strings.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune("<>=!", r) })
	if j < 0 {
		j = len(rest)
	}
	t.Op, rest = rest[:j], strings.TrimSpace(rest[j:])
	switch t.Op {
	case "<", "<=", ">", ">=", "==", "!=":
	default:
		return fail("unknown operator %q (want <, <=, >, >=, == or !=)", t.Op)
	}
	if metric == "" {
		return fail("missing metric before %q", t.Op)
	}
	t.Metric = metric
	for st := range strings.FieldsSeq(statNames) {
		if name, ok := strings.CutSuffix(metric, "."+st); ok && name != "" {
			t.Metric, t.Stat = name, st
			break
		}
	}
	first, family, dotted := strings.Cut(t.Metric, ".")
	switch {
	case !metricRE.MatchString(first):
		return fail("%q is not a metric name (lowercase letters, digits and _)", t.Metric)
	case dotted && strings.Contains(" "+latencyOps+" ", " "+first+" "):
		return fail("unknown statistic %q of %s (want count, rate, min, mean, p50, p90, p99, p99.9, p99.99 or max)", family, first)
	case dotted && (family == "" || strings.ContainsAny(family, " \t")):
		return fail("%q is not a metric name", t.Metric)
	}
	if rest == "" {
		return fail("missing value after %q", t.Op)
	}
	m := valueRE.FindStringSubmatch(rest)
	if m == nil {
		return fail("%q is not a number with an optional unit (such as 0, 500ms, 1.5s, 0.1%%)", rest)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return fail("%q is not a number", m[1])
	}
	switch m[2] {
	case "":
	case "us", "µs", "μs":
	case "ms":
		v *= 1e3
	case "s":
		v *= 1e6
	case "m":
		v *= 60e6
	case "%":
		v /= 100
	default:
		return fail("unknown unit %q (want us, ms, s, m or %%)", m[2])
	}
	t.Value = v
	return t, nil
}

// String returns the rule as written.
func (t Threshold) String() string { return t.Raw }
