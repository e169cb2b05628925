package sipnet

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gcload/gcload/sipauth/sipae"
)

// Transport names as they appear in Via headers.
const (
	TCP = "TCP"
	UDP = "UDP"
)

// Conn is one transport connection: a TCP connection, a connected UDP
// socket of a client, or the peer address on a listening UDP socket. Writes
// are queued and flushed in batches by one writer goroutine (TCP) or sent as
// one datagram each (UDP).
type Conn struct {
	ep        *Endpoint
	transport string
	nc        net.Conn  // TCP (under TLS too), or a connected UDP socket
	tc        *tls.Conn // TLS: the session over nc (nil otherwise)
	tw        *tlsWire  // TLS: the ciphertext queue under tc
	// handshook: an accepted TLS connection's handshake is done (its
	// reader goroutine's alone)
	handshook bool
	pc        net.PacketConn // listening UDP socket (virtual conns)
	raddr     net.Addr       // peer, for pc
	local     netip.AddrPort
	remote    netip.AddrPort

	mu      sync.Mutex
	writing sync.Mutex      // held by whoever writes a batch: the writer goroutine or a direct writer
	rc      syscall.RawConn // for non-blocking direct writes (TCP, TLS)
	out     []byte          // queued, not yet written (TCP; TLS: plaintext not yet sealed)
	spare   []byte
	scratch []byte // UDP render buffer
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	err     error

	cork atomic.Int32 // > 0: writes queue without waking the writer

	pendMu sync.Mutex
	pend   []pendEntry // asynchronous transactions sent, oldest first

	valMu sync.Mutex
	val   any

	// MS-SIPAE (security.go): what signs and checks this connection's
	// messages, and the signing scratch space it guards
	sec    atomic.Pointer[securityBox]
	signMu sync.Mutex
	sf     sipae.Fields
	numBuf [10]byte
	rmsg   Message      // the reader's scratch for responses checked on the fast path
	rf     sipae.Fields // ... and for the fields of the answers it checks
	rnum   [10]byte

	// limits of accepted connections (limits.go)
	inbound                   bool // accepted on a listener: counted against the caps
	signedIn                  atomic.Bool
	signInTimer, messageTimer timerEntry
	signInFn, messageFn       func()
	partialSince              atomic.Int64 // wheel clock when the incomplete message began, 0: none
	messageArmed              atomic.Bool

	// counters
	msgsIn, msgsOut, bytesOut atomic.Uint64
}

// Transport returns TCP, TLS or UDP.
func (c *Conn) Transport() string { return c.transport }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the peer address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Reliable reports whether the transport is connection-oriented.
func (c *Conn) Reliable() bool { return c.transport != UDP }

// Value returns what SetValue stored (nil before).
func (c *Conn) Value() any {
	c.valMu.Lock()
	defer c.valMu.Unlock()
	return c.val
}

// SetValue attaches application state to the connection (the reference
// server keeps the users registered on it here).
func (c *Conn) SetValue(v any) {
	c.valMu.Lock()
	c.val = v
	c.valMu.Unlock()
}

// UpdateValue replaces the attached state under the connection's lock.
func (c *Conn) UpdateValue(f func(old any) any) {
	c.valMu.Lock()
	c.val = f(c.val)
	c.valMu.Unlock()
}

// Done is closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection closed (nil while open or after Close).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) String() string {
	return fmt.Sprintf("%s %s->%s", c.transport, c.local, c.remote)
}

// Write queues b for sending.
func (c *Conn) Write(b []byte) error {
	dst, err := c.begin()
	if err != nil {
		return err
	}
	return c.end(append(dst, b...), len(dst))
}

// Render appends one message to the connection by calling f with the output
// buffer; f returns the extended buffer. On TCP the bytes are written by the
// writer goroutine together with whatever else is queued; on UDP f's output
// is sent at once as one datagram. Render never calls back into the
// application, so it may be called with application locks held.
func (c *Conn) Render(f func(dst []byte) []byte) error {
	dst, err := c.begin()
	if err != nil {
		return err
	}
	before := len(dst)
	return c.end(f(dst), before)
}

