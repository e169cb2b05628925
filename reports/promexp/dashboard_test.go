package promexp

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gcload/gcload/deploy/grafana"
	"github.com/gcload/gcload/reports"
)

// exported returns the metric names a scrape of the exporter shows, with
// each one's label names: a Recorder in which every operation and known
// counter has been used, a violation and a SIP code counted, the gauges
// and the process metrics on, as in gcload run --metrics-addr. Histogram
// families give their _bucket (with le), _sum and _count series.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	rec := reports.NewRecorder(time.Now(), time.Second)
	for _, op := range reports.Ops {
		rec.Record(op, time.Millisecond)
	}
	for _, c := range reports.CounterMetrics {
		rec.Add(c, 1)
	}
	rec.Add("violations.fanout/order", 1)
	rec.Add("sip.200", 1)
	rec.Tick(time.Now())
	h := NewHandler(rec, Options{ProcessMetrics: true, Gauges: func() Gauges { return Gauges{UsersOnline: 1, Rooms: 1} }})
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(labels, lp.GetName()) {
					labels = append(labels, lp.GetName())
				}
			}
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[mf.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			out[mf.GetName()+"_sum"] = labels
			out[mf.GetName()+"_count"] = labels
		case dto.MetricType_SUMMARY:
			out[mf.GetName()] = append(slices.Clone(labels), "quantile")
			out[mf.GetName()+"_sum"] = labels
			out[mf.GetName()+"_count"] = labels
		default:
			out[mf.GetName()] = labels
		}
	}
	return out
}

// promqlKeywords are PromQL words that are neither metrics nor labels:
// operators, and the aggregations (which may be followed by "by (...)"
// rather than by their parenthesis).
var promqlKeywords = []string{"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// selector is a metric name of a query with the label names its matchers
// use; grouping lists the label names of by/without/on/ignoring lists.
type parsedQuery struct {
	metrics  map[string][]string // metric -> label names matched on it
	grouping []string
}

// parsePromQL reads the metric names and label names of a PromQL
// expression: a small lexer, enough for the dashboard's queries (strings
// and range durations skipped, identifiers before "(" are functions, those
// inside {} before a matcher are labels, those in by/without/on/ignoring
// lists are labels, the rest are metric names).
func parsePromQL(expr string) (parsedQuery, error) {
	q := parsedQuery{metrics: map[string][]string{}}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	var last string // the last metric name, for the matchers that follow
	inBraces, groupList := false, false
	pendingGroup := false
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return q, fmt.Errorf("unterminated string at %d", i)
			}
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return q, fmt.Errorf("unterminated [ at %d", i)
			}
			i += j + 1
		case c == '{':
			inBraces = true
			i++
		case c == '}':
			inBraces = false
			i++
		case c == '(':
			if pendingGroup {
				groupList, pendingGroup = true, false
			}
			i++
		case c == ')':
			groupList = false
			i++
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], j == i) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			next := byte(0)
			if k < len(expr) {
				next = expr[k]
			}
			switch {
			case inBraces:
				if last == "" {
					return q, fmt.Errorf("label %s matched without a metric name", word)
				}
				q.metrics[last] = append(q.metrics[last], word)
			case groupList:
				q.grouping = append(q.grouping, word)
			case slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, word):
				pendingGroup = true
			case slices.Contains(promqlKeywords, word):
			case next == '(':
				// a function or aggregation
			default:
				last = word
				if _, ok := q.metrics[word]; !ok {
					q.metrics[word] = nil
				}
			}
			i = j
		default:
			i++
		}
	}
	return q, nil
}

func TestParsePromQL(t *testing.T) {
	q, err := parsePromQL(`histogram_quantile(0.99, sum by (op, le) (rate(gcload_operation_latency_seconds_bucket{job=~"$job", op="a{b}"}[$__rate_interval]))) / on(instance) group_left up`)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(q.metrics, q.grouping)
	if want := "map[gcload_operation_latency_seconds_bucket:[job op] up:[]] [op le instance]"; got != want {
		t.Errorf("parsed %s, want %s", got, want)
	}
}

