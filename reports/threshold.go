package reports

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Errors of this package, classified with errors.Is.
var (
	// ErrBadThreshold is wrapped by ParseThreshold's errors.
	ErrBadThreshold = errors.New("bad threshold")
	// ErrUnknownMetric is wrapped by CheckMetric's errors.
	ErrUnknownMetric = errors.New("unknown metric")
	// ErrIncompatible is wrapped by Merge's errors: results that cannot be
	// combined (interval lengths, scenarios or histogram ranges differ).
	ErrIncompatible = errors.New("incompatible results")
	// ErrBadResults is wrapped by errors about a malformed results folder.
	ErrBadResults = errors.New("bad results")
)

// Stats are the statistics a threshold can name after a metric, as in
// post_ack.p99. Latency operations take any of them; delivery fields and
// counters take count and rate; ratios none.
var Stats = []string{"count", "rate", "min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"}

// DeliveryMetrics are the metric names read from Summary.Delivery.
var DeliveryMetrics = []string{"posts", "expected", "received", "lost", "duplicated", "out_of_order", "spoofed", "extra", "missed_offline"}

// RatioMetrics are the ratio metric names: lost_ratio is lost/expected,
// signed_in_ratio is users signed in / users planned.
var RatioMetrics = []string{"lost_ratio", "signed_in_ratio"}

// UserMetrics are the user counts a threshold may name: signed_in (users
// that signed in), users_failed (users that could not), peak_online.
var UserMetrics = []string{"signed_in", "users_failed", "peak_online"}

// CounterMetrics are the counter names a threshold may use besides the
// "sip.<code>" and "violations.<rule>" families.
var CounterMetrics = []string{
	CounterDropped, CounterTimeouts, CounterLateReplies, CounterRetransmits, CounterErrors,
	CounterViolations, CounterSkipped, CounterPosts, CounterDeliveries,
	CounterNotices, CounterSignInFailed, CounterSessionsLost, CounterRejectedPosts, CounterSpoofedSent, CounterClamped,
	CounterIncompleteFanouts, CounterWrongRoom, CounterForeign,
	CounterComplianceChecked, CounterComplianceMissing, CounterComplianceExtra,
	CounterReconnected, CounterReconnectFailed, CounterSkippedOffline, CounterRecovered, CounterOutOfFiles,
}

// CounterPrefixes are the counter families: "sip.<code>" counts SIP
// responses by status code, "violations.<rule>" protocol violations by
// rule, "errors.<op>" and "errors.<op>.<cause>" failed operations by
// operation and cause, "dropped.<kind>" dropped operations by kind.
var CounterPrefixes = []string{"sip.", "violations.", "errors.", "dropped."}

var thresholdOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// Threshold is one pass/fail rule, "METRIC OP VALUE", such as
// "post_to_last_delivery.p99 < 500ms", "lost == 0" or "lost_ratio < 0.1%".
type Threshold struct {
	Raw    string  // as written, trimmed
	Metric string  // the metric name without its statistic: post_ack, lost, sip.503
	Stat   string  // one of Stats, or "" (a counter's or ratio's value)
	Op     string  // <, <=, >, >=, ==, !=
	Value  float64 // latencies in µs, percentages as fractions
}

// Name returns the metric as written: Metric, or Metric.Stat.
func (t Threshold) Name() string {
	if t.Stat == "" {
		return t.Metric
	}
	return t.Metric + "." + t.Stat
}

// metric kinds
type kind int

const (
	kindUnknown kind = iota
	kindLatency
	kindDelivery
	kindRatio
	kindCounter
)

func kindOf(name string) kind {
	switch {
	case slices.Contains(Ops, Op(name)):
		return kindLatency
	case slices.Contains(DeliveryMetrics, name):
		return kindDelivery
	case slices.Contains(RatioMetrics, name):
		return kindRatio
	case slices.Contains(UserMetrics, name):
		return kindDelivery
	case slices.Contains(CounterMetrics, name):
		return kindCounter
	}
	for _, p := range CounterPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return kindCounter
		}
	}
	return kindUnknown
}

