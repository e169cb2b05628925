package loadrun

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient/swarm"
)

// streamer hands each interval the recorder closes to the run's sinks
// (Options.Streams). The ticker only queues the intervals; one goroutine,
// which the run waits for, writes them, so that a slow reader of a
// stream never delays the run's ticks.
type streamer struct {
	sinks  []reports.IntervalSink
	rec    *reports.Recorder
	phases []reports.PhaseSummary // the plan's, for PhaseIndex
	log    *slog.Logger

	mu     sync.Mutex
	queue  []reports.IntervalRecord
	next   int  // intervals queued so far
	closed bool // no more intervals
	wake   chan struct{}
	done   chan struct{}
}

func newStreamer(sinks []reports.IntervalSink, rec *reports.Recorder, plan *swarm.Plan, log *slog.Logger) *streamer {
	s := &streamer{sinks: sinks, rec: rec, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, ph := range plan.Phases {
		s.phases = append(s.phases, reports.PhaseSummary{Name: ph.Name, StartS: ph.Start.Seconds(), Seconds: (ph.End - ph.Start).Seconds()})
	}
	go s.write()
	return s
}

// tick queues the intervals closed since the last call, from the
// ticker's progress snapshot: its interval has just closed, Elapsed after
// the run's start.
func (s *streamer) tick(snap reports.Snapshot) {
	if last, ok := s.rec.LastInterval(); ok {
		s.collect(last.End.Add(-snap.Elapsed))
	}
}

// collect queues the intervals closed since the last call; start is the
// run's start (time zero of the phases).
func (s *streamer) collect(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, iv := range s.rec.IntervalsSince(s.next) {
		phase := reports.DrainPhase
		if i := reports.PhaseIndex(s.phases, reports.Midpoint(iv, start)); i >= 0 {
			phase = s.phases[i].Name
		}
		s.queue = append(s.queue, reports.NewIntervalRecord(s.next, iv, start, phase))
		s.next++
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close queues the last intervals and waits until every one is written.
func (s *streamer) close(start time.Time) {
	s.collect(start)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
}

// write writes the queued intervals to every sink, in order. A sink that
// fails is logged once and left out from then on: the run goes on.
func (s *streamer) write() {
	defer close(s.done)
	failed := make([]bool, len(s.sinks))
	for {
		<-s.wake
		s.mu.Lock()
		batch, closed := s.queue, s.closed
		s.queue = nil
		s.mu.Unlock()
		for _, rec := range batch {
			for i, sink := range s.sinks {
				if failed[i] {
					continue
				}
				if err := sink.WriteInterval(rec); err != nil {
					failed[i] = true
					s.log.Error("interval stream failed: no more intervals are written to it", "stream", i+1, "interval", rec.Interval, "err", err)
				}
			}
		}
		if closed {
			return
		}
	}
}
