package capacity

import "math"

// Operational laws (Denning and Buzen): they hold for any measured interval
// in which what enters leaves, whatever the distributions.

// Utilization is the utilisation law U = X·D: throughput X (per second)
// times the service demand D (seconds of the resource per operation).
func Utilization(throughput, demand float64) float64 { return throughput * demand }

// ServiceDemand is D = B/C: busy seconds of a resource divided by the
// operations completed in the interval (equivalently U/X).
func ServiceDemand(busySeconds, completions float64) float64 {
	if completions <= 0 {
		return math.NaN()
	}
	return busySeconds / completions
}

// LittleN is Little's law N = X·R: the mean number in the system from the
// throughput and the mean time in the system.
func LittleN(throughput, response float64) float64 { return throughput * response }

// LittleR is Little's law solved for the response time R = N/X.
func LittleR(n, throughput float64) float64 {
	if throughput <= 0 {
		return math.NaN()
	}
	return n / throughput
}

// InteractiveUsers is the response time law N = X·(R + Z): the users a
// throughput X sustains when each user waits R for a response and thinks
// Z between operations ("users ≈ capacity × think time" when R ≪ Z).
func InteractiveUsers(throughput, response, think float64) float64 {
	return throughput * (response + think)
}

// Demand is the service demand of one operation at one resource, in
// seconds of that resource's full capacity (a whole multi-core CPU, a
// whole disk set, a whole NIC).
type Demand struct {
	Resource Resource `json:"resource"`
	Seconds  float64  `json:"seconds"`
}

// Bottleneck returns the demand with the largest Seconds (the resource
// that saturates first) and false when there is none.
func Bottleneck(ds []Demand) (Demand, bool) {
	var best Demand
	found := false
	for _, d := range ds {
		if !finite(d.Seconds) {
			continue
		}
		if !found || d.Seconds > best.Seconds {
			best, found = d, true
		}
	}
	return best, found
}

// MaxThroughput is the asymptotic bound X ≤ 1/D_max, +Inf with no demand.
func MaxThroughput(ds []Demand) float64 {
	b, ok := Bottleneck(ds)
	if !ok || b.Seconds <= 0 {
		return math.Inf(1)
	}
	return 1 / b.Seconds
}
