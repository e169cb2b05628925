package capacity

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// loadPoolRun reads the pool run measured on this machine (docs/capacity.md,
// "Pools: the prediction against a measured pool").
func loadPoolRun(t *testing.T) (Calibration, PoolRun) {
	t.Helper()
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/pool-run.json")
	if err != nil {
		t.Fatal(err)
	}
	var r PoolRun
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return cal, r
}

// TestValidatePool: the pool's CPU is predicted as factor × the sweep's
// CPU per post × posts (so doubling the factor doubles it), each check is
// green within its target, amber within twice it and red beyond, a run the
// generator could not drive is red and not validated, and the pool's p99
// is one server's model with that server's share of every post.
func TestValidatePool(t *testing.T) {
	cal, run := loadPoolRun(t)
	v, err := ValidatePool(cal, run, 0)
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
	v2, _ := ValidatePool(cal, run, 2*PoolCPUPerDelivery.Mid)
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
		got, err := ValidatePool(cal, r, 0)
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
	if bad, _ := ValidatePool(cal, run, 6); bad.CPU.Status != StatusRed || bad.Status != StatusRed || !(bad.CPU.RelError > 1) {
		t.Errorf("factor 6: %s, CPU error %g", bad.Status, bad.CPU.RelError)
	}

	inv := run
	inv.GeneratorValid, inv.InvalidReasons = false, []string{"generator CPU 97%"}
	if got, err := ValidatePool(cal, inv, 0); err != nil || got.Status != StatusRed || got.CPU.Predicted != 0 ||
		!strings.Contains(got.Sentence, "not validated") || !strings.Contains(got.Sentence, "generator CPU 97%") {
		t.Errorf("a generator-limited pool run: %v %+v", err, got)
	}

	// one server of a pool at factor 1 is the sweep's own model
	one := run
	one.Servers = 1
	got, err := ValidatePool(cal, one, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, last := e.latency(runMix(run.Measurement), run.AchievedPostsPerSec, mid, 0.99)
	if math.Abs(got.Latency.Predicted-last*1e6) > 1e-6*last*1e6 {
		t.Errorf("one server at factor 1: p99 %g, the sweep's model %g", got.Latency.Predicted, last*1e6)
	}
}

// TestPoolRecorded pins the comparison recorded in docs/capacity.md: the
// pool of three measured on this machine, predicted from the kept sweep.
func TestPoolRecorded(t *testing.T) {
	cal, run := loadPoolRun(t)
	v, err := ValidatePool(cal, run, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(v.Sentence)
	if run.Servers != 3 || len(run.PerServerCPUSeconds) != 3 || !run.GeneratorValid {
		t.Fatalf("the recorded run: %+v", run)
	}
	for _, c := range []PoolCheck{v.CPU, v.Latency} {
		if want := statusOf(c.RelError, c.Target); c.Status != want {
			t.Errorf("%s: error %.1f%% against %.0f%%: %s, want %s", c.Metric, 100*c.RelError, 100*c.Target, c.Status, want)
		}
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
	cal, run := loadPoolRun(t)
	cal.Pool = &run
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
	if len(rows) != 2 || rows[0][1] != fmtCPUSeconds(pv.CPU.Measured) || rows[0][2] != fmtCPUSeconds(pv.CPU.Predicted) ||
		rows[0][3] != fmtErr(pv.CPU.RelError) || rows[0][4] != "10%" || rows[0][5] != string(pv.CPU.Status) ||
		rows[1][3] != fmtErr(pv.Latency.RelError) || rows[1][4] != "20%" || rows[1][5] != string(pv.Latency.Status) {
		t.Errorf("pool table %q", rows)
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
	if err := json.Unmarshal(js, &back); err != nil || back.Pool == nil || back.Pool.CPU.Predicted != pv.CPU.Predicted || back.Pool.Run.Servers != 3 {
		t.Errorf("JSON pool_validation: %v %+v", err, back.Pool)
	}

	cal.Pool = nil
	_, page = renderPage(t, cal)
	if bytes.Contains(page, []byte(`id="pool-check"`)) {
		t.Error("a calibration without a pool run shows a pool box")
	}
	cal.Pool = &PoolRun{Servers: 0}
	if err := cal.Validate(); err == nil || !strings.Contains(err.Error(), "pool.servers") {
		t.Errorf("a pool run of no servers: %v", err)
	}
}
