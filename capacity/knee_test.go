package capacity

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestDetectKnee(t *testing.T) {
	pts := func(xs ...[3]float64) []OfferedPoint {
		var out []OfferedPoint
		for _, x := range xs {
			out = append(out, OfferedPoint{Offered: x[0], Achieved: x[1], LatencyUs: x[2]})
		}
		return out
	}
	tests := []struct {
		name      string
		pts       []OfferedPoint
		c         KneeCriteria
		saturated bool
		causes    []string
		maxHeld   float64
		failed    float64
		rate      float64
		satX      float64
		sentence  string
	}{
		{"not saturated", pts([3]float64{10, 10, 1000}, [3]float64{20, 19.9, 1100}, [3]float64{40, 39.5, 1200}), KneeCriteria{}, false, nil, 40, 0, 0, 0, "not saturated"},
		{"throughput plateau", pts([3]float64{20, 20, 0}, [3]float64{40, 40, 0}, [3]float64{80, 61, 0}, [3]float64{160, 62, 0}), KneeCriteria{},
			true, []string{CauseThroughput}, 40, 80, 62, 62, "tops out at 62/s"},
		{"any order", pts([3]float64{160, 62, 0}, [3]float64{40, 40, 0}, [3]float64{80, 61, 0}, [3]float64{20, 20, 0}), KneeCriteria{},
			true, []string{CauseThroughput}, 40, 80, 62, 62, ""},
		// The knee is at most the first failure, at least the last hold.
		{"collapse past the knee", pts([3]float64{20, 20, 0}, [3]float64{40, 39, 0}, [3]float64{80, 30, 0}), KneeCriteria{},
			true, []string{CauseThroughput}, 40, 80, 39, 39, ""},
		// log(5000/1000)/log(25000/1000) = 0.5: halfway from 40 to 80.
		{"latency bound", pts([3]float64{20, 20, 800}, [3]float64{40, 40, 1000}, [3]float64{80, 80, 25000}), KneeCriteria{LatencyBoundUs: 5000},
			true, []string{CauseLatency}, 40, 80, 60, 0, "saturated (latency)"},
		{"latency growth over the lowest rate's", pts([3]float64{10, 10, 1000}, [3]float64{20, 20, 1500}, [3]float64{40, 40, 12000}), KneeCriteria{LatencyGrowth: 10},
			true, []string{CauseLatency}, 20, 40, 20 + 20*math.Log(10000.0/1500)/math.Log(12000.0/1500), 0, ""},
		{"both causes", pts([3]float64{10, 10, 1000}, [3]float64{40, 30, 90000}), KneeCriteria{LatencyBoundUs: 5000},
			true, []string{CauseThroughput, CauseLatency}, 10, 40, 30, 30, "throughput and latency"},
		{"lowest rate failed", pts([3]float64{50, 20, 0}, [3]float64{100, 21, 0}), KneeCriteria{},
			true, []string{CauseThroughput}, 0, 50, 21, 21, "run lower rates"},
		{"noise: a higher rate held again", pts([3]float64{20, 20, 0}, [3]float64{40, 35, 0}, [3]float64{60, 60, 0}, [3]float64{80, 62, 0}), KneeCriteria{},
			true, []string{CauseThroughput}, 20, 40, 40, 62, "held again"},
		{"follow ratio", pts([3]float64{100, 92, 0}), KneeCriteria{FollowRatio: 0.9}, false, nil, 100, 0, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := DetectKnee(tc.pts, tc.c)
			if k.Saturated != tc.saturated || !slices.Equal(k.Causes, tc.causes) || k.MaxHeld != tc.maxHeld || k.FirstFailed != tc.failed ||
				!near(k.Rate, tc.rate, 1e-9) || k.SaturationThroughput != tc.satX {
				t.Errorf("got saturated %v %v held %g failed %g rate %g satX %g; want %v %v %g %g %g %g",
					k.Saturated, k.Causes, k.MaxHeld, k.FirstFailed, k.Rate, k.SaturationThroughput, tc.saturated, tc.causes, tc.maxHeld, tc.failed, tc.rate, tc.satX)
			}
			if !strings.Contains(k.Sentence, tc.sentence) {
				t.Errorf("sentence %q lacks %q", k.Sentence, tc.sentence)
			}
			if len(k.Verdicts) != len(tc.pts) {
				t.Errorf("%d verdicts for %d points", len(k.Verdicts), len(tc.pts))
			}
		})
	}
	// Generator-limited points are skipped, not blamed on the server.
	k := DetectKnee([]OfferedPoint{{Offered: 10, Achieved: 10}, {Offered: 80, Achieved: 20, GeneratorInvalid: true}}, KneeCriteria{})
	if k.Saturated || k.Skipped != 1 || k.MaxAchieved != 10 || !slices.Equal(k.Verdicts[1].Causes, []string{CauseGenerator}) {
		t.Errorf("generator-limited point: %+v", k)
	}
}

