package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/cgroup"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// findMaxScenario: 20 users in two rooms of 10, 2 s of posting per step.
const findMaxScenario = `name: findmax-test
seed: 1
transport: tcp
connections: {model: shared, shared: 2}
lookup: {flow: client}
users: {count: 20}
rooms:
  classes:
    - {name: r, size: 10, count: 2}
phases:
  - name: signin
    signin: {rate: 200/s, arrival: constant}
  - name: steady
    duration: 2s
    posts: {rate: 10/s}
drain: 1s
thresholds:
  - lost == 0
  - post_to_last_delivery.p99 < 500ms
`

// TestFindMax: gcload run --find-max against the reference server limited
// to a fiftieth of a core by the cgroup cpu controller finds its maximum:
// a rate held, a higher one failed, below --max-rate (unlimited, the
// server holds it all and the search ends with exit 8), and each step is a
// results folder of its own.
func TestFindMax(t *testing.T) {
	if testing.Short() {
		t.Skip("a breakpoint search of about 30 s; run without -short")
	}
	if _, err := cgroup.Detect(); err != nil {
		t.Skipf("the cgroup cpu controller is needed to limit the server: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "findmax.yaml")
	if err := os.WriteFile(file, []byte(findMaxScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := gcload(t, nil, "run", file, "--find-max", "--server-cpus", "0.02", "--start-rate", "20", "--max-rate", "3000",
		"--resolution", "0.3", "--max-steps", "8", "--progress", "none", "--out", out)
	t.Logf("%s", r.stdout)
	if r.code != reports.ExitPass {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, FileSearch))
	if err != nil {
		t.Fatal(err)
	}
	var sf searchFile
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	if sf.Outcome != capacity.OutcomeFound || !(sf.MaxHeldRate >= 20) || !(sf.FirstFailedRate > sf.MaxHeldRate) || sf.FirstFailedRate >= 3000 ||
		sf.KneeRate < sf.MaxHeldRate*0.9 || len(sf.Causes) == 0 || sf.ServerCPUs != 0.02 {
		t.Fatalf("search.json: %s", b)
	}
	for _, st := range sf.Steps {
		if st.Utilization["cpu"] <= 0 || st.Utilization["cpu"] > 1.3 {
			t.Errorf("step %s: server CPU %.2f of its 0.02 core", st.Dir, st.Utilization["cpu"])
		}
		if _, err := os.Stat(filepath.Join(st.Dir, "summary.json")); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(r.stdout, "maximum found") {
		t.Errorf("no result sentence:\n%s", r.stdout)
	}
}

// TestFindMaxJudge: how a step's run becomes a point of the search. An
// invalid run (the generator was the limit) is the generator's, even when
// a threshold failed too, and carries no failure of the server; a failed
// threshold is a failure; protocol violations stop the search with their
// own exit code; a generator-limited search exits 5.
func TestFindMaxJudge(t *testing.T) {
	m := []byte(`{"offered_posts_per_s": 100, "achieved_posts_per_s": 50, "server": "process", "server_cpu_seconds": 1, "wall_seconds": 2, "cores": 2, "latency_us": {"post_to_last_delivery_p99_us": 9000}}`)
	fail := []reports.ThresholdResult{{Expr: "post_to_last_delivery.p99 < 5ms", Pass: false}}
	st := judgeStep(&reports.Summary{Generator: reports.Generator{Valid: false, InvalidReasons: []string{"generator CPU saturated"}}, Thresholds: fail, Users: reports.Users{SignedIn: 1}}, m, 80, 0)
	if !st.Point.GeneratorInvalid || st.Point.ThresholdFailed || st.Stop != "" || st.Verdict != reports.VerdictInvalid {
		t.Errorf("invalid run: %+v", st)
	}
	st = judgeStep(&reports.Summary{Generator: reports.Generator{Valid: true}, Thresholds: fail, Users: reports.Users{SignedIn: 1}}, m, 80, 0)
	if st.Point.GeneratorInvalid || !st.Point.ThresholdFailed || st.Point.Achieved != 40 || st.Point.LatencyUs != 9000 || st.Utilization["cpu"] != 0.25 {
		t.Errorf("failed run: %+v", st)
	}
	st = judgeStep(&reports.Summary{Generator: reports.Generator{Valid: true}, Users: reports.Users{SignedIn: 1}, Counters: map[string]int64{reports.CounterViolations: 2}}, m, 80, 0.5)
	if st.Stop == "" || st.Utilization["cpu"] != 1 {
		t.Errorf("nonconformant run: %+v", st)
	}
	if c := findMaxCode(capacity.Breakpoint{Outcome: capacity.OutcomeStopped, Steps: []capacity.SearchStep{st}}); c != reports.ExitConformance {
		t.Errorf("stopped by violations: exit %d", c)
	}
	if c := findMaxCode(capacity.Breakpoint{Outcome: capacity.OutcomeGeneratorLimited}); c != reports.ExitInvalidRun {
		t.Errorf("generator-limited: exit %d", c)
	}
	// Every field of search.json is in the glossary (docs/results.md).
	b, err := json.Marshal(searchFile{})
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if tm, ok := reports.Describe(k); !ok || tm.Kind != reports.TermSearch {
			t.Errorf("search.json field %s has no breakpoint search entry in reports.Glossary", k)
		}
	}
}

// sectionScenario carries its breakpoint search in a search: section and
// raises room searches (chansrch), not posts.
const sectionScenario = `name: findmax-section
seed: 1
transport: tcp
lookup: {flow: client}
users: {count: 10}
rooms:
  classes:
    - {name: r, size: 5, count: 2}
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: 2s
    search: {rate: 5/s, arrival: constant}
drain: 1s
thresholds:
  - search.p99 < 300ms
  - errors == 0
search:
  raise: search
  start: 20/s
  max_rate: 5000/s
  steps: 8
  resolution: 0.3
  server_cpus: 0.02
`

// TestFindMaxSection: gcload run on a scenario with a search: section does
// the breakpoint search without --find-max, with the section's settings
// (room searches raised from 20/s, the server limited to 0.02 core), and
// finds the server's maximum; each step ran the scenario with the room
// search rate the search asked for.
func TestFindMaxSection(t *testing.T) {
	if testing.Short() {
		t.Skip("a breakpoint search of about 30 s; run without -short")
	}
	if _, err := cgroup.Detect(); err != nil {
		t.Skipf("the cgroup cpu controller is needed to limit the server: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "section.yaml")
	if err := os.WriteFile(file, []byte(sectionScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	r := gcload(t, nil, "run", file, "--progress", "none", "--out", out)
	t.Logf("%s", r.stdout)
	b, err := os.ReadFile(filepath.Join(out, FileSearch))
	if err != nil {
		t.Fatalf("exit %d, %v\n%s", r.code, err, r.stderr)
	}
	var sf searchFile
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	if r.code == reports.ExitInvalidRun && sf.Outcome == capacity.OutcomeGeneratorLimited && sf.Raise == "search" {
		// a machine too busy for the generator's own schedule: said so,
		// and the server not blamed
		t.Skipf("the load generator could not drive the search on this busy machine: %s", sf.Sentence)
	}
	if r.code != reports.ExitPass {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if sf.Raise != "search" || sf.BaseRate != 5 || sf.Search.Start != 20 || sf.Search.MaxRate != 5000 || sf.Search.MaxSteps != 8 || sf.ServerCPUs != 0.02 ||
		sf.Outcome != capacity.OutcomeFound || !(sf.FirstFailedRate > sf.MaxHeldRate) || len(sf.Steps) > 8 {
		t.Fatalf("search.json: %s", b)
	}
	for _, st := range sf.Steps {
		var s reports.Summary
		sb, err := os.ReadFile(filepath.Join(st.Dir, "summary.json"))
		if err != nil || json.Unmarshal(sb, &s) != nil {
			t.Fatalf("step %s: %v", st.Dir, err)
		}
		if st.Point.Offered <= 0 || st.Utilization["cpu"] <= 0 {
			t.Errorf("step %s: %+v", st.Dir, st.Point)
		}
		// the step's searches are the offered rate's: 2 s of them
		if n := s.Ops[reports.OpSearch].Count; !st.Point.GeneratorInvalid && st.Verdict == reports.VerdictPass && float64(n) < 0.9*2*st.Point.Offered {
			t.Errorf("step %s at %g/s: %d room searches", st.Dir, st.Point.Offered, n)
		}
	}
}

// TestFindMaxMerge: --find-max's flags override the scenario's search:
// section, which fills what they leave unset; the defaults fill the rest;
// and the search's flags without a search are refused.
func TestFindMaxMerge(t *testing.T) {
	spec, _, err := scenarios.Parse("s.yaml", []byte(sectionScenario), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &RunOptions{FindMax: FindMaxOptions{StartRate: 7, MaxSteps: 3}}
	if err := checkFindMax(o, spec); err != nil {
		t.Fatal(err)
	}
	if fm := o.FindMax; !fm.Enabled || fm.Raise != "search" || fm.StartRate != 7 || fm.MaxRate != 5000 || fm.MaxSteps != 3 || fm.Resolution != 0.3 || fm.ServerCPUs != 0.02 {
		t.Errorf("merged: %+v", fm)
	}
	plain, _, err := scenarios.Parse("p.yaml", []byte(findMaxScenario), nil)
	if err != nil {
		t.Fatal(err)
	}
	o = &RunOptions{FindMax: FindMaxOptions{Enabled: true}}
	if err := checkFindMax(o, plain); err != nil || o.FindMax.Raise != "posts" || o.FindMax.MaxSteps != capacity.DefaultSearchSteps || o.FindMax.Resolution != capacity.DefaultSearchResolution {
		t.Errorf("defaults: %+v, %v", o.FindMax, err)
	}
	for _, fm := range []FindMaxOptions{{Raise: "history"}, {MaxSteps: 4}, {Resolution: 0.2}} {
		if err := checkFindMax(&RunOptions{FindMax: fm}, plain); err == nil {
			t.Errorf("%+v without a search: accepted", fm)
		}
	}
	if err := checkFindMax(&RunOptions{FindMax: FindMaxOptions{Enabled: true, Raise: "joins"}}, plain); err == nil {
		t.Error("--raise joins accepted")
	}
}

// TestJudgeOpStep: a step that raised message searches is judged on them:
// achieved is the offered rate times the share of planned searches that
// completed, the latency their p99, and the server's CPU is taken over
// the searches' planned window only (not the idle sign-in and drain).
func TestJudgeOpStep(t *testing.T) {
	doc := strings.Replace(sectionScenario, "search: {rate: 5/s, arrival: constant}", "message_search: {rate: 10/s, arrival: constant, by: keyword}", 1)
	doc = strings.Replace(doc, "raise: search", "raise: message_search", 1)
	spec, _, err := scenarios.Parse("s.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	planned := plan.Counts(swarm.Shard{Index: 1, Of: 1})[swarm.KindMsgSearch]
	if planned != 20 {
		t.Fatalf("%d searches planned, want 2 s at 10/s", planned)
	}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// the settle phase ends at about 1.1 s: the server busy at 0.5 core
	// from then to 3.2 s, idle before and after
	var samples []string
	for i := 0; i <= 20; i++ {
		at, cpu := float64(i)*0.25, 0.0
		switch {
		case at > 3.25:
			cpu = 0.5 * (3.25 - 1.0)
		case at > 1.0:
			cpu = 0.5 * (at - 1.0)
		}
		samples = append(samples, fmt.Sprintf(`{"at": %q, "server_cpu_s": %g}`, t0.Add(time.Duration(at*float64(time.Second))).Format(time.RFC3339Nano), cpu))
	}
	m := []byte(`{"server": "process", "cores": 2, "samples": [` + strings.Join(samples, ",") + `]}`)
	s := &reports.Summary{Start: t0, Generator: reports.Generator{Valid: true}, Users: reports.Users{SignedIn: 10},
		Ops: map[reports.Op]reports.OpSummary{reports.OpMessageSearch: {Count: 15, P99: 42000}}}
	st := judgeOpStep(s, m, plan, raisedOps[scenarios.RaiseMessageSearch], 10, 1)
	if st.Point.Achieved != 10*15.0/20 || st.Point.LatencyUs != 42000 || st.Verdict != reports.VerdictPass {
		t.Errorf("point %+v, verdict %s", st.Point, st.Verdict)
	}
	if u := st.Utilization["cpu"]; math.Abs(u-0.5) > 0.06 {
		t.Errorf("server CPU over the searches' window %.3f of its core, want 0.5", u)
	}
	// a scaled spec raises the searches only
	sc := scaledSpec(spec, raisedOps[scenarios.RaiseMessageSearch], 3)
	if opRate(sc, raisedOps[scenarios.RaiseMessageSearch]) != 30 || opRate(spec, raisedOps[scenarios.RaiseMessageSearch]) != 10 || postRate(sc) != 0 {
		t.Errorf("scaled: %v, original %v", opRate(sc, raisedOps[scenarios.RaiseMessageSearch]), opRate(spec, raisedOps[scenarios.RaiseMessageSearch]))
	}
}
