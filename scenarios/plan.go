package scenarios

import (
	"math"
	"time"
)

// TotalSlots is the number of room memberships: the sum of size*count
// over the room classes.
func (s *Spec) TotalSlots() int {
	n := 0
	for _, c := range s.Rooms.Classes {
		n += c.Size * c.Count
	}
	return n
}

// RoomCount is the number of rooms: the sum of the classes' counts.
func (s *Spec) RoomCount() int {
	n := 0
	for _, c := range s.Rooms.Classes {
		n += c.Count
	}
	return n
}

// PhaseDurations returns how long each phase lasts. A sign-in phase with
// no duration lasts until the users not signed in by earlier phases are
// signed in at its rate (remaining/rate, rounded up to the millisecond);
// a sign-in phase with a duration signs in rate*duration users (rounded
// down) or those remaining, if fewer.
func (s *Spec) PhaseDurations() []time.Duration {
	out := make([]time.Duration, len(s.Phases))
	remaining := s.Users.Count
	for i, p := range s.Phases {
		d := p.Duration.D()
		if p.SignIn != nil {
			if d == 0 {
				d = signInTime(remaining, p.SignIn.Rate)
			}
			remaining -= signedIn(p.SignIn.Rate, p.Duration, remaining)
		}
		out[i] = d
	}
	return out
}

// TotalDuration is the sum of PhaseDurations (the drain not included).
func (s *Spec) TotalDuration() time.Duration {
	var t time.Duration
	for _, d := range s.PhaseDurations() {
		if t += d; t < 0 {
			return math.MaxInt64
		}
	}
	return t
}

// signInTime is how long signing in n users at rate r takes, rounded up to
// the millisecond.
func signInTime(n int, r Rate) time.Duration {
	rate := r.PerSecond()
	if n <= 0 || !(rate > 0) {
		return 0
	}
	ms := math.Ceil(float64(n)/rate*1000 - 1e-6)
	if ms >= float64(math.MaxInt64/int64(time.Millisecond)) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// signedIn is how many of remaining users a sign-in phase at rate r
// lasting d signs in (all of them when d is 0).
func signedIn(r Rate, d Duration, remaining int) int {
	if remaining <= 0 {
		return 0
	}
	if d <= 0 {
		return remaining
	}
	n := math.Floor(r.PerSecond()*d.D().Seconds() + 1e-9)
	if !(n < float64(remaining)) {
		return remaining
	}
	return max(int(n), 0)
}
