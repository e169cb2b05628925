package coordinate

import (
	"math/rand/v2"
	"testing"
	"time"
)

// exchange simulates one exchange starting at coordinator time at, with a
// shard whose clock reads offset less than the coordinator's, a request
// leg of up, a coordinator pause of hold and an answer leg of down.
func exchange(at time.Time, offset, up, hold, down time.Duration) Sample {
	t0 := at.Add(-offset) // shard clock
	t1 := at.Add(up)      // coordinator clock
	t2 := t1.Add(hold)
	t3 := t2.Add(down).Add(-offset)
	return Sample{T0: t0, T1: t1, T2: t2, T3: t3}
}

func TestSampleSymmetricIsExact(t *testing.T) {
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s := exchange(base, 1500*time.Millisecond, 3*time.Millisecond, 40*time.Microsecond, 3*time.Millisecond)
	if got := s.Offset(); got != 1500*time.Millisecond {
		t.Errorf("offset %v, want 1.5s", got)
	}
	if got := s.RTT(); got != 6*time.Millisecond {
		t.Errorf("rtt %v, want 6ms (the coordinator's pause excluded)", got)
	}
}

func TestEstimateKeepsLeastRoundTrip(t *testing.T) {
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	off := -250 * time.Millisecond
	samples := []Sample{
		exchange(base, off, 9*time.Millisecond, 0, 1*time.Millisecond),                      // rtt 10ms, error +4ms
		exchange(base.Add(time.Second), off, 300*time.Microsecond, 0, 500*time.Microsecond), // rtt 0.8ms, error −0.1ms
		exchange(base.Add(2*time.Second), off, 2*time.Millisecond, 0, 7*time.Millisecond),   // rtt 9ms
		{T0: base, T1: base, T2: base, T3: base.Add(-time.Millisecond)},                     // negative rtt: skipped
	}
	got, err := Estimate(samples)
	if err != nil {
		t.Fatal(err)
	}
	if got.RTT != 800*time.Microsecond || got.Uncertainty != 400*time.Microsecond || got.Samples != 4 {
		t.Errorf("kept rtt %v uncertainty %v samples %d, want 800µs, 400µs, 4", got.RTT, got.Uncertainty, got.Samples)
	}
	if got.Offset != off-100*time.Microsecond {
		t.Errorf("offset %v, want %v", got.Offset, off-100*time.Microsecond)
	}
	if _, err := Estimate(samples[3:]); err == nil {
		t.Error("only a negative round trip: want an error")
	}
}

// The true offset is always within the estimate ± uncertainty, whatever
// the asymmetry of the legs.
func TestUncertaintyBoundsTheError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for i := range 10000 {
		off := time.Duration(r.Int64N(int64(20*time.Second))) - 10*time.Second
		var samples []Sample
		for j := range 1 + r.IntN(8) {
			up := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
			down := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
			hold := time.Duration(r.Int64N(int64(time.Millisecond)))
			samples = append(samples, exchange(base.Add(time.Duration(j)*time.Second), off, up, hold, down))
		}
		got, err := Estimate(samples)
		if err != nil {
			t.Fatal(err)
		}
		if d := (got.Offset - off).Abs(); d > got.Uncertainty {
			t.Fatalf("case %d: estimate %v, true %v: error %v beyond the uncertainty %v", i, got.Offset, off, d, got.Uncertainty)
		}
	}
}

func TestOffsetConversions(t *testing.T) {
	o := Offset{Offset: 2 * time.Second}
	shard := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if c := o.ToCoordinator(shard); !c.Equal(shard.Add(2 * time.Second)) {
		t.Errorf("ToCoordinator %v", c)
	}
	if back := o.FromCoordinator(o.ToCoordinator(shard)); !back.Equal(shard) {
		t.Errorf("round trip %v", back)
	}
}
