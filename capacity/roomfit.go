package capacity

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// RoomModelKind names a form of CPU per post against the fan-out k.
type RoomModelKind string

// The candidate forms, simplest first.
const (
	// RoomLinear is a + b·k: a per post, b per delivery.
	RoomLinear RoomModelKind = "linear"
	// RoomBatching is a + b·k/(1 + k/K): the cost per delivery falls in
	// large rooms, where one post's deliveries fill fewer, larger writes
	// per connection, and levels off at b·K.
	RoomBatching RoomModelKind = "batching"
	// RoomLog is a + b·k + c·ln k.
	RoomLog RoomModelKind = "log"
	// RoomPiecewise is a + b·k + c·max(0, k − K): two straight lines
	// meeting at the breakpoint K.
	RoomPiecewise RoomModelKind = "piecewise"
)

// RoomModelKinds are the candidates in order of simplicity (parameters).
var RoomModelKinds = []RoomModelKind{RoomLinear, RoomBatching, RoomLog, RoomPiecewise}

// RoomFit is one form of CPU per post (µs) against k fitted by weighted
// least squares with relative weights (1/fitted², iterated), so that
// rooms of 10 count as much as rooms of 1,000: Coef are the linear
// coefficients (a, b[, c]), Knot the breakpoint or batching scale K chosen
// by a grid search.
type RoomFit struct {
	Kind RoomModelKind `json:"kind"`
	Coef []float64     `json:"coef"`
	Knot float64       `json:"knot,omitempty"`
	// Cov is the covariance of Coef, s²(XᵀWX)⁻¹ (the knot taken as
	// known).
	Cov [][]float64 `json:"cov"`
	// RelSE is the residual standard error on the relative scale: about
	// the typical relative scatter of a run around the fit.
	RelSE   float64 `json:"rel_se"`
	N       int     `json:"n"`
	DoF     int     `json:"dof"`
	SEKnown bool    `json:"se_known"`
	XMin    float64 `json:"x_min"`
	XMax    float64 `json:"x_max"`
}

// row is the design row of k: its p values.
func (f RoomFit) row(k float64) (r [3]float64, p int) {
	switch f.Kind {
	case RoomBatching:
		return [3]float64{1, k / (1 + k/f.Knot)}, 2
	case RoomLog:
		return [3]float64{1, k, math.Log(math.Max(k, 1e-9))}, 3
	case RoomPiecewise:
		return [3]float64{1, k, math.Max(0, k-f.Knot)}, 3
	}
	return [3]float64{1, k}, 2
}

// At is the fitted CPU per post at k.
func (f RoomFit) At(k float64) float64 {
	r, p := f.row(k)
	var y float64
	for i := range min(p, len(f.Coef)) {
		y += f.Coef[i] * r[i]
	}
	return y
}

// SE is the standard error of the fitted mean at k (0 when unknown).
func (f RoomFit) SE(k float64) float64 {
	if !f.SEKnown {
		return 0
	}
	phi, p := f.row(k)
	var v float64
	for i := range p {
		for j := range p {
			v += phi[i] * f.Cov[i][j] * phi[j]
		}
	}
	return math.Sqrt(math.Max(v, 0))
}

// Interval is the two-sided confidence interval of the fitted mean at k
// at level (e.g. 0.9); the point itself when the fit has no error
// estimate.
func (f RoomFit) Interval(k, level float64) (lo, hi float64) {
	y := f.At(k)
	if !f.SEKnown {
		return y, y
	}
	h := tTwoSided(level, f.DoF) * f.SE(k)
	return y - h, y + h
}

// Split divides the CPU of a post into rooms of k into the post's own
// handling (the constant a) and its fan-out (the rest), each at least 0.
func (f RoomFit) Split(k float64) (post, fan float64) {
	total := math.Max(f.At(k), 0)
	post = math.Min(math.Max(f.Coef[0], 0), total)
	return post, total - post
}

// Params counts the fitted parameters, the knot included.
func (f RoomFit) Params() int { return paramsOf(f.Kind) }

func paramsOf(kind RoomModelKind) int {
	switch kind {
	case RoomBatching:
		return 3
	case RoomLog:
		return 3
	case RoomPiecewise:
		return 4
	}
	return 2
}

