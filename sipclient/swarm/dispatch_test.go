package swarm

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkDispatchLag measures how late the dispatcher wakes for an
// operation's intended time, which a light load sees as sched_lag and
// adds to every response time: the runtime's timer alone (which fires up
// to a millisecond late when the process is idle) against sleepUntil (the
// timer, then nanosleep on a thread with 1 ns timer slack, and with spin
// the last spinWait checking the clock). One op is one
// wait of 3 to 9 ms; p50-µs and p99-µs are the lateness.
func BenchmarkDispatchLag(b *testing.B) {
	waits := func(b *testing.B, wait func(ctx context.Context, timer *time.Timer, due time.Time)) {
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		lag := make([]float64, 0, b.N)
		for i := 0; b.Loop(); i++ {
			due := time.Now().Add(time.Duration(3+i%7) * time.Millisecond)
			wait(context.Background(), timer, due)
			lag = append(lag, float64(time.Since(due).Microseconds()))
		}
		slices.Sort(lag)
		b.ReportMetric(lag[len(lag)/2], "p50-µs")
		b.ReportMetric(lag[len(lag)*99/100], "p99-µs")
	}
	b.Run("runtime-timer", func(b *testing.B) {
		waits(b, func(ctx context.Context, timer *time.Timer, due time.Time) {
			timer.Reset(time.Until(due))
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		})
	})
	b.Run("sleepUntil", func(b *testing.B) {
		waits(b, func(ctx context.Context, timer *time.Timer, due time.Time) { sleepUntil(ctx, timer, due, true, false) })
	})
	b.Run("sleepUntil-spin", func(b *testing.B) {
		waits(b, func(ctx context.Context, timer *time.Timer, due time.Time) { sleepUntil(ctx, timer, due, true, true) })
	})
}

// TestSleepUntilStopsOnCancel: a cancelled context ends the wait.
func TestSleepUntilStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	done := make(chan bool)
	go func() { done <- sleepUntil(ctx, timer, time.Now().Add(time.Hour), true, true) }()
	cancel()
	if <-done {
		t.Fatal("sleepUntil reported the time reached after its context was cancelled")
	}
	if !sleepUntil(context.Background(), timer, time.Now().Add(time.Millisecond), true, true) {
		t.Fatal("sleepUntil did not reach a time 1 ms away")
	}
}
