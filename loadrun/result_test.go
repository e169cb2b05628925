package loadrun

import (
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
