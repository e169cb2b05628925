package capacity

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// roomTruths are CPU per post (µs) against room size, one per form.
var roomTruths = map[RoomModelKind]func(k float64) float64{
	RoomLinear:    func(k float64) float64 { return 1000 + 3*k },
	RoomBatching:  func(k float64) float64 { return 1000 + 3*k/(1+k/500) },
	RoomLog:       func(k float64) float64 { return 600 + 1.5*k + 150*math.Log(k) },
	RoomPiecewise: func(k float64) float64 { return 1000 + 4*k - 2.5*math.Max(0, k-300) },
}

// roomRuns measures a truth at each size three times with relative noise.
func roomRuns(truth func(float64) float64, sizes []float64, noise float64, r *rand.Rand) (x, y, s []float64) {
	for _, k := range sizes {
		for range 3 {
			x = append(x, k)
			y = append(y, truth(k)*(1+noise*r.NormFloat64()))
			s = append(s, k)
		}
	}
	return x, y, s
}

func TestFitRoomExact(t *testing.T) {
	sizes := []float64{10, 30, 150, 1000, 4000, 16000}
	for kind, truth := range roomTruths {
		x, y, _ := roomRuns(truth, sizes, 0, rand.New(rand.NewPCG(1, 1)))
		f, err := FitRoom(kind, x, y)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for _, k := range []float64{10, 70, 300, 2000, 16000} {
			if got := f.At(k); !near(got, truth(k), 0.02) {
				t.Errorf("%s (%s): at %g %g, want %g", kind, f.Formula(), k, got, truth(k))
			}
		}
		if post, fan := f.Split(1000); !near(post+fan, f.At(1000), 1e-9) || post < 0 || fan < 0 {
			t.Errorf("%s: split %g + %g of %g", kind, post, fan, f.At(1000))
		}
	}
	if _, err := FitRoom(RoomLog, []float64{10, 30}, []float64{1, 2}); err == nil || !strings.Contains(err.Error(), "3 distinct room sizes") {
		t.Errorf("log form on 2 sizes: %v", err)
	}
	if _, err := FitRoom(RoomLinear, []float64{10, -30}, []float64{1, 2}); err == nil {
		t.Error("a negative room size: no error")
	}
}

// TestSelectRoomModel generates sweeps from each form with 3% noise:
// cross-validation must choose the form that made them (the linear one,
// the simplest, when the data are straight), and its error must be near
// the noise.
func TestSelectRoomModel(t *testing.T) {
	sizes := []float64{10, 30, 150, 1000, 4000, 16000}
	r := rand.New(rand.NewPCG(7, 8))
	for _, kind := range RoomModelKinds {
		t.Run(string(kind), func(t *testing.T) {
			const trials = 10
			right := 0
			for range trials {
				x, y, s := roomRuns(roomTruths[kind], sizes, 0.03, r)
				rm, err := SelectRoomModel(x, y, s)
				if err != nil {
					t.Fatal(err)
				}
				if !rm.CrossValidated || len(rm.Candidates) != len(RoomModelKinds) {
					t.Fatalf("not cross-validated: %s", rm.Sentence)
				}
				if rm.Chosen == kind {
					right++
				}
				// Whatever was chosen predicts every held-out size
				// well, bar the extrapolation to the largest.
				if cv := float64(rm.CVError); cv > 0.15 {
					t.Errorf("chosen %s with cross-validation error %.1f%%: %s", rm.Chosen, 100*cv, rm.Sentence)
				}
			}
			if right < trials*7/10 {
				t.Errorf("chose %s in %d of %d sweeps", kind, right, trials)
			}
			t.Logf("%s chosen in %d of %d sweeps", kind, right, trials)
		})
	}
}

func TestSelectRoomModelFewSizes(t *testing.T) {
	rm, err := SelectRoomModel([]float64{10, 10, 150, 150}, []float64{1030, 1032, 1450, 1449}, []float64{10, 10, 150, 150})
	if err != nil {
		t.Fatal(err)
	}
	if rm.CrossValidated || rm.Chosen != RoomLinear || !strings.Contains(rm.Sentence, "not cross-validated") {
		t.Errorf("two sizes: %+v", rm)
	}
	if _, err := json.Marshal(rm); err != nil {
		t.Errorf("JSON of an uncross-validated model: %v", err)
	}
	if _, err := SelectRoomModel([]float64{10, 10}, []float64{1, 1}, []float64{10, 10}); err == nil {
		t.Error("one size: no error")
	}
}

// TestSelectRoomModelCalibration runs the selection on a real full sweep
// (testdata/calibration-full.json: gcload calibrate on a shared 2-vCPU
// VM, rooms of 10, 30, 150 and 1,000): every form is cross-validated and
// the chosen one does no worse than the best by more than the
// tolerance.
func TestSelectRoomModelCalibration(t *testing.T) {
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	var x, y, s []float64
	for _, m := range cal.Measurements {
		x, y, s = append(x, m.FanOut()), append(y, m.CPUPerPostUs()), append(s, math.Round(m.MeanRoomSize()))
	}
	rm, err := SelectRoomModel(x, y, s)
	if err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	for _, c := range rm.Candidates {
		if math.IsNaN(float64(c.CVError)) || len(c.CVBySize) != 4 {
			t.Errorf("%s not cross-validated at 4 sizes: %s", c.Kind, c.Note)
		}
		best = math.Min(best, float64(c.CVError))
	}
	if cv := float64(rm.CVError); cv > math.Max(best*(1+cvTolerance), best+cvToleranceAbs) {
		t.Errorf("chosen %s at %.3f, best %.3f", rm.Chosen, cv, best)
	}
	t.Log(rm.Sentence)
}
