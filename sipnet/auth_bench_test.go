package sipnet

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gcload/gcload/sipauth/sipae"
)

// threadCPU returns the CPU time of the calling thread (Linux's
// CLOCK_THREAD_CPUTIME_ID): with the benchmark locked to its thread, what
// the timed work cost, whatever else the machine runs meanwhile.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cpuMeter sums the thread's CPU time of the timed parts of a benchmark
// (between its pauses), reported as cpu-ns/op.
type cpuMeter struct {
	b     *testing.B
	sum   time.Duration
	start time.Duration
}

func newCPUMeter(b *testing.B) *cpuMeter {
	runtime.LockOSThread()
	return &cpuMeter{b: b, start: threadCPU()}
}

// pause stops the timer and the meter for untimed work; resume restarts
// both.
func (m *cpuMeter) pause() {
	m.b.StopTimer()
	m.sum += threadCPU() - m.start
}

func (m *cpuMeter) resume() {
	m.start = threadCPU()
	m.b.StartTimer()
}

func (m *cpuMeter) report() {
	m.sum += threadCPU() - m.start
	m.b.ReportMetric(float64(m.sum)/float64(m.b.N), "cpu-ns/op")
	runtime.UnlockOSThread()
}

// The CPU MS-SIPAE adds per delivery on each side, at the SIP layer: the
// benchmarks below do a delivery's SIP work with and without signing, in
// one process and without sockets, so that the difference is what
// signing and verifying cost (docs/performance.md). The signatures are
// real (sipae associations from an NTLM sign-in); the answers and
// deliveries the other side would send are made outside the timer, in
// chunks, each with its own sequence number, and copied into a buffer as
// the connection's reader has them (so that they are in the cache, as a
// message just read is). cpu-ns/op is the benchmark thread's own CPU
// time in the timed parts: on a shared machine, wall time counts others'.

const benchChunk = 8192

// deliveryBody is a post of 120 characters as the reference server
// renders it to a member.
var deliveryBody = []byte(`<xccos ver="1" envid="281474976710657" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/b-1" author="sip:user17@example.com" ts="2026-11-21T21:42:34.1234567Z"><chat>gcl:bench-1:1:1:1:0:1763761354123456|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</chat></grpchat></xccos>`)

// benchDialogs are the two ends of a member's channel session, as the
// swarm's client (its Call-ID and tag) and the server make them.
func benchDialogs(srv, cli *Conn) (server, client *Dialog) {
	const callID, ctag, stag = "5f0c8e2a9b3d4f61a7c2e8d90b1f3a64", "8c1d2e3f4a", "4b7e9a0c13"
	server = NewDialog(srv, callID, "<sip:gcs1@example.com>", stag, "<sip:user42@example.com>", ctag, "sip:user42@127.0.0.1:40000;transport=tcp", 100)
	client = NewDialog(cli, callID, "<sip:user42@example.com>", ctag, "<sip:gcs1@example.com>", stag, "sip:gcs1@example.com", 1)
	return server, client
}

// BenchmarkDeliverySIPServer is the server's SIP work per delivery:
// render the INFO to a member into the connection buffer and take the
// member's 200 on the fast path (signed: sign the INFO, check the 200's
// signature from the fields it echoes).
func BenchmarkDeliverySIPServer(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "ntlm"
		}
		b.Run(name, func(b *testing.B) {
			ep := NewEndpoint(Options{})
			defer ep.Close()
			srvConn := &Conn{ep: ep, transport: TCP}
			cliConn := &Conn{ep: ep, transport: TCP}
			sd, _ := benchDialogs(srvConn, cliConn)
			srvSec, cliSec := signedPair(b)
			if signed {
				srvConn.SetSecurity(srvSec)
				cliConn.SetSecurity(cliSec)
			}
			// the member's answers: a 200 to each INFO, signed in turn
			answers := make([][]byte, 0, benchChunk)
			cseq := uint32(100)
			var cpu *cpuMeter
			next := func() {
				cpu.pause()
				answers = answers[:0]
				for i := 0; i < benchChunk; i++ {
					cseq++
					info, _ := Scan(sd.AppendRequest(nil, "INFO", Branch{prefix: ep.prefix, id: ep.nextID.Load() + uint64(i) + 1}, cseq, "text/plain", deliveryBody))
					answers = append(answers, appendResponse(nil, info, 200, "OK", "", nil, "", nil, cliConn))
				}
				sd.cseq.Store(cseq - benchChunk)
				runtime.GC() // the garbage made here is not the timed loop's
				cpu.resume()
			}
			out := make([]byte, 0, 2048)
			rbuf := make([]byte, 0, 2048)
			answered := 0
			cb := StatusFunc(func(int, error) { answered++ })
			i := benchChunk
			b.ReportAllocs()
			cpu = newCPUMeter(b)
			for b.Loop() {
				if i == benchChunk {
					next()
					i = 0
				}
				c := sd.NextCSeq()
				br := ep.NewBranch()
				ep.asyncTx(srvConn, br, "INFO", cb, sd, c)
				out = sd.AppendRequest(out[:0], "INFO", br, c, "text/plain", deliveryBody)
				// the answer as the reader has it: just read into its buffer
				rbuf = append(rbuf[:0], answers[i]...)
				if !ep.fastResponse(srvConn, rbuf) {
					b.Fatal("the answer was not taken on the fast path")
				}
				i++
			}
			cpu.report()
			if answered != b.N {
				b.Fatalf("%d of %d answers completed their delivery", answered, b.N)
			}
			if signed && srvSec.refused.Load() != 0 {
				b.Fatalf("%d answers refused", srvSec.refused.Load())
			}
		})
	}
}

// BenchmarkDeliverySIPClient is a member's SIP work per delivery: scan
// the INFO, (signed: check the server's signature,) render the 200 into
// the connection buffer (signed).
func BenchmarkDeliverySIPClient(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "ntlm"
		}
		b.Run(name, func(b *testing.B) {
			ep := NewEndpoint(Options{})
			defer ep.Close()
			srvConn := &Conn{ep: ep, transport: TCP}
			cliConn := &Conn{ep: ep, transport: TCP}
			sd, _ := benchDialogs(srvConn, cliConn)
			srvSec, cliSec := signedPair(b)
			if signed {
				srvConn.SetSecurity(srvSec)
				cliConn.SetSecurity(cliSec)
			}
			infos := make([][]byte, 0, benchChunk)
			var cpu *cpuMeter
			next := func() {
				cpu.pause()
				infos = infos[:0]
				for i := 0; i < benchChunk; i++ {
					infos = append(infos, sd.AppendRequest(nil, "INFO", ep.NewBranch(), sd.NextCSeq(), "text/plain", deliveryBody))
				}
				runtime.GC() // the garbage made here is not the timed loop's
				cpu.resume()
			}
			out := make([]byte, 0, 2048)
			var f sipae.Fields
			i := benchChunk
			b.ReportAllocs()
			cpu = newCPUMeter(b)
			for b.Loop() {
				if i == benchChunk {
					next()
					i = 0
				}
				// the INFO as the reader hands it on: copied out of its buffer
				raw := make([]byte, len(infos[i]))
				copy(raw, infos[i])
				m, err := Scan(raw)
				if err != nil {
					b.Fatal(err)
				}
				if signed {
					m.SignedFields(&f)
					if err := cliSec.csa.Verify(m.AuthInfo, &f); err != nil {
						b.Fatal(err)
					}
				}
				out = appendResponse(out[:0], m, 200, "OK", "", nil, "", nil, cliConn)
				i++
			}
			cpu.report()
		})
	}
}
