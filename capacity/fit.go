package capacity

import (
	"errors"
	"fmt"
	"math"
)

// LinearFit is an ordinary least-squares fit y = A + B·x with its
// uncertainty. Standard errors are known when N > 2 (DoF = N-2 > 0); with
// two points the line is exact and SEKnown is false.
type LinearFit struct {
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	SEA   float64 `json:"se_a"`   // standard error of A
	SEB   float64 `json:"se_b"`   // standard error of B
	CovAB float64 `json:"cov_ab"` // covariance of A and B
	// ResidualSE is the residual standard error sqrt(RSS/DoF).
	ResidualSE float64 `json:"residual_se"`
	R2         float64 `json:"r2"`
	N          int     `json:"n"`   // points
	DoF        int     `json:"dof"` // N-2
	SEKnown    bool    `json:"se_known"`
	// XMin and XMax are the range of x the fit saw (extrapolation beyond
	// it is reported).
	XMin float64 `json:"x_min"`
	XMax float64 `json:"x_max"`
}

// FitLinear fits y = a + b·x by least squares. It needs at least two
// distinct x values.
func FitLinear(x, y []float64) (LinearFit, error) {
	if len(x) != len(y) {
		return LinearFit{}, fmt.Errorf("linear fit: %d x values but %d y values", len(x), len(y))
	}
	n := len(x)
	if n < 2 {
		return LinearFit{}, fmt.Errorf("linear fit: need at least 2 points, have %d", n)
	}
	var mx, my float64
	f := LinearFit{N: n, DoF: n - 2, XMin: math.Inf(1), XMax: math.Inf(-1)}
	for i := range x {
		if !finite(x[i]) || !finite(y[i]) {
			return LinearFit{}, fmt.Errorf("linear fit: point %d (%g, %g) is not finite", i, x[i], y[i])
		}
		mx += x[i]
		my += y[i]
		f.XMin = math.Min(f.XMin, x[i])
		f.XMax = math.Max(f.XMax, x[i])
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return LinearFit{}, errors.New("linear fit: all x values are equal (need at least 2 distinct)")
	}
	f.B = sxy / sxx
	f.A = my - f.B*mx
	var rss float64
	for i := range x {
		r := y[i] - f.A - f.B*x[i]
		rss += r * r
	}
	if syy > 0 {
		f.R2 = 1 - rss/syy
	} else {
		f.R2 = 1
	}
	if f.DoF > 0 {
		s2 := rss / float64(f.DoF)
		f.ResidualSE = math.Sqrt(s2)
		f.SEB = math.Sqrt(s2 / sxx)
		f.SEA = math.Sqrt(s2 * (1/float64(n) + mx*mx/sxx))
		f.CovAB = -mx * s2 / sxx
		f.SEKnown = true
	}
	return f, nil
}

// At is the fitted value A + B·x.
func (f LinearFit) At(x float64) float64 { return f.A + f.B*x }

// SE is the standard error of the fitted mean at x (0 when unknown).
func (f LinearFit) SE(x float64) float64 {
	v := f.SEA*f.SEA + x*x*f.SEB*f.SEB + 2*x*f.CovAB
	return math.Sqrt(math.Max(v, 0))
}

// Interval is the two-sided confidence interval of the fitted mean at x at
// level (e.g. 0.9). Without standard errors it is the point itself.
func (f LinearFit) Interval(x, level float64) (lo, hi float64) {
	y := f.At(x)
	if !f.SEKnown {
		return y, y
	}
	h := tTwoSided(level, f.DoF) * f.SE(x)
	return y - h, y + h
}

// CIA and CIB are the confidence intervals of A and B at level.
func (f LinearFit) CIA(level float64) (lo, hi float64) {
	h := f.halfWidth(f.SEA, level)
	return f.A - h, f.A + h
}

// CIB is the confidence interval of B at level.
func (f LinearFit) CIB(level float64) (lo, hi float64) {
	h := f.halfWidth(f.SEB, level)
	return f.B - h, f.B + h
}

func (f LinearFit) halfWidth(se, level float64) float64 {
	if !f.SEKnown {
		return 0
	}
	return tTwoSided(level, f.DoF) * se
}
