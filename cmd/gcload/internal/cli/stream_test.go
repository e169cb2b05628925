package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/jsonshape"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/compare"
	"github.com/gcload/gcload/reports/htmlreport"
	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipclient/check"
)

// accountingCounters are the counters the delivery accounting sets in
// summary.json after the run: no interval has them.
var accountingCounters = []string{"lost", reports.CounterIncompleteFanouts, reports.CounterWrongRoom, reports.CounterForeign,
	"violations." + ruleid.ExactlyOnce, "violations." + ruleid.Order, "violations." + ruleid.NoSpoofing}

// TestStreams: a smoke run with --stream json=FILE and --stream csv=FILE
// writes one record per interval, with the numbers of run.hlog and
// counters.json for that interval, and the intervals add up to
// summary.json's totals, per phase too. Every JSON file of the run (and of
// compare and capacity) has snake_case keys and no null list.
func TestStreams(t *testing.T) {
	dir := t.TempDir()
	out, jsonFile, csvFile := filepath.Join(dir, "res"), filepath.Join(dir, "intervals.jsonl"), filepath.Join(dir, "intervals.csv")
	r := gcload(t, nil, append([]string{"run", "smoke", "--out", out, "--interval", "250ms", "--stream", "json=" + jsonFile, "--stream", "csv=" + csvFile}, quick...)...)
	if r.code != 0 && r.code != reports.ExitThresholds {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	res, err := reports.ReadResults(out)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary

	// JSON lines: one record per interval of counters.json and run.hlog
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if p := jsonshape.Check(b, reflect.TypeFor[reports.IntervalRecord](), true, metricKey); len(p) != 0 {
		t.Errorf("the JSON stream: %s", strings.Join(p, "\n"))
	}
	var recs []reports.IntervalRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec reports.IntervalRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", len(recs)+1, err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != len(res.Intervals) || len(recs) < 8 {
		t.Fatalf("%d intervals streamed, counters.json has %d", len(recs), len(res.Intervals))
	}
	opTotal, counterTotal := map[reports.Op]int64{}, map[string]int64{}
	byPhase := map[string]map[reports.Op]int64{}
	for i, rec := range recs {
		iv := res.Intervals[i]
		if rec.Interval != i || !rec.Start.Equal(iv.Start) || !rec.End.Equal(iv.End) {
			t.Errorf("interval %d: streamed #%d %v..%v, counters.json %v..%v", i, rec.Interval, rec.Start, rec.End, iv.Start, iv.End)
		}
		if !maps.Equal(rec.Counters, iv.Counters) && len(rec.Counters)+len(iv.Counters) > 0 {
			t.Errorf("interval %d: streamed counters %v, counters.json %v", i, rec.Counters, iv.Counters)
		}
		if !maps.Equal(rec.Gauges, iv.Gauges) && len(rec.Gauges)+len(iv.Gauges) > 0 {
			t.Errorf("interval %d: streamed gauges %v, counters.json %v", i, rec.Gauges, iv.Gauges)
		}
		for op, h := range iv.Hists {
			if op == reports.OpPostToLastDelivery || op == reports.OpPostToLastDeliveryService {
				continue // placed at the posts' intended times after the run
			}
			want := reports.SummarizePacked(h, iv.End.Sub(iv.Start).Seconds())
			if got := rec.Ops[op]; got != want {
				t.Errorf("interval %d %s: streamed %+v, run.hlog %+v", i, op, got, want)
			}
		}
		if byPhase[rec.Phase] == nil {
			byPhase[rec.Phase] = map[reports.Op]int64{}
		}
		for op, o := range rec.Ops {
			opTotal[op] += o.Count
			byPhase[rec.Phase][op] += o.Count
		}
		for name, n := range rec.Counters {
			counterTotal[name] += n
		}
	}
	for op, o := range s.Ops {
		if op == reports.OpPostToLastDeliveryService {
			continue // from the accounting only
		}
		// post_to_last_delivery streams as it completes: without churn the
		// same posts as the accounting's
		if opTotal[op] != o.Count {
			t.Errorf("%s: the intervals stream %d, summary.json counts %d", op, opTotal[op], o.Count)
		}
	}
	for name, n := range s.Counters {
		if !slices.Contains(accountingCounters, name) && counterTotal[name] != n {
			t.Errorf("counter %s: the intervals stream %d, summary.json %d", name, counterTotal[name], n)
		}
	}
	// every counter and gauge the run produced has its glossary entry
	names := maps.Clone(s.Counters)
	for _, iv := range res.Intervals {
		for name := range iv.Gauges {
			names[name] = 0
		}
	}
	for name := range names {
		if _, ok := reports.Describe(name); !ok {
			t.Errorf("the run produced %s, which the glossary does not describe", name)
		}
	}
	if counterTotal[reports.CounterPosts] == 0 || opTotal[reports.OpPostToDelivery] == 0 {
		t.Fatalf("nothing streamed: %v %v", counterTotal, opTotal)
	}
	// each interval's phase is the one summary.json's phases count it in
	for _, p := range s.Phases {
		for op, o := range p.Ops {
			if op != reports.OpPostToLastDelivery && op != reports.OpPostToLastDeliveryService && byPhase[p.Name][op] != o.Count {
				t.Errorf("phase %s %s: streamed %d, summary.json %d", p.Name, op, byPhase[p.Name][op], o.Count)
			}
		}
	}

	// CSV: the documented header, an interval row with the counters, a row
	// per operation
	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := reports.CSVHeader()
	if !slices.Equal(rows[0], header) {
		t.Fatalf("CSV header %v, want %v", rows[0], header)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	csvCounters, csvOps, intervalRows := map[string]int64{}, map[reports.Op]int64{}, 0
	for _, row := range rows[1:] {
		i, err := strconv.Atoi(row[col["interval"]])
		if err != nil || i >= len(recs) || row[col["phase"]] != recs[i].Phase {
			t.Fatalf("CSV row %v: interval %q", row, row[col["interval"]])
		}
		if op := row[col["op"]]; op != "" {
			n, _ := strconv.ParseInt(row[col["count"]], 10, 64)
			if p99, _ := strconv.ParseInt(row[col["p99_us"]], 10, 64); n != recs[i].Ops[reports.Op(op)].Count || p99 != recs[i].Ops[reports.Op(op)].P99 {
				t.Errorf("CSV interval %d %s: count %d p99 %d, the JSON stream %+v", i, op, n, p99, recs[i].Ops[reports.Op(op)])
			}
			csvOps[reports.Op(op)] += n
			continue
		}
		intervalRows++
		for _, name := range reports.CSVCounters {
			n, err := strconv.ParseInt(row[col[name]], 10, 64)
			if err != nil {
				t.Fatalf("CSV column %s: %q", name, row[col[name]])
			}
			csvCounters[name] += n
		}
		if other := row[col["other_counters"]]; other != "" {
			for _, kv := range strings.Split(other, ";") {
				name, v, _ := strings.Cut(kv, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("other_counters %q", other)
				}
				csvCounters[name] += n
			}
		}
	}
	if intervalRows != len(recs) {
		t.Errorf("%d CSV interval rows, %d intervals", intervalRows, len(recs))
	}
	for name, n := range counterTotal {
		if csvCounters[name] != n {
			t.Errorf("CSV counter %s adds up to %d, the JSON stream to %d", name, csvCounters[name], n)
		}
	}
	if !maps.Equal(csvOps, opTotal) {
		t.Errorf("CSV operation counts %v, the JSON stream's %v", csvOps, opTotal)
	}

	checkJSONShapes(t, out)
}

// metricKey accepts a map key that names a metric, counter or gauge
// (reports.Describe) or is snake_case.
func metricKey(path, key string) string {
	if jsonshape.SnakeCase(key) {
		return ""
	}
	if _, ok := reports.Describe(key); ok {
		return ""
	}
	return "neither snake_case nor a metric name"
}

// checkJSONShapes checks every JSON file in the results folder dir, and
// what compare (on dir against itself) and capacity (on the shipped test
// calibration) write: snake_case keys, no null lists.
func checkJSONShapes(t *testing.T, dir string) {
	t.Helper()
	types := map[string]reflect.Type{
		reports.FileSummary:      reflect.TypeFor[reports.Summary](),
		reports.FileCounters:     reflect.TypeFor[reports.CountersFile](),
		reports.FileHistograms:   reflect.TypeFor[map[reports.Op]string](),
		"env.json":               reflect.TypeFor[htmlreport.Env](),
		loadrun.FileMeasurement:  reflect.TypeFor[loadrun.Measurement](),
		"compare.json":           reflect.TypeFor[compare.Report](),
		capacity.CalibrationFile: reflect.TypeFor[capacity.Calibration](),
		"capacity.json":          reflect.TypeFor[capacity.Prediction](),
		"conformance.json":       reflect.TypeFor[check.Report](),
	}
	extra := t.TempDir()
	if r := gcload(t, nil, "compare", dir, dir, "--json", filepath.Join(extra, "compare.json")); r.code != 0 && r.code != reports.ExitInconclusive {
		t.Fatalf("compare: exit %d\n%s", r.code, r.stderr)
	}
	cal, err := os.ReadFile("../../../../capacity/testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(extra, capacity.CalibrationFile), cal, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := gcload(t, nil, "capacity", extra, "--profile", "ocs-r2-reference-10k"); r.code != 0 {
		t.Fatalf("capacity: exit %d\n%s", r.code, r.stderr)
	}
	var files []string
	for _, d := range []string{dir, extra} {
		m, _ := filepath.Glob(filepath.Join(d, "*.json"))
		files = append(files, m...)
	}
	checked := 0
	for _, path := range files {
		typ, ok := types[filepath.Base(path)]
		if !ok {
			t.Errorf("%s: a JSON file this test does not know: add its Go type", path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range jsonshape.Check(b, typ, false, metricKey) {
			t.Errorf("%s: %s", filepath.Base(path), p)
		}
		checked++
	}
	if checked < 7 {
		t.Errorf("checked %d JSON files: %v", checked, files)
	}
}

// TestStreamStdout: --stream json=- writes the intervals to standard
// output, which then holds nothing else (the summary goes to standard
// error); bad --stream values are bad input.
func TestStreamStdout(t *testing.T) {
	r := gcload(t, nil, append([]string{"run", "smoke", "--out", filepath.Join(t.TempDir(), "res"), "--stream", "json=-"}, quick...)...)
	if r.code != 0 && r.code != reports.ExitThresholds {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for i, line := range lines {
		var rec reports.IntervalRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Interval != i || rec.End.IsZero() {
			t.Fatalf("stdout line %d is not interval %d: %q (%v)", i+1, i, line, err)
		}
	}
	if len(lines) < 3 || !strings.Contains(r.stderr, "verdict: ") || !strings.Contains(r.stderr, "results: ") {
		t.Fatalf("%d lines on stdout; stderr:\n%s", len(lines), r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--stream", "xml=x.xml"}, `unknown format "xml"`},
		{[]string{"--stream", "json"}, "want FORMAT=FILE"},
		{[]string{"--stream", "json=-", "--stream", "csv=-"}, "already the file of another --stream"},
		{[]string{"--stream", "csv=" + filepath.Join(t.TempDir(), "no", "such", "dir.csv")}, "no such file or directory"},
	} {
		r := gcload(t, nil, append(append([]string{"run", "smoke"}, c.args...), quick...)...)
		if r.code != reports.ExitBadInput || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}
