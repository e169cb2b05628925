package capacity

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// allotmentData is the USL's throughput at each allotment, times
// exp(noise·N(0,1)) when r is given.
func allotmentData(lambda, sigma, kappa float64, cores []float64, group string, noise float64, r *rand.Rand) []ScalePoint {
	var ps []ScalePoint
	for _, n := range cores {
		x := USL(n, lambda, sigma, kappa)
		if r != nil {
			x *= math.Exp(noise * r.NormFloat64())
		}
		ps = append(ps, ScalePoint{Cores: n, Throughput: x, Group: group})
	}
	return ps
}

func TestFitScalabilityExact(t *testing.T) {
	pts := allotmentData(100, 0.05, 0.002, []float64{0.25, 0.5, 1, 2, 4, 8}, "", 0, nil)
	f, err := FitScalability(pts)
	if err != nil {
		t.Fatal(err)
	}
	if !f.SigmaFitted || !f.KappaFitted || !f.IntervalsKnown {
		t.Fatalf("fitted %v/%v, intervals %v: %s", f.SigmaFitted, f.KappaFitted, f.IntervalsKnown, f.Reason)
	}
	if !near(f.Sigma, 0.05, 1e-4) || !near(f.Kappa, 0.002, 1e-3) || !near(f.Lambda[""], 100, 1e-5) {
		t.Errorf("σ %g κ %g λ %g, want 0.05, 0.002, 100", f.Sigma, f.Kappa, f.Lambda[""])
	}
	if want := math.Sqrt(0.95 / 0.002); !near(f.PeakCores, want, 1e-3) || !near(f.PeakCoresCI.Low, want, 1e-3) || !near(f.PeakCoresCI.High, want, 1e-3) {
		t.Errorf("N* %g %v, want %g", f.PeakCores, f.PeakCoresCI, want)
	}
	// Exact data: the intervals close around the truth.
	if f.SigmaCI.High-f.SigmaCI.Low > 1e-3 || f.KappaCI.High-f.KappaCI.Low > 1e-4 {
		t.Errorf("exact data, wide intervals: σ %v κ %v", f.SigmaCI, f.KappaCI)
	}
	if f.RMSRelError > 1e-6 {
		t.Errorf("exact data, residual %g", f.RMSRelError)
	}
}

// TestFitScalabilityCoverage fits noisy sweeps of a known law many times,
// with 4 points (0.25, 0.5, 1 and 2 cores; 1 degree of freedom) and 8
// (each twice), 3% noise: the 90% intervals must hold the truth about 90%
// of the time, and the estimates must centre on it.
func TestFitScalabilityCoverage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cores []float64
		dof   int
	}{
		{"4 points", []float64{0.25, 0.5, 1, 2}, 1},
		{"8 points", []float64{0.25, 0.5, 1, 2, 0.25, 0.5, 1, 2}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const trials = 60
			r := rand.New(rand.NewPCG(1, 2))
			var inS, inK, inL int
			var sigmas []float64
			for range trials {
				f, err := FitScalability(allotmentData(400, 0.15, 0.02, tc.cores, "k150", 0.03, r))
				if err != nil {
					t.Fatal(err)
				}
				if !f.IntervalsKnown || f.DoF != tc.dof {
					t.Fatalf("dof %d, intervals %v", f.DoF, f.IntervalsKnown)
				}
				if f.SigmaCI.Contains(0.15) {
					inS++
				}
				if f.KappaCI.Contains(0.02) {
					inK++
				}
				if f.LambdaCI["k150"].Contains(400) {
					inL++
				}
				sigmas = append(sigmas, f.Sigma)
			}
			for name, in := range map[string]int{"σ": inS, "κ": inK, "λ": inL} {
				// 90% nominal; with 60 trials, 45 (75%) is more than 3
				// standard errors below.
				if in < 45 {
					t.Errorf("%s: the 90%% interval held the truth in %d of %d fits", name, in, trials)
				}
			}
			if m := median(sigmas); math.Abs(m-0.15) > 0.05 {
				t.Errorf("median σ %g, truth 0.15", m)
			}
			t.Logf("coverage of 90%% intervals over %d fits: σ %d, κ %d, λ %d; median σ %.3f", trials, inS, inK, inL, median(sigmas))
		})
	}
}