// checkQueries returns what is wrong with queries given the exported
// metrics: a query without a metric, a metric the exporter does not make,
// a label the metric does not have (job and instance, which Prometheus
// adds, aside), a grouping by a label none of the query's metrics has. It
// also returns the metrics used.
func checkQueries(names map[string][]string, qs []grafana.Query) (problems []string, used map[string]bool) {
	used = map[string]bool{}
	for _, q := range qs {
		p, err := parsePromQL(q.Expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v in %q", q.Where, err, q.Expr))
			continue
		}
		if len(p.metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no metric in %q", q.Where, q.Expr))
		}
		var all []string
		for m, labels := range p.metrics {
			have, ok := names[m]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s is not a metric gcload exports (%q)", q.Where, m, q.Expr))
				continue
			}
			used[m] = true
			all = append(all, have...)
			for _, l := range labels {
				if l != "job" && l != "instance" && !slices.Contains(have, l) {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %s (it has %v)", q.Where, m, l, have))
				}
			}
		}
		for _, l := range p.grouping {
			if l != "job" && l != "instance" && !slices.Contains(all, l) {
				problems = append(problems, fmt.Sprintf("%s: groups by %s, which none of its metrics has", q.Where, l))
			}
		}
	}
	sort.Strings(problems)
	return problems, used
}

// TestDashboardNamesExportedMetrics: every query of the Grafana dashboard
// (deploy/grafana) names only metrics that the exporter makes, matches
// only labels those metrics have, and groups by such labels. The names
// come from a scrape of the exporter itself. (TestPrometheus in the cli
// package runs the same queries on a real Prometheus.)
func TestDashboardNamesExportedMetrics(t *testing.T) {
	names := exported(t)
	qs, err := grafana.Queries(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(qs))
	}
	problems, used := checkQueries(names, qs)
	for _, p := range problems {
		t.Error(p)
	}
	// The dashboard covers what issue 18 asks for: users online, posts and
	// deliveries per second, latency quantiles per operation, errors and
	// violations by rule, generator health.
	for _, m := range []string{"gcload_users_online", "gcload_posts_total", "gcload_deliveries_total", "gcload_operation_latency_seconds_bucket",
		"gcload_errors_total", "gcload_violations_total", "gcload_generator_cpu_utilization", "gcload_dropped_sends_total"} {
		if !used[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
	var list []string
	for m := range used {
		list = append(list, m)
	}
	sort.Strings(list)
	t.Logf("%d queries over %d metrics: %s", len(qs), len(list), strings.Join(list, " "))
}

// The check catches a misspelt metric, a label the metric lacks, a
// grouping by an unknown label and a query without a metric.
func TestDashboardCheckCatches(t *testing.T) {
	bad := []byte(`{"title": "t", "uid": "u", "panels": [
	  {"type": "timeseries", "title": "typo", "targets": [{"refId": "A", "expr": "sum(rate(gcload_post_total[1m]))"}]},
	  {"type": "row", "title": "r", "panels": [
	    {"type": "timeseries", "title": "room label", "targets": [{"refId": "A", "expr": "gcload_users_online{room=\"x\"}"}]}]},
	  {"type": "timeseries", "title": "grouping", "targets": [{"refId": "A", "expr": "sum by (user) (gcload_errors_total)"}]},
	  {"type": "timeseries", "title": "constant", "targets": [{"refId": "A", "expr": "vector(1)"}]}],
	  "templating": {"list": [{"name": "v", "type": "query", "definition": "label_values(gcload_nothing, job)"}]}}`)
	qs, err := grafana.Queries(bad)
	if err != nil {
		t.Fatal(err)
	}
	problems, _ := checkQueries(exported(t), qs)
	want := []string{"gcload_post_total is not a metric", "has no label room", "groups by user", "no metric in", "gcload_nothing is not a metric"}
	if len(problems) != len(want) {
		t.Errorf("%d problems, want %d: %q", len(problems), len(want), problems)
	}
	for _, w := range want {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem says %q: %q", w, problems)
		}
	}
}
