package promexp

import (
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// geometry.width agrees with HdrHistogram's own notion of equivalent
// values: the bucket starting at v holds v..v+width-1 and no more.
func TestGeometryWidth(t *testing.T) {
	for _, c := range []struct {
		lowest, highest int64
		digits          int
	}{{1, 3_600_000_000, 3}, {1000, 1_000_000_000_000, 2}, {1, 1_000_000, 1}, {7, 1 << 40, 4}} {
		h := hdrhistogram.New(c.lowest, c.highest, c.digits)
		g := newGeometry(c.lowest, c.digits)
		for v := int64(0); v < c.highest/2; v = v*5/4 + 1 {
			// the start of v's bucket: record it in a sparse histogram
			p := hdrhistogram.NewPacked(c.lowest, c.highest, c.digits)
			if err := p.RecordValue(v); err != nil {
				t.Fatal(err)
			}
			var from int64
			for f := range p.ForEachBucket {
				from = f
			}
			w := g.width(from)
			if !h.ValuesAreEquivalent(from, from+w-1) || h.ValuesAreEquivalent(from, from+w) || !h.ValuesAreEquivalent(from, v) {
				t.Fatalf("geometry %+v: bucket of %d starts at %d, width %d is wrong", c, v, from, w)
			}
		}
	}
}
