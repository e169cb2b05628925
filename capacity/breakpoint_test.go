package capacity

import (
	"context"
	"math"
	"strings"
	"testing"
)

// synthServer is a server whose throughput tops out at capacity posts/s,
// driven by a generator that cannot offer more than genMax (0: no limit).
func synthServer(capacity, genMax float64, ran *[]float64) func(context.Context, int, float64) (SearchStep, error) {
	return func(_ context.Context, _ int, rate float64) (SearchStep, error) {
		*ran = append(*ran, rate)
		if genMax > 0 && rate > genMax {
			return SearchStep{Point: OfferedPoint{Offered: rate, Achieved: genMax, GeneratorInvalid: true}, Verdict: "invalid",
				Reasons: []string{"invalid run: generator CPU saturated"}}, nil
		}
		return SearchStep{Point: OfferedPoint{Offered: rate, Achieved: math.Min(rate, capacity)},
			Utilization: map[string]float64{"cpu": math.Min(rate/capacity, 1), "disk": 0.1}}, nil
	}
}

func TestFindBreakpoint(t *testing.T) {
	var ran []float64
	b, err := FindBreakpoint(context.Background(), Search{Start: 10}, KneeCriteria{}, synthServer(137, 0, &ran))
	if err != nil {
		t.Fatal(err)
	}
	if b.Outcome != OutcomeFound || b.MaxHeldRate > 137/DefaultFollowRatio || b.FirstFailedRate < 137 || b.FirstFailedRate > 1.05*b.MaxHeldRate*1.0001 ||
		math.Abs(b.SaturationThroughput-137) > 1e-9 || b.Resource != "cpu" || len(ran) > DefaultSearchSteps {
		t.Fatalf("got %+v after %v", b, ran)
	}
	if !strings.Contains(b.Sentence, "maximum found") || !strings.Contains(b.Sentence, "cpu ran out") {
		t.Errorf("sentence %q", b.Sentence)
	}
}

// TestFindBreakpointGeneratorLimited: a server that would hold 1,000/s
// behind a generator that cannot offer more than 50/s: the search stops
// at the first rate the generator could not drive and blames neither the
// server nor any of its resources.
func TestFindBreakpointGeneratorLimited(t *testing.T) {
	var ran []float64
	b, err := FindBreakpoint(context.Background(), Search{Start: 10}, KneeCriteria{}, synthServer(1000, 50, &ran))
	if err != nil {
		t.Fatal(err)
	}
	if b.Outcome != OutcomeGeneratorLimited || b.GeneratorLimitRate != 80 || b.MaxHeldRate != 40 || b.FirstFailedRate != 0 ||
		b.KneeRate != 0 || b.Resource != "" || len(b.Causes) != 0 || len(ran) != 4 {
		t.Fatalf("got %+v after %v", b, ran)
	}
	if !strings.Contains(b.Stopped, "not blamed") || !strings.Contains(b.Sentence, "generator could not drive 80/s") {
		t.Errorf("stopped %q, sentence %q", b.Stopped, b.Sentence)
	}
	// A server that fails below the generator's limit is still found.
	ran = nil
	b, _ = FindBreakpoint(context.Background(), Search{Start: 10}, KneeCriteria{}, synthServer(30, 50, &ran))
	if b.Outcome != OutcomeFound || b.FirstFailedRate > 40 {
		t.Fatalf("got %+v after %v", b, ran)
	}
}

// TestFindBreakpointStops: a run that cannot be judged (here, protocol
// violations) ends the search; a threshold failure is a failure.
func TestFindBreakpointStops(t *testing.T) {
	b, _ := FindBreakpoint(context.Background(), Search{Start: 10}, KneeCriteria{}, func(_ context.Context, i int, rate float64) (SearchStep, error) {
		if i == 2 {
			return SearchStep{Point: OfferedPoint{Offered: rate, Achieved: rate}, Stop: "protocol violations"}, nil
		}
		return SearchStep{Point: OfferedPoint{Offered: rate, Achieved: rate}}, nil
	})
	if b.Outcome != OutcomeStopped || len(b.Steps) != 3 || !strings.Contains(b.Sentence, "protocol violations") {
		t.Fatalf("got %+v", b)
	}
	b, _ = FindBreakpoint(context.Background(), Search{Start: 10}, KneeCriteria{}, func(_ context.Context, _ int, rate float64) (SearchStep, error) {
		return SearchStep{Point: OfferedPoint{Offered: rate, Achieved: rate, ThresholdFailed: rate > 25}, Utilization: map[string]float64{"cpu": 0.3}}, nil
	})
	if b.Outcome != OutcomeFound || b.Causes[0] != CauseThreshold || b.MaxHeldRate > 25 || b.FirstFailedRate <= 25 || b.Resource != "" ||
		!strings.Contains(b.Sentence, "no measured resource was at its limit") {
		t.Fatalf("got %+v", b)
	}
}
