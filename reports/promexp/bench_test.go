package promexp

import (
	"io"
	"testing"
	"time"

	"github.com/gcload/gcload/reports"
)

// BenchmarkScrape measures one scrape of a recorder holding every known
// operation with a wide latency spread.
func BenchmarkScrape(b *testing.B) {
	rec := reports.NewRecorder(time.Now(), time.Second)
	for _, op := range reports.Ops {
		for i := range 100000 {
			rec.Record(op, time.Duration(i*37%2_000_000)*time.Microsecond)
		}
	}
	h := NewHandler(rec, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
