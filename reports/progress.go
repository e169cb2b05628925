package reports

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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
	// HasP99: the interval had deliveries (else P99PostToDelivery means
	// nothing and shows as "–").
	HasP99     bool
	Errors     int64
	Dropped    int64
	Violations int64
}

// Progress prints live progress lines. On a terminal it redraws its
// status in place (cursor up, carriage return, clear line), never wider
// than the terminal (a wrapped line would leave fragments behind): one
// line when it fits, with shorter labels if need be, else two (the
// counters on the second); elsewhere it prints one line per Update. It is
// safe for concurrent use.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total time.Duration
	width int
	drawn int // lines of status on screen (tty)
}

// DefaultWidth is the terminal width assumed when it is not known.
const DefaultWidth = 80

// NewProgress returns a Progress writing to w; tty says whether w is a
// terminal, total is the planned duration of the run (0 if unknown),
// width the terminal's width in columns (0: DefaultWidth).
func NewProgress(w io.Writer, tty bool, total time.Duration, width int) *Progress {
	if width <= 0 {
		width = DefaultWidth
	}
	return &Progress{w: w, tty: tty, total: total, width: width}
}

// Update shows s. Write errors are ignored: progress is best effort.
func (p *Progress) Update(s Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintln(p.w, p.line(s, false, 0))
		return
	}
	max := p.width - 1
	lines := []string{p.line(s, false, 0)}
	if n := utf8.RuneCountInString(lines[0]); n > max {
		lines = []string{p.line(s, true, 0)}
	}
	if n := utf8.RuneCountInString(lines[0]); n > max {
		lines = []string{cut(p.line(s, true, 1), max), cut(p.line(s, true, 2), max)}
	}
	var b strings.Builder
	if p.drawn > 1 {
		b.WriteString(strings.Repeat("\x1b[1A", p.drawn-1))
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("\r\x1b[2K" + l)
	}
	if p.drawn > len(lines) {
		b.WriteString("\n\r\x1b[2K\x1b[1A") // clear the second line left from before
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = max2(p.drawn, len(lines))
	if len(lines) == 1 && p.drawn == 2 {
		p.drawn = 1
	}
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// cut shortens s to at most n columns, marking the cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Done ends the status line, so that what follows starts on a new line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn > 0 {
		fmt.Fprintln(p.w)
		p.drawn = 0
	}
}

// line renders s: part 0 all of it, 1 the clock and the rates, 2 the
// counters; short uses the short labels.
func (p *Progress) line(s Snapshot, short bool, part int) string {
	var head string
	switch {
	case p.total > 0 && s.Elapsed > p.total:
		// the drain: the run's clock stops at its end
		head = clock(p.total) + "/" + clock(p.total) + " drain +" + clock(s.Elapsed-p.total)
	case p.total > 0:
		head = clock(s.Elapsed) + "/" + clock(p.total)
	default:
		head = clock(s.Elapsed)
	}
	if s.Phase != "" && s.Phase != "drain" && !(p.total > 0 && s.Elapsed > p.total) {
		head += " " + s.Phase
	}
	p99 := "–"
	if s.HasP99 {
		p99 = FormatMicros(float64(s.P99PostToDelivery.Microseconds()))
	}
	label := func(long, brief string) string {
		if short {
			return brief
		}
		return long
	}
	deliv := FormatCount(int64(s.DeliveriesPerSec+0.5)) + "/s"
	rates := []string{head,
		"users " + FormatCount(int64(s.UsersOnline)) + "/" + FormatCount(int64(s.UsersPlanned)),
		fmt.Sprintf("posts %.1f/s", s.PostsPerSec),
		label("deliveries ", "deliv ") + deliv,
		label("p99 delivery ", "p99 ") + p99,
	}
	counters := []string{
		label("errors ", "err ") + FormatCount(s.Errors),
		label("dropped ", "drop ") + FormatCount(s.Dropped),
		label("violations ", "viol ") + FormatCount(s.Violations),
	}
	switch part {
	case 1:
		return strings.Join(rates, "  ")
	case 2:
		return "  " + strings.Join(counters, "  ")
	}
	return strings.Join(append(rates, counters...), "  ")
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
