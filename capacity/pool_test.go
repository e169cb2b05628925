package capacity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// loadPoolRuns reads the pool runs measured on this machine
// (docs/capacity.md, "Pools: the prediction against a measured pool").
func loadPoolRuns(t *testing.T) (Calibration, []PoolRun) {
	t.Helper()
	return loadPoolRunsFrom(t, "testdata/pool-runs.json")
}

func loadPoolRunsFrom(t *testing.T, file string) (Calibration, []PoolRun) {
	t.Helper()
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var runs []PoolRun
	if err := json.Unmarshal(b, &runs); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return cal, runs
}

// TestValidatePoolRun: the pool's CPU is predicted as factor × the sweep's
// CPU per post × posts (so doubling the factor doubles it), each check is
// green within its target, amber within twice it and red beyond, a run the
// generator could not drive is red and not validated, and the pool's p99
// is one server's model with that server's share of every post.
func TestValidatePoolRun(t *testing.T) {
	cal, runs := loadPoolRuns(t)
	run := runs[0]
	v, err := ValidatePoolRun(cal, run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.Factor != PoolCPUPerDelivery.Mid {
		t.Errorf("factor %g, want the measured central %g", v.Factor, PoolCPUPerDelivery.Mid)
	}
	m, err := Fit(cal)
	if err != nil {
		t.Fatal(err)
	}
	e := m.localEngine(run.Cores)
	want := PoolCPUPerDelivery.Mid * e.cpuUs(run.FanOut(), mid) * 1e-6 * run.Posts()
	if math.Abs(v.CPU.Predicted-want) > 1e-9*want || v.CPU.Measured != run.ServerCPUSeconds {
		t.Errorf("CPU predicted %g measured %g, want %g and %g", v.CPU.Predicted, v.CPU.Measured, want, run.ServerCPUSeconds)
	}
	if got := (v.CPU.Predicted - v.CPU.Measured) / v.CPU.Measured; got != v.CPU.RelError {
		t.Errorf("CPU error %g, want %g", v.CPU.RelError, got)
	}
	v2, _ := ValidatePoolRun(cal, run, 2*PoolCPUPerDelivery.Mid)
	if math.Abs(v2.CPU.Predicted-2*v.CPU.Predicted) > 1e-9*v.CPU.Predicted {
		t.Errorf("twice the factor predicts %g, want %g", v2.CPU.Predicted, 2*v.CPU.Predicted)
	}
	if !(v2.Latency.Predicted > v.Latency.Predicted) {
		t.Errorf("a costlier pool predicts p99 %g, not above %g", v2.Latency.Predicted, v.Latency.Predicted)
	}

	// statuses: the measurement moved around the prediction
	for _, c := range []struct {
		cpu, lat float64 // measured ÷ predicted
		cpuS     Status
		latS     Status
	}{
		{1 / 1.05, 1 / 1.1, StatusGreen, StatusGreen},
		{1 / 1.15, 1 / 1.3, StatusAmber, StatusAmber},
		{1 / 1.5, 1 / 0.5, StatusRed, StatusRed},
		{1 / 0.95, 1 / 1.5, StatusGreen, StatusRed},
	} {
		r := run
		r.ServerCPUSeconds = v.CPU.Predicted * c.cpu
		r.Latency.PostLastDeliveryP99 = v.Latency.Predicted * c.lat
		got, err := ValidatePoolRun(cal, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.CPU.Status != c.cpuS || got.Latency.Status != c.latS || got.Status != worse(c.cpuS, c.latS) {
			t.Errorf("measured at %.3g and %.3g of the prediction: %s / %s / %s, want %s / %s: %s", c.cpu, c.lat,
				got.CPU.Status, got.Latency.Status, got.Status, c.cpuS, c.latS, got.Sentence)
		}
		if !strings.Contains(got.Sentence, string(got.CPU.Status)) {
			t.Errorf("the sentence does not say the status: %s", got.Sentence)
		}
	}

	// a deliberately wrong factor turns the measured run red
	if bad, _ := ValidatePoolRun(cal, run, 6); bad.CPU.Status != StatusRed || bad.Status != StatusRed || !(bad.CPU.RelError > 1) {
		t.Errorf("factor 6: %s, CPU error %g", bad.Status, bad.CPU.RelError)
	}

	inv := run
	inv.GeneratorValid, inv.InvalidReasons = false, []string{"generator CPU 97%"}
	if got, err := ValidatePoolRun(cal, inv, 0); err != nil || got.Status != StatusRed || got.CPU.Predicted != 0 ||
		!strings.Contains(got.Sentence, "not validated") || !strings.Contains(got.Sentence, "generator CPU 97%") {
		t.Errorf("a generator-limited pool run: %v %+v", err, got)
	}

	// one server of a pool at factor 1, without a measured database
	// commit, is the sweep's own model
	one := run
	one.Servers = 1
	one.DBCommitMeanUs, one.DBCommitP99Us, one.DBNotifyMeanUs, one.DBNotifyP99Us = 0, 0, 0, 0
	got, err := ValidatePoolRun(cal, one, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, last := e.latency(runMix(run.Measurement), run.AchievedPostsPerSec, mid, 0.99)
	if math.Abs(got.Latency.Predicted-last*1e6) > 1e-6*last*1e6 {
		t.Errorf("one server at factor 1: p99 %g, the sweep's model %g", got.Latency.Predicted, last*1e6)
	}
	// the database's commit and its notification's hop are in the p99
	slow := run
	slow.DBCommitP99Us, slow.DBNotifyP99Us = run.DBCommitP99Us+20000, run.DBNotifyP99Us+30000
	if got, _ := ValidatePoolRun(cal, slow, 0); !(got.Latency.Predicted > v.Latency.Predicted+25000) {
		t.Errorf("a database slower by 20 ms, its notification by 30: p99 %g against %g", got.Latency.Predicted, v.Latency.Predicted)
	}
}

// TestPoolRecorded pins the comparisons recorded in docs/capacity.md: the
// pool of three measured on this machine (at load 5-6.5, and on a quiet
// machine), predicted from the kept sweep, judged on the mean |error| of
// its runs.
func TestPoolRecorded(t *testing.T) {
	for _, f := range []string{"testdata/pool-runs.json", "testdata/pool-runs-quiet.json"} {
		t.Run(f, func(t *testing.T) { testPoolRecorded(t, f) })
	}
}

func testPoolRecorded(t *testing.T, file string) {
	cal, runs := loadPoolRunsFrom(t, file)
	v, err := ValidatePool(cal, runs, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(v.Sentence)
	if len(runs) < 3 || v.Servers != 3 || len(v.Runs) != len(runs) || v.CPU.Runs != len(runs) {
		t.Fatalf("the recorded runs: %d, validation %+v", len(runs), v)
	}
	for _, c := range []PoolCheck{v.CPU, v.Latency} {
		var mean, meanAbs float64
		for _, rv := range v.Runs {
			one := rv.CPU
			if c.Metric == MetricLatency {
				one = rv.Latency
			}
			mean += one.RelError / float64(len(runs))
			meanAbs += math.Abs(one.RelError) / float64(len(runs))
		}
		if math.Abs(c.RelError-mean) > 1e-12 || math.Abs(c.MeanAbs-meanAbs) > 1e-12 {
			t.Errorf("%s: mean error %g and %g, want %g and %g", c.Metric, c.RelError, c.MeanAbs, mean, meanAbs)
		}
		if want := statusOf(c.MeanAbs, c.Target); c.Status != want {
			t.Errorf("%s: mean |error| %.1f%% against %.0f%%: %s, want %s", c.Metric, 100*c.MeanAbs, 100*c.Target, c.Status, want)
		}
	}
	if v.Status != worse(v.CPU.Status, v.Latency.Status) {
		t.Errorf("status %s from %s and %s", v.Status, v.CPU.Status, v.Latency.Status)
	}

	// a run the generator could not drive is listed and left out
	bad := append([]PoolRun(nil), runs...)
	bad[0].GeneratorValid, bad[0].InvalidReasons = false, []string{"scheduling lag"}
	w, err := ValidatePool(cal, bad, 0)
	if err != nil || w.CPU.Runs != len(runs)-1 || !strings.Contains(w.Sentence, "Not validated: run 1") {
		t.Errorf("one run generator-limited: %v %d runs: %s", err, w.CPU.Runs, w.Sentence)
	}
	for i := range bad {
		bad[i].GeneratorValid = false
	}
	if w, err := ValidatePool(cal, bad, 0); err != nil || w.Status != StatusRed || w.CPU.Runs != 0 || !strings.Contains(w.Sentence, "not validated") {
		t.Errorf("every run generator-limited: %v %+v", err, w)
	}
	// a deliberately wrong factor is red over the runs too
	if w, _ := ValidatePool(cal, runs, 6); w.CPU.Status != StatusRed || w.Status != StatusRed {
		t.Errorf("factor 6: %s", w.Sentence)
	}
}

func statusOf(e, target float64) Status {
	switch e = math.Abs(e); {
	case e <= target:
		return StatusGreen
	case e <= FarOff*target:
		return StatusAmber
	}
	return StatusRed
}

// TestPoolPage: the pool validation is in the text, the JSON and the page
// (a status box in its colour and a table of measured, predicted, error
// and target); a calibration without a pool run shows none.
func TestPoolPage(t *testing.T) {
	cal, runs := loadPoolRuns(t)
	cal.Pool = runs
	if err := cal.Validate(); err != nil {
		t.Fatal(err)
	}
	p, page := renderPage(t, cal)
	pv := p.PoolValidation
	if pv == nil {
		t.Fatal("no pool validation")
	}
	root := parsePage(t, page)
	box := root.byID("pool-check")
	if box == nil || box.attrs["class"] != "status "+string(pv.Status) || !strings.Contains(clean(box.text), "Pool of 3 servers") {
		t.Fatalf("pool status box: %+v", box)
	}
	rows := tableRows(t, root.byID("pool-validation"))
	if len(rows) != 2+2*len(runs) || rows[0][1] != fmtCPUSeconds(pv.CPU.Measured) || rows[0][2] != fmtCPUSeconds(pv.CPU.Predicted) ||
		!strings.HasPrefix(rows[0][3], fmt.Sprintf("%.1f%%", 100*pv.CPU.MeanAbs)) || rows[0][4] != "10%" || rows[0][5] != string(pv.CPU.Status) ||
		rows[1][4] != "20%" || rows[1][5] != string(pv.Latency.Status) {
		t.Errorf("pool table %q", rows)
	}
	for i, rv := range pv.Runs {
		cpu, lat := rows[2+2*i], rows[3+2*i]
		if cpu[3] != fmtErr(rv.CPU.RelError) || cpu[5] != string(rv.CPU.Status) || lat[3] != fmtErr(rv.Latency.RelError) || lat[5] != string(rv.Latency.Status) {
			t.Errorf("run %d rows %q %q", i+1, cpu, lat)
		}
	}
	var txt bytes.Buffer
	if err := p.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "Pool validation: "+strings.ToUpper(string(pv.Status))+". ") {
		t.Errorf("the text lacks the pool validation:\n%s", txt.String())
	}
	js, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Pool *PoolValidation `json:"pool_validation"`
	}
	if err := json.Unmarshal(js, &back); err != nil || back.Pool == nil || back.Pool.CPU.Predicted != pv.CPU.Predicted || back.Pool.Servers != 3 || len(back.Pool.Runs) != len(runs) {
		t.Errorf("JSON pool_validation: %v %+v", err, back.Pool)
	}

	cal.Pool = nil
	_, page = renderPage(t, cal)
	if bytes.Contains(page, []byte(`id="pool-check"`)) {
		t.Error("a calibration without a pool run shows a pool box")
	}
	cal.Pool = []PoolRun{{Servers: 0}}
	if err := cal.Validate(); err == nil || !strings.Contains(err.Error(), "pool_runs[0]: pool.servers") {
		t.Errorf("a pool run of no servers: %v", err)
	}
}