// Formula writes the fit with its numbers, e.g. "1,100 + 3.02·k µs".
func (f RoomFit) Formula() string {
	c := func(i int) string { return num(f.Coef[i]) }
	switch f.Kind {
	case RoomBatching:
		return fmt.Sprintf("%s + %s·k/(1 + k/%s) µs", c(0), c(1), num(f.Knot))
	case RoomLog:
		return fmt.Sprintf("%s + %s·k %s %s·ln k µs", c(0), c(1), sign(f.Coef[2]), num(math.Abs(f.Coef[2])))
	case RoomPiecewise:
		return fmt.Sprintf("%s + %s·k %s %s·max(0, k − %s) µs", c(0), c(1), sign(f.Coef[2]), num(math.Abs(f.Coef[2])), num(f.Knot))
	}
	return fmt.Sprintf("%s + %s·k µs", c(0), c(1))
}

func sign(x float64) string {
	if x < 0 {
		return "−"
	}
	return "+"
}

// FitRoom fits one form to CPU per post y (µs) against fan-out x. It
// needs as many distinct x values as the form has linear coefficients
// (and, for the piecewise form, three, so that the breakpoint has a size
// on either side).
func FitRoom(kind RoomModelKind, x, y []float64) (RoomFit, error) {
	if len(x) != len(y) {
		return RoomFit{}, fmt.Errorf("room fit: %d x values but %d y values", len(x), len(y))
	}
	distinct := map[float64]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range x {
		if !finite(x[i]) || !finite(y[i]) || !(x[i] > 0) || !(y[i] > 0) {
			return RoomFit{}, fmt.Errorf("room fit: point %d (%g, %g) is not a positive finite number", i, x[i], y[i])
		}
		// Runs into rooms of one size differ a little in their measured
		// fan-out: sizes are told apart to the nearest member.
		distinct[math.Round(x[i])] = true
		lo, hi = math.Min(lo, x[i]), math.Max(hi, x[i])
	}
	ncoef := 2
	if kind == RoomLog || kind == RoomPiecewise {
		ncoef = 3
	}
	if len(distinct) < ncoef {
		return RoomFit{}, fmt.Errorf("room fit %s: needs %d distinct room sizes, has %d", kind, ncoef, len(distinct))
	}
	var knots []float64
	switch kind {
	case RoomLinear, RoomLog:
		knots = []float64{0}
	case RoomBatching:
		for i := range 25 {
			knots = append(knots, lo/10*math.Pow(hi*100/(lo/10), float64(i)/24))
		}
	case RoomPiecewise:
		xs := make([]float64, 0, len(distinct))
		for v := range distinct {
			xs = append(xs, v)
		}
		sort.Float64s(xs)
		// A breakpoint from the second smallest to the second largest
		// size: every segment holds two sizes or more.
		a, b := xs[1], xs[len(xs)-2]
		for i := range 20 {
			knots = append(knots, a*math.Pow(b/a, float64(i)/19))
		}
	default:
		return RoomFit{}, fmt.Errorf("room fit: unknown form %q", kind)
	}
	// The knot: the best of the grid, refined between its neighbours by
	// golden-section search on a log scale, each with one weighting pass;
	// then the full reweighted fit at it.
	bestK, bestRSS := 0.0, math.Inf(1)
	bestI := -1
	for i, K := range knots {
		if _, rss, err := fitRoomAt(kind, K, x, y, 1); err == nil && rss < bestRSS {
			bestK, bestRSS, bestI = K, rss, i
		}
	}
	if bestI < 0 {
		return RoomFit{}, fmt.Errorf("room fit %s: no fit (singular design)", kind)
	}
	if len(knots) > 1 {
		a := math.Log(knots[max(bestI-1, 0)])
		b := math.Log(knots[min(bestI+1, len(knots)-1)])
		rssAt := func(lk float64) float64 {
			_, r, err := fitRoomAt(kind, math.Exp(lk), x, y, 1)
			if err != nil {
				return math.Inf(1)
			}
			return r
		}
		const g = 0.6180339887498949
		c, d := b-g*(b-a), a+g*(b-a)
		fc, fd := rssAt(c), rssAt(d)
		for range 24 {
			if fc < fd {
				b, d, fd = d, c, fc
				c = b - g*(b-a)
				fc = rssAt(c)
			} else {
				a, c, fc = c, d, fd
				d = a + g*(b-a)
				fd = rssAt(d)
			}
		}
		if k := math.Exp((a + b) / 2); rssAt(math.Log(k)) < bestRSS {
			bestK = k
		}
	}
	best, _, err := fitRoomAt(kind, bestK, x, y, 4)
	if err != nil {
		return RoomFit{}, fmt.Errorf("room fit %s: %w", kind, err)
	}
	best.XMin, best.XMax = lo, hi
	return best, nil
}

