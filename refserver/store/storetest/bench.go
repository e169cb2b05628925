package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gcload/gcload/refserver/store"
)

// BenchAppend measures group commit: inflight posters, each in a room of
// its own, append a post and wait for its acknowledgement before the next
// one (a closed loop, as clients waiting for their 200), b.N posts in all.
// It reports posts/s, posts per commit and the acknowledgement latency
// (Append to done) p50 and p99 in microseconds.
func BenchAppend(b *testing.B, s store.Store, inflight int) {
	ctx := context.Background()
	for w := 0; w < inflight; w++ {
		if err := s.PutRoom(ctx, store.Room{ID: fmt.Sprintf("bench%d", w), Name: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	text := "a post of about the size of a chat line, eighty characters long, give or take."
	lat := hdrhistogram.New(1, 60_000_000, 3)
	var mu sync.Mutex
	var failed error
	before := s.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < inflight; w++ {
		n := b.N / inflight
		if w < b.N%inflight {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("bench%d", w)
			done := make(chan error, 1)
			for i := 1; i <= n; i++ {
				t0 := time.Now()
				err := appendRetry(s, store.Message{RoomID: room, Seq: uint64(i), Author: "sip:bench@d", TS: t0, Text: text}, func(err error) { done <- err })
				if err == nil {
					err = <-done
				}
				us := time.Since(t0).Microseconds()
				mu.Lock()
				_ = lat.RecordValue(us)
				if err != nil && failed == nil {
					failed = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	after := s.Stats()
	posts, commits := after.Appended-before.Appended, after.Commits-before.Commits
	b.ReportMetric(float64(posts)/elapsed.Seconds(), "posts/s")
	if commits > 0 {
		b.ReportMetric(float64(posts)/float64(commits), "posts/commit")
	}
	b.ReportMetric(float64(lat.ValueAtQuantile(50)), "ack-p50-µs")
	b.ReportMetric(float64(lat.ValueAtQuantile(99)), "ack-p99-µs")
}
