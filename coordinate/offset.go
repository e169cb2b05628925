package coordinate

import (
	"errors"
	"fmt"
	"time"
)

// Sample is one NTP-style exchange between a shard and the coordinator:
// T0 the shard's clock when it sent the request, T1 the coordinator's clock
// when the request arrived, T2 the coordinator's clock when it answered,
// T3 the shard's clock when the answer arrived.
type Sample struct {
	T0, T1, T2, T3 time.Time
}

// RTT is the exchange's round trip without the coordinator's own time:
// (T3 − T0) − (T2 − T1).
func (s Sample) RTT() time.Duration { return s.T3.Sub(s.T0) - s.T2.Sub(s.T1) }

// Offset is the coordinator's clock minus the shard's, estimated from the
// sample as ((T1 − T0) + (T2 − T3)) / 2: exact when the request and the
// answer took equally long, wrong by at most half the round trip otherwise.
func (s Sample) Offset() time.Duration { return (s.T1.Sub(s.T0) + s.T2.Sub(s.T3)) / 2 }

// Offset is a shard's clock offset as measured by repeated exchanges.
type Offset struct {
	// Offset is the coordinator's clock minus the shard's: a time read on
	// the shard plus Offset is the same instant on the coordinator's clock.
	Offset time.Duration `json:"offset_ns"`
	// Uncertainty bounds the error: the true offset lies within
	// Offset ± Uncertainty. It is half the round trip of the sample kept
	// (whatever the asymmetry of the path, each leg took at least 0 and
	// at most the whole round trip).
	Uncertainty time.Duration `json:"uncertainty_ns"`
	// RTT is the round trip of the sample kept, the least of all.
	RTT time.Duration `json:"rtt_ns"`
	// Samples is how many exchanges were made.
	Samples int `json:"samples"`
	// At is when the kept sample was taken, on the coordinator's clock.
	At time.Time `json:"at"`
}

// ToCoordinator converts a time read on the shard's clock to the
// coordinator's clock.
func (o Offset) ToCoordinator(t time.Time) time.Time { return t.Add(o.Offset) }

// FromCoordinator converts a time on the coordinator's clock to the
// shard's clock.
func (o Offset) FromCoordinator(t time.Time) time.Time { return t.Add(-o.Offset) }

func (o Offset) String() string {
	return fmt.Sprintf("%+v ± %v (rtt %v, %d samples)", o.Offset, o.Uncertainty, o.RTT, o.Samples)
}

// errNoSample is returned by Estimate without a usable sample.
var errNoSample = errors.New("coordinate: no clock sample with a non-negative round trip")

// Estimate keeps the sample with the least round trip (the one whose
// legs were least delayed by queues) and returns its offset, with half
// its round trip as the uncertainty. Samples with a negative round trip
// (a clock stepped during the exchange) are skipped.
func Estimate(samples []Sample) (Offset, error) {
	best := bestSample(samples)
	if best < 0 {
		return Offset{}, errNoSample
	}
	s := samples[best]
	rtt := s.RTT()
	return Offset{Offset: s.Offset(), Uncertainty: (rtt + 1) / 2, RTT: rtt, Samples: len(samples), At: s.T2}, nil
}

// bestSample returns the index of the sample with the least non-negative
// round trip, or -1.
func bestSample(samples []Sample) int {
	best := -1
	for i, s := range samples {
		if s.RTT() < 0 {
			continue
		}
		if best < 0 || s.RTT() < samples[best].RTT() {
			best = i
		}
	}
	return best
}
