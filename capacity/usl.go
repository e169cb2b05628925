package capacity

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// USLPoint is one throughput measured at a number of cores. Points of one
// Group (e.g. one room size) share the single-core throughput λ; σ and κ
// are shared by all groups.
type USLPoint struct {
	Cores      int     `json:"cores"`
	Throughput float64 `json:"throughput"`
	Group      string  `json:"group,omitempty"`
}

// USLFit is the Universal Scalability Law fitted to throughput at several
// core counts: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
type USLFit struct {
	Sigma   float64 `json:"sigma"`
	Kappa   float64 `json:"kappa"`
	SESigma float64 `json:"se_sigma"`
	SEKappa float64 `json:"se_kappa"`
	// SEKnown is false when the fit is exact (no degrees of freedom left).
	SEKnown bool `json:"se_known"`
	// SigmaFitted is false when no group was measured at two or more core
	// counts: nothing could be fitted and σ = κ = 0 is an assumption.
	SigmaFitted bool `json:"sigma_fitted"`
	// KappaFitted is false when κ is not identifiable (fewer than 3 core
	// counts) and was fixed at 0.
	KappaFitted bool `json:"kappa_fitted"`
	// Lambda is the fitted single-core throughput of each group.
	Lambda map[string]float64 `json:"lambda"`
	// Points are the points used (groups with at least two core counts).
	Points     []USLPoint `json:"points"`
	R2         float64    `json:"r2"`
	DoF        int        `json:"dof"`
	CoreCounts []int      `json:"core_counts"`
	// Allotments and AllotmentPoints are set instead of CoreCounts and
	// Points when σ and κ come from the CPU-limited sweep
	// (Calibration.Saturation): saturation throughput at cgroup CPU
	// allotments, fractions of a core allowed.
	Allotments      []float64    `json:"allotments,omitempty"`
	AllotmentPoints []ScalePoint `json:"allotment_points,omitempty"`
	// Note says in a sentence what could and could not be fitted.
	Note string `json:"note"`
}

// USLFromSaturation is the model's USL from the CPU-limited sweep's fit:
// σ and κ with standard errors taken from their 90% profile intervals
// (half their width over Student's t; unknown when an interval is open).
// It refuses, saying why, a fit that was not made or has no intervals
// (as many points as parameters), and one whose peak N*
// lies below the largest allotment measured: the sweep's throughput
// rose up to there, so such a fit describes the shape of its points
// (below one core, throttling waits and batching bend them), not the
// scaling over cores.
func USLFromSaturation(sat Saturation) (USLFit, error) {
	f := sat.Fit
	switch {
	case f == nil:
		return USLFit{}, errors.New("no search of the CPU-limited sweep found a maximum: " + sat.Note)
	case !f.SigmaFitted:
		return USLFit{}, errors.New(f.Reason)
	case !f.IntervalsKnown:
		return USLFit{}, fmt.Errorf("its fit (σ = %s, κ = %s) has no intervals: %s", num(f.Sigma), num(f.Kappa), f.Reason)
	case len(f.Allotments) > 0 && f.PeakCores < f.Allotments[len(f.Allotments)-1]:
		return USLFit{}, fmt.Errorf("its fit (σ = %s, κ = %s) peaks at N* = %s cores, below the largest allotment measured (%s), where throughput still rose: it does not describe scaling over cores",
			num(f.Sigma), num(f.Kappa), num(f.PeakCores), num(f.Allotments[len(f.Allotments)-1]))
	}
	u := USLFit{Sigma: f.Sigma, Kappa: f.Kappa, SigmaFitted: true, KappaFitted: f.KappaFitted, Lambda: f.Lambda, DoF: f.DoF,
		Allotments: f.Allotments, AllotmentPoints: f.Points}
	if f.IntervalsKnown && f.DoF > 0 && finite(f.SigmaCI.High) && finite(f.KappaCI.High) {
		t := tTwoSided(Confidence, f.DoF)
		u.SESigma = (f.SigmaCI.High - f.SigmaCI.Low) / (2 * t)
		u.SEKappa = (f.KappaCI.High - f.KappaCI.Low) / (2 * t)
		u.SEKnown = true
	}
	ci := func(i Interval) string { return "[" + num(i.Low) + ".." + num(i.High) + "]" }
	u.Note = fmt.Sprintf("USL fitted from the CPU-limited sweep: the server limited to %s cores of CPU (cgroup; net of its idle use) and driven to its knee, rooms of %d: σ = %s %s",
		fmtCores(f.Allotments), sat.RoomSize, num(f.Sigma), ci(f.SigmaCI))
	if f.KappaFitted {
		u.Note += fmt.Sprintf(", κ = %s %s, N* = %s %s (90%%)", num(f.Kappa), ci(f.KappaCI), num(f.PeakCores), ci(f.PeakCoresCI))
	} else {
		u.Note += ", κ = 0 (not determined)"
	}
	if f.Reason != "" {
		u.Note += "; " + f.Reason
	}
	return u, nil
}