func TestFitScalabilityStates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name          string
		pts           []ScalePoint
		sigma, kappa  bool
		intervals     bool
		reason        string
		peakUnbounded bool
	}{
		{"one allotment", allotmentData(100, 0.1, 0, []float64{1, 1, 1}, "", 0.02, r), false, false, false, "one CPU allotment", false},
		{"flat: not CPU-bound", []ScalePoint{{0.25, 100, ""}, {0.5, 101, ""}, {1, 99, ""}, {2, 100, ""}}, false, false, false, "does not grow", false},
		{"two allotments: σ only", allotmentData(100, 0.1, 0, []float64{1, 2, 1, 2}, "", 0.01, r), true, false, true, "κ not fitted", true},
		{"as many points as parameters", allotmentData(100, 0.1, 0.01, []float64{0.5, 1, 2}, "", 0, nil), true, true, false, "no degrees of freedom", false},
		{"linear scaling: κ = 0 inside, N* unbounded", allotmentData(100, 0, 0, []float64{0.25, 0.5, 1, 2, 0.25, 0.5, 1, 2}, "", 0.02, r), true, true, true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := FitScalability(tc.pts)
			if err != nil {
				t.Fatal(err)
			}
			if f.SigmaFitted != tc.sigma || (tc.sigma && f.KappaFitted != tc.kappa) || f.IntervalsKnown != tc.intervals {
				t.Errorf("σ fitted %v, κ fitted %v, intervals %v (%s); want %v %v %v", f.SigmaFitted, f.KappaFitted, f.IntervalsKnown, f.Reason, tc.sigma, tc.kappa, tc.intervals)
			}
			if !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", f.Reason, tc.reason)
			}
			if tc.peakUnbounded && !math.IsInf(f.PeakCoresCI.High, 1) {
				t.Errorf("N* interval %v, want no upper bound", f.PeakCoresCI)
			}
			if !tc.sigma && (f.Sigma != 0 || f.Kappa != 0) {
				t.Errorf("not fitted, yet σ %g κ %g", f.Sigma, f.Kappa)
			}
		})
	}
}

func TestFitScalabilityGroups(t *testing.T) {
	// Two room sizes share σ and κ with their own λ; a third measured at
	// one allotment is left out.
	pts := append(allotmentData(400, 0.08, 0.01, []float64{0.5, 1, 2}, "k30", 0, nil),
		allotmentData(50, 0.08, 0.01, []float64{0.25, 1, 2}, "k1000", 0, nil)...)
	pts = append(pts, ScalePoint{Cores: 1, Throughput: 7, Group: "k16000"})
	f, err := FitScalability(pts)
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.Sigma, 0.08, 1e-3) || !near(f.Kappa, 0.01, 1e-2) || !near(f.Lambda["k30"], 400, 1e-4) || !near(f.Lambda["k1000"], 50, 1e-4) {
		t.Errorf("σ %g κ %g λ %v", f.Sigma, f.Kappa, f.Lambda)
	}
	if _, ok := f.Lambda["k16000"]; ok || len(f.Points) != 6 {
		t.Errorf("the one-allotment group was used: %v, %d points", f.Lambda, len(f.Points))
	}
	if got := f.Throughput("k30", 2); !near(got, USL(2, 400, 0.08, 0.01), 1e-3) {
		t.Errorf("Throughput(k30, 2) = %g", got)
	}
}

func TestFitScalabilityErrors(t *testing.T) {
	for _, tc := range []struct {
		pts  []ScalePoint
		want string
	}{
		{nil, "no points"},
		{[]ScalePoint{{0, 1, ""}}, "allotment 0"},
		{[]ScalePoint{{1, math.NaN(), ""}}, "throughput NaN"},
		{[]ScalePoint{{1, -5, ""}}, "throughput -5"},
	} {
		if _, err := FitScalability(tc.pts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.pts, err, tc.want)
		}
	}
}

// TestModelUSLFromSaturation: a sweep whose GOMAXPROCS runs never
// saturate (one core count) takes σ and κ from the CPU-limited sweep, and
// the prediction's speedup follows them; without the sweep they are
// assumed, and said to be.
func TestModelUSLFromSaturation(t *testing.T) {
	cal := synth(defaultTruth(), synthSizes, []int{2}, []float64{0.2, 0.4})
	m, err := Fit(cal)
	if err != nil {
		t.Fatal(err)
	}
	if m.USL.SigmaFitted {
		t.Fatalf("no saturation, one core count: USL fitted? %+v", m.USL)
	}
	r := rand.New(rand.NewPCG(3, 4))
	f, err := FitScalability(allotmentData(500, 0.08, 0.004, []float64{0.25, 0.5, 1, 2, 4}, "k10", 0.01, r))
	if err != nil || !f.SigmaFitted {
		t.Fatalf("%+v %v", f, err)
	}
	cal.Saturation = &Saturation{RoomSize: 10, Fit: &f}
	m, err = Fit(cal)
	if err != nil {
		t.Fatal(err)
	}
	u := m.USL
	if !u.SigmaFitted || u.Sigma != f.Sigma || u.Kappa != f.Kappa || len(u.Allotments) != 5 || !strings.Contains(u.Note, "CPU-limited sweep") {
		t.Fatalf("USL %+v", u)
	}
	if math.Abs(u.Speedup(8)-Speedup(8, 0.08, 0.004))/Speedup(8, 0.08, 0.004) > 0.15 {
		t.Errorf("speedup at 8 cores %g, truth %g", u.Speedup(8), Speedup(8, 0.08, 0.004))
	}
	if c := ScalabilityChart(m); c.Message != "" || len(c.Series) != 3 || c.Series[0].Name != "measured, rooms of 10" {
		t.Errorf("chart: %q, %d series", c.Message, len(c.Series))
	}
}
