package capacity

import (
	"math"
	"strings"
	"testing"
)

func TestStudentT(t *testing.T) {
	tests := []struct {
		p    float64
		dof  int
		want float64
	}{
		{0.95, 1, 6.3138},
		{0.975, 2, 4.3027},
		{0.95, 5, 2.0150},
		{0.975, 10, 2.2281},
		{0.95, 30, 1.6973},
		{0.995, 20, 2.8453},
		{0.05, 5, -2.0150},
		{0.5, 3, 0},
	}
	for _, tc := range tests {
		if got := StudentT(tc.p, tc.dof); math.Abs(got-tc.want) > 1e-3 {
			t.Errorf("StudentT(%g, %d) = %.4f, want %.4f", tc.p, tc.dof, got, tc.want)
		}
	}
	if !math.IsNaN(StudentT(0.95, 0)) {
		t.Error("StudentT with 0 degrees of freedom should be NaN")
	}
}

func TestFitLinear(t *testing.T) {
	tests := []struct {
		name             string
		x, y             []float64
		a, b, r2         float64
		seA, seB         float64
		wantSE           bool
		wantErrSubstring string
	}{
		{
			name: "exact line recovers a and b",
			x:    []float64{10, 30, 150, 1000},
			y:    []float64{40 + 5*10, 40 + 5*30, 40 + 5*150, 40 + 5*1000},
			a:    40, b: 5, r2: 1, seA: 0, seB: 0, wantSE: true,
		},
		{
			name: "two points: exact, no error estimate",
			x:    []float64{1, 3}, y: []float64{2, 8},
			a: -1, b: 3, r2: 1,
		},
		{
			// Hand-worked: x̄ = 3, ȳ = 4, Sxx = 10, Sxy = 6, b = 0.6, a = 2.2,
			// RSS = 2.4, s² = 0.8, SE(b) = √0.08, SE(a) = √(0.8·(1/5 + 9/10)),
			// R² = 1 − 2.4/6.
			name: "noisy data, hand-worked",
			x:    []float64{1, 2, 3, 4, 5}, y: []float64{2, 4, 5, 4, 5},
			a: 2.2, b: 0.6, r2: 0.6, seA: math.Sqrt(0.88), seB: math.Sqrt(0.08), wantSE: true,
		},
		{name: "one point", x: []float64{1}, y: []float64{1}, wantErrSubstring: "at least 2 points"},
		{name: "equal x", x: []float64{2, 2, 2}, y: []float64{1, 2, 3}, wantErrSubstring: "distinct"},
		{name: "length mismatch", x: []float64{1, 2}, y: []float64{1}, wantErrSubstring: "x values"},
		{name: "NaN", x: []float64{1, 2, math.NaN()}, y: []float64{1, 2, 3}, wantErrSubstring: "not finite"},
	}
	for _, tc := range tests {
		f, err := FitLinear(tc.x, tc.y)
		if tc.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErrSubstring)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(f.A, tc.a, 1e-9) || !near(f.B, tc.b, 1e-9) || !near(f.R2, tc.r2, 1e-9) {
			t.Errorf("%s: a=%g b=%g R²=%g, want %g %g %g", tc.name, f.A, f.B, f.R2, tc.a, tc.b, tc.r2)
		}
		if f.SEKnown != tc.wantSE {
			t.Errorf("%s: SEKnown = %v, want %v", tc.name, f.SEKnown, tc.wantSE)
		}
		if tc.wantSE && (!near(f.SEA, tc.seA, 1e-6) || !near(f.SEB, tc.seB, 1e-6)) {
			t.Errorf("%s: SE(a)=%g SE(b)=%g, want %g %g", tc.name, f.SEA, f.SEB, tc.seA, tc.seB)
		}
	}

	// The interval of the fitted mean: t(0.95, 3) = 2.3534 times SE(x); at
	// x̄ = 3 SE is s/√n = √(0.8/5).
	f, _ := FitLinear([]float64{1, 2, 3, 4, 5}, []float64{2, 4, 5, 4, 5})
	lo, hi := f.Interval(3, 0.9)
	if h := (hi - lo) / 2; math.Abs(h-2.3534*math.Sqrt(0.16)) > 1e-3 {
		t.Errorf("half-width at x̄ = %g, want %g", h, 2.3534*math.Sqrt(0.16))
	}
	blo, bhi := f.CIB(0.9)
	if blo >= 0.6 || bhi <= 0.6 || math.Abs((bhi-blo)/2-2.3534*math.Sqrt(0.08)) > 1e-3 {
		t.Errorf("CI of b = [%g, %g]", blo, bhi)
	}
}

// usl is synthetic throughput with deterministic ±1% noise.
func uslData(lambda, sigma, kappa float64, cores []int, group string) []USLPoint {
	var pts []USLPoint
	for i, n := range cores {
		noise := 1 + 0.01*math.Sin(2.1*float64(i)+0.4)
		pts = append(pts, USLPoint{Cores: n, Throughput: USL(float64(n), lambda, sigma, kappa) * noise, Group: group})
	}
	return pts
}

