package compare

import (
	"math"
	"sort"
)

// exactLimit is the sample size under which MannWhitney computes the exact
// null distribution of U (when there are no ties), as R's wilcox.test does.
const exactLimit = 50

// MWResult is the outcome of a two-sided Mann-Whitney U test of x against y.
type MWResult struct {
	NX, NY int
	// U is the statistic of x: the number of pairs (x[i], y[j]) with
	// x[i] > y[j], ties counting one half. Its null mean is NX*NY/2; a
	// larger U means x tends to be larger than y.
	U float64
	// Z is the normal score of U (with tie and continuity corrections);
	// 0 when the test is exact.
	Z float64
	// P is the two-sided p-value, in [0, 1].
	P float64
	// Exact says P comes from the exact distribution of U (no ties and
	// both samples under 50), not from the normal approximation.
	Exact bool
}

// MannWhitney runs a two-sided Mann-Whitney U (Wilcoxon rank-sum) test of
// x against y. With no ties and both samples smaller than 50 the p-value
// is exact; otherwise it uses the normal approximation with the tie
// correction of the variance and a continuity correction of 0.5, as R's
// wilcox.test(x, y) does. When every value is tied (no information) P is
// 1. An empty sample gives P = 1.
func MannWhitney(x, y []float64) MWResult {
	nx, ny := len(x), len(y)
	res := MWResult{NX: nx, NY: ny, P: 1}
	if nx == 0 || ny == 0 {
		return res
	}
	type obs struct {
		v    float64
		isX  bool
		rank float64
	}
	all := make([]obs, 0, nx+ny)
	for _, v := range x {
		all = append(all, obs{v: v, isX: true})
	}
	for _, v := range y {
		all = append(all, obs{v: v})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := float64(nx + ny)
	var tieSum float64 // sum of t^3 - t over groups of ties
	ties := false
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		// positions i..j-1 share the mean of ranks i+1..j
		r := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			all[k].rank = r
		}
		if t := float64(j - i); t > 1 {
			ties = true
			tieSum += t*t*t - t
		}
		i = j
	}
	var rx float64
	for _, o := range all {
		if o.isX {
			rx += o.rank
		}
	}
	fx, fy := float64(nx), float64(ny)
	res.U = rx - fx*(fx+1)/2
	mean := fx * fy / 2

	if !ties && nx < exactLimit && ny < exactLimit {
		res.Exact = true
		u := int(math.Round(res.U))
		var p float64
		if res.U > mean {
			p = 1 - wilcoxCDF(u-1, nx, ny)
		} else {
			p = wilcoxCDF(u, nx, ny)
		}
		res.P = math.Min(1, 2*p)
		return res
	}

	sigma := math.Sqrt(fx * fy / 12 * ((n + 1) - tieSum/(n*(n-1))))
	if sigma == 0 || math.IsNaN(sigma) {
		return res // every value tied: no evidence either way
	}
	d := res.U - mean
	switch {
	case d > 0:
		d = math.Max(0, d-0.5)
	case d < 0:
		d = math.Min(0, d+0.5)
	}
	res.Z = d / sigma
	res.P = math.Min(1, 2*normalSF(math.Abs(res.Z)))
	return res
}

// normalSF is the standard normal survival function P(Z > z).
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// wilcoxCDF returns P(U <= u) for the Mann-Whitney statistic of samples of
// m and n values without ties under the null hypothesis. It counts the
// arrangements with the recursion c(i, j, u) = c(i-1, j, u-j) + c(i, j-1, u)
// (the last of the i+j ordered values is either an x, which beats all j
// y's, or a y, which adds nothing), rolling over j.
func wilcoxCDF(u, m, n int) float64 {
	if u < 0 {
		return 0
	}
	if u >= m*n {
		return 1
	}
	maxU := m * n
	// prev[i] is c(i, j-1, ·), cur[i] is c(i, j, ·), for i = 0..m.
	mk := func() [][]float64 {
		t := make([][]float64, m+1)
		for i := range t {
			t[i] = make([]float64, maxU+1)
		}
		return t
	}
	prev, cur := mk(), mk()
	// j = 0: c(i, 0, 0) = 1 for every i.
	for i := 0; i <= m; i++ {
		prev[i][0] = 1
	}
	for j := 1; j <= n; j++ {
		for i := 0; i <= m; i++ {
			c := cur[i]
			clear(c)
			if i == 0 {
				c[0] = 1
				continue
			}
			up := cur[i-1] // c(i-1, j, ·)
			left := prev[i]
			for v := 0; v <= i*j && v <= maxU; v++ {
				s := left[v]
				if v >= j {
					s += up[v-j]
				}
				c[v] = s
			}
		}
		prev, cur = cur, prev
	}
	var below, total float64
	for v, c := range prev[m] {
		total += c
		if v <= u {
			below += c
		}
	}
	return below / total
}