// Speedup is the USL's relative capacity N / (1 + σ(N−1) + κN(N−1)): the
// number of single cores' worth of throughput N cores give.
func Speedup(n, sigma, kappa float64) float64 {
	return n / (1 + sigma*(n-1) + kappa*n*(n-1))
}

// USL is the throughput λ·Speedup(n, σ, κ).
func USL(n, lambda, sigma, kappa float64) float64 { return lambda * Speedup(n, sigma, kappa) }

// PeakCores is N* = sqrt((1−σ)/κ), the core count of maximum throughput
// (+Inf when κ = 0).
func PeakCores(sigma, kappa float64) float64 {
	if kappa <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt(math.Max(1-sigma, 0) / kappa)
}

// Speedup is the fitted relative capacity at n cores.
func (f USLFit) Speedup(n float64) float64 { return Speedup(n, f.Sigma, f.Kappa) }

// PeakCores is the fitted N* (+Inf when κ = 0).
func (f USLFit) PeakCores() float64 { return PeakCores(f.Sigma, f.Kappa) }

// uslProblem is the least-squares problem: parameters are λ per group, σ
// and, when fitted, κ; residuals are relative: (y − λ·s(N))/y.
type uslProblem struct {
	pts      []USLPoint
	group    []int // index of each point's λ
	groups   []string
	fitKappa bool
}

func (pr *uslProblem) nParams() int {
	if pr.fitKappa {
		return len(pr.groups) + 2
	}
	return len(pr.groups) + 1
}

func (pr *uslProblem) sk(theta []float64) (sigma, kappa float64) {
	g := len(pr.groups)
	sigma = theta[g]
	if pr.fitKappa {
		kappa = theta[g+1]
	}
	return sigma, kappa
}

// bestLambda returns the λ of each group minimising the relative residuals
// for given σ, κ, and the residual sum of squares.
func (pr *uslProblem) bestLambda(sigma, kappa float64) ([]float64, float64) {
	num := make([]float64, len(pr.groups))
	den := make([]float64, len(pr.groups))
	for i, p := range pr.pts {
		q := Speedup(float64(p.Cores), sigma, kappa) / p.Throughput
		num[pr.group[i]] += q
		den[pr.group[i]] += q * q
	}
	lam := make([]float64, len(pr.groups))
	for g := range lam {
		lam[g] = num[g] / den[g]
	}
	var rss float64
	for i, p := range pr.pts {
		r := 1 - lam[pr.group[i]]*Speedup(float64(p.Cores), sigma, kappa)/p.Throughput
		rss += r * r
	}
	return lam, rss
}

func (pr *uslProblem) residuals(theta []float64) ([]float64, float64) {
	sigma, kappa := pr.sk(theta)
	r := make([]float64, len(pr.pts))
	var rss float64
	for i, p := range pr.pts {
		r[i] = 1 - theta[pr.group[i]]*Speedup(float64(p.Cores), sigma, kappa)/p.Throughput
		rss += r[i] * r[i]
	}
	return r, rss
}

