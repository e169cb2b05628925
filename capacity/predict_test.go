package capacity

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func exactTruth() truth {
	tr := defaultTruth()
	tr.noise = 0
	return tr
}

func TestPredictHandWorked(t *testing.T) {
	cal := synth(exactTruth(), synthSizes, synthCores, synthLoads)
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	// CPU: rooms of 1,000 cost 40 + 5·1000 = 5,040 µs per post here; a
	// reference core is 1/3 as fast; 8 cores with σ = 0.05 give
	// 8/(1 + 0.05·7) = 5.926 cores' worth; the runs reached 95% of the CPU
	// bound at saturation: 1/3 · 5.926 · 0.95 / 5,040 µs = 372.3 posts/s.
	wantCPU := (1.0 / 3) * (8 / 1.35) * 0.95 / 5040e-6
	// NIC: 600 + 700·1000 bytes per post, 8 bits each, on 1 Gbit/s.
	wantNIC := 1e9 / (8 * (600 + 700*1000.0))
	// RAM: 8 GiB − 2 GiB reserved over 40,000 + 1 × 1,000 bytes per user.
	wantRAMUsers := float64(6*GiB) / 41000
	got := map[Resource]Constraint{}
	for _, c := range p.Constraints {
		got[c.Resource] = c
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"cpu max posts/s", got[CPU].MaxPostsPerSec.Mid, wantCPU},
		{"cpu max posts/s, slowest core (1/5)", got[CPU].MaxPostsPerSec.Low, wantCPU * 0.2 * 3 * (1 - p.Validation.Error)},
		{"nic max posts/s", got[NIC].MaxPostsPerSec.Mid, wantNIC},
		{"max posts/s (the NIC binds)", p.MaxPostsPerSec.Mid, wantNIC},
		{"max deliveries/s", p.MaxDeliveriesPerSec.Mid, 1000 * wantNIC},
		{"ram max users", got[RAM].MaxUsers.Mid, wantRAMUsers},
		{"max users (RAM binds)", p.MaxUsers.Mid, wantRAMUsers},
		{"cpu demand per post", got[CPU].DemandPerPost.Mid, 1 / wantCPU},
		{"40 msg/s headroom", p.Headroom[0].Ratio.Mid, wantNIC / 40},
		{"20,000 per server headroom", p.Headroom[2].Ratio.Mid, wantRAMUsers / 20000},
		{"60,000 per pool headroom", p.Headroom[3].Ratio.Mid, 3 * wantRAMUsers / 60000},
		{"utilisation of the NIC at 40 posts/s", p.Loads[0].Utilization[3].Utilization.Mid, 40 / wantNIC},
	}
	for _, c := range checks {
		if !near(c.got, c.want, 1e-3) {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
	if p.PostsBinding != NIC || p.UsersBinding != RAM {
		t.Errorf("binding: posts %s, users %s; want nic, ram", p.PostsBinding, p.UsersBinding)
	}
	if p.Loads[0].PostsPerSec != 40 || p.Loads[0].Utilization[3].Resource != NIC {
		t.Fatalf("first load %+v", p.Loads[0])
	}
	// Rooms of 1,000 at 40 posts/s meet 500 ms, rooms of 16,000 cannot
	// even be carried at 40 posts/s.
	for _, r := range p.BySize {
		switch r.RoomSize {
		case 1000:
			if !r.MeetsObjective || !(r.LastDeliveryUs.Mid < 500000) {
				t.Errorf("rooms of 1,000: %+v", r)
			}
		case 16000:
			if r.MeetsObjective || r.MaxPostsPerSec.High >= 40 {
				t.Errorf("rooms of 16,000: %+v", r)
			}
		}
	}
	if !(p.MaxUsersPerRoom.Mid > 1000 && p.MaxUsersPerRoom.Mid < 16000) {
		t.Errorf("max users per room %v", p.MaxUsersPerRoom)
	}
	// Latency grows with load; every band is ordered.
	for i, l := range p.Loads {
		for _, b := range []Band{l.PostAckP50Us, l.PostAckP99Us, l.LastDeliveryP50Us, l.LastDeliveryP99Us} {
			if b.Finite() && !(b.Low <= b.Mid && b.Mid <= b.High) {
				t.Errorf("load %g: band out of order %+v", l.PostsPerSec, b)
			}
		}
		if i > 0 && l.LastDeliveryP99Us.Mid < p.Loads[i-1].LastDeliveryP99Us.Mid {
			t.Errorf("p99 fell from %g to %g µs as the load rose", p.Loads[i-1].LastDeliveryP99Us.Mid, l.LastDeliveryP99Us.Mid)
		}
	}
	for _, b := range []Band{p.MaxPostsPerSec, p.MaxUsers, p.MaxUsersPerRoom} {
		if !(b.Low <= b.Mid && b.Mid <= b.High) {
			t.Errorf("band out of order %+v", b)
		}
	}
}

// cpuBoundProfile is the reference with a NIC and RAM that never bind, so
// the CPU band shows.
func cpuBoundProfile() Profile {
	p := testProfile()
	p.NIC = 100e9
	p.RAM = 1024 * GiB
	return p
}

func TestGroupCommit(t *testing.T) {
	tests := []struct {
		name     string
		fsyncs   func(m Measurement) int64
		want     string
		syncCap  float64 // central disk-sync capacity on the reference (4.9 ms flushes)
		warnings string
	}{
		// Batches of up to 41 posts per flush: a flush carries what arrived
		// during the previous one, so commits never bound throughput.
		{"observed", nil, GroupCommitObserved, math.Inf(1), ""},
		// One flush per post although several posts arrived per 2 ms
		// flush: the log bounds throughput at 1/4.9 ms.
		{"absent", func(m Measurement) int64 { return int64(m.Posts()) }, GroupCommitAbsent, 1 / 0.0049, ""},
		{"not counted", func(Measurement) int64 { return 0 }, GroupCommitUnknown, 1 / 0.0049, "not counted"},
	}
	for _, tc := range tests {
		cal := synth(exactTruth(), synthSizes, synthCores, synthLoads)
		if tc.fsyncs != nil {
			for i := range cal.Measurements {
				cal.Measurements[i].Fsyncs = tc.fsyncs(cal.Measurements[i])
			}
		}
		p, err := Predict(cal, testProfile(), SingleSize(10), DefaultObjective())
		if err != nil {
			t.Fatal(err)
		}
		if p.Model.GroupCommit != tc.want {
			t.Errorf("%s: group commit %q, want %q", tc.name, p.Model.GroupCommit, tc.want)
		}
		for _, c := range p.Constraints {
			if c.Resource == DiskSync && !near(c.MaxPostsPerSec.Mid, tc.syncCap, 1e-9) {
				t.Errorf("%s: disk-sync capacity %g, want %g", tc.name, c.MaxPostsPerSec.Mid, tc.syncCap)
			}
		}
		if finite(tc.syncCap) && (p.PostsBinding != DiskSync || !near(p.MaxPostsPerSec.Mid, tc.syncCap, 1e-9)) {
			t.Errorf("%s: rooms of 10 bound by %s at %g, want disk-sync at %g", tc.name, p.PostsBinding, p.MaxPostsPerSec.Mid, tc.syncCap)
		}
		// Utilisation of the log at 40 posts/s: flushes/s × 4.9 ms.
		flushes := 40.0
		if tc.want == GroupCommitObserved {
			flushes = 40 / (1 + 40*0.0049)
		}
		for _, u := range p.Loads[0].Utilization {
			if u.Resource == DiskSync && !near(u.Utilization.Mid, flushes*0.0049, 1e-9) {
				t.Errorf("%s: disk-sync utilisation at 40 posts/s %g, want %g", tc.name, u.Utilization.Mid, flushes*0.0049)
			}
		}
		if !strings.Contains(strings.Join(p.Warnings, "\n"), tc.warnings) {
			t.Errorf("%s: warnings %v lack %q", tc.name, p.Warnings, tc.warnings)
		}
	}
}

func TestBandsWidenWithUncertainty(t *testing.T) {
	width := func(t *testing.T, cal Calibration, prof Profile) float64 {
		t.Helper()
		p, err := Predict(cal, prof, PeakMix(), DefaultObjective())
		if err != nil {
			t.Fatal(err)
		}
		if p.PostsBinding != CPU {
			t.Fatalf("the CPU should bind, %s does", p.PostsBinding)
		}
		// The band before the validation error widened it: that error
		// is one held-out run's, as likely smaller as larger with fewer
		// points.
		b, w := p.MaxPostsPerSec, math.Min(p.Validation.Error, 0.9)
		return (b.High/(1+w) - b.Low/(1-w)) / b.Mid
	}
	base := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
	baseW := width(t, base, cpuBoundProfile())

	noisy := defaultTruth()
	noisy.noise = 0.12
	wideFactor := cpuBoundProfile()
	wideFactor.CPUFactor = Band{0.1, 1.0 / 3, 0.8}
	narrowFactor := cpuBoundProfile()
	narrowFactor.CPUFactor = Band{0.3, 1.0 / 3, 0.36}

	tests := []struct {
		name  string
		cal   Calibration
		prof  Profile
		wider bool
	}{
		{"noisier runs (poorer R², larger standard errors)", synth(noisy, synthSizes, synthCores, synthLoads), cpuBoundProfile(), true},
		{"fewer points (3 room sizes, 3 loads)", synth(defaultTruth(), []int{10, 150, 1000}, synthCores, []float64{0.3, 0.7, 1.3}), cpuBoundProfile(), true},
		{"one core count (σ unknown)", synth(defaultTruth(), synthSizes, []int{1}, synthLoads), cpuBoundProfile(), true},
		{"wider CPU factor band", base, wideFactor, true},
		{"narrower CPU factor band", base, narrowFactor, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := width(t, tc.cal, tc.prof)
			if tc.wider && !(w > baseW*(1+1e-6)) {
				t.Errorf("relative width %.4f, want wider than the base %.4f", w, baseW)
			}
			if !tc.wider && !(w < baseW) {
				t.Errorf("relative width %.4f, want narrower than the base %.4f", w, baseW)
			}
		})
	}

	// The statistical part alone: the CPU fit's interval at k = 1,000
	// widens with noise and shrinks with more points.
	mb, _ := Fit(base)
	mn, _ := Fit(synth(noisy, synthSizes, synthCores, synthLoads))
	if mn.CPU.SE(1000) <= mb.CPU.SE(1000) || mn.CPU.R2 >= mb.CPU.R2 {
		t.Errorf("noise: SE %g → %g, R² %g → %g", mb.CPU.SE(1000), mn.CPU.SE(1000), mb.CPU.R2, mn.CPU.R2)
	}
}