// fitRoomAt fits the linear coefficients for a given knot by iteratively
// reweighted least squares (weights 1/measured², then passes-1 times
// 1/fitted²); it returns the sum of squared relative residuals.
func fitRoomAt(kind RoomModelKind, knot float64, x, y []float64, passes int) (RoomFit, float64, error) {
	f := RoomFit{Kind: kind, Knot: knot, N: len(x)}
	w := make([]float64, len(y))
	for i := range y {
		w[i] = 1 / (y[i] * y[i])
	}
	var rss float64
	var inv [][]float64
	_, p := f.row(1)
	for pass := range passes {
		xtwx := make([][]float64, p)
		for a := range p {
			xtwx[a] = make([]float64, p)
		}
		xtwy := make([]float64, p)
		for i := range x {
			r, _ := f.row(x[i])
			for a := range p {
				xtwy[a] += r[a] * w[i] * y[i]
				for b := range p {
					xtwx[a][b] += r[a] * w[i] * r[b]
				}
			}
		}
		var err error
		if inv, err = invert(xtwx); err != nil {
			return RoomFit{}, 0, err
		}
		f.Coef = make([]float64, p)
		for a := range p {
			for b := range p {
				f.Coef[a] += inv[a][b] * xtwy[b]
			}
		}
		rss = 0
		for i := range x {
			r := y[i] - f.At(x[i])
			rss += w[i] * r * r
		}
		if pass < passes-1 {
			for i := range x {
				if fy := f.At(x[i]); fy > 0 {
					w[i] = 1 / (fy * fy)
				}
			}
		}
	}
	f.DoF = len(x) - paramsOf(kind)
	if f.DoF > 0 {
		s2 := rss / float64(f.DoF)
		f.RelSE = math.Sqrt(s2)
		f.Cov = make([][]float64, len(inv))
		for a := range inv {
			f.Cov[a] = make([]float64, len(inv))
			for b := range inv {
				f.Cov[a][b] = s2 * inv[a][b]
			}
		}
		f.SEKnown = true
	}
	var rel float64
	for i := range x {
		r := (y[i] - f.At(x[i])) / y[i]
		rel += r * r
	}
	return f, rel, nil
}

// SizeError is a model's relative error at one room size: the mean and
// the worst |predicted − measured| / measured over the runs of that size.
type SizeError struct {
	RoomSize float64 `json:"room_size"`
	Runs     int     `json:"runs"`
	MeanAbs  float64 `json:"mean_abs_error"`
	Worst    float64 `json:"worst_abs_error"`
}

// RoomCandidate is one form with its fit on every run and its
// cross-validation error.
type RoomCandidate struct {
	Kind RoomModelKind `json:"kind"`
	Fit  RoomFit       `json:"fit"`
	// CVError is the mean over room sizes of the mean |relative error| of
	// the runs at a size, predicted by the form fitted without that size
	// (leave one room size out); NaN (null) when it could not be
	// computed, Note says why.
	CVError  JSONFloat   `json:"cv_error"`
	CVBySize []SizeError `json:"cv_by_size"`
	Note     string      `json:"note,omitempty"`
}

// RoomModel is the form of CPU per post against room size chosen by
// cross-validation, and the candidates it was chosen from.
type RoomModel struct {
	Chosen  RoomModelKind `json:"chosen"`
	Fit     RoomFit       `json:"fit"`
	CVError JSONFloat     `json:"cv_error"`
	// CrossValidated is false with fewer than 3 room sizes (leaving one
	// out leaves too few to fit): the linear form is then taken.
	CrossValidated bool            `json:"cross_validated"`
	Candidates     []RoomCandidate `json:"candidates"`
	Sentence       string          `json:"sentence"`
}

// JSONFloat is a number written to JSON as null when it is not finite
// (not computed, or unbounded).
type JSONFloat float64

// MarshalJSON writes the number, or null.
func (x JSONFloat) MarshalJSON() ([]byte, error) { return []byte(jsonNum(float64(x))), nil }