// server is a synthetic server: throughput capped at capX, and a p99 that
// grows like an M/M/1 queue's, 1 ms at no load.
func server(capX float64) func(offered float64) OfferedPoint {
	return func(x float64) OfferedPoint {
		a := math.Min(x, capX)
		rho := x / capX
		lat := 1e9
		if rho < 1 {
			lat = 1000 / (1 - rho)
		}
		return OfferedPoint{Offered: x, Achieved: a, LatencyUs: lat}
	}
}

func TestSearch(t *testing.T) {
	tests := []struct {
		name      string
		srv       func(float64) OfferedPoint
		s         Search
		c         KneeCriteria
		knee      float64 // the true knee
		why       string
		maxSteps  int
		saturated bool
	}{
		// Points hold while achieved ≥ 97% of offered: up to 137/0.97.
		{"throughput knee", server(137), Search{Start: 10}, KneeCriteria{}, 137 / DefaultFollowRatio, "bracketed", 10, true},
		// 1000/(1−x/137) = 10,000 at x = 123.3.
		{"latency knee", server(137), Search{Start: 10, Resolution: 0.02}, KneeCriteria{LatencyBoundUs: 10000}, 137 * 0.9, "bracketed", 12, true},
		{"rate limit", server(1e6), Search{Start: 10, MaxRate: 100}, KneeCriteria{}, 0, "rate limit", 6, false},
		{"step limit", server(1e9), Search{Start: 1, MaxSteps: 5}, KneeCriteria{}, 0, "step limit", 5, false},
		{"start above the knee steps down", server(20), Search{Start: 200}, KneeCriteria{}, 20 / DefaultFollowRatio, "bracketed", 12, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pts []OfferedPoint
			var why string
			for {
				r, done, w := tc.s.Next(pts, tc.c)
				if done {
					why = w
					break
				}
				if len(pts) > 40 {
					t.Fatal("the search does not end")
				}
				pts = append(pts, tc.srv(r))
			}
			if !strings.Contains(why, tc.why) || len(pts) > tc.maxSteps {
				t.Errorf("ended after %d runs (at most %d): %q, want %q", len(pts), tc.maxSteps, why, tc.why)
			}
			k := DetectKnee(pts, tc.c)
			if k.Saturated != tc.saturated {
				t.Fatalf("saturated %v: %s", k.Saturated, k.Sentence)
			}
			if tc.saturated {
				res := tc.s.withDefaults().Resolution
				if k.MaxHeld > tc.knee || k.FirstFailed < tc.knee || k.FirstFailed > k.MaxHeld*(1+res)+1e-9 {
					t.Errorf("bracket %g..%g does not hold the knee %g within %g%%", k.MaxHeld, k.FirstFailed, tc.knee, 100*res)
				}
			}
			t.Logf("%d runs: %s; %s", len(pts), why, k.Sentence)
		})
	}
	// A generator that cannot drive more than 50/s ends the search there
	// instead of blaming the server.
	gen := func(x float64) OfferedPoint {
		p := server(1000)(x)
		p.GeneratorInvalid = x > 50
		return p
	}
	var pts []OfferedPoint
	s := Search{Start: 10}
	for range 20 {
		r, done, why := s.Next(pts, KneeCriteria{})
		if done {
			if !strings.Contains(why, "load generator") {
				t.Errorf("ended: %q, want the generator named", why)
			}
			break
		}
		pts = append(pts, gen(r))
	}
	if k := DetectKnee(pts, KneeCriteria{}); k.Saturated || k.MaxHeld > 50 || k.MaxHeld < 50/(1+DefaultSearchResolution) {
		t.Errorf("generator-limited search: %s (held %g)", k.Sentence, k.MaxHeld)
	}
}