func (pr *uslProblem) jacobian(theta []float64) [][]float64 {
	sigma, kappa := pr.sk(theta)
	g := len(pr.groups)
	J := make([][]float64, len(pr.pts))
	for i, p := range pr.pts {
		n := float64(p.Cores)
		den := 1 + sigma*(n-1) + kappa*n*(n-1)
		s := n / den
		lam := theta[pr.group[i]]
		row := make([]float64, pr.nParams())
		row[pr.group[i]] = -s / p.Throughput
		// ds/dσ = −n(n−1)/den², ds/dκ = −n·n(n−1)/den²
		row[g] = lam * n * (n - 1) / (den * den) / p.Throughput
		if pr.fitKappa {
			row[g+1] = lam * n * n * (n - 1) / (den * den) / p.Throughput
		}
		J[i] = row
	}
	return J
}

// FitUSL fits σ and κ (constrained ≥ 0) to throughput measured at several
// core counts, by a grid search followed by Levenberg-Marquardt, with
// standard errors from the Jacobian at the optimum. Groups measured at one
// core count only are left out. With two core counts κ is not identifiable:
// σ is fitted with κ = 0 and Note says so. With one, nothing is fitted
// (σ = κ = 0, SigmaFitted false) and Note says so; that is not an error.
func FitUSL(points []USLPoint) (USLFit, error) {
	byGroup := map[string][]USLPoint{}
	for i, p := range points {
		if p.Cores < 1 {
			return USLFit{}, fmt.Errorf("USL fit: point %d has %d cores (want at least 1)", i, p.Cores)
		}
		if !(p.Throughput > 0) || !finite(p.Throughput) {
			return USLFit{}, fmt.Errorf("USL fit: point %d has throughput %g (want a positive number)", i, p.Throughput)
		}
		byGroup[p.Group] = append(byGroup[p.Group], p)
	}
	if len(points) == 0 {
		return USLFit{}, errors.New("USL fit: no points")
	}
	pr := &uslProblem{}
	names := make([]string, 0, len(byGroup))
	for name := range byGroup {
		names = append(names, name)
	}
	sort.Strings(names)
	coreSet := map[int]bool{}
	var dropped []string
	for _, name := range names {
		ps := byGroup[name]
		cs := map[int]bool{}
		for _, p := range ps {
			cs[p.Cores] = true
		}
		if len(cs) < 2 {
			dropped = append(dropped, name)
			continue
		}
		for c := range cs {
			coreSet[c] = true
		}
		pr.groups = append(pr.groups, name)
		for _, p := range ps {
			pr.pts = append(pr.pts, p)
			pr.group = append(pr.group, len(pr.groups)-1)
		}
	}
	fit := USLFit{Lambda: map[string]float64{}}
	for c := range coreSet {
		fit.CoreCounts = append(fit.CoreCounts, c)
	}
	sort.Ints(fit.CoreCounts)
	if len(pr.groups) == 0 {
		allCores := map[int]bool{}
		for _, p := range points {
			allCores[p.Cores] = true
		}
		fit.Note = fmt.Sprintf("USL not fitted: no room size was measured at two or more core counts (%d core count(s) in all); σ = κ = 0 assumed", len(allCores))
		return fit, nil
	}
	fit.SigmaFitted = true
	pr.fitKappa = len(coreSet) >= 3
	fit.KappaFitted = pr.fitKappa
	fit.Points = pr.pts

	// Grid over σ (and κ), λ profiled out.
	grid := func(lo, hi float64, n int) []float64 {
		g := []float64{0}
		for i := range n {
			g = append(g, lo*math.Pow(hi/lo, float64(i)/float64(n-1)))
		}
		return g
	}
	sigmas := grid(1e-4, 1, 41)
	kappas := []float64{0}
	if pr.fitKappa {
		kappas = grid(1e-7, 1, 57)
	}
	bestS, bestK, bestRSS := 0.0, 0.0, math.Inf(1)
	for _, s := range sigmas {
		for _, k := range kappas {
			if _, rss := pr.bestLambda(s, k); rss < bestRSS {
				bestS, bestK, bestRSS = s, k, rss
			}
		}
	}
	lam, _ := pr.bestLambda(bestS, bestK)
	theta := append(lam, bestS)
	if pr.fitKappa {
		theta = append(theta, bestK)
	}
	theta = pr.levenbergMarquardt(theta)

	sigma, kappa := pr.sk(theta)
	fit.Sigma, fit.Kappa = sigma, kappa
	for g, name := range pr.groups {
		fit.Lambda[name] = theta[g]
	}
	_, rss := pr.residuals(theta)
	fit.DoF = len(pr.pts) - pr.nParams()
	if fit.DoF > 0 {
		J := pr.jacobian(theta)
		p := pr.nParams()
		jtj := make([][]float64, p)
		for a := range p {
			jtj[a] = make([]float64, p)
			for b := range p {
				for i := range J {
					jtj[a][b] += J[i][a] * J[i][b]
				}
			}
		}
		if inv, err := invert(jtj); err == nil {
			s2 := rss / float64(fit.DoF)
			g := len(pr.groups)
			fit.SESigma = math.Sqrt(math.Max(s2*inv[g][g], 0))
			if pr.fitKappa {
				fit.SEKappa = math.Sqrt(math.Max(s2*inv[g+1][g+1], 0))
			}
			fit.SEKnown = true
		}
	}
	// R² on the normalised scale y/λ against the speedup.
	var mean float64
	z := make([]float64, len(pr.pts))
	for i, p := range pr.pts {
		z[i] = p.Throughput / theta[pr.group[i]]
		mean += z[i]
	}
	mean /= float64(len(z))
	var sse, sst float64
	for i, p := range pr.pts {
		d := z[i] - Speedup(float64(p.Cores), sigma, kappa)
		sse += d * d
		sst += (z[i] - mean) * (z[i] - mean)
	}
	fit.R2 = 1
	if sst > 0 {
		fit.R2 = 1 - sse/sst
	}
	switch {
	case pr.fitKappa:
		fit.Note = fmt.Sprintf("USL fitted over %d core counts %v: σ and κ", len(coreSet), fit.CoreCounts)
	default:
		fit.Note = fmt.Sprintf("κ is not identifiable from 2 core counts %v: σ fitted with κ = 0; scaling beyond %d cores is an extrapolation", fit.CoreCounts, fit.CoreCounts[len(fit.CoreCounts)-1])
	}
	if len(dropped) > 0 {
		fit.Note += fmt.Sprintf("; left out (one core count only): %v", dropped)
	}
	return fit, nil
}