func TestHoldOut(t *testing.T) {
	exact := synth(exactTruth(), synthSizes, synthCores, synthLoads)
	find := func(cal Calibration, name string) int {
		for i, m := range cal.Measurements {
			if m.Name == name {
				return i
			}
		}
		t.Fatalf("no run %s", name)
		return -1
	}
	tests := []struct {
		name    string
		run     string
		bumpCPU float64 // the held-out run measured this much more CPU than the truth
		metric  Metric
		want    float64 // relative error
		tol     float64
		poor    bool
	}{
		{"exact CPU", "k150-c2-l0.6", 1, MetricCPU, 0, 1e-9, false},
		{"10% more CPU than the model predicts", "k150-c2-l0.6", 1.1, MetricCPU, 1/1.1 - 1, 1e-9, false},
		{"30% more CPU: poor", "k150-c2-l0.6", 1.3, MetricCPU, 1/1.3 - 1, 1e-9, true},
		{"20% less CPU: poor", "k30-c1-l0.4", 0.8, MetricCPU, 1/0.8 - 1, 1e-9, true},
		{"saturated throughput", "k1000-c2-l1.3", 1, MetricThroughput, 0, 1e-6, false},
		{"unsaturated throughput is the offered load", "k30-c1-l0.4", 1, MetricThroughput, 0, 1e-9, false},
	}
	for _, tc := range tests {
		cal := synth(exactTruth(), synthSizes, synthCores, synthLoads)
		i := find(cal, tc.run)
		cal.Measurements[i].ServerCPUSeconds *= tc.bumpCPU
		res, err := HoldOut(cal, i, tc.metric)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(res.RelError-tc.want) > tc.tol || res.Poor != tc.poor {
			t.Errorf("%s: error %+.6f poor %v, want %+.6f poor %v (%s)", tc.name, res.RelError, res.Poor, tc.want, tc.poor, res.Sentence)
		}
		if !strings.Contains(res.Sentence, tc.run) {
			t.Errorf("%s: sentence %q does not name the run", tc.name, res.Sentence)
		}
	}
	// Latency: a prediction, finite, for a run below saturation.
	res, err := HoldOut(exact, find(exact, "k150-c1-l0.6"), MetricLatency)
	if err != nil || !finite(res.Predicted) || !(res.Predicted > 0) || !finite(res.RelError) {
		t.Errorf("latency hold-out %+v, %v", res, err)
	}
	if _, err := HoldOut(exact, len(exact.Measurements), MetricCPU); err == nil {
		t.Error("hold-out of a run that does not exist")
	}
	if _, err := HoldOut(exact, 0, "bogus"); err == nil {
		t.Error("unknown metric accepted")
	}
}

