package sipnet

import (
	"testing"

	"github.com/gcload/gcload/internal/sipelog"
)

// FuzzScan feeds arbitrary bytes to the stream framer and the scanner:
// neither may panic, framing must consume within bounds, and a scanned
// request must be answerable.
func FuzzScan(f *testing.F) {
	for _, b := range sipelog.Blocks() {
		f.Add(b.Msg)
	}
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("INFO sip:a SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\ni: c\r\nf: <sip:a@b>;tag=1\r\nt: sip:b@c\r\nCSeq: 1 INFO\r\nl: 3\r\n\r\nabc"))
	f.Add([]byte("SIP/2.0 200 OK\nVia: SIP/2.0/TCP x\nCall-ID: y\nFrom: a;tag=1\nTo: b\nCSeq: 9 INFO\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skip, n, err := frame(b, 4096)
		if skip+n > len(b) || skip < 0 || n < 0 {
			t.Fatalf("frame out of bounds: skip %d n %d of %d", skip, n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		m, err := Scan(append([]byte(nil), b[skip:skip+n]...))
		if err != nil {
			return
		}
		if m.IsRequest() {
			out := appendResponse(nil, m, 200, "OK", "tag", nil, "", nil, nil)
			if _, err := Scan(out); err != nil {
				t.Fatalf("our response to a scanned request does not scan: %v\n%q", err, out)
			}
		}
	})
}
