package sipnet

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkIdleTLSConn measures what an idle TLS connection keeps in
// memory, both ends in this process: b.N connections (at least 500) are
// opened, each does one request and its response (so that every buffer
// has been used), and then, after two collections, the goroutine stacks
// and the heap in use are divided by the connections. The accepting end
// does its handshake on the connection's own goroutine and the dialing
// end on the caller's; stack-bytes/conn is the sum of the two ends'
// stacks (a reader and a writer goroutine each), heap-bytes/conn of
// their heaps.
func BenchmarkIdleTLSConn(b *testing.B) {
	p := newPKI(b)
	srv := NewEndpoint(Options{Handler: func(tx *ServerTx) { _ = tx.Respond(200, "OK") }})
	defer srv.Close()
	cli := NewEndpoint(Options{})
	defer cli.Close()
	a, err := srv.ListenTLS("127.0.0.1:0", p.serverConfig)
	if err != nil {
		b.Fatal(err)
	}
	n := max(b.N, 500)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var before runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	conns := make([]*Conn, 0, n)
	for i := range n {
		c, err := cli.DialTLS(ctx, a.String(), p.client(nil))
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		if _, err := cli.Do(ctx, c, newReq(sip.OPTIONS, fmt.Sprintf("idle-%d", i))); err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(n), "stack-bytes/conn")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n), "heap-bytes/conn")
	if srv.Conns() != n {
		b.Fatalf("the server has %d connections, want %d", srv.Conns(), n)
	}
	runtime.KeepAlive(conns)
}