func TestValidate(t *testing.T) {
	v := Validate(synth(exactTruth(), synthSizes, synthCores, synthLoads))
	if !v.Done || v.Poor || v.Error > 1e-6 || !strings.HasPrefix(v.Sentence, "Most loaded runs held out and predicted: within") || v.LeaveOneOutRuns != 40 || !v.LatencyChecked {
		t.Errorf("exact data: %+v", v)
	}

	// The most loaded run used 25% more CPU than the others say.
	cal := synth(exactTruth(), synthSizes, synthCores, synthLoads)
	most := 0
	for i, m := range cal.Measurements {
		if m.ServerUtilization() > cal.Measurements[most].ServerUtilization() {
			most = i
		}
	}
	cal.Measurements[most].ServerCPUSeconds *= 1.25
	v = Validate(cal)
	if !v.Poor || !strings.Contains(v.Sentence, "POOR PREDICTION") || !strings.Contains(v.Sentence, "15%") || math.Abs(v.Error-0.2) > 0.01 {
		t.Errorf("perturbed: error %g, poor %v, %q", v.Error, v.Poor, v.Sentence)
	}
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text(), "POOR PREDICTION") || !strings.Contains(strings.Join(p.Warnings, "\n"), "POOR") {
		t.Error("the report does not say the prediction is poor")
	}

	// Scattered CPU: a poor fit.
	tr := defaultTruth()
	tr.noise = 0.6
	v = Validate(synth(tr, synthSizes, synthCores, synthLoads))
	if !v.Poor || !(v.R2 < MinR2) || !strings.Contains(v.Sentence, "POOR FIT") {
		t.Errorf("scattered: R² %g poor %v %q", v.R2, v.Poor, v.Sentence)
	}

	// Two runs: nothing can be held out.
	v = Validate(synth(exactTruth(), []int{10, 1000}, []int{1}, []float64{0.5}))
	if v.Done || !v.Poor || !strings.HasPrefix(v.Sentence, "Not validated") {
		t.Errorf("two runs: %+v", v)
	}
}

