package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gcload/gcload/reports"
)

// ErrBadRule is wrapped by every error of ParseRule (a *RuleError).
var ErrBadRule = errors.New("compare: bad rule")

// Statistics of an operation, as named in rules and reports.
const (
	StatCount = "count" // samples
	StatRate  = "rate"  // samples per second of run
	StatMean  = "mean"  // µs
	StatP50   = "p50"   // µs
	StatP90   = "p90"   // µs
	StatP99   = "p99"   // µs
	StatP999  = "p99_9" // µs
	StatMax   = "max"   // µs
)

// Stats lists the statistics of an operation in report order.
var Stats = []string{StatCount, StatRate, StatMean, StatP50, StatP90, StatP99, StatP999, StatMax}

// NoiseStats are the statistics the report tests for noise in its table.
// Rules on any latency statistic (LatencyStats) get the same test on
// demand.
var NoiseStats = []string{StatP50, StatP90, StatP99}

// LatencyStats are the statistics in microseconds; each has a per-interval
// counterpart, so a noise test.
var LatencyStats = []string{StatMean, StatP50, StatP90, StatP99, StatP999, StatMax}

// IsLatencyStat reports whether stat is in microseconds.
func IsLatencyStat(stat string) bool { return slices.Contains(LatencyStats, stat) }

// Rule is one --fail-on regression rule, "METRIC OP CHANGE", comparing the
// new run with the base run:
//
//	post_to_last_delivery.p99 > +10%   fails if p99 grew by more than 10%
//	post_ack.p50 > +2ms                fails if p50 grew by more than 2 ms
//	post_ack.rate < -5%                fails if the rate fell by more than 5%
//	lost > +0                          fails if more deliveries were lost
//	errors.rate > +50%                 fails if errors per second grew by half
//
// METRIC is <op>.<stat> (stat one of Stats; "p99.9" is accepted for
// "p99_9") or a counter: a delivery field (reports.DeliveryMetrics), a
// ratio (reports.RatioMetrics) or a counter name (errors, sip.503,
// violations.<rule>, ...), optionally with ".count" or ".rate" (per
// second of run). OP is > (fails when the change is above CHANGE) or <
// (fails when it is below). CHANGE is signed ("+10%", "-5%"; no sign means
// +): relative with %, else absolute in the metric's unit: latencies need
// a duration unit (us, µs, ms, s), counts and rates take none.
//
// A rule on a latency statistic (mean, p50 ... max) fails only when,
// besides, the change is beyond run-to-run noise in its direction (the
// Mann-Whitney p-value over per-interval values below Options.Alpha): a
// gate in CI must not fail on a noisy p99. The rule's own threshold then
// plays the part of Options.MinEffect, and with too few intervals to
// judge the rule is inconclusive rather than failed. Setting
// Options.RequireSignificance false turns this off. Rules on counts, rates and
// counters compare the whole-run values only.
type Rule struct {
	Raw     string     `json:"rule"`              // as written, trimmed
	Op      reports.Op `json:"op,omitempty"`      // the operation, for <op>.<stat>
	Counter string     `json:"counter,omitempty"` // the counter, delivery field or ratio otherwise
	// Stat is the operation's statistic, or for a counter "" (its value)
	// or StatRate (per second).
	Stat     string  `json:"stat,omitempty"`
	Above    bool    `json:"above"`    // operator >; false for <
	Relative bool    `json:"relative"` // Value is a fraction of the base value
	Value    float64 `json:"value"`    // signed: a fraction, µs, a count or per second
}

// Metric returns the metric the rule names, normalised: "post_ack.p99_9",
// "lost", "errors.rate".
func (r Rule) Metric() string {
	name := r.Counter
	if r.Op != "" {
		name = string(r.Op)
	}
	if r.Stat == "" {
		return name
	}
	return name + "." + r.Stat
}

// latency reports whether the rule is on a latency statistic.
func (r Rule) latency() bool { return r.Op != "" && IsLatencyStat(r.Stat) }

// RuleError is a rule that does not parse: Pos is the 1-based byte column
// of the offending token in Rule, Token the token itself.
type RuleError struct {
	Rule  string
	Pos   int
	Token string
	Msg   string
}

func (e *RuleError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("compare: bad rule %q at column %d: %s", e.Rule, e.Pos, e.Msg)
	}
	return fmt.Sprintf("compare: bad rule %q at column %d (%q): %s", e.Rule, e.Pos, e.Token, e.Msg)
}

// Unwrap makes errors.Is(err, ErrBadRule) hold.
func (e *RuleError) Unwrap() error { return ErrBadRule }

var durationUnits = map[string]float64{"us": 1, "µs": 1, "ms": 1e3, "s": 1e6}

