package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestHMACMD5KeyAgreesWithCryptoHMAC: the precomputed-state HMAC gives
// crypto/hmac's for every message length around the block boundaries,
// with a 16-byte key (NTLM's) and with keys longer than a block, and
// the signer's checksum is its first 8 bytes.
func TestHMACMD5KeyAgreesWithCryptoHMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	msg := make([]byte, 400)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	for _, klen := range []int{16, 64, 65, 100} {
		key := msg[:klen]
		k := newHMACMD5Key(key)
		for n := 0; n <= len(msg); n++ {
			prefix := [4]byte{100, 0, 0, byte(n)}
			m := hmac.New(md5.New, key)
			m.Write(prefix[:])
			m.Write(msg[:n])
			want := m.Sum(nil)
			if got := k.sum(prefix, msg[:n]); !bytes.Equal(got[:], want) {
				t.Fatalf("key %d bytes, message %d bytes: %x, want %x", klen, n, got, want)
			}
		}
	}
	var sk, ek [16]byte
	copy(sk[:], msg)
	var s signer
	s.init(sk, ek, 0) // no key exchange: the checksum in clear
	m := hmac.New(md5.New, sk[:])
	var seq [4]byte
	binary.LittleEndian.PutUint32(seq[:], 100)
	m.Write(seq[:])
	m.Write(msg[:190])
	if cs := s.checksum(msg[:190], 100); !bytes.Equal(cs[:], m.Sum(nil)[:8]) {
		t.Fatalf("checksum %x, want the first 8 bytes of %x", cs, m.Sum(nil))
	}
}

// BenchmarkMD5Block is what one MD5 block costs on this machine (crypto/md5,
// assembly), reported as ns/block: the floor of signing is this times the
// blocks a delivery's two HMAC-MD5 hash (docs/performance.md).
func BenchmarkMD5Block(b *testing.B) {
	const blocks = 16
	msg := make([]byte, blocks*md5.BlockSize)
	h := md5.New()
	b.SetBytes(int64(len(msg)))
	cpu := startThreadCPU()
	for b.Loop() {
		h.Reset()
		h.Write(msg)
	}
	b.ReportMetric(float64(cpu.stop())/float64(b.N*blocks), "cpu-ns/block")
}

// BenchmarkHMACMD5 is one HMAC-MD5 from the precomputed states over
// signed strings of the lengths a delivery's have (about 190 bytes: with
// the 4-byte sequence number, 4 blocks inside and 1 outside) and of one
// block less.
func BenchmarkHMACMD5(b *testing.B) {
	k := newHMACMD5Key(make([]byte, 16))
	for _, n := range []int{119, 183, 190} {
		msg := make([]byte, n)
		b.Run(fmt.Sprintf("len=%d", n), func(b *testing.B) {
			var sink byte
			cpu := startThreadCPU()
			for b.Loop() {
				s := k.sum([4]byte{100}, msg)
				sink ^= s[0]
			}
			b.ReportMetric(float64(cpu.stop())/float64(b.N), "cpu-ns/op")
			_ = sink
		})
	}
}

// threadCPU measures the calling thread's CPU time (Linux's
// CLOCK_THREAD_CPUTIME_ID) with the benchmark locked to its thread: what
// the work cost, whatever else the machine runs meanwhile.
type threadCPU struct{ start time.Duration }

func startThreadCPU() *threadCPU {
	runtime.LockOSThread()
	return &threadCPU{start: threadNow()}
}

// stop returns the thread's CPU time since start, in nanoseconds.
func (t *threadCPU) stop() int64 {
	d := threadNow() - t.start
	runtime.UnlockOSThread()
	return d.Nanoseconds()
}

func threadNow() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// TestFixSeqNum: a session whose sequence number is fixed signs and
// verifies as one that is not, with that number and with others (which
// go the general way), in both directions.
func TestFixSeqNum(t *testing.T) {
	cli, srv := ocsSessions(t)
	cli2, srv2 := ocsSessions(t)
	cli2.FixSeqNum(100)
	srv2.FixSeqNum(100)
	msg := []byte(ocsRequestSigned)
	for _, seq := range []uint32{100, 101, 0} {
		if a, b := cli.Sign(msg, seq), cli2.Sign(msg, seq); a != b {
			t.Fatalf("seq %d: fixed %x, not fixed %x", seq, b, a)
		}
		if a, b := srv.Sign(msg, seq), srv2.Sign(msg, seq); a != b {
			t.Fatalf("seq %d: the server's fixed %x, not fixed %x", seq, b, a)
		}
		if err := srv2.Verify(msg, cli.Sign(msg, seq)); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		bad := cli.Sign(msg, seq)
		bad[5] ^= 1
		if err := srv2.Verify(msg, bad); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("seq %d: a tampered checksum: %v", seq, err)
		}
	}
}