func TestFitUSL(t *testing.T) {
	oneTo16 := make([]int, 16)
	for i := range oneTo16 {
		oneTo16[i] = i + 1
	}
	tests := []struct {
		name          string
		pts           []USLPoint
		sigma, kappa  float64
		tolS, tolK    float64
		sigmaFitted   bool
		kappaFitted   bool
		noteSubstring string
	}{
		{
			name:  "σ=0.05 κ=0.001 over 1..16 cores, 1% noise",
			pts:   uslData(1000, 0.05, 0.001, oneTo16, "k=150"),
			sigma: 0.05, kappa: 0.001, tolS: 0.01, tolK: 0.0002,
			sigmaFitted: true, kappaFitted: true, noteSubstring: "σ and κ",
		},
		{
			name: "σ=0.05 κ=0.001 exact: recovered to 1e-6",
			pts: func() []USLPoint {
				var p []USLPoint
				for _, n := range oneTo16 {
					p = append(p, USLPoint{Cores: n, Throughput: USL(float64(n), 1000, 0.05, 0.001)})
				}
				return p
			}(),
			sigma: 0.05, kappa: 0.001, tolS: 1e-6, tolK: 1e-7,
			sigmaFitted: true, kappaFitted: true,
		},
		{
			name:  "two room sizes share σ and κ",
			pts:   append(uslData(5000, 0.02, 0.0005, oneTo16, "k=10"), uslData(200, 0.02, 0.0005, oneTo16, "k=1000")...),
			sigma: 0.02, kappa: 0.0005, tolS: 0.01, tolK: 0.0002,
			sigmaFitted: true, kappaFitted: true,
		},
		{
			name: "Amdahl (κ=0) exact",
			pts: []USLPoint{
				{1, 100, "a"}, {2, USL(2, 100, 0.1, 0), "a"}, {4, USL(4, 100, 0.1, 0), "a"}, {8, USL(8, 100, 0.1, 0), "a"},
			},
			sigma: 0.1, kappa: 0, tolS: 1e-6, tolK: 1e-6,
			sigmaFitted: true, kappaFitted: true,
		},
		{
			name:  "two core counts: κ not identifiable, σ with κ=0",
			pts:   []USLPoint{{1, 100, "a"}, {2, 2 * 100 / 1.1, "a"}},
			sigma: 0.1, kappa: 0, tolS: 1e-6, tolK: 0,
			sigmaFitted: true, kappaFitted: false, noteSubstring: "not identifiable",
		},
		{
			name:  "one core count: nothing fitted",
			pts:   []USLPoint{{2, 100, "a"}, {2, 120, "b"}},
			sigma: 0, kappa: 0,
			sigmaFitted: false, kappaFitted: false, noteSubstring: "not fitted",
		},
	}
	for _, tc := range tests {
		f, err := FitUSL(tc.pts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if f.SigmaFitted != tc.sigmaFitted || f.KappaFitted != tc.kappaFitted {
			t.Errorf("%s: fitted σ %v κ %v, want %v %v", tc.name, f.SigmaFitted, f.KappaFitted, tc.sigmaFitted, tc.kappaFitted)
		}
		if math.Abs(f.Sigma-tc.sigma) > tc.tolS || math.Abs(f.Kappa-tc.kappa) > tc.tolK {
			t.Errorf("%s: σ = %g, κ = %g; want %g ± %g, %g ± %g", tc.name, f.Sigma, f.Kappa, tc.sigma, tc.tolS, tc.kappa, tc.tolK)
		}
		if !strings.Contains(f.Note, tc.noteSubstring) {
			t.Errorf("%s: note %q, want it to contain %q", tc.name, f.Note, tc.noteSubstring)
		}
		if f.Sigma < 0 || f.Kappa < 0 {
			t.Errorf("%s: negative σ or κ: %g %g", tc.name, f.Sigma, f.Kappa)
		}
	}

	// The noisy fit's interval covers the truth and N* is near
	// sqrt(0.95/0.001) = 30.8.
	f, _ := FitUSL(uslData(1000, 0.05, 0.001, oneTo16, ""))
	tq := tTwoSided(0.99, f.DoF)
	if !f.SEKnown || math.Abs(f.Sigma-0.05) > tq*f.SESigma || math.Abs(f.Kappa-0.001) > tq*f.SEKappa {
		t.Errorf("99%% intervals σ %g ± %g, κ %g ± %g do not cover the truth", f.Sigma, tq*f.SESigma, f.Kappa, tq*f.SEKappa)
	}
	if n := f.PeakCores(); math.Abs(n-math.Sqrt(0.95/0.001)) > 4 {
		t.Errorf("N* = %g, want about %g", n, math.Sqrt(0.95/0.001))
	}
	if !math.IsInf(PeakCores(0.1, 0), 1) {
		t.Error("N* with κ = 0 should be infinite")
	}
	if f.R2 < 0.99 {
		t.Errorf("R² = %g on 1%% noise", f.R2)
	}

	// Retrograde data stay within the constraints: σ, κ ≥ 0.
	f, _ = FitUSL([]USLPoint{{1, 100, ""}, {2, 210, ""}, {4, 430, ""}})
	if f.Sigma < 0 || f.Kappa < 0 {
		t.Errorf("superlinear data gave σ = %g, κ = %g (want ≥ 0)", f.Sigma, f.Kappa)
	}
	if _, err := FitUSL([]USLPoint{{0, 1, ""}}); err == nil {
		t.Error("0 cores accepted")
	}
	if _, err := FitUSL([]USLPoint{{1, -1, ""}}); err == nil {
		t.Error("negative throughput accepted")
	}
}