// ParseRule parses a regression rule; see Rule for the syntax. Errors are
// *RuleError values naming the rule and the column of the bad token, and
// wrap ErrBadRule.
func ParseRule(s string) (Rule, error) {
	raw := s
	bad := func(pos int, tok, format string, a ...any) (Rule, error) {
		return Rule{}, &RuleError{Rule: raw, Pos: pos + 1, Token: tok, Msg: fmt.Sprintf(format, a...)}
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' }
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	mStart := i
	for i < len(s) && !isSpace(s[i]) && s[i] != '<' && s[i] != '>' && s[i] != '=' && s[i] != '!' {
		i++
	}
	metric := s[mStart:i]
	if metric == "" {
		return bad(mStart, "", "want METRIC OP CHANGE, e.g. post_to_last_delivery.p99 > +10%%")
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	opPos := i
	if i >= len(s) {
		return bad(opPos, "", "want an operator (> or <) after %s", metric)
	}
	oEnd := i
	for oEnd < len(s) && strings.IndexByte("<>=!", s[oEnd]) >= 0 {
		oEnd++
	}
	var r Rule
	switch s[opPos:oEnd] {
	case ">":
		r.Above = true
	case "<":
	case "":
		return bad(opPos, s[opPos:min(len(s), opPos+1)], "want an operator (> or <) after %s", metric)
	default:
		return bad(opPos, s[opPos:oEnd], "unsupported operator: use > (fails above) or < (fails below)")
	}
	i = oEnd
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	vPos := i
	vEnd := len(strings.TrimRight(s, " \t"))
	if vPos >= vEnd {
		return bad(vPos, "", "want a change after %s, e.g. +10%% or +20ms", s[opPos:oEnd])
	}
	value := s[vPos:vEnd]
	if j := strings.IndexAny(value, " \t"); j >= 0 {
		k := j
		for k < len(value) && isSpace(value[k]) {
			k++
		}
		return bad(vPos+k, value[k:], "unexpected text after the change %s", value[:j])
	}

	// the metric
	if err := parseMetric(&r, metric); err != nil {
		return bad(mStart+err.off, err.tok, "%s", err.msg)
	}

	// the value: sign, number, unit
	num := value
	sign := 1.0
	switch {
	case strings.HasPrefix(num, "+"):
		num = num[1:]
	case strings.HasPrefix(num, "-"):
		num, sign = num[1:], -1
	}
	j := 0
	for j < len(num) && (num[j] >= '0' && num[j] <= '9' || num[j] == '.') {
		j++
	}
	numPos := vPos + len(value) - len(num)
	if j == 0 {
		return bad(numPos, value, "the change is not a number: write e.g. +10%%, -5%%, +20ms or +3")
	}
	f, err := strconv.ParseFloat(num[:j], 64)
	if err != nil || math.IsInf(f, 0) {
		return bad(numPos, num[:j], "the change is not a number")
	}
	unit := num[j:]
	unitPos := numPos + j
	f *= sign
	switch {
	case unit == "%":
		r.Relative = true
		r.Value = f / 100
	case unit == "":
		if r.latency() {
			return bad(vPos, value, "%s is a latency: give the change a unit (us, µs, ms, s) or %%, e.g. %sms", r.Metric(), value)
		}
		r.Value = f
	case durationUnits[unit] != 0:
		if !r.latency() {
			return bad(unitPos, unit, "%s is not a latency: drop the unit, or use %%", r.Metric())
		}
		r.Value = f * durationUnits[unit]
	default:
		return bad(unitPos, unit, "unknown unit (use %%, us, µs, ms or s)")
	}
	r.Raw = strings.TrimSpace(raw)
	return r, nil
}

type metricError struct {
	off int
	tok string
	msg string
}

// parseMetric fills r's Op or Counter and Stat from metric.
func parseMetric(r *Rule, metric string) *metricError {
	name, stat := metric, ""
	for _, st := range []string{"p99.9", StatP999, StatCount, StatRate, StatMean, StatP50, StatP90, StatP99, StatMax} {
		if n, ok := strings.CutSuffix(metric, "."+st); ok && n != "" {
			name, stat = n, st
			break
		}
	}
	if stat == "p99.9" {
		stat = StatP999
	}
	if slices.Contains(reports.Ops, reports.Op(name)) {
		if stat == "" {
			return &metricError{off: 0, tok: metric, msg: fmt.Sprintf("say which statistic, e.g. %s.p99 (one of %s)", name, strings.Join(Stats, ", "))}
		}
		r.Op, r.Stat = reports.Op(name), stat
		return nil
	}
	// An unknown operation with a latency statistic is most likely a typo.
	if stat != "" && stat != StatCount && stat != StatRate {
		return &metricError{off: 0, tok: name, msg: fmt.Sprintf("unknown operation (use one of %s)", joinOps())}
	}
	if !validCounterName(name) {
		return &metricError{off: 0, tok: name, msg: "not an operation or a counter name"}
	}
	if before, after, ok := strings.Cut(name, "."); ok && slices.Contains(reports.Ops, reports.Op(before)) {
		return &metricError{off: len(before) + 1, tok: after, msg: fmt.Sprintf("unknown statistic of %s: use one of %s", before, strings.Join(Stats, ", "))}
	}
	if slices.Contains(reports.RatioMetrics, name) && stat != "" {
		return &metricError{off: len(name) + 1, tok: stat, msg: fmt.Sprintf("%s is a ratio and takes no statistic", name)}
	}
	r.Counter = name
	if stat == StatRate {
		r.Stat = StatRate
	}
	return nil
}

// validCounterName accepts the characters counter names use: letters,
// digits and _ . / - (violations.<rule> names carry / and -).
func validCounterName(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

func joinOps() string {
	s := make([]string, len(reports.Ops))
	for i, op := range reports.Ops {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}
