package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func progressSnapshots() []Snapshot {
	return []Snapshot{
		{Elapsed: 5 * time.Second, Phase: "ramp", UsersOnline: 1200, UsersPlanned: 60000},
		{Elapsed: 65 * time.Second, Phase: "steady", UsersOnline: 59990, UsersPlanned: 60000, PostsPerSec: 40.04,
			DeliveriesPerSec: 39987.6, P99PostToDelivery: 212300 * time.Microsecond, HasP99: true, Errors: 3, Dropped: 1, Violations: 0},
	}
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, 10*time.Minute, 0)
	for _, s := range progressSnapshots() {
		p.Update(s)
	}
	p.Done()
	want := "00:05/10:00 ramp  users 1,200/60,000  posts 0.0/s  deliveries 0/s  p99 delivery –  errors 0  dropped 0  violations 0\n" +
		"01:05/10:00 steady  users 59,990/60,000  posts 40.0/s  deliveries 39,988/s  p99 delivery 212.3ms  errors 3  dropped 1  violations 0\n"
	if b.String() != want {
		t.Errorf("progress output:\n%q\nwant\n%q", b.String(), want)
	}
}

// TestProgressTTY: on a terminal every redraw fits its width (a wrapped
// line leaves fragments the clear-line cannot reach): shorter labels,
// then two lines, each cut to the width.
func TestProgressTTY(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, 0, 90)
	s := progressSnapshots()
	p.Update(s[0])
	p.Update(s[1])
	p.Done()
	p.Done() // a second Done writes nothing
	want := "\r\x1b[2K00:05 ramp  users 1,200/60,000  posts 0.0/s  deliv 0/s  p99 –  err 0  drop 0  viol 0" +
		"\r\x1b[2K01:05 steady  users 59,990/60,000  posts 40.0/s  deliv 39,988/s  p99 212.3ms\n\r\x1b[2K  err 3  drop 1  viol 0\n"
	if b.String() != want {
		t.Errorf("progress output:\n%q\nwant\n%q", b.String(), want)
	}
	for _, width := range []int{30, 60, 80, 100, 132} {
		b.Reset()
		p := NewProgress(&b, true, 32*time.Second, width)
		for _, s := range progressSnapshots() {
			p.Update(s)
		}
		for _, line := range strings.Split(b.String(), "\r\x1b[2K") {
			line = strings.NewReplacer("\n", "", "\x1b[1A", "").Replace(line)
			if n := utf8.RuneCountInString(line); n >= width {
				t.Errorf("width %d: a %d-column line: %q", width, n, line)
			}
		}
	}
}

// TestProgressDrain: past the planned duration the run's clock stops and
// the drain counts apart.
func TestProgressDrain(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, 32*time.Second, 0)
	p.Update(Snapshot{Elapsed: 35 * time.Second, Phase: "drain", UsersOnline: 50, UsersPlanned: 50})
	if got := b.String(); !strings.HasPrefix(got, "00:32/00:32 drain +00:03  users 50/50") {
		t.Errorf("drain: %q", got)
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "00:00", 59499 * time.Millisecond: "00:59", time.Hour + 61*time.Second: "1:01:01", -time.Second: "00:00"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}
