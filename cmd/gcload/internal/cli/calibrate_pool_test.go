package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/pgcluster"
)

// TestCalibratePool runs a small pool validation end to end: a two-point
// sweep of one server, then a pool of three gcload servers on a throw-away
// PostgreSQL posting 20/s into rooms of 50 spread over them, each server's
// CPU and the database's measured from /proc; gcload capacity predicts the
// pool from the sweep and shows the error in text, JSON and capacity.html.
// With a deliberately wrong CPU factor (6× one server's cost per delivery)
// the same run turns red. About 35 s.
func TestCalibratePool(t *testing.T) {
	if testing.Short() {
		t.Skip("a sweep and a pool of three server processes; run without -short")
	}
	if _, err := pgcluster.FindBin(); err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "cal")
	r := gcload(t, nil, "calibrate", "--sizes", "10,50", "--loads", "20", "--procs", "2", "--steady", "3s", "--no-saturation",
		"--pool", "3", "--pool-size", "50", "--pool-load", "20", "--pool-runs", "1", "--out", dir)
	if r.code != 0 {
		t.Fatalf("calibrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("calibrate:\n%s", r.stdout)
	cal, err := capacity.LoadCalibration(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cal.Pool) != 1 {
		t.Fatalf("%d pool runs in calibration.json, want 1", len(cal.Pool))
	}
	p := cal.Pool[0]
	if p.Servers != 3 || len(p.PerServerCPUSeconds) != 3 || len(p.PerServerIdleCores) != 3 || p.RoomSize != 50 || !p.GeneratorValid {
		t.Fatalf("pool run %+v", p)
	}
	sum := 0.0
	for i, c := range p.PerServerCPUSeconds {
		// every server took part: each room has members on each
		if !(c > 0) {
			t.Errorf("server %d used no CPU: %v", i+1, p.PerServerCPUSeconds)
		}
		sum += c
	}
	if math.Abs(sum-p.ServerCPUSeconds) > 1e-9 || !(p.DatabaseCPUSeconds > 0) || !(p.WallSeconds >= 2.5) ||
		!(p.AchievedPostsPerSec > 15) || !(p.DeliveriesPerSec > 40*p.AchievedPostsPerSec) || !(p.Latency.PostLastDeliveryP99 > 0) ||
		!(p.DBCommitMeanUs > 0 && p.DBCommitP99Us >= p.DBCommitMeanUs && p.DBNotifyMeanUs >= p.DBCommitMeanUs) {
		t.Errorf("pool run %+v", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "pool-1", "summary.json")); err != nil {
		t.Errorf("the pool run's results folder: %v", err)
	}
	if !strings.Contains(r.stdout, "pool validation: ") {
		t.Errorf("calibrate does not print the pool validation:\n%s", r.stdout)
	}

	capacityPool := func(args ...string) capacity.PoolValidation {
		t.Helper()
		r := gcload(t, nil, append([]string{"capacity", dir}, args...)...)
		if r.code != 0 {
			t.Fatalf("capacity %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		var pred struct {
			Pool *capacity.PoolValidation `json:"pool_validation"`
		}
		b, err := os.ReadFile(filepath.Join(dir, fileCapacityJSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &pred); err != nil || pred.Pool == nil {
			t.Fatalf("capacity.json pool_validation: %v", err)
		}
		v := *pred.Pool
		if !strings.Contains(r.stdout, "Pool validation: "+strings.ToUpper(string(v.Status))) {
			t.Errorf("the text does not give the pool's status %s:\n%s", v.Status, r.stdout)
		}
		html, err := os.ReadFile(filepath.Join(dir, fileCapacityHTML))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(html), `<div class="status `+string(v.Status)+`" id="pool-check">`) {
			t.Errorf("capacity.html lacks the pool box in %s", v.Status)
		}
		return v
	}
	v := capacityPool()
	t.Logf("%s", v.Sentence)
	if v.Factor != capacity.PoolCPUPerDelivery.Mid || v.CPU.Measured != p.ServerCPUSeconds || !(v.CPU.Predicted > 0) || !(v.Latency.Predicted > 0) ||
		len(v.Runs) != 1 || v.CPU.Runs != 1 || v.Latency.Runs != 1 {
		t.Fatalf("pool validation %+v", v)
	}
	for _, c := range []capacity.PoolCheck{v.CPU, v.Latency} {
		if want := (c.Predicted - c.Measured) / c.Measured; math.Abs(c.RelError-want) > 1e-12 || math.Abs(c.MeanAbs-math.Abs(want)) > 1e-12 {
			t.Errorf("%s error %g (mean |error| %g), want %g", c.Metric, c.RelError, c.MeanAbs, want)
		}
	}
	// The model of the pool is one server's sweep times a measured factor:
	// on any machine it should land within a factor of about 3 of the
	// pool's CPU; then 6× one server's cost (4× the right factor) is far
	// off and red.
	if math.Abs(v.CPU.RelError) > 0.7 {
		t.Errorf("servers' CPU predicted %g CPU-s, measured %g: off by %.0f%%", v.CPU.Predicted, v.CPU.Measured, 100*v.CPU.RelError)
	}
	bad := capacityPool("--pool-cpu-factor", "6")
	if bad.Factor != 6 || bad.CPU.Status != capacity.StatusRed || bad.Status != capacity.StatusRed ||
		math.Abs(bad.CPU.Predicted-6/capacity.PoolCPUPerDelivery.Mid*v.CPU.Predicted) > 1e-9*bad.CPU.Predicted {
		t.Errorf("factor 6: %+v", bad)
	}
	if r := gcload(t, nil, "capacity", dir, "--pool-cpu-factor", "-1"); r.code != 2 || !strings.Contains(r.stderr, "--pool-cpu-factor") {
		t.Errorf("a negative factor: exit %d %s", r.code, r.stderr)
	}
}
