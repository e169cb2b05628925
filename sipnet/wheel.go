package sipnet

import (
	"sync"
	"sync/atomic"
	"time"
)

// wheel is a hashed timing wheel: one goroutine, O(1) schedule and cancel,
// no runtime timer per transaction. Callbacks run on the wheel goroutine and
// must be quick.
type wheel struct {
	mu    sync.Mutex
	tick  time.Duration
	slots []timerEntry // sentinel heads of circular lists
	cur   int          // slot that fires next
	now   time.Time    // start of the span of the slot that fires next
	stop  chan struct{}
	done  chan struct{}
	// coarse is the time of the last tick (unix ns), read without a lock
	// where a tick's precision is enough
	coarse atomic.Int64
}

type timerEntry struct {
	prev, next *timerEntry
	when       time.Time
	fire       func()
	linked     bool
}

func newWheel(tick time.Duration, nslots int) *wheel {
	w := &wheel{tick: tick, slots: make([]timerEntry, nslots), now: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range w.slots {
		h := &w.slots[i]
		h.prev, h.next = h, h
	}
	w.coarse.Store(w.now.UnixNano())
	go w.run()
	return w
}

// schedule arms e to call f after d; a previously armed e is moved.
func (w *wheel) schedule(e *timerEntry, d time.Duration, f func()) {
	w.mu.Lock()
	if e.linked {
		e.unlink()
	}
	e.when = time.Now().Add(d)
	e.fire = f
	ticks := int(e.when.Sub(w.now) / w.tick)
	if ticks < 0 {
		ticks = 0
	}
	h := &w.slots[(w.cur+ticks)%len(w.slots)]
	e.prev, e.next = h.prev, h
	h.prev.next = e
	h.prev = e
	e.linked = true
	w.mu.Unlock()
}

// cancel disarms e; it reports whether e was armed.
func (w *wheel) cancel(e *timerEntry) bool {
	w.mu.Lock()
	was := e.linked
	if was {
		e.unlink()
	}
	w.mu.Unlock()
	return was
}

func (e *timerEntry) unlink() {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	e.linked = false
}

func (w *wheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var due []func()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			w.coarse.Store(now.UnixNano())
			w.mu.Lock()
			// A slot is due once its whole span has passed, so every
			// entry in it is due (entries a revolution ahead stay).
			for !w.now.Add(w.tick).After(now) {
				h := &w.slots[w.cur]
				for e := h.next; e != h; {
					next := e.next
					if !e.when.After(now) {
						e.unlink()
						due = append(due, e.fire)
					}
					e = next
				}
				w.cur = (w.cur + 1) % len(w.slots)
				w.now = w.now.Add(w.tick)
			}
			w.mu.Unlock()
			for i, f := range due {
				f()
				due[i] = nil
			}
			due = due[:0]
		}
	}
}

func (w *wheel) close() {
	close(w.stop)
	<-w.done
}

// clock returns the time of the wheel's last tick in unix nanoseconds: the
// current time within one tick, for one atomic load.
func (w *wheel) clock() int64 { return w.coarse.Load() }