// levenbergMarquardt minimises the residuals from theta, keeping σ and κ in
// [0, 1] and λ positive.
func (pr *uslProblem) levenbergMarquardt(theta []float64) []float64 {
	g := len(pr.groups)
	project := func(t []float64) {
		for i := range t {
			if i < g {
				t[i] = math.Max(t[i], 1e-300)
			} else {
				t[i] = math.Min(math.Max(t[i], 0), 1)
			}
		}
	}
	_, rss := pr.residuals(theta)
	mu := 1e-3
	p := pr.nParams()
	for iter := 0; iter < 200; iter++ {
		r, _ := pr.residuals(theta)
		J := pr.jacobian(theta)
		A := make([][]float64, p)
		grad := make([]float64, p)
		for a := range p {
			A[a] = make([]float64, p)
			for i := range J {
				grad[a] += J[i][a] * r[i]
				for b := range p {
					A[a][b] += J[i][a] * J[i][b]
				}
			}
		}
		improved := false
		for range 30 {
			M := make([][]float64, p)
			for a := range p {
				M[a] = append([]float64(nil), A[a]...)
				M[a][a] += mu * math.Max(A[a][a], 1e-12)
			}
			inv, err := invert(M)
			if err != nil {
				mu *= 10
				continue
			}
			next := make([]float64, p)
			for a := range p {
				var d float64
				for b := range p {
					d -= inv[a][b] * grad[b]
				}
				next[a] = theta[a] + d
			}
			project(next)
			if _, nrss := pr.residuals(next); nrss < rss {
				rel := (rss - nrss) / math.Max(rss, 1e-300)
				theta, rss = next, nrss
				mu = math.Max(mu/3, 1e-12)
				improved = true
				if rel < 1e-15 {
					return theta
				}
				break
			}
			mu *= 4
		}
		if !improved {
			break
		}
	}
	return theta
}
