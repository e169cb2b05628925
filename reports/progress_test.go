package reports

import (
	"bytes"
	"testing"
	"time"
)

func progressSnapshots() []Snapshot {
	return []Snapshot{
		{Elapsed: 5 * time.Second, Phase: "ramp", UsersOnline: 1200, UsersPlanned: 60000},
		{Elapsed: 65 * time.Second, Phase: "steady", UsersOnline: 59990, UsersPlanned: 60000, PostsPerSec: 40.04,
			DeliveriesPerSec: 39987.6, P99PostToDelivery: 212300 * time.Microsecond, Errors: 3, Dropped: 1, Violations: 0},
	}
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, 10*time.Minute)
	for _, s := range progressSnapshots() {
		p.Update(s)
	}
	p.Done()
	want := "00:05/10:00 ramp  users 1,200/60,000  posts 0.0/s  deliveries 0/s  p99 delivery 0µs  errors 0  dropped 0  violations 0\n" +
		"01:05/10:00 steady  users 59,990/60,000  posts 40.0/s  deliveries 39,988/s  p99 delivery 212.3ms  errors 3  dropped 1  violations 0\n"
	if b.String() != want {
		t.Errorf("progress output:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestProgressTTY(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, 0)
	s := progressSnapshots()
	p.Update(s[0])
	p.Update(s[1])
	p.Done()
	p.Done() // a second Done writes nothing
	want := "\r\x1b[2K00:05 ramp  users 1,200/60,000  posts 0.0/s  deliveries 0/s  p99 delivery 0µs  errors 0  dropped 0  violations 0" +
		"\r\x1b[2K01:05 steady  users 59,990/60,000  posts 40.0/s  deliveries 39,988/s  p99 delivery 212.3ms  errors 3  dropped 1  violations 0\n"
	if b.String() != want {
		t.Errorf("progress output:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "00:00", 59499 * time.Millisecond: "00:59", time.Hour + 61*time.Second: "1:01:01", -time.Second: "00:00"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}
