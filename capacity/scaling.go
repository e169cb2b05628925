package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// ScalePoint is the saturation throughput measured with the server's CPU
// limited to Cores cores' worth of time (a cgroup CPU quota: 0.25, 0.5,
// 1, 2, ...; fractions allowed). Points of one Group (one room size, one
// scenario) share their single-core throughput λ; σ and κ are shared by
// all groups.
type ScalePoint struct {
	Cores      float64 `json:"cores"`
	Throughput float64 `json:"throughput"`
	Group      string  `json:"group,omitempty"`
}

// Interval is a confidence interval; a bound that the data do not limit
// is ±Inf (null in JSON).
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// MarshalJSON writes {"low":..,"high":..}, null for non-finite bounds.
func (i Interval) MarshalJSON() ([]byte, error) {
	return []byte(`{"low":` + jsonNum(i.Low) + `,"high":` + jsonNum(i.High) + `}`), nil
}

// UnmarshalJSON reads what MarshalJSON wrote: a null low bound is −Inf, a
// null high bound +Inf (an interval the data do not close stays open when
// calibration.json is read back).
func (i *Interval) UnmarshalJSON(b []byte) error {
	var v struct {
		Low  *float64 `json:"low"`
		High *float64 `json:"high"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*i = Interval{math.Inf(-1), math.Inf(1)}
	if v.Low != nil {
		i.Low = *v.Low
	}
	if v.High != nil {
		i.High = *v.High
	}
	return nil
}

// Contains reports whether x is inside the interval.
func (i Interval) Contains(x float64) bool { return x >= i.Low && x <= i.High }

// ScalabilityFit is the Universal Scalability Law
// X(N) = λN / (1 + σ(N−1) + κN(N−1)) fitted to saturation throughput at
// several CPU allotments N (cores, fractions allowed), with 90% profile
// likelihood intervals of σ, κ, λ and N* = √((1−σ)/κ).
type ScalabilityFit struct {
	// SigmaFitted is false when the data cannot determine the law (one
	// allotment, throughput that does not grow with the allotment, ...);
	// Reason says why, and σ = κ = 0 are placeholders.
	SigmaFitted bool `json:"sigma_fitted"`
	// KappaFitted is false when κ could not be determined (fewer than 3
	// allotments, or an interval the data do not bound) and was fixed at
	// 0.
	KappaFitted bool   `json:"kappa_fitted"`
	Reason      string `json:"reason,omitempty"`

	Sigma   float64  `json:"sigma"`
	Kappa   float64  `json:"kappa"`
	SigmaCI Interval `json:"sigma_ci"`
	KappaCI Interval `json:"kappa_ci"`
	// Lambda is each group's throughput at one core, with its interval.
	Lambda   map[string]float64  `json:"lambda"`
	LambdaCI map[string]Interval `json:"lambda_ci"`
	// PeakCores is N*, the allotment of maximum throughput (+Inf, null in
	// JSON, when κ = 0), and its interval.
	PeakCores   float64  `json:"peak_cores"`
	PeakCoresCI Interval `json:"peak_cores_ci"`
	// IntervalsKnown is false when no degrees of freedom are left (as
	// many points as parameters): the fit is exact and the intervals are
	// unknown (±Inf).
	IntervalsKnown bool `json:"intervals_known"`
	// RMSRelError is the root mean square of the relative residuals
	// (measured ÷ fitted − 1).
	RMSRelError float64      `json:"rms_rel_error"`
	DoF         int          `json:"dof"`
	Allotments  []float64    `json:"allotments"`
	Points      []ScalePoint `json:"points"`
}

// Throughput is the fitted throughput of group at n cores.
func (f ScalabilityFit) Throughput(group string, n float64) float64 {
	return f.Lambda[group] * Speedup(n, f.Sigma, f.Kappa)
}

// Scalability fit limits: σ is searched in [0, 1], κ in [0, kappaMax].
const (
	kappaMax = 1.0
	// sigmaFlat: a σ this close to 1 means throughput does not grow with
	// the allotment.
	sigmaFlat = 0.98
)

// FitScalability fits the USL to saturation throughput at several CPU
// allotments. The fit is nonlinear least squares on relative (log)
// residuals, log X − log(λ·S(N)), which weighs a quarter-core point like a
// two-core one: λ of each group is solved in closed form for given σ and
// κ, and (σ, κ) are found by a grid over [0, 1] × [0, 1] refined by a
// bounded pattern search. Intervals are 90% profile likelihood intervals:
// the values of a parameter for which the residual sum of squares,
// minimised over the other parameters, stays within
// RSS_min·(1 + t²/dof) (t the 95% Student quantile with dof = points −
// parameters degrees of freedom). Unlike standard errors from the
// Jacobian they follow the law's curvature and the bounds σ, κ ≥ 0, which
// matters with 4 to 8 points; an interval the data do not close is
// reported as unbounded.
//
// With points at one allotment only, or throughput that does not grow
// with the allotment (σ ≈ 1: the runs were not CPU-bound), nothing is
// fitted and Reason says why. With two allotments κ is fixed at 0 and σ
// fitted. It returns an error only for unusable input (no points, a
// non-positive allotment or throughput).
func FitScalability(points []ScalePoint) (ScalabilityFit, error) {
	if len(points) == 0 {
		return ScalabilityFit{}, errors.New("scalability fit: no points")
	}
	for i, p := range points {
		if !(p.Cores > 0) || !finite(p.Cores) {
			return ScalabilityFit{}, fmt.Errorf("scalability fit: point %d: allotment %g cores (want a positive number)", i, p.Cores)
		}
		if !(p.Throughput > 0) || !finite(p.Throughput) {
			return ScalabilityFit{}, fmt.Errorf("scalability fit: point %d: throughput %g (want a positive number)", i, p.Throughput)
		}
	}
	sp := newScaleProblem(points)
	f := ScalabilityFit{Lambda: map[string]float64{}, LambdaCI: map[string]Interval{}, Points: sp.pts, PeakCores: math.Inf(1)}
	f.Allotments = sp.allotments
	unbounded := Interval{math.Inf(-1), math.Inf(1)}
	f.SigmaCI, f.KappaCI, f.PeakCoresCI = unbounded, unbounded, unbounded
	if len(sp.groups) == 0 {
		f.Reason = fmt.Sprintf("not fitted: throughput was measured at one CPU allotment only (%s cores); scaling needs two or more", fmtCores(sp.allotments))
		return f, nil
	}
	sp.fitKappa = len(sp.allotments) >= 3
	s, k, rss := sp.minimise(nil, nil)
	if s >= sigmaFlat {
		f.Reason = fmt.Sprintf("not fitted: throughput does not grow with the CPU allotment (σ = %.2f over %s cores): the runs were not limited by CPU (another resource, or the load generator, held them back)", s, fmtCores(sp.allotments))
		return f, nil
	}
	if k > 0 && sp.rss(s, 0) <= rss*(1+1e-9)+1e-300 {
		k = 0 // a κ the data cannot tell from 0 (the search stops just above it)
	}
	f.SigmaFitted, f.KappaFitted = true, sp.fitKappa
	f.Sigma, f.Kappa = s, k
	lam := sp.lambdas(s, k)
	for g, name := range sp.groups {
		f.Lambda[name] = lam[g]
	}
	f.PeakCores = PeakCores(s, k)
	f.DoF = len(sp.pts) - sp.nParams()
	f.RMSRelError = sp.rmsRel(s, k)
	if !sp.fitKappa {
		f.Reason = fmt.Sprintf("κ not fitted: %d CPU allotments (%s cores) cannot separate contention from coherency; σ fitted with κ = 0", len(sp.allotments), fmtCores(sp.allotments))
	}
	if f.DoF <= 0 {
		f.Reason = joinReason(f.Reason, fmt.Sprintf("intervals unknown: %d points for %d parameters leave no degrees of freedom (repeat an allotment or add one)", len(sp.pts), sp.nParams()))
		if !sp.fitKappa {
			f.KappaCI = Interval{0, 0}
		}
		for _, name := range sp.groups {
			f.LambdaCI[name] = unbounded
		}
		return f, nil
	}
	f.IntervalsKnown = true
	t := tTwoSided(Confidence, f.DoF)
	limit := rss * (1 + t*t/float64(f.DoF))
	if rss < 1e-300 {
		limit = 1e-300
	}
	// σ: profile over κ.
	f.SigmaCI = profileInterval(s, 0, 1, limit, func(x float64) float64 {
		_, _, r := sp.minimise(&x, nil)
		return r
	})
	if sp.fitKappa {
		f.KappaCI = profileInterval(k, 0, kappaMax, limit, func(x float64) float64 {
			_, _, r := sp.minimise(nil, &x)
			return r
		})
		if f.KappaCI.High >= kappaMax {
			f.KappaCI.High = math.Inf(1)
		}
		// N*: fix N* = m, so κ = (1−σ)/m², and profile over σ.
		peakRSS := func(m float64) float64 { return sp.minimisePeak(m) }
		switch {
		case f.KappaCI.Low <= 0:
			// κ = 0 is inside: N* has no upper bound.
			f.PeakCoresCI = Interval{profileLow(f.PeakCores, limit, peakRSS), math.Inf(1)}
		default:
			f.PeakCoresCI = Interval{profileLow(f.PeakCores, limit, peakRSS), profileHigh(f.PeakCores, limit, peakRSS)}
		}
		if math.IsInf(f.KappaCI.High, 1) {
			f.KappaFitted = false
			f.Reason = joinReason(f.Reason, "κ not determined: the data do not bound its 90% interval from above")
		}
	} else {
		f.KappaCI = Interval{0, 0}
	}
	for g, name := range sp.groups {
		f.LambdaCI[name] = profileInterval(lam[g], lam[g]*1e-3, lam[g]*1e3, limit, func(x float64) float64 {
			return sp.minimiseLambda(g, x, [2]float64{s, k})
		})
	}
	if f.SigmaCI.Low <= 0 && f.SigmaCI.High >= 1 {
		f.SigmaFitted = false
		f.Reason = joinReason(f.Reason, "σ not determined: its 90% interval spans 0 to 1")
	}
	return f, nil
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func fmtCores(cs []float64) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		s += num(c)
	}
	return s
}

// scaleProblem is the least-squares problem of FitScalability: groups
// with two or more allotments, their points, and whether κ is fitted.
type scaleProblem struct {
	pts        []ScalePoint
	logX       []float64 // log throughput of each point
	group      []int
	groups     []string
	allotments []float64
	fitKappa   bool
}

func newScaleProblem(points []ScalePoint) *scaleProblem {
	byGroup := map[string][]ScalePoint{}
	all := map[float64]bool{}
	for _, p := range points {
		byGroup[p.Group] = append(byGroup[p.Group], p)
		all[p.Cores] = true
	}
	names := make([]string, 0, len(byGroup))
	for n := range byGroup {
		names = append(names, n)
	}
	sort.Strings(names)
	sp := &scaleProblem{}
	used := map[float64]bool{}
	for _, n := range names {
		cs := map[float64]bool{}
		for _, p := range byGroup[n] {
			cs[p.Cores] = true
		}
		if len(cs) < 2 {
			continue
		}
		sp.groups = append(sp.groups, n)
		for _, p := range byGroup[n] {
			sp.pts = append(sp.pts, p)
			sp.logX = append(sp.logX, math.Log(p.Throughput))
			sp.group = append(sp.group, len(sp.groups)-1)
			used[p.Cores] = true
		}
	}
	if len(sp.groups) == 0 {
		used = all
	}
	for c := range used {
		sp.allotments = append(sp.allotments, c)
	}
	sort.Float64s(sp.allotments)
	return sp
}

func (sp *scaleProblem) nParams() int {
	if sp.fitKappa {
		return len(sp.groups) + 2
	}
	return len(sp.groups) + 1
}

// lambdas are the least-squares λ of each group for σ, κ (log scale: the
// geometric mean of X/S(N)).
func (sp *scaleProblem) lambdas(s, k float64) []float64 {
	logLam, _ := sp.logLambdas(s, k, nil)
	out := make([]float64, len(logLam))
	for g := range out {
		out[g] = math.Exp(logLam[g])
	}
	return out
}

// logLambdas returns log λ of each group and the residuals' base
// log X − log S(N) of each point (into buf when it is large enough).
func (sp *scaleProblem) logLambdas(s, k float64, buf []float64) (logLam, base []float64) {
	if cap(buf) >= len(sp.pts) {
		base = buf[:len(sp.pts)]
	} else {
		base = make([]float64, len(sp.pts))
	}
	logLam = make([]float64, len(sp.groups))
	n := make([]float64, len(sp.groups))
	for i, p := range sp.pts {
		base[i] = sp.logX[i] - math.Log(Speedup(p.Cores, s, k))
		logLam[sp.group[i]] += base[i]
		n[sp.group[i]]++
	}
	for g := range logLam {
		logLam[g] /= n[g]
	}
	return logLam, base
}

// rssWith is the residual sum of squares of log throughput for σ, κ, with
// λ of group fixedG at fixedLam (fixedG < 0: every λ at its best).
func (sp *scaleProblem) rssWith(s, k float64, fixedG int, fixedLam float64) float64 {
	if s < 0 || k < 0 || s > 1 || k > kappaMax {
		return math.Inf(1)
	}
	var buf [16]float64
	logLam, base := sp.logLambdas(s, k, buf[:0])
	if fixedG >= 0 {
		logLam[fixedG] = math.Log(fixedLam)
	}
	var r float64
	for i := range sp.pts {
		d := base[i] - logLam[sp.group[i]]
		r += d * d
	}
	return r
}

func (sp *scaleProblem) rss(s, k float64) float64 { return sp.rssWith(s, k, -1, 0) }

func (sp *scaleProblem) rmsRel(s, k float64) float64 {
	lam := sp.lambdas(s, k)
	var r float64
	for i, p := range sp.pts {
		d := p.Throughput/(lam[sp.group[i]]*Speedup(p.Cores, s, k)) - 1
		r += d * d
	}
	return math.Sqrt(r / float64(len(sp.pts)))
}

// grid returns 0 and n values log-spaced from lo to hi.
func scaleGrid(lo, hi float64, n int) []float64 {
	g := []float64{0}
	for i := range n {
		g = append(g, lo*math.Pow(hi/lo, float64(i)/float64(n-1)))
	}
	return g
}

// minimise finds σ, κ minimising the RSS, with σ fixed when fs is given
// and κ fixed when fk is given (κ is 0 when not fitted).
func (sp *scaleProblem) minimise(fs, fk *float64) (s, k, rss float64) {
	f := func(s, k float64) float64 { return sp.rss(s, k) }
	return sp.minimiseFunc(f, fs, fk, 49, 57, nil)
}

// minimiseFunc minimises f over the free coordinates: a grid of about
// ns × nk points (plus start, when given), then a bounded pattern search
// from the best.
func (sp *scaleProblem) minimiseFunc(f func(s, k float64) float64, fs, fk *float64, ns, nk int, start *[2]float64) (s, k, best float64) {
	sigmas := scaleGrid(1e-4, 1, ns)
	kappas := []float64{0}
	if sp.fitKappa {
		kappas = scaleGrid(1e-7, kappaMax, nk)
	}
	if fs != nil {
		sigmas = []float64{*fs}
	}
	if fk != nil {
		kappas = []float64{*fk}
	}
	best = math.Inf(1)
	for _, a := range sigmas {
		for _, b := range kappas {
			if r := f(a, b); r < best {
				s, k, best = a, b, r
			}
		}
	}
	if start != nil {
		if r := f(start[0], start[1]); r < best {
			s, k, best = start[0], start[1], r
		}
	}
	// Pattern search from the best grid point on the free coordinates.
	freeS, freeK := fs == nil, fk == nil && sp.fitKappa
	stepS, stepK := math.Max(s*0.5, 1e-3), math.Max(k*0.5, 1e-6)
	for range 400 {
		improved := false
		if freeS {
			for _, d := range []float64{stepS, -stepS} {
				if r := f(s+d, k); r < best {
					s, best, improved = s+d, r, true
					break
				}
			}
		}
		if freeK {
			for _, d := range []float64{stepK, -stepK} {
				if r := f(s, k+d); r < best {
					k, best, improved = k+d, r, true
					break
				}
			}
		}
		if !improved {
			stepS, stepK = stepS/2, stepK/2
			if (!freeS || stepS < 1e-10) && (!freeK || stepK < 1e-13) {
				break
			}
		}
	}
	return s, k, best
}

// minimiseLambda is the least RSS with group g's λ fixed at lam: a coarse
// grid and the overall optimum as starting points.
func (sp *scaleProblem) minimiseLambda(g int, lam float64, start [2]float64) float64 {
	_, _, r := sp.minimiseFunc(func(s, k float64) float64 { return sp.rssWith(s, k, g, lam) }, nil, nil, 13, 15, &start)
	return r
}

// minimisePeak is the least RSS with N* fixed at m: κ = (1−σ)/m², over σ.
func (sp *scaleProblem) minimisePeak(m float64) float64 {
	f := func(s float64) float64 { return sp.rss(s, (1-s)/(m*m)) }
	best := math.Inf(1)
	var bs float64
	for _, s := range scaleGrid(1e-4, 1, 200) {
		if r := f(s); r < best {
			bs, best = s, r
		}
	}
	step := math.Max(bs*0.5, 1e-3)
	for step > 1e-10 {
		switch {
		case f(bs+step) < best:
			bs += step
			best = f(bs)
		case f(bs-step) < best:
			bs -= step
			best = f(bs)
		default:
			step /= 2
		}
	}
	return best
}

// profileInterval is the interval around est, within [lo, hi], where the
// profile RSS stays at or below limit; an end at lo or hi means the data
// do not bound it there.
func profileInterval(est, lo, hi, limit float64, prof func(float64) float64) Interval {
	return Interval{edge(est, lo, limit, prof), edge(est, hi, limit, prof)}
}

// edge walks from est toward bound and returns where prof crosses limit
// (bound itself when it never does): steps that double from 1% of est
// bracket the crossing, bisection narrows it to 1e-5 of est.
func edge(est, bound, limit float64, prof func(float64) float64) float64 {
	if est == bound {
		return bound
	}
	dir := math.Copysign(1, bound-est)
	step := math.Max(0.01*math.Abs(est), 1e-4*math.Abs(bound-est))
	in, out := est, bound
	for {
		x := est + dir*step
		if (x-bound)*dir >= 0 {
			if prof(bound) <= limit {
				return bound
			}
			break
		}
		if prof(x) > limit {
			out = x
			break
		}
		in = x
		step *= 2
	}
	tol := 1e-5 * math.Max(math.Abs(est), 1e-3*math.Abs(bound-est))
	for range 60 {
		if math.Abs(out-in) <= tol {
			break
		}
		m := (in + out) / 2
		if prof(m) <= limit {
			in = m
		} else {
			out = m
		}
	}
	return in
}

// profileLow and profileHigh find the ends of N*'s interval on a log
// scale (N* ranges over decades).
func profileLow(est, limit float64, prof func(float64) float64) float64 {
	if !finite(est) {
		est = 1e6
	}
	lo := math.Log(1e-3)
	v := edge(math.Log(est), lo, limit, func(x float64) float64 { return prof(math.Exp(x)) })
	return math.Exp(v)
}

func profileHigh(est, limit float64, prof func(float64) float64) float64 {
	hi := math.Log(1e6)
	v := edge(math.Log(est), hi, limit, func(x float64) float64 { return prof(math.Exp(x)) })
	if v >= hi {
		return math.Inf(1)
	}
	return math.Exp(v)
}

// MarshalJSON writes the fit with peak_cores null when N* is unbounded
// (κ = 0, or nothing fitted), which encoding/json cannot write as +Inf.
func (f ScalabilityFit) MarshalJSON() ([]byte, error) {
	type plain ScalabilityFit
	return json.Marshal(struct {
		plain
		PeakCores JSONFloat `json:"peak_cores"`
	}{plain(f), JSONFloat(f.PeakCores)})
}

// UnmarshalJSON reads what MarshalJSON wrote: a null peak_cores is +Inf.
func (f *ScalabilityFit) UnmarshalJSON(b []byte) error {
	type plain ScalabilityFit
	var v struct {
		plain
		PeakCores *float64 `json:"peak_cores"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = ScalabilityFit(v.plain)
	f.PeakCores = math.Inf(1)
	if v.PeakCores != nil {
		f.PeakCores = *v.PeakCores
	}
	return nil
}