// splitMetric splits "post_ack.p99.9" into "post_ack" and "p99.9". A dot
// belongs to the name unless what follows it is a statistic, or what
// precedes it is a latency operation (then it must be one).
func splitMetric(m string) (name, stat string, err error) {
	for _, st := range []string{"p99.99", "p99.9", "count", "rate", "min", "mean", "p50", "p90", "p99", "max"} {
		if n, ok := strings.CutSuffix(m, "."+st); ok && n != "" {
			return n, st, nil
		}
	}
	if before, after, ok := strings.Cut(m, "."); ok && kindOf(before) == kindLatency {
		return "", "", fmt.Errorf("unknown statistic %q (use one of %s)", after, strings.Join(Stats, ", "))
	}
	return m, "", nil
}

// checkStat reports whether stat suits a metric of kind k.
func checkStat(name string, k kind, stat string) error {
	switch k {
	case kindLatency:
		if stat == "" {
			return fmt.Errorf("say which statistic, e.g. %s.p99", name)
		}
	case kindRatio:
		if stat != "" {
			return fmt.Errorf("%s is a ratio and takes no statistic", name)
		}
	case kindDelivery, kindCounter:
		if stat != "" && stat != "count" && stat != "rate" {
			return fmt.Errorf("%s is a count: use %s, %s.count or %s.rate", name, name, name, name)
		}
	}
	return nil
}

// CheckMetric reports whether a threshold metric ("post_ack.p99", "lost",
// "sip.503", "violations.info/200-empty", ...) is known, with its
// statistic if it has one. Errors wrap ErrUnknownMetric for unknown names
// and ErrBadThreshold for a statistic that does not suit the metric.
func CheckMetric(metric string) error {
	name, stat, err := splitMetric(metric)
	if err != nil {
		return fmt.Errorf("%w %q: %s", ErrBadThreshold, metric, err.Error())
	}
	k := kindOf(name)
	if k == kindUnknown {
		return fmt.Errorf("%w %q: not an operation (%s), a delivery field (%s), a user count (%s), a ratio (%s) or a counter (%s, sip.<code>, violations.<rule>, errors.<op>, dropped.<kind>)",
			ErrUnknownMetric, name, joinOps(), strings.Join(DeliveryMetrics, ", "), strings.Join(UserMetrics, ", "), strings.Join(RatioMetrics, ", "), strings.Join(CounterMetrics, ", "))
	}
	if err := checkStat(name, k, stat); err != nil {
		return fmt.Errorf("%w %q: %s", ErrBadThreshold, metric, err.Error())
	}
	return nil
}