// begin locks the output buffer and returns it for appending one message;
// end must follow. (A pair instead of a callback: no closure to allocate
// on the hot path.)
func (c *Conn) begin() ([]byte, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if c.transport == UDP {
		return c.scratch[:0], nil
	}
	return c.out, nil
}

// end stores the extended buffer b (its first before bytes were there
// already), unlocks, and wakes the writer unless the connection is corked.
func (c *Conn) end(b []byte, before int) error {
	n := len(b) - before
	if c.ep.opts.Trace != nil {
		c.ep.opts.Trace(Out, c, b[before:])
	}
	if c.transport == UDP {
		var err error
		if c.pc != nil {
			_, err = c.pc.WriteTo(b, c.raddr)
		} else {
			_, err = c.nc.Write(b)
		}
		c.scratch = b
		if cap(b) > 64<<10 {
			c.scratch = nil
		}
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("sipnet: udp send to %s: %w", c.remote, err)
		}
		c.msgsOut.Add(1)
		c.ep.stats.msgsOut.Add(1)
		c.ep.stats.writes.Add(1)
		c.ep.stats.bytesOut.Add(uint64(n))
		c.bytesOut.Add(uint64(n))
		return nil
	}
	if len(b) > c.ep.opts.MaxQueued {
		c.out = b[:before]
		c.mu.Unlock()
		// Close on another goroutine: the caller may hold locks that the
		// close callbacks take.
		go c.closeWith(fmt.Errorf("%w: %d bytes queued to %s", ErrOverflow, before, c.remote))
		return ErrOverflow
	}
	c.out = b
	c.msgsOut.Add(1)
	c.ep.stats.msgsOut.Add(1)
	c.bytesOut.Add(uint64(n))
	if c.cork.Load() != 0 {
		c.mu.Unlock()
		return nil
	}
	c.writeNow() // unlocks c.mu
	return nil
}

// writeNow writes what is queued, called with c.mu held (it unlocks it).
// When nobody is writing, the caller writes the batch itself with one
// non-blocking system call, saving the writer goroutine's wake-up (a
// goroutine switch each way); what the socket does not take at once, and
// any batch while another write is in flight, is left to the writer
// goroutine.
func (c *Conn) writeNow() {
	if len(c.out) == 0 || !c.writing.TryLock() {
		pending := len(c.out) > 0
		c.mu.Unlock()
		if pending {
			c.wakeWriter()
		}
		return
	}
	buf := c.out
	c.out = c.spare[:0]
	c.spare = nil
	c.mu.Unlock()
	if c.tc != nil {
		c.writeNowTLS(buf)
		return
	}
	n, err := c.tryWrite(buf)
	c.ep.stats.writes.Add(1)
	c.ep.stats.bytesOut.Add(uint64(max(n, 0)))
	c.mu.Lock()
	if n < len(buf) {
		// the rest goes first, before whatever was queued meanwhile: moved
		// to the front of its own buffer, which becomes the queue again
		// (a new buffer here was regrown by every later append: with a
		// slow reader, 10% of a server's CPU in a room of 1,000)
		rest := append(buf[:copy(buf, buf[n:])], c.out...)
		old := c.out
		c.out = rest
		c.recycleLocked(old)
	} else {
		c.recycleLocked(buf)
	}
	more := len(c.out) > 0
	c.mu.Unlock()
	c.writing.Unlock()
	if err != nil {
		go c.closeWith(fmt.Errorf("sipnet: write to %s: %w", c.remote, err))
		return
	}
	if more {
		c.wakeWriter()
	}
}

