package reports

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Snapshot is the state of a run shown by the live progress line.
type Snapshot struct {
	Elapsed           time.Duration
	Phase             string
	UsersOnline       int
	UsersPlanned      int
	PostsPerSec       float64
	DeliveriesPerSec  float64
	Deliveries        int64 // received since the start
	P99PostToDelivery time.Duration
	Errors            int64
	Dropped           int64
	Violations        int64
}

// Progress prints live progress lines. On a terminal it redraws one status
// line in place (carriage return and clear line); elsewhere it prints one
// line per Update. It is safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total time.Duration
	drawn bool // a status line is on screen (tty)
}

// NewProgress returns a Progress writing to w; tty says whether w is a
// terminal, total is the planned duration of the run (0 if unknown).
func NewProgress(w io.Writer, tty bool, total time.Duration) *Progress {
	return &Progress{w: w, tty: tty, total: total}
}

// Update shows s. Write errors are ignored: progress is best effort.
func (p *Progress) Update(s Snapshot) {
	line := p.format(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[2K"+line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Done ends the status line, so that what follows starts on a new line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *Progress) format(s Snapshot) string {
	var b strings.Builder
	b.WriteString(clock(s.Elapsed))
	if p.total > 0 {
		b.WriteString("/" + clock(p.total))
	}
	if s.Phase != "" {
		b.WriteString(" " + s.Phase)
	}
	fmt.Fprintf(&b, "  users %s/%s", FormatCount(int64(s.UsersOnline)), FormatCount(int64(s.UsersPlanned)))
	fmt.Fprintf(&b, "  posts %.1f/s  deliveries %s/s", s.PostsPerSec, FormatCount(int64(s.DeliveriesPerSec+0.5)))
	fmt.Fprintf(&b, "  p99 delivery %s", FormatMicros(float64(s.P99PostToDelivery.Microseconds())))
	fmt.Fprintf(&b, "  errors %s  dropped %s  violations %s", FormatCount(s.Errors), FormatCount(s.Dropped), FormatCount(s.Violations))
	return b.String()
}

// clock renders a duration as [h:]mm:ss.
func clock(d time.Duration) string {
	sec := int64(d.Round(time.Second) / time.Second)
	if sec < 0 {
		sec = 0
	}
	if h := sec / 3600; h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/60, sec%60)
}
