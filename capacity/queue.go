package capacity

import "math"

// Queueing approximations. Service times and waits are in seconds (any
// unit works as long as it is the same throughout); a is the offered load
// in Erlangs, λ/μ = arrival rate × mean service time. Coefficients of
// variation (ca, cs) are standard deviation / mean, not squared.

// ErlangB is the blocking probability of M/M/c/c with offered load a
// (the recursion B(0) = 1, B(n) = a·B(n−1) / (n + a·B(n−1))).
func ErlangB(c int, a float64) float64 {
	if c < 0 || a < 0 {
		return math.NaN()
	}
	b := 1.0
	for n := 1; n <= c; n++ {
		b = a * b / (float64(n) + a*b)
	}
	return b
}

// ErlangC is the probability that an arrival waits in M/M/c with offered
// load a = λ/μ Erlangs: C = c·B / (c − a(1 − B)), B = ErlangB(c, a). It is 1
// when a ≥ c (the queue grows without bound).
func ErlangC(c int, a float64) float64 {
	if c < 1 || a < 0 {
		return math.NaN()
	}
	if a >= float64(c) {
		return 1
	}
	b := ErlangB(c, a)
	return float64(c) * b / (float64(c) - a*(1-b))
}

// MMcWait is the mean wait in queue of M/M/c: C(c, a) / (cμ − λ), with
// λ the arrival rate and service the mean service time (μ = 1/service).
// +Inf at or above saturation.
func MMcWait(c int, lambda, service float64) float64 {
	a := lambda * service
	if a >= float64(c) {
		return math.Inf(1)
	}
	return ErlangC(c, a) / (float64(c)/service - lambda)
}

// KingmanWait is Kingman's approximation of the mean wait in a G/G/1
// queue: ρ/(1−ρ) · (ca² + cs²)/2 · service. +Inf at or above saturation.
func KingmanWait(rho, ca, cs, service float64) float64 {
	if rho >= 1 {
		return math.Inf(1)
	}
	return rho / (1 - rho) * (ca*ca + cs*cs) / 2 * service
}

// AllenCunneenWait is the Allen-Cunneen approximation of the mean wait in
// a G/G/c queue: the M/M/c wait scaled by (ca² + cs²)/2. With c = 1 it is
// Kingman's formula. +Inf at or above saturation.
func AllenCunneenWait(c int, lambda, service, ca, cs float64) float64 {
	return MMcWait(c, lambda, service) * (ca*ca + cs*cs) / 2
}

// WaitPercentile approximates the p-quantile (p in (0, 1), e.g. 0.99) of
// the waiting time from the probability of waiting and the mean wait,
// assuming the wait of those who wait is exponential (exact for M/M/c):
// P(W > t) = pWait·exp(−t·pWait/meanWait). It is 0 when fewer than 1−p of
// arrivals wait.
func WaitPercentile(pWait, meanWait, p float64) float64 {
	if math.IsInf(meanWait, 1) {
		return math.Inf(1)
	}
	if pWait <= 1-p || pWait <= 0 || meanWait <= 0 {
		return 0
	}
	return meanWait / pWait * math.Log(pWait/(1-p))
}

// FanOutTail is the time from the first to the last recipient of a post in
// a room of k: k deliveries at perDelivery each, one after the other.
func FanOutTail(perDelivery, k float64) float64 { return perDelivery * k }