// writeNowTLS is writeNow's second half on a TLS connection: the batch is
// sealed whole, and what the socket does not take at once is left to the
// writer goroutine as ciphertext. Called with c.writing held (it unlocks
// it).
func (c *Conn) writeNowTLS(buf []byte) {
	n, pending, err := c.sealTLS(buf, false)
	c.ep.stats.writes.Add(1)
	c.ep.stats.bytesOut.Add(uint64(max(n, 0)))
	c.mu.Lock()
	c.recycleLocked(buf)
	more := pending || len(c.out) > 0
	c.mu.Unlock()
	c.writing.Unlock()
	if err != nil {
		go c.closeWith(fmt.Errorf("sipnet: write to %s: %w", c.remote, err))
		return
	}
	if more {
		c.wakeWriter()
	}
}

// tryWrite writes b without blocking: it returns how much the socket took.
func (c *Conn) tryWrite(b []byte) (int, error) {
	n := 0
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		n, werr = rawWrite(fd, b)
		return true // one attempt: never wait for the socket
	})
	if err != nil {
		return n, err
	}
	return n, werr
}

// writeAll writes b, waiting for the socket as needed (the writer
// goroutine's write).
func (c *Conn) writeAll(b []byte) error {
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		var n int
		n, werr = rawWrite(fd, b)
		b = b[n:]
		return werr != nil || len(b) == 0 // false: wait until writable
	})
	if err != nil {
		return err
	}
	return werr
}

// read reads into b, waiting (parked in the netpoller) until data comes.
func (c *Conn) read(b []byte) (int, error) {
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		for e == syscall.EINTR {
			r, _, e = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		}
		switch {
		case e == syscall.EAGAIN:
			return false // park until readable
		case e != 0:
			rerr = e
		case r == 0:
			rerr = io.EOF
		default:
			n = int(r)
		}
		return true
	})
	if err != nil {
		return n, err
	}
	return n, rerr
}

// rawWrite writes what the socket takes now. The socket is non-blocking
// and the call short, so it is made as a raw system call: the runtime does
// not hand the processor to another thread meanwhile, which on loopback
// (where a write runs the receiver's TCP processing) would otherwise happen
// on most writes and cost more than the write itself.
func rawWrite(fd uintptr, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
		switch e {
		case 0:
			n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return n, nil
		default:
			return n, e
		}
	}
	return n, nil
}

func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// corkInc holds writes back: they queue up until uncorkWrite, so that
// many messages produced together (the answers to one read, a post's
// fan-out) go out in one write.
func (c *Conn) corkInc() { c.cork.Add(1) }

// uncorkWrite releases the connection and writes what is queued now.
func (c *Conn) uncorkWrite() {
	if c.cork.Add(-1) > 0 {
		return
	}
	c.mu.Lock()
	if c.closed || c.transport == UDP {
		c.mu.Unlock()
		return
	}
	c.writeNow()
}

// Batch groups writes to several connections (a post's fan-out) so that
// each connection's share goes out in one write: writes through the batch
// are queued without waking the writers, and Flush writes them all.
type Batch struct {
	conns []*Conn // one entry per write held: cork is a counter
}

// hold corks c for one write of the batch (O(1): a connection carrying
// many members appears once per member, and only its last uncork writes).
func (b *Batch) hold(c *Conn) {
	c.corkInc()
	b.conns = append(b.conns, c)
}

