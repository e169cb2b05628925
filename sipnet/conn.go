package sipnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
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
	nc        net.Conn       // TCP, or a connected UDP socket
	pc        net.PacketConn // listening UDP socket (virtual conns)
	raddr     net.Addr       // peer, for pc
	local     netip.AddrPort
	remote    netip.AddrPort

	mu      sync.Mutex
	writing sync.Mutex // held by the writer while it writes a batch
	out     []byte     // queued, not yet written (TCP)
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

	// counters
	msgsIn, msgsOut, bytesOut atomic.Uint64
}

// Transport returns TCP or UDP.
func (c *Conn) Transport() string { return c.transport }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the peer address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Reliable reports whether the transport is connection-oriented.
func (c *Conn) Reliable() bool { return c.transport == TCP }

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
	c.mu.Unlock()
	c.msgsOut.Add(1)
	c.ep.stats.msgsOut.Add(1)
	c.bytesOut.Add(uint64(n))
	if c.cork.Load() == 0 {
		c.wakeWriter()
	}
	return nil
}

func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// corkInc holds the writer back: writes queue up until uncork, so that
// many messages produced together go out in one write.
func (c *Conn) corkInc() { c.cork.Add(1) }

// uncork lets the writer go and wakes it if anything is queued.
func (c *Conn) uncork() {
	if c.cork.Add(-1) > 0 {
		return
	}
	c.mu.Lock()
	pending := len(c.out) > 0
	c.mu.Unlock()
	if pending {
		c.wakeWriter()
	}
}

// Batch groups writes to several connections (a post's fan-out) so that
// each connection's share goes out in one write: writes through the batch
// are queued without waking the writers, and Flush wakes them all.
type Batch struct {
	conns []*Conn
}

// hold corks c for the batch (once).
func (b *Batch) hold(c *Conn) {
	for _, x := range b.conns {
		if x == c {
			return
		}
	}
	c.corkInc()
	b.conns = append(b.conns, c)
}

// Flush releases every connection of the batch; the batch is then empty
// and may be reused.
func (b *Batch) Flush() {
	for i, c := range b.conns {
		c.uncork()
		b.conns[i] = nil
	}
	b.conns = b.conns[:0]
}

// Close flushes what is queued and closes the connection.
func (c *Conn) Close() error {
	c.closeWith(nil)
	return nil
}

func (c *Conn) closeWith(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	c.mu.Unlock()
	close(c.done)
	if c.nc != nil {
		if err == nil && c.transport == TCP {
			// Graceful: let a batch in flight finish, then flush the rest,
			// bounded so a peer that stopped reading cannot hold us.
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.writing.Lock()
			c.mu.Lock()
			pending := c.out
			c.out = nil
			c.mu.Unlock()
			if len(pending) > 0 {
				_, _ = c.nc.Write(pending)
			}
			c.writing.Unlock()
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
		if len(buf) == 0 {
			c.writing.Unlock()
			continue
		}
		_, err := c.nc.Write(buf)
		c.ep.stats.writes.Add(1)
		c.writing.Unlock()
		if err != nil {
			c.closeWith(fmt.Errorf("sipnet: write to %s: %w", c.remote, err))
			return
		}
		c.mu.Lock()
		if c.spare == nil && cap(buf) <= 256<<10 {
			c.spare = buf[:0]
		}
		c.mu.Unlock()
	}
}

func (c *Conn) readLoopTCP() {
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
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		c.ep.stats.reads.Add(1)
		buf = buf[:len(buf)+n]
		// what the handlers answer to this read's messages goes out in
		// one write
		c.corkInc()
		for {
			skip, total, ferr := frame(buf[start:], max)
			if skip > 0 {
				c.ep.stats.keepalives.Add(1)
				start += skip
			}
			if ferr != nil {
				c.uncork()
				c.ep.malformed(c, buf[start:min(len(buf), start+256)], ferr)
				c.closeWith(ferr)
				return
			}
			if total == 0 {
				break
			}
			c.msgsIn.Add(1)
			c.ep.stats.msgsIn.Add(1)
			if c.ep.opts.Trace == nil && c.ep.fastResponse(buf[start:start+total]) {
				start += total
				continue
			}
			raw := make([]byte, total)
			copy(raw, buf[start:start+total])
			start += total
			if total > max {
				c.ep.malformed(c, raw[:256], fmt.Errorf("%w: message of %d bytes over the %d-byte limit", ErrMalformed, total, max))
				c.ep.rejectOversize(c, raw)
				continue
			}
			c.ep.receive(c, raw)
		}
		c.uncork()
		if start == len(buf) {
			buf, start = buf[:0], 0
			if cap(buf) > 64<<10 {
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