func TestFitExcludesInvalidRuns(t *testing.T) {
	cal := synth(exactTruth(), synthSizes, synthCores, synthLoads)
	cal.Measurements[3].GeneratorValid = false
	cal.Measurements[3].ServerCPUSeconds *= 10 // would ruin the fit
	m, err := Fit(cal)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Used) != len(cal.Measurements)-1 || len(m.Excluded) != 1 || !strings.Contains(m.Excluded[0], "load generator") {
		t.Errorf("used %d, excluded %v", len(m.Used), m.Excluded)
	}
	if !near(m.CPU.A, 40, 1e-9) || !near(m.CPU.B, 5, 1e-9) {
		t.Errorf("fit a=%g b=%g with the invalid run left out", m.CPU.A, m.CPU.B)
	}
	// One room size is not enough.
	if _, err := Fit(synth(exactTruth(), []int{150}, synthCores, synthLoads)); err == nil || !strings.Contains(err.Error(), "2 or more room sizes") {
		t.Errorf("one room size: %v", err)
	}
}

func TestPredictInputs(t *testing.T) {
	cal := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
	tests := []struct {
		name string
		prof Profile
		mix  RoomMix
		obj  LatencyObjective
		want string
	}{
		{"bad profile", Profile{Name: "x"}, PeakMix(), DefaultObjective(), "cores"},
		{"empty mix", testProfile(), RoomMix{}, DefaultObjective(), "no room sizes"},
		{"bad percentile", testProfile(), PeakMix(), LatencyObjective{Percentile: 100}, "percentile"},
		{"bad load", testProfile(), PeakMix(), LatencyObjective{Loads: []float64{-1}}, "load"},
	}
	for _, tc := range tests {
		if _, err := Predict(cal, tc.prof, tc.mix, tc.obj); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}

	// A CPU factor from hot-path micro-calibrations on both machines.
	prof := testProfile()
	prof.HotPathDeliveryUs = 15 // three times this machine's 5 µs
	p, err := Predict(cal, prof, PeakMix(), LatencyObjective{Loads: []float64{10, 40}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(p.CPUFactor.Mid, 1.0/3, 1e-12) || !near(p.CPUFactor.Low, 0.8/3, 1e-12) || !strings.Contains(p.CPUFactorSource, "hot-path") {
		t.Errorf("hot-path factor %+v from %q", p.CPUFactor, p.CPUFactorSource)
	}
	if len(p.Loads) != 2 || p.Loads[1].PostsPerSec != 40 || p.Loads[1].DeliveriesPerSec != 40000 {
		t.Errorf("loads %+v", p.Loads)
	}

	// The Lync 2013 mix: 138 deliveries per post, rooms of 16,000 beyond
	// the measured range (warned).
	p, err = Predict(cal, testProfile(), Lync2013Mix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	if !near(p.Mix.MeanSize(), 0.92423*30+0.069525*150+0.006245*16000, 1e-6) || !strings.Contains(strings.Join(p.Warnings, "\n"), "extrapolated") {
		t.Errorf("lync mix: k̄ %g, warnings %v", p.Mix.MeanSize(), p.Warnings)
	}
	if !near(p.MaxDeliveriesPerSec.Mid, p.MaxPostsPerSec.Mid*p.Mix.MeanSize(), 1e-9) {
		t.Errorf("deliveries %g ≠ posts %g × k̄", p.MaxDeliveriesPerSec.Mid, p.MaxPostsPerSec.Mid)
	}
}

func TestPredictionTextAndJSON(t *testing.T) {
	cal := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	text := p.Text()
	for _, want := range []string{
		"Capacity on ocs-r2-reference", "Validation: RED", "Most loaded runs held out", "max posts/s", "max deliveries/s", "max concurrent users",
		"max users per room (p99 ≤ 500 ms at 40 posts/s)", "binds: nic", "binds: ram",
		"40 messages/s", "1,000 users per room", "20,000 users per server", "60,000 users per pool",
		"By room size", "16,000", "MISSED", "CPU per post = 40", "linear form, chosen by leaving out each of 4 room sizes", "as a straight line a + b·k", "group commit observed", "κ = 0 (not identifiable)", "Warnings",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// a candidate the fit could not make has a nil Coef
	p.Model.CPUModel.Candidates[len(p.Model.CPUModel.Candidates)-1].Fit.Coef = nil
	var nilFits int
	for _, c := range p.Model.CPUModel.Candidates {
		if c.Fit.Coef == nil {
			nilFits++
		}
	}
	data, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// JSON writes [] for the empty lists without changing the prediction
	// (its page tells a fit not made by a nil Coef)
	for _, c := range p.Model.CPUModel.Candidates {
		if c.Fit.Coef == nil {
			nilFits--
		}
	}
	if nilFits != 0 || strings.Contains(string(data), `"points": null`) || strings.Contains(string(data), `"core_counts": null`) {
		t.Errorf("JSON changed the prediction (%d unfitted candidates fewer) or wrote a null list", nilFits)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	for _, k := range []string{"max_posts_per_s", "max_users", "max_users_per_room", "by_room_size", "headroom", "validation", "model", "constraints", "loads"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	// RAM has no posts/s limit: written as null, not an error.
	if !strings.Contains(string(data), `"max_posts_per_s": {`) || !strings.Contains(string(data), `"low": null`) {
		t.Errorf("non-finite values are not null:\n%.2000s", data)
	}
}

func TestCalibrationSaveLoad(t *testing.T) {
	dir := t.TempDir()
	cal := synth(defaultTruth(), synthSizes, synthCores, []float64{0.5, 1.3})
	cv := 0.4
	cal.Micro.ServiceCV = &cv
	if err := SaveCalibration(dir, cal); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCalibration(filepath.Join(dir, CalibrationFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cal) {
		t.Errorf("round trip changed the calibration")
	}
	if back2, err := LoadCalibration(dir); err != nil || !reflect.DeepEqual(back2, cal) {
		t.Errorf("loading from the folder: %v", err)
	}

	bad := cal
	bad.Measurements = append([]Measurement(nil), cal.Measurements...)
	bad.Measurements[2].Cores = 0
	bad.Measurements[3].WallSeconds = -1
	file := filepath.Join(dir, "bad.json")
	if err := SaveCalibration(file, bad); err != nil {
		t.Fatal(err)
	}
	_, err = LoadCalibration(file)
	for _, want := range []string{"bad.json", `measurements[2] ("k10-c2-l0.5").cores`, "measurements[3]", "wall_seconds"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invalid calibration: %v, want %q", err, want)
		}
	}
	if err := os.WriteFile(file, []byte("{\n  \"version\": 1,\n  \"measurements\": [,]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalibration(file); err == nil || !strings.Contains(err.Error(), "bad.json:3") {
		t.Errorf("syntax error: %v, want the line", err)
	}
}

// TestValidationStatus checks the green/amber/red verdicts: runs whose
// latency is what the model itself predicts are green; scattered around
// it by ±30% they miss the 20% target (amber); by ±80%, far off (red).
// Server CPU likewise with the synthetic noise: 2% green, 20% amber
// (beyond the 10% target), 40% red; and two runs cannot be validated
// (red).
func TestValidationStatus(t *testing.T) {
	withLatency := func(cal Calibration, scatter float64) Calibration {
		m, err := Fit(cal)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cal.Measurements {
			r := &cal.Measurements[i]
			_, last := m.localEngine(r.Cores).latency(runMix(*r), r.AchievedPostsPerSec, mid, 0.99)
			if finite(last) {
				r.Latency.PostLastDeliveryP99 = last * 1e6 * (1 + scatter*float64(1-2*(i%2)))
			}
		}
		return cal
	}
	noisy := func(n float64) Calibration {
		tr := defaultTruth()
		tr.noise = n
		return synth(tr, synthSizes, synthCores, synthLoads)
	}
	tests := []struct {
		name     string
		cal      Calibration
		cpu, lat Status
		sentence string
	}{
		{"model's own latency", withLatency(noisy(0.02), 0), StatusGreen, StatusGreen, "within its 10% target at every room size"},
		{"latency scattered ±30%", withLatency(noisy(0.02), 0.3), StatusGreen, StatusAmber, "misses its 20% target"},
		{"latency scattered ±80%", withLatency(noisy(0.02), 0.8), StatusGreen, StatusRed, "far off its 20% target"},
		{"CPU noise 20%", withLatency(noisy(0.2), 0), StatusAmber, StatusGreen, "Server CPU misses its 10% target"},
		{"CPU noise 40%", withLatency(noisy(0.4), 0), StatusRed, StatusGreen, "Server CPU is far off"},
		{"two runs", synth(exactTruth(), []int{10, 1000}, []int{1}, []float64{0.5}), StatusRed, StatusRed, "not validated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Validate(tc.cal)
			if v.CPUCheck.Status != tc.cpu || v.LatencyCheck.Status != tc.lat || v.Status != worse(tc.cpu, tc.lat) {
				t.Errorf("statuses CPU %s, latency %s, overall %s; want %s, %s\n%s\n%s", v.CPUCheck.Status, v.LatencyCheck.Status, v.Status, tc.cpu, tc.lat, v.CPUCheck.Sentence, v.LatencyCheck.Sentence)
			}
			if s := v.CPUCheck.Sentence + " " + v.LatencyCheck.Sentence; !strings.Contains(s, tc.sentence) {
				t.Errorf("sentences lack %q: %s", tc.sentence, s)
			}
			if tc.cpu != StatusRed || v.CPUCheck.Runs > 0 {
				if len(v.CPUCheck.BySize) != 4 {
					t.Errorf("CPU errors at %d room sizes, want 4", len(v.CPUCheck.BySize))
				}
			}
		})
	}
}

// TestBindingPerBand: on the real sweep mapped onto the reference
// profile, the pessimistic edge of max concurrent users runs out of RAM
// while the central estimate runs out of NIC; each edge names its own.
func TestBindingPerBand(t *testing.T) {
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Predict(cal, testProfile(), PeakMix(), DefaultObjective())
	if err != nil {
		t.Fatal(err)
	}
	want := Binding{Low: RAM, Mid: NIC, High: NIC}
	if p.UsersBindingBand != want || p.UsersBinding != NIC {
		t.Errorf("users bound by %+v (mid %s), want %+v", p.UsersBindingBand, p.UsersBinding, want)
	}
	for _, c := range p.Constraints {
		if c.Resource == RAM && !(c.MaxUsers.Low == p.MaxUsers.Low) {
			t.Errorf("the low edge %g is not RAM's %g", p.MaxUsers.Low, c.MaxUsers.Low)
		}
	}
	if !strings.Contains(p.Text(), "binds: ram / nic / nic") {
		t.Errorf("the text does not name each edge's resource:\n%s", p.Text())
	}
}

// TestPoolUsers: a pool's users per resource: CPU and network times the
// servers, the CPU at PoolCPUPerDelivery's cost (none at the optimistic
// edge, memory times the servers, the disks (the one database's) not
// multiplied; the binding resource per edge follows.
func TestPoolUsers(t *testing.T) {
	p := Prediction{Constraints: []Constraint{
		{Resource: CPU, MaxUsers: Band{1000, 2000, 3000}},
		{Resource: DiskSync, MaxUsers: Band{2500, 3800, 8000}},
		{Resource: NIC, MaxUsers: Band{1000, 1500, 2000}},
		{Resource: RAM, MaxUsers: Band{900, 5000, 9000}},
	}}
	got, binding := p.PoolUsers(3)
	want := Band{math.Min(3000/PoolCPUPerDelivery.Low, 2700), math.Min(6000/PoolCPUPerDelivery.Mid, 3800), 6000}
	for _, c := range []struct {
		edge      string
		got, want float64
	}{{"low", got.Low, want.Low}, {"mid", got.Mid, want.Mid}, {"high", got.High, want.High}} {
		if !near(c.got, c.want, 1e-9) {
			t.Errorf("pool of 3, %s edge: %g users, want %g", c.edge, c.got, c.want)
		}
	}
	if binding != (Binding{Low: CPU, Mid: DiskSync, High: NIC}) {
		t.Errorf("binding %+v, want cpu / disk-sync / nic", binding)
	}
	// one server: its own figure, nothing spread
	if one, b := p.PoolUsers(1); one != (Band{900, 1500, 2000}) || b != (Binding{Low: RAM, Mid: NIC, High: NIC}) {
		t.Errorf("pool of 1: %+v, binding %+v; want the server's own figure", one, b)
	}
	if f := PoolCPUPerDelivery; !(f.Low >= f.Mid && f.Mid > 1 && f.High == 1 && f.Low < 2) {
		t.Errorf("PoolCPUPerDelivery %+v", f)
	}
}