func joinOps() string {
	s := make([]string, len(Ops))
	for i, op := range Ops {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

// ParseThreshold parses "METRIC OP VALUE". METRIC is a name or name.stat
// (stat one of Stats); OP one of < <= > >= == !=; VALUE a number with an
// optional unit: us, µs, ms, s or m (a duration, converted to µs; required
// for latency statistics) or % (converted to a fraction; ratios only).
// A latency operation without a statistic is an error; an unknown metric
// name is not (see CheckMetric), and evaluates as failed. Errors wrap
// ErrBadThreshold.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Raw: strings.TrimSpace(s)}
	bad := func(format string, a ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w %q: %s", ErrBadThreshold, t.Raw, fmt.Sprintf(format, a...))
	}
	rest := t.Raw
	i := strings.IndexFunc(rest, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '<' || r == '>' || r == '=' || r == '!'
	})
	if i < 0 {
		return bad("want METRIC OP VALUE, e.g. post_ack.p99 < 500ms")
	}
	metric := rest[:i]
	if metric == "" {
		return bad("no metric before the operator")
	}
	rest = strings.TrimLeft(rest[i:], " \t")
	for _, op := range thresholdOps {
		if strings.HasPrefix(rest, op) {
			t.Op = op
			break
		}
	}
	if t.Op == "" {
		return bad("want an operator (<, <=, >, >=, ==, !=) after %s", metric)
	}
	value := strings.TrimSpace(rest[len(t.Op):])
	if value == "" {
		return bad("no value after %s", t.Op)
	}
	name, stat, err := splitMetric(metric)
	if err != nil {
		return bad("%s", err.Error())
	}
	t.Metric, t.Stat = name, stat
	k := kindOf(name)
	if err := checkStat(name, k, stat); err != nil {
		return bad("%s", err.Error())
	}
	num, unit, err := splitValue(value)
	if err != nil {
		return bad("%s", err.Error())
	}
	timeStat := k == kindLatency && stat != "count" && stat != "rate"
	switch unit {
	case "":
		if timeStat {
			return bad("give %s a unit, e.g. %sms", t.Name(), value)
		}
		t.Value = num
	case "us", "µs", "ms", "s", "m":
		if k != kindUnknown && !timeStat {
			return bad("%s is not a duration: drop the unit %s", t.Name(), unit)
		}
		t.Value = num * map[string]float64{"us": 1, "µs": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[unit]
	case "%":
		if k != kindUnknown && k != kindRatio {
			return bad("%% only suits ratios (%s)", strings.Join(RatioMetrics, ", "))
		}
		t.Value = num / 100
	default:
		return bad("unknown unit %q (use us, µs, ms, s, m or %%)", unit)
	}
	return t, nil
}

// splitValue splits "500ms" into 500 and "ms".
func splitValue(v string) (float64, string, error) {
	i := 0
	for i < len(v) && strings.IndexByte("0123456789.+-eE", v[i]) >= 0 {
		i++
	}
	// An exponent marker must be followed by digits; "5e" is not a number.
	for i > 0 && (v[i-1] == 'e' || v[i-1] == 'E' || v[i-1] == '+' || v[i-1] == '-') {
		i--
	}
	if i == 0 {
		return 0, "", fmt.Errorf("value %q is not a number", v)
	}
	num, err := strconv.ParseFloat(v[:i], 64)
	if err != nil || math.IsInf(num, 0) || math.IsNaN(num) {
		return 0, "", fmt.Errorf("value %q is not a number", v)
	}
	unit := strings.TrimSpace(v[i:])
	if strings.ContainsAny(unit, " \t") {
		return 0, "", fmt.Errorf("unexpected %q after the value", unit)
	}
	return num, unit, nil
}

// Eval evaluates t against a summary. Latency statistics come from hists
// when they hold the operation (exact for any percentile), otherwise from
// s.Ops (p99.99 needs the histogram). A counter never incremented is 0.
// An unknown metric, or a latency statistic of an operation without
// samples, fails with a Detail saying so.
func (t Threshold) Eval(s *Summary, hists map[Op]*hdrhistogram.Histogram) ThresholdResult {
	res := ThresholdResult{Expr: t.Raw, Metric: t.Name()}
	fail := func(detail string) ThresholdResult {
		res.Detail = detail
		return res
	}
	k := kindOf(t.Metric)
	var actual float64
	switch k {
	case kindLatency:
		op := Op(t.Metric)
		h := hists[op]
		sum, haveSum := s.Ops[op]
		var count int64
		if h != nil {
			count = h.TotalCount()
		} else if haveSum {
			count = sum.Count
		}
		switch t.Stat {
		case "count":
			actual = float64(count)
		case "rate":
			if h != nil {
				actual = Summarize(h, s.Seconds).Rate
			} else {
				actual = sum.Rate
			}
		default:
			if count == 0 {
				return fail(fmt.Sprintf("no %s samples", op))
			}
			if h != nil {
				actual = latencyStat(h, t.Stat)
			} else {
				v, ok := summaryStat(sum, t.Stat)
				if !ok {
					return fail(fmt.Sprintf("%s needs the %s histogram", t.Stat, op))
				}
				actual = v
			}
		}
	case kindDelivery:
		actual = float64(deliveryField(s, t.Metric))
	case kindRatio:
		switch t.Metric {
		case "lost_ratio":
			if s.Delivery.Expected > 0 {
				actual = float64(s.Delivery.Lost) / float64(s.Delivery.Expected)
			}
		case "signed_in_ratio":
			if s.Users.Planned > 0 {
				actual = float64(s.Users.SignedIn) / float64(s.Users.Planned)
			}
		}
	case kindCounter:
		actual = float64(s.Counters[t.Metric])
	default:
		if v, ok := s.Counters[t.Metric]; ok && (t.Stat == "" || t.Stat == "count" || t.Stat == "rate") {
			k = kindCounter
			actual = float64(v)
		} else {
			return fail(fmt.Sprintf("unknown metric %s", t.Metric))
		}
	}
	if t.Stat == "rate" && k != kindLatency {
		if s.Seconds > 0 {
			actual /= s.Seconds
		} else {
			actual = 0
		}
	}
	res.Actual = actual
	res.Pass = compare(actual, t.Op, t.Value)
	label := describe(res.Metric, actual)
	want := t.Op + " " + describeValue(res.Metric, t.Value)
	if res.Pass {
		res.Detail = label + " " + want
	} else {
		res.Detail = label + ", want " + want
	}
	return res
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	return false
}

func latencyStat(h *hdrhistogram.Histogram, stat string) float64 {
	switch stat {
	case "min":
		return float64(h.Min())
	case "mean":
		return h.Mean()
	case "max":
		return float64(h.Max())
	}
	q, _ := strconv.ParseFloat(strings.TrimPrefix(stat, "p"), 64)
	return float64(h.ValueAtQuantile(q))
}

func summaryStat(s OpSummary, stat string) (float64, bool) {
	switch stat {
	case "min":
		return float64(s.Min), true
	case "mean":
		return s.Mean, true
	case "p50":
		return float64(s.P50), true
	case "p90":
		return float64(s.P90), true
	case "p99":
		return float64(s.P99), true
	case "p99.9":
		return float64(s.P999), true
	case "max":
		return float64(s.Max), true
	}
	return 0, false
}

func deliveryField(s *Summary, name string) int64 {
	d := s.Delivery
	switch name {
	case "signed_in":
		return int64(s.Users.SignedIn)
	case "users_failed":
		return int64(s.Users.Failed)
	case "peak_online":
		return int64(s.Users.PeakOnline)
	case "posts":
		return d.Posts
	case "expected":
		return d.Expected
	case "received":
		return d.Received
	case "lost":
		return d.Lost
	case "duplicated":
		return d.Duplicated
	case "out_of_order":
		return d.OutOfOrder
	case "spoofed":
		return d.Spoofed
	case "extra":
		return d.Extra
	case "missed_offline":
		return d.MissedOffline
	}
	return 0
}

// describe renders a metric's actual value for people: "p99 412.3ms",
// "lost 3", "lost_ratio 0.012%", "errors.rate 1.5/s".
func describe(metric string, v float64) string {
	name, stat, _ := splitMetric(metric)
	if kindOf(name) == kindLatency && stat != "" {
		return stat + " " + describeValue(metric, v)
	}
	return metric + " " + describeValue(metric, v)
}

// describeValue renders a value in the metric's unit.
func describeValue(metric string, v float64) string {
	name, stat, _ := splitMetric(metric)
	switch {
	case stat == "rate":
		return formatFloat(v) + "/s"
	case kindOf(name) == kindLatency && stat != "count":
		return FormatMicros(v)
	case kindOf(name) == kindRatio:
		return formatFloat(v*100) + "%"
	}
	return formatFloat(v)
}
