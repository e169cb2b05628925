package capacity

import (
	"math"
	"testing"
)

func near(got, want, tol float64) bool {
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestOperationalLaws(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		// 40 posts/s, each taking 12.5 ms of the CPU: half busy.
		{"utilisation U = X·D", Utilization(40, 0.0125), 0.5},
		// 30 busy seconds over 600 posts: 50 ms per post.
		{"service demand D = B/C", ServiceDemand(30, 600), 0.05},
		// D = U/X: 80% busy at 200/s is 4 ms each.
		{"service demand from U and X", ServiceDemand(0.8, 200), 0.004},
		// 100 posts/s in the system for 250 ms: 25 in flight.
		{"Little N = X·R", LittleN(100, 0.25), 25},
		{"Little R = N/X", LittleR(25, 100), 0.25},
		// 5 posts/s, 1 s response, 3,999 s between posts: 20,000 users.
		{"response time law N = X(R+Z)", InteractiveUsers(5, 1, 3999), 20000},
		// Users ≈ capacity × think time: 40 posts/s, a post every 25 min.
		{"users from think time", InteractiveUsers(40, 0, 1500), 60000},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want, 1e-12) {
			t.Errorf("%s = %g, want %g", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(ServiceDemand(1, 0)) || !math.IsNaN(LittleR(1, 0)) {
		t.Error("division by zero completions/throughput should be NaN")
	}
}

func TestBottleneck(t *testing.T) {
	tests := []struct {
		name   string
		ds     []Demand
		want   Resource
		maxX   float64
		wantOK bool
	}{
		{"disk largest", []Demand{{CPU, 0.004}, {DiskSync, 0.005}, {NIC, 0.001}}, DiskSync, 200, true},
		{"cpu largest", []Demand{{CPU, 0.025}, {DiskSync, 0.005}}, CPU, 40, true},
		{"non-finite ignored", []Demand{{CPU, math.Inf(1)}, {NIC, 0.01}}, NIC, 100, true},
		{"none", nil, "", math.Inf(1), false},
	}
	for _, tc := range tests {
		b, ok := Bottleneck(tc.ds)
		if ok != tc.wantOK || b.Resource != tc.want {
			t.Errorf("%s: Bottleneck = %v, %v; want %v, %v", tc.name, b, ok, tc.want, tc.wantOK)
		}
		if x := MaxThroughput(tc.ds); !near(x, tc.maxX, 1e-12) {
			t.Errorf("%s: MaxThroughput = %g, want %g", tc.name, x, tc.maxX)
		}
	}
}

func TestErlangC(t *testing.T) {
	tests := []struct {
		c    int
		a    float64
		want float64
		tol  float64
	}{
		{1, 0.5, 0.5, 1e-12},   // M/M/1: P(wait) = ρ
		{2, 1, 1.0 / 3, 1e-12}, // hand-worked: 2·B/(2 − 1·(1−B)), B = 1/5
		{3, 2, 4.0 / 9, 1e-12}, // hand-worked from P0 = 1/9
		{5, 3, 0.23615, 1e-4},  // textbook table: 5 servers, 3 Erlangs
		{10, 8, 0.40918, 1e-4}, // textbook table: 10 servers, 8 Erlangs
		{4, 4, 1, 0},           // saturated
		{4, 0, 0, 0},           // idle
	}
	for _, tc := range tests {
		if got := ErlangC(tc.c, tc.a); !near(got, tc.want, tc.tol) {
			t.Errorf("ErlangC(%d, %g) = %.6f, want %.6f", tc.c, tc.a, got, tc.want)
		}
	}
	// Against the direct formula C = (aᶜ/c!)(c/(c−a)) / (Σ_{n<c} aⁿ/n! + (aᶜ/c!)(c/(c−a))),
	// in logs so that c = 200 does not overflow.
	for _, tc := range []struct {
		c int
		a float64
	}{{20, 15}, {50, 45}, {100, 80}, {200, 190}, {7, 0.3}} {
		var sum float64
		for n := 0; n < tc.c; n++ {
			lg, _ := math.Lgamma(float64(n) + 1)
			sum += math.Exp(float64(n)*math.Log(tc.a) - lg)
		}
		lg, _ := math.Lgamma(float64(tc.c) + 1)
		top := math.Exp(float64(tc.c)*math.Log(tc.a)-lg) * float64(tc.c) / (float64(tc.c) - tc.a)
		want := top / (sum + top)
		if got := ErlangC(tc.c, tc.a); !near(got, want, 1e-9) {
			t.Errorf("ErlangC(%d, %g) = %.9f, direct formula %.9f", tc.c, tc.a, got, want)
		}
	}
	// Erlang B: 2 servers, 1 Erlang = 1/5; 1 server = a/(1+a).
	if b := ErlangB(2, 1); !near(b, 0.2, 1e-12) {
		t.Errorf("ErlangB(2, 1) = %g, want 0.2", b)
	}
	if b := ErlangB(1, 3); !near(b, 0.75, 1e-12) {
		t.Errorf("ErlangB(1, 3) = %g, want 0.75", b)
	}
}

func TestQueueWaits(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		// M/M/1, ρ = 0.5, service 1: Wq = ρ/(μ−λ) = 1.
		{"MMc c=1", MMcWait(1, 0.5, 1), 1},
		// M/M/2, a = 1: C = 1/3, Wq = C/(2−1) = 1/3.
		{"MMc c=2", MMcWait(2, 1, 1), 1.0 / 3},
		// M/D/1 (cs = 0), ρ = 0.8: Kingman is exact, ρ/(2μ(1−ρ)) = 2.
		{"Kingman M/D/1", KingmanWait(0.8, 1, 0, 1), 2},
		// M/M/1 at ρ = 0.5, service 2 ms: Kingman = M/M/1 = 2 ms.
		{"Kingman M/M/1", KingmanWait(0.5, 1, 1, 0.002), 0.002},
		// G/G/1 with ca = 0.5, cs = 1.5, ρ = 0.9, service 10 ms: 9 · 1.25 · 10 ms.
		{"Kingman G/G/1", KingmanWait(0.9, 0.5, 1.5, 0.010), 0.1125},
		// Allen-Cunneen with one server is Kingman.
		{"Allen-Cunneen c=1", AllenCunneenWait(1, 0.9, 1, 0.5, 1.5), KingmanWait(0.9, 0.5, 1.5, 1)},
		// c = 2, a = 1, deterministic service: half the M/M/2 wait.
		{"Allen-Cunneen c=2 cs=0", AllenCunneenWait(2, 1, 1, 1, 0), 1.0 / 6},
		// M/M/1 ρ = 0.5: P(W > t) = 0.5 e^(−t/2); p99 = 2 ln 50.
		{"wait p99", WaitPercentile(0.5, 1, 0.99), 2 * math.Log(50)},
		// Half the arrivals wait: the median wait is 0.
		{"wait p50", WaitPercentile(0.5, 1, 0.5), 0},
		{"fan-out tail", FanOutTail(5e-6, 1000), 0.005},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want, 1e-9) {
			t.Errorf("%s = %g, want %g", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsInf(MMcWait(2, 2, 1), 1) || !math.IsInf(KingmanWait(1, 1, 1, 1), 1) {
		t.Error("a saturated queue should wait forever")
	}
}