// cvTolerance: a simpler form is chosen when its cross-validation error
// is within 10% (relative) or half a percentage point of the best.
const (
	cvTolerance    = 0.10
	cvToleranceAbs = 0.005
)

// SelectRoomModel fits every form to CPU per post y against fan-out x
// (size groups the runs by room size) and chooses by leave-one-room-size-
// out cross-validation: each room size is predicted by the form fitted on
// the other sizes, and the form with the lowest mean error over sizes
// wins, the simplest one when several are within cvTolerance of the best.
func SelectRoomModel(x, y, size []float64) (RoomModel, error) {
	if len(size) != len(x) {
		return RoomModel{}, errors.New("room model: sizes and points differ in number")
	}
	sizes := distinctSorted(size)
	var rm RoomModel
	for _, kind := range RoomModelKinds {
		c := RoomCandidate{Kind: kind, CVError: JSONFloat(math.NaN())}
		f, err := FitRoom(kind, x, y)
		if err != nil {
			c.Note = err.Error()
			rm.Candidates = append(rm.Candidates, c)
			continue
		}
		c.Fit = f
		var cv float64
		c.CVBySize, cv, c.Note = crossValidate(kind, x, y, size, sizes)
		c.CVError = JSONFloat(cv)
		rm.Candidates = append(rm.Candidates, c)
	}
	if rm.Candidates[0].Fit.Coef == nil {
		return RoomModel{}, fmt.Errorf("room model: %s", rm.Candidates[0].Note)
	}
	best := math.Inf(1)
	for _, c := range rm.Candidates {
		if cv := float64(c.CVError); !math.IsNaN(cv) && cv < best {
			best = cv
		}
	}
	chosen := rm.Candidates[0]
	if !math.IsInf(best, 1) {
		rm.CrossValidated = true
		for _, c := range rm.Candidates {
			if cv := float64(c.CVError); !math.IsNaN(cv) && cv <= math.Max(best*(1+cvTolerance), best+cvToleranceAbs) {
				chosen = c
				break
			}
		}
	}
	rm.Chosen, rm.Fit, rm.CVError = chosen.Kind, chosen.Fit, chosen.CVError
	if rm.CrossValidated {
		rm.Sentence = fmt.Sprintf("CPU per post = %s (%s form, chosen by leaving out each of %d room sizes in turn: mean error %.1f%%", chosen.Fit.Formula(), chosen.Kind, len(sizes), 100*float64(chosen.CVError))
		for _, c := range rm.Candidates {
			if c.Kind != chosen.Kind && !math.IsNaN(float64(c.CVError)) {
				rm.Sentence += fmt.Sprintf("; %s %.1f%%", c.Kind, 100*float64(c.CVError))
			}
		}
		rm.Sentence += ")"
	} else {
		rm.CVError = JSONFloat(math.NaN())
		rm.Sentence = fmt.Sprintf("CPU per post = %s (linear form, not cross-validated: %d room sizes, leaving one out needs 3 or more)", chosen.Fit.Formula(), len(sizes))
	}
	return rm, nil
}

// crossValidate predicts each room size from a fit without it.
func crossValidate(kind RoomModelKind, x, y, size, sizes []float64) ([]SizeError, float64, string) {
	var by []SizeError
	var sum float64
	for _, s := range sizes {
		var tx, ty, hx, hy []float64
		for i := range x {
			if size[i] == s {
				hx, hy = append(hx, x[i]), append(hy, y[i])
			} else {
				tx, ty = append(tx, x[i]), append(ty, y[i])
			}
		}
		f, err := FitRoom(kind, tx, ty)
		if err != nil {
			return nil, math.NaN(), fmt.Sprintf("not cross-validated: without rooms of %s, %v", num(s), err)
		}
		se := SizeError{RoomSize: s, Runs: len(hx)}
		for i := range hx {
			e := math.Abs(f.At(hx[i])-hy[i]) / hy[i]
			se.MeanAbs += e / float64(len(hx))
			se.Worst = math.Max(se.Worst, e)
		}
		by = append(by, se)
		sum += se.MeanAbs
	}
	return by, sum / float64(len(sizes)), ""
}

func distinctSorted(xs []float64) []float64 {
	seen := map[float64]bool{}
	var out []float64
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Float64s(out)
	return out
}