// Flush releases every connection of the batch, writing each one's share
// now; the batch is then empty and may be reused.
func (b *Batch) Flush() {
	for i, c := range b.conns {
		c.uncorkWrite()
		b.conns[i] = nil
	}
	b.conns = b.conns[:0]
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close flushes what is queued and closes the connection.
func (c *Conn) Close() error {
	c.closeWith(nil)
	return nil
}

// closeWith closes the connection, flushing what is queued when err is
// nil (a close the application asked for).
func (c *Conn) closeWith(err error) { c.shut(err, err == nil, false) }

// Lingering close of a refused connection (see shut).
const (
	lingerTime = time.Second
	lingerMax  = 1 << 20
)

// shut closes the connection for err; flush says to write what is queued
// first (bounded: a peer that does not read cannot hold it). linger (only
// on the reader goroutine, after a refusal) half-closes and discards what
// the peer still sends for a while before closing: closing with unread
// input resets the connection, and a reset can destroy the refusal in the
// peer's buffers before the peer reads it.
func (c *Conn) shut(err error, flush, linger bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	c.mu.Unlock()
	close(c.done)
	c.stopLimits()
	if c.nc != nil {
		if flush && c.transport != UDP {
			// Graceful: let a batch in flight finish, then flush the rest,
			// bounded so a peer that stopped reading cannot hold us.
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.writing.Lock()
			c.mu.Lock()
			pending := c.out
			c.out = nil
			c.mu.Unlock()
			if c.tc != nil {
				if _, hs := c.TLSState(); hs {
					_, _, _ = c.sealTLS(pending, true)
					c.tw.blocking.Store(true)
					_ = c.tc.CloseWrite() // close_notify
				}
			} else if len(pending) > 0 {
				_, _ = c.nc.Write(pending)
			}
			c.writing.Unlock()
			if tc, ok := c.nc.(*net.TCPConn); ok && linger {
				_ = tc.CloseWrite()
				_ = tc.SetReadDeadline(time.Now().Add(lingerTime))
				_, _ = io.CopyN(io.Discard, tc, lingerMax)
			}
		}
		_ = c.nc.Close()
	}
	c.ep.connClosed(c)
}

func (c *Conn) writeLoop() {
	defer c.ep.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.writing.Lock()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			c.writing.Unlock()
			return
		}
		buf := c.out
		c.out = c.spare[:0]
		c.spare = nil
		c.mu.Unlock()
		if c.tc != nil {
			if !c.writeTLS(buf) {
				return
			}
			continue
		}
		if len(buf) == 0 {
			c.writing.Unlock()
			continue
		}
		err := c.writeAll(buf)
		c.ep.stats.writes.Add(1)
		if err == nil {
			c.ep.stats.bytesOut.Add(uint64(len(buf)))
		}
		c.writing.Unlock()
		if err != nil {
			c.closeWith(fmt.Errorf("sipnet: write to %s: %w", c.remote, err))
			return
		}
		c.mu.Lock()
		c.recycleLocked(buf)
		c.mu.Unlock()
	}
}

// maxRecycled bounds the capacity of an output buffer kept for reuse.
const maxRecycled = 256 << 10

// recycleLocked keeps a written buffer for the next batches: as the
// spare, or as the queue itself when that is empty and smaller, or in
// place of a smaller spare. The direct writer and the writer goroutine
// both swap the queue with the spare, so with both at work one of them
// may find no spare; keeping only "when there is no spare" then dropped
// the larger buffer and let the queue regrow from nothing (growslice was
// 10% of a server's CPU in a room of 1,000 on a loaded machine). A buffer
// over the connection's share of the endpoint's buffer budget
// (Endpoint.bufKeep) is dropped, so thousands of per-user connections do
// not each keep their largest burst. c.mu is held.
func (c *Conn) recycleLocked(buf []byte) {
	keep := maxRecycled
	if c.ep != nil {
		keep = min(keep, c.ep.bufKeep())
	}
	if cap(buf) == 0 || cap(buf) > keep {
		return
	}
	switch {
	case c.spare == nil:
		c.spare = buf[:0]
	case len(c.out) == 0 && cap(c.out) < cap(buf):
		c.out = buf[:0]
	case cap(c.spare) < cap(buf):
		c.spare = buf[:0]
	}
}

