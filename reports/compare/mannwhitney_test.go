package compare

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g (±%g)", what, got, want, tol)
	}
}

// The example of R's ?wilcox.test (Hollander & Wolfe 1973, p. 69,
// permeability constants of the human chorioamnion): W = 35 and the
// one-sided p-value 0.1272, so the two-sided one is 0.2544 (exact: no
// ties, small samples).
func TestMannWhitneyTextbook(t *testing.T) {
	x := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	y := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	r := MannWhitney(x, y)
	if !r.Exact {
		t.Errorf("not exact")
	}
	near(t, "U", r.U, 35, 0)
	near(t, "p", r.P, 0.2544, 5e-5)
	// the other way round: U' = nx*ny - U, same two-sided p
	r2 := MannWhitney(y, x)
	near(t, "U'", r2.U, 15, 0)
	near(t, "p'", r2.P, r.P, 1e-12)
}

// Hand-worked exact cases: all of x below all of y is one arrangement of
// C(nx+ny, nx), doubled for two sides.
func TestMannWhitneyExactExtremes(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		u, p float64
	}{
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, 0, 2.0 / 20},
		{[]float64{4, 5, 6}, []float64{1, 2, 3}, 9, 2.0 / 20},
		{[]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 0, 2.0 / 70},
		{[]float64{1}, []float64{2}, 0, 1},
		// U = 1 of 3x3: arrangements with U <= 1 are 2 of 20
		{[]float64{1, 2, 4}, []float64{3, 5, 6}, 1, 4.0 / 20},
	} {
		r := MannWhitney(c.x, c.y)
		near(t, "U", r.U, c.u, 0)
		near(t, "p", r.P, c.p, 1e-12)
	}
}

// wilcoxCDF against brute-force enumeration of every arrangement.
func TestWilcoxCDFEnumeration(t *testing.T) {
	for m := 1; m <= 6; m++ {
		for n := 1; n <= 6; n++ {
			counts := make([]float64, m*n+1)
			var total float64
			// each subset of m positions out of m+n is one arrangement; U is
			// the number of (x, y) pairs with the y before the x.
			for mask := 0; mask < 1<<(m+n); mask++ {
				if popcount(mask) != m {
					continue
				}
				u, ys := 0, 0
				for b := 0; b < m+n; b++ {
					if mask&(1<<b) != 0 {
						u += ys
					} else {
						ys++
					}
				}
				counts[u]++
				total++
			}
			var cum float64
			for u := 0; u <= m*n; u++ {
				cum += counts[u]
				near(t, "cdf", wilcoxCDF(u, m, n), cum/total, 1e-12)
			}
		}
	}
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// A hand-worked case with ties, normal approximation:
// x = 1 2 2 3 5, y = 2 3 4 4 6 7. Sorted: 1 2 2 2 3 3 4 4 5 6 7, ranks
// 1, 3 3 3, 5.5 5.5, 7.5 7.5, 9, 10, 11. Rx = 1+3+3+5.5+9 = 21.5,
// U = 21.5 - 15 = 6.5. Ties 3, 2, 2: sum t³-t = 24+6+6 = 36.
// σ² = 30/12 (12 - 36/110) = 29.1818, σ = 5.40202.
// z = (6.5 - 15 + 0.5)/σ = -1.48093, p = 2 Φ(-1.48093) = 0.13863.
func TestMannWhitneyTies(t *testing.T) {
	r := MannWhitney([]float64{1, 2, 2, 3, 5}, []float64{2, 3, 4, 4, 6, 7})
	if r.Exact {
		t.Errorf("exact with ties")
	}
	near(t, "U", r.U, 6.5, 0)
	near(t, "z", r.Z, -1.48093, 1e-5)
	near(t, "p", r.P, 0.13863, 1e-5)
}

// Large samples use the normal approximation; a clean shift is found.
func TestMannWhitneyLarge(t *testing.T) {
	var x, y []float64
	for i := range 60 {
		x = append(x, float64(i))
		y = append(y, float64(i)+20.5)
	}
	r := MannWhitney(x, y)
	if r.Exact {
		t.Errorf("exact with 60 values")
	}
	// U = pairs with x > y: for each x=i, y values i-20+0.5.. below: max(0, i-20)
	want := 0.0
	for i := range 60 {
		want += float64(max(0, i-20))
	}
	near(t, "U", r.U, want, 0)
	mean, sigma := 1800.0, math.Sqrt(60*60*121/12.0)
	near(t, "z", r.Z, (want-mean+0.5)/sigma, 1e-9)
	if r.P > 1e-4 {
		t.Errorf("p = %g, want a clear difference", r.P)
	}
}

func TestMannWhitneyIdenticalAndDegenerate(t *testing.T) {
	x := []float64{5, 1, 4, 2, 8, 7, 3, 6, 9, 10, 12, 11}
	r := MannWhitney(x, x)
	near(t, "U", r.U, 72, 0)
	near(t, "p", r.P, 1, 1e-12)
	all := []float64{3, 3, 3, 3, 3, 3}
	near(t, "p all tied", MannWhitney(all, all[:4]).P, 1, 0)
	near(t, "p empty", MannWhitney(nil, x).P, 1, 0)
}
