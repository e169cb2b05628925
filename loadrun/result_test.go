package loadrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// TestBuildResultKeepsNominalInterval: results record the nominal interval
// length, not the first interval's measured one (ticks run late by a
// millisecond now and then, and shards must agree on it to merge).
func TestBuildResultKeepsNominalInterval(t *testing.T) {
	spec, _, err := scenarios.Parse("t.yaml", []byte("name: t\nusers: {count: 2}\nrooms: {classes: [{name: r, size: 2, count: 1}]}\nphases: [{name: p, signin: {rate: 10/s}}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ivs := []reports.Interval{{Start: t0, End: t0.Add(1001 * time.Millisecond)}, {Start: t0.Add(1001 * time.Millisecond), End: t0.Add(2 * time.Second)}}
	oc := &swarm.Outcome{Data: &swarm.Data{}, Start: t0, End: t0.Add(2 * time.Second)}
	res, err := buildResult(spec, plan, swarm.Shard{Index: 1, Of: 1}, "embedded", map[reports.Op]*hdrhistogram.Histogram{}, map[string]int64{}, ivs, time.Second, swarm.Accounted{}, oc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := reports.WriteResults(dir, res); err != nil {
		t.Fatal(err)
	}
	back, err := reports.ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.IntervalLength != time.Second {
		t.Fatalf("interval length read back %v, want 1s", back.IntervalLength)
	}
}

// TestReportOfOldResults: a results folder whose summary.json has phases
// without per-phase latencies (written before them) gets them in
// report.html from its intervals; the summary itself is left as it was.
func TestReportOfOldResults(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	rec := reports.NewRecorder(t0, time.Second)
	for k := range 4 {
		for range 10 * (k + 1) {
			rec.Record(reports.OpPostAck, time.Duration(1000+k)*time.Microsecond)
		}
		rec.Tick(t0.Add(time.Duration(k+1) * time.Second))
	}
	old := []reports.PhaseSummary{{Name: "signin", StartS: 0, Seconds: 2, Counts: map[string]int64{"signin": 2}}, {Name: "steady", StartS: 2, Seconds: 2}}
	res := rec.Result(reports.Summary{Scenario: "old", Start: t0, End: t0.Add(4 * time.Second), Seconds: 4, Generator: reports.Generator{Valid: true}, Phases: old})
	dir := t.TempDir()
	if err := WriteReport(dir, res, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	phases := html[strings.Index(html, `<section id="phases">`):]
	phases = phases[:strings.Index(phases, "</section>")]
	// signin: 10 + 20 posts, steady 30 + 40
	for _, want := range []string{`>post_ack</a></td><td class="n">30</td>`, `>post_ack</a></td><td class="n">70</td>`} {
		if !strings.Contains(phases, want) {
			t.Errorf("the phases of report.html lack %s:\n%s", want, phases)
		}
	}
	if res.Summary.Phases[0].Ops != nil || len(res.Summary.Phases) != 2 {
		t.Errorf("WriteReport changed the summary's phases: %+v", res.Summary.Phases)
	}
}