// writeTLS is the writer goroutine's write on a TLS connection: it seals
// buf (possibly empty) and writes every byte of ciphertext queued, waiting
// for the socket. Called with c.writing held (it unlocks it); false when
// the connection failed.
func (c *Conn) writeTLS(buf []byte) bool {
	n, _, err := c.sealTLS(buf, true)
	c.ep.stats.writes.Add(1)
	c.ep.stats.bytesOut.Add(uint64(max(n, 0)))
	c.writing.Unlock()
	if err != nil {
		c.closeWith(fmt.Errorf("sipnet: write to %s: %w", c.remote, err))
		return false
	}
	c.mu.Lock()
	c.recycleLocked(buf)
	c.mu.Unlock()
	return true
}

// readSome reads what the connection has: through TLS, or straight from
// the socket.
func (c *Conn) readSome(b []byte) (int, error) {
	if c.tc != nil {
		return c.tc.Read(b)
	}
	return c.read(b)
}

func (c *Conn) readLoopTCP() {
	if c.tc != nil && c.inbound && !c.handshook {
		if err := c.handshake(); err != nil {
			c.ep.handshakeFailed(c, err)
			c.closeWith(err)
			c.ep.wg.Done()
			return
		}
		// the reading goes on in a fresh goroutine: the handshake grew
		// this one's stack (to tens of KB), which an idle connection
		// would otherwise keep; the endpoint's count of goroutines passes
		// to it
		c.handshook = true
		go c.readLoopTCP()
		return
	}
	defer c.ep.wg.Done()
	max := c.ep.opts.MaxMessageSize
	buf := make([]byte, 0, 2048)
	start := 0 // first unconsumed byte of buf
	for {
		if len(buf) == cap(buf) {
			// compact or grow
			if start > 0 {
				n := copy(buf, buf[start:])
				buf = buf[:n]
				start = 0
			} else {
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				buf = nb
			}
		}
		n, err := c.readSome(buf[len(buf):cap(buf)])
		c.ep.stats.reads.Add(1)
		if n > 0 {
			c.ep.stats.bytesIn.Add(uint64(n))
		}
		buf = buf[:len(buf)+n]
		// what the handlers answer to this read's messages goes out in
		// one write
		c.corkInc()
		completed := false
		for {
			skip, total, ferr := frameWith(buf[start:], max, !c.inbound)
			if skip > 0 {
				c.ep.stats.keepalives.Add(1)
				start += skip
				if c.ep.opts.OnKeepAlive != nil {
					c.ep.opts.OnKeepAlive(c)
					if c.isClosed() {
						c.uncorkWrite()
						return // closed by the callback: what follows is not read
					}
				}
			}
			if ferr != nil {
				c.ep.malformed(c, buf[start:min(len(buf), start+256)], ferr)
				c.ep.refuseFraming(c, buf[start:], ferr)
				c.uncorkWrite()
				c.shut(ferr, true, true) // the refusal goes out first
				return
			}
			if total == 0 {
				break
			}
			completed = true
			c.msgsIn.Add(1)
			c.ep.stats.msgsIn.Add(1)
			if c.ep.opts.Trace == nil && c.ep.fastResponse(c, buf[start:start+total]) {
				start += total
				continue
			}
			raw := make([]byte, total)
			copy(raw, buf[start:start+total])
			start += total
			if total > max { // a dialed connection's peer sent it (frameWith)
				c.ep.malformed(c, raw[:256], fmt.Errorf("%w: message of %d bytes over the %d-byte limit", ErrTooLarge, total, max))
				c.ep.rejectOversize(c, raw)
				continue
			}
			c.ep.receive(c, raw)
		}
		c.uncorkWrite()
		if c.messageFn != nil {
			c.partial(start < len(buf), completed)
		}
		if start == len(buf) {
			buf, start = buf[:0], 0
			if cap(buf) > min(64<<10, c.ep.bufKeep()) {
				buf = make([]byte, 0, 2048)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			c.closeWith(err)
			return
		}
	}
}

// readLoopUDPConn serves a client's connected UDP socket.
func (c *Conn) readLoopUDPConn() {
	defer c.ep.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := c.nc.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
			c.closeWith(err)
			return
		}
		c.ep.datagram(c, buf[:n])
	}
}
