package sipnet

import (
	"net"
	"slices"
	"testing"
	"time"
)

// BenchmarkLoopbackAfterIdle is this machine's floor for a light load's
// latency, with no SIP in it: a plain TCP echo on loopback, one byte each
// way after 20 ms idle (as a generator at a few posts per second is
// between posts), timed from the write's start. After idling, the write
// (which on loopback wakes the reader) and the wake-up of the reading
// side each cost tens to hundreds of microseconds on a virtual machine,
// against a few when busy: what a light load's latency cannot get under
// on this machine, for gcload or any other client. write-p50-µs is the
// write alone, rtt-p50-µs and rtt-p99-µs the round trip.
func BenchmarkLoopbackAfterIdle(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 16)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 16)
	var write, rtt []float64
	for b.Loop() {
		time.Sleep(20 * time.Millisecond) // the idle gap is what is measured after
		t := time.Now()
		if _, err := c.Write([]byte{'x'}); err != nil {
			b.Fatal(err)
		}
		w := time.Since(t)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		write = append(write, float64(w.Microseconds()))
		rtt = append(rtt, float64(time.Since(t).Microseconds()))
	}
	c.Close()
	<-done
	slices.Sort(write)
	slices.Sort(rtt)
	b.ReportMetric(write[len(write)/2], "write-p50-µs")
	b.ReportMetric(rtt[len(rtt)/2], "rtt-p50-µs")
	b.ReportMetric(rtt[len(rtt)*99/100], "rtt-p99-µs")
}
