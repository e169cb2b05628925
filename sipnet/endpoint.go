package sipnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultT1             = 500 * time.Millisecond
	DefaultT2             = 4 * time.Second
	DefaultMaxMessageSize = 65535
	DefaultMaxQueued      = 32 << 20
	DefaultInviteTimeout  = 3 * time.Minute
)

// Direction of a traced message.
type Direction int

// Directions of a traced message.
const (
	In Direction = iota + 1
	Out
)

// Options configure an Endpoint.
type Options struct {
	// Handler receives every new request (not retransmissions, not CANCELs
	// of known INVITEs, not ACKs of non-2xx answers). It runs on the
	// connection's reader goroutine and must not block; it may answer later
	// from any goroutine.
	Handler func(tx *ServerTx)
	// OnConnClose is called once for every connection that closes.
	OnConnClose func(c *Conn)
	// OnKeepAlive, when set, is told of every CRLF keep-alive received on
	// a TCP connection (after it was accepted), on the connection's reader;
	// if it closes the connection, nothing after the keep-alive is read.
	OnKeepAlive func(c *Conn)
	// OnMalformed is told of every message that could not be scanned.
	OnMalformed func(c *Conn, head []byte, err error)
	// Trace, when set, sees every message in and out (costly: for debugging
	// and conformance capture, not load). raw is valid only during the call
	// (copy what you keep), and Trace must not call the Conn's methods:
	// outgoing messages are traced with the connection locked.
	Trace func(dir Direction, c *Conn, raw []byte)
	// T1 and T2 are RFC 3261's timers; Timeout is a transaction's lifetime
	// without a final answer (64*T1 by default); InviteTimeout bounds an
	// INVITE after a provisional answer.
	T1, T2, Timeout, InviteTimeout time.Duration
	// MaxMessageSize bounds one received message. On a TCP connection
	// accepted on a listener, a message whose Content-Length makes it
	// larger is answered 413 (a request) and its connection closed, before
	// its body is read: the memory such a connection holds for the message
	// it reads is bounded by this. On a connection the endpoint dialed (its
	// peer is the server it chose) a larger message, up to 16 times this,
	// is read, answered 513 (a request) and skipped.
	MaxMessageSize int
	// The limits of the connections accepted on listeners (TCP) and of
	// the peers of UDP listeners; 0 means none. See limits.go.
	//
	// MaxConns bounds them all, MaxConnsPerAddr those from one IP address:
	// a connection over a cap is closed at once (reset), a datagram from a
	// new peer over a cap dropped. SignInTimeout closes one on which
	// Conn.SignIn was not called within that time of its start.
	// MessageTimeout closes a TCP connection on which the first bytes of a
	// message came longer ago than that and the message is still not
	// complete (a half-sent message).
	MaxConns, MaxConnsPerAddr     int
	SignInTimeout, MessageTimeout time.Duration
	// MaxQueued bounds the bytes queued on one TCP connection; a connection
	// whose peer does not read that fast is closed.
	MaxQueued int
	// HandshakeTimeout bounds the TLS handshake of an accepted connection
	// (DefaultHandshakeTimeout when 0); a connection that does not
	// complete it is closed.
	HandshakeTimeout time.Duration
	// Logger gets transport errors; nil discards them.
	Logger *slog.Logger
}

// Endpoint owns listeners, connections and transactions.
type Endpoint struct {
	opts   Options
	log    *slog.Logger
	wheel  *wheel
	prefix string // branch prefix: magic cookie + random
	nextID atomic.Uint64
	shards [32]txShard

	stxMu    sync.Mutex
	serverTx map[string]*ServerTx // INVITE txs, and non-INVITE txs over UDP
	ackIdx   map[string]*ServerTx // INVITE txs by Call-ID/From-tag/CSeq, for 2xx ACKs
	ackCache map[string]*ackEntry // ACKs sent for 2xx over UDP, by INVITE branch

	connMu    sync.Mutex
	conns     map[*Conn]struct{}
	nconns    atomic.Int64 // len(conns), read without connMu (bufKeep)
	udpConns  map[udpKey]*Conn
	listeners []io.Closer
	closed    bool
	inbound   int                // accepted connections and UDP peers open
	perAddr   map[netip.Addr]int // the same, by remote address

	refuseLog, timeoutLog, acceptLog, signLog rateLog

	wg    sync.WaitGroup
	stats counters

	pendMu     sync.Mutex
	pendConns  map[*Conn]struct{} // connections with asynchronous transactions pending
	sweepTimer timerEntry
	sweepFn    func()

	// the keys of the transactions that timed out most recently, so that
	// an answer arriving after the timeout is told apart from a stray
	lateMu   sync.Mutex
	timedOut map[uint64]struct{}
	timedQ   []uint64
}

// maxTimedOut bounds the timed-out transactions remembered for telling a
// late answer from a stray one.
const maxTimedOut = 8192

// timedOutTx remembers that the transaction under key timed out.
func (ep *Endpoint) timedOutTx(key uint64) {
	ep.stats.timeouts.Add(1)
	ep.lateMu.Lock()
	if len(ep.timedQ) >= maxTimedOut {
		delete(ep.timedOut, ep.timedQ[0])
		ep.timedQ = ep.timedQ[1:]
	}
	ep.timedOut[key] = struct{}{}
	ep.timedQ = append(ep.timedQ, key)
	ep.lateMu.Unlock()
}

// late reports whether key names a transaction that timed out (and
// forgets it: one late answer is counted once).
func (ep *Endpoint) late(key uint64) bool {
	ep.lateMu.Lock()
	defer ep.lateMu.Unlock()
	if _, ok := ep.timedOut[key]; !ok {
		return false
	}
	delete(ep.timedOut, key)
	return true
}

type udpKey struct {
	sock *net.UDPConn
	peer netip.AddrPort
}

type counters struct {
	malformed, keepalives, retransmits, strays, timeouts, absorbed atomic.Uint64
	refused, signInTimeouts, messageTimeouts, tooLarge             atomic.Uint64
	lateResponses, handshakeFailures, refusedSigned                atomic.Uint64
	reads, writes, msgsIn, msgsOut                                 atomic.Uint64
	bytesIn, bytesOut                                              atomic.Uint64
	byStatus                                                       [700]atomic.Uint64
}

// Stats are cumulative counters of an endpoint.
type Stats struct {
	Malformed       uint64 // messages that could not be scanned or framed
	KeepAlives      uint64 // CRLF keep-alives received
	Retransmissions uint64 // requests and responses re-sent over UDP
	StrayResponses  uint64 // responses matching no transaction (late ones included)
	Timeouts        uint64 // client transactions that timed out
	// LateResponses counts final answers to client transactions that had
	// timed out already: the answer came, after the timeout.
	LateResponses      uint64
	AbsorbedRetransmit uint64 // retransmitted requests answered from the transaction
	// Responses counts the responses received, by status code.
	Responses map[int]uint64
	// Reads and Writes count socket system calls; MessagesIn and
	// MessagesOut the messages they carried (batching shows as more
	// messages than calls).
	Reads, Writes, MessagesIn, MessagesOut uint64
	// BytesIn and BytesOut count the bytes received and sent (TCP
	// written with or after the write call that queued them).
	BytesIn, BytesOut uint64
	// Limits (Options): connections refused over MaxConns or
	// MaxConnsPerAddr, closed without a sign-in in time, closed with a
	// message half-sent, and messages refused as too large.
	Refused, SignInTimeouts, MessageTimeouts, TooLarge uint64
	// HandshakeFailures counts accepted TLS connections closed because
	// their handshake failed or did not complete in time.
	HandshakeFailures uint64
	// ResponsesRefused counts responses a connection's Security refused
	// (dropped: unsigned or badly signed where a signature is due).
	ResponsesRefused uint64
}

// NewEndpoint starts an endpoint's timer goroutine.
func NewEndpoint(o Options) *Endpoint {
	if o.T1 == 0 {
		o.T1 = DefaultT1
	}
	if o.T2 == 0 {
		o.T2 = DefaultT2
	}
	if o.Timeout == 0 {
		o.Timeout = 64 * o.T1
	}
	if o.InviteTimeout == 0 {
		o.InviteTimeout = DefaultInviteTimeout
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxQueued == 0 {
		o.MaxQueued = DefaultMaxQueued
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	ep := &Endpoint{
		opts:     o,
		log:      log,
		wheel:    newWheel(20*time.Millisecond, 1024),
		prefix:   "z9hG4bK" + hex.EncodeToString(rnd[:]) + "-",
		serverTx: map[string]*ServerTx{},
		ackIdx:   map[string]*ServerTx{},
		ackCache: map[string]*ackEntry{},
		conns:    map[*Conn]struct{}{},
		udpConns: map[udpKey]*Conn{},
		perAddr:  map[netip.Addr]int{},
		timedOut: map[uint64]struct{}{},
	}
	for i := range ep.shards {
		ep.shards[i].m = map[uint64]*ClientTx{}
	}
	ep.pendConns = map[*Conn]struct{}{}
	ep.sweepFn = ep.sweep
	ep.wheel.schedule(&ep.sweepTimer, sweepEvery, ep.sweepFn)
	return ep
}

// Stats returns the endpoint's counters.
func (ep *Endpoint) Stats() Stats {
	st := Stats{
		Malformed:          ep.stats.malformed.Load(),
		KeepAlives:         ep.stats.keepalives.Load(),
		Retransmissions:    ep.stats.retransmits.Load(),
		StrayResponses:     ep.stats.strays.Load(),
		Timeouts:           ep.stats.timeouts.Load(),
		LateResponses:      ep.stats.lateResponses.Load(),
		AbsorbedRetransmit: ep.stats.absorbed.Load(),
		Responses:          map[int]uint64{},
		Reads:              ep.stats.reads.Load(),
		Writes:             ep.stats.writes.Load(),
		BytesIn:            ep.stats.bytesIn.Load(),
		BytesOut:           ep.stats.bytesOut.Load(),
		MessagesIn:         ep.stats.msgsIn.Load(),
		MessagesOut:        ep.stats.msgsOut.Load(),
		Refused:            ep.stats.refused.Load(),
		SignInTimeouts:     ep.stats.signInTimeouts.Load(),
		MessageTimeouts:    ep.stats.messageTimeouts.Load(),
		TooLarge:           ep.stats.tooLarge.Load(),
		HandshakeFailures:  ep.stats.handshakeFailures.Load(),
		ResponsesRefused:   ep.stats.refusedSigned.Load(),
	}
	for code := range ep.stats.byStatus {
		if n := ep.stats.byStatus[code].Load(); n > 0 {
			st.Responses[code] = n
		}
	}
	return st
}

// ListenTCP serves SIP over TCP on addr ("127.0.0.1:0" for a random port).
func (ep *Endpoint) ListenTCP(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: listen tcp %s: %w", addr, err)
	}
	if err := ep.addListener(ln); err != nil {
		ln.Close()
		return nil, err
	}
	ep.acceptLoop(ln, nil)
	return ln.Addr(), nil
}

// acceptLoop accepts connections on ln until it closes; with cfg they
// speak TLS.
func (ep *Endpoint) acceptLoop(ln net.Listener, cfg *tls.Config) {
	ep.wg.Add(1)
	go func() {
		defer ep.wg.Done()
		var backoff time.Duration
		for {
			nc, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// out of file descriptors, or another passing failure:
				// wait, longer each time (up to 1 s), and say so once
				// in a while, not once per attempt
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				ep.acceptLog.log(ep.log, slog.LevelError, "sipnet: accept failed", "listener", ln.Addr().String(), "err", err, "retry_in", backoff.String())
				time.Sleep(backoff)
				continue
			}
			backoff = 0
			ep.accept(nc, cfg)
		}
	}()
}

// accept starts serving a connection accepted on a listener (TLS with
// cfg: the handshake is the reader's first job), or refuses it at once
// (reset) when it is over a cap.
func (ep *Endpoint) accept(nc net.Conn, cfg *tls.Config) {
	from := addrPort(nc.RemoteAddr()).Addr().Unmap()
	ep.connMu.Lock()
	err := ep.admitLocked(from)
	ep.connMu.Unlock()
	if err != nil {
		// counted before the close, so that a peer that saw the reset
		// reads the count
		ep.refused(from, TCP, err)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset: nothing kept for a refused peer
		}
		nc.Close()
		return
	}
	var tc *tls.Conn
	var w *tlsWire
	if cfg != nil {
		w = &tlsWire{Conn: nc}
		w.blocking.Store(true) // until the handshake is done
		tc = tls.Server(w, cfg)
	}
	if _, err := ep.startStream(nc, true, tc, w); err != nil {
		nc.Close()
		ep.connMu.Lock()
		ep.inbound--
		if ep.perAddr[from]--; ep.perAddr[from] <= 0 {
			delete(ep.perAddr, from)
		}
		ep.connMu.Unlock()
	}
}

// ListenUDP serves SIP over UDP on addr.
func (ep *Endpoint) ListenUDP(addr string) (net.Addr, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: listen udp %s: %w", addr, err)
	}
	sock, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("sipnet: listen udp %s: %w", addr, err)
	}
	_ = sock.SetReadBuffer(4 << 20)
	_ = sock.SetWriteBuffer(4 << 20)
	if err := ep.addListener(sock); err != nil {
		sock.Close()
		return nil, err
	}
	local := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	ep.wg.Add(1)
	go func() {
		defer ep.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, peer, err := sock.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				ep.log.Warn("sipnet: udp read", "err", err)
				continue
			}
			c := ep.udpConn(sock, local, peer)
			if c != nil {
				ep.datagram(c, buf[:n])
			}
		}
	}()
	return sock.LocalAddr(), nil
}

func (ep *Endpoint) addListener(l io.Closer) error {
	ep.connMu.Lock()
	defer ep.connMu.Unlock()
	if ep.closed {
		return ErrClosed
	}
	ep.listeners = append(ep.listeners, l)
	return nil
}

func (ep *Endpoint) udpConn(sock *net.UDPConn, local, peer netip.AddrPort) *Conn {
	k := udpKey{sock, peer}
	ep.connMu.Lock()
	if c := ep.udpConns[k]; c != nil {
		ep.connMu.Unlock()
		return c
	}
	if ep.closed {
		ep.connMu.Unlock()
		return nil
	}
	if err := ep.admitLocked(peer.Addr().Unmap()); err != nil {
		ep.connMu.Unlock()
		ep.refused(peer.Addr().Unmap(), UDP, err)
		return nil
	}
	c := ep.newConn(UDP)
	c.pc, c.raddr = sock, net.UDPAddrFromAddrPort(peer)
	c.local, c.remote = local, peer
	ep.udpConns[k] = c
	ep.conns[c] = struct{}{}
	ep.nconns.Store(int64(len(ep.conns)))
	c.startLimits()
	ep.connMu.Unlock()
	return c
}

// A connection keeps its buffers (the read buffer, the plaintext and,
// over TLS, the ciphertext write buffers) between bursts for reuse, up to
// a share of bufBudget: the endpoint's connections together keep at most
// about that much, each at least minBufKeep and at most maxBufKeep. A
// few busy shared connections keep large buffers and allocate nothing per
// batch; the thousands of connections of one user each (the
// client-to-Front-End model, mostly idle) keep small ones, so an idle
// connection costs kilobytes, not the largest burst it ever carried. Over
// TLS the same share bounds the records sealed (at least minTLSRecord),
// since the peer's crypto/tls keeps a read buffer as large as the largest
// records it received.
const (
	bufBudget  = 16 << 20
	minBufKeep = 2 << 10
	maxBufKeep = 256 << 10
)

// minTLSRecord is the least plaintext sealed in one TLS record when
// records are bounded by bufKeep.
const minTLSRecord = 4 << 10

// bufKeep is how large a buffer a connection keeps between bursts now.
func (ep *Endpoint) bufKeep() int {
	n := ep.nconns.Load()
	if n <= 0 {
		return maxBufKeep
	}
	return int(min(max(bufBudget/n, minBufKeep), maxBufKeep))
}

func (ep *Endpoint) newConn(transport string) *Conn {
	return &Conn{ep: ep, transport: transport, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// startStream serves a TCP connection (TLS when tc is set: tc runs over
// w, which runs over nc); inbound: it was accepted on a listener (and
// counted against the caps), so the limits apply to it.
func (ep *Endpoint) startStream(nc net.Conn, inbound bool, tc *tls.Conn, w *tlsWire) (*Conn, error) {
	transport := TCP
	if tc != nil {
		transport = TLS
	}
	c := ep.newConn(transport)
	c.nc, c.tc, c.tw = nc, tc, w
	c.local = addrPort(nc.LocalAddr())
	c.remote = addrPort(nc.RemoteAddr())
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("sipnet: %T is not a TCP connection", nc)
	}
	_ = tcp.SetNoDelay(true)
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sipnet: %s: %w", c.remote, err)
	}
	c.rc = rc
	ep.connMu.Lock()
	if ep.closed {
		ep.connMu.Unlock()
		return nil, ErrClosed
	}
	ep.conns[c] = struct{}{}
	ep.nconns.Store(int64(len(ep.conns)))
	if inbound {
		c.startLimits()
	}
	ep.wg.Add(2)
	ep.connMu.Unlock()
	go c.readLoopTCP()
	go c.writeLoop()
	return c, nil
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// DialTCP opens a TCP connection to addr.
func (ep *Endpoint) DialTCP(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: dial tcp %s: %w", addr, err)
	}
	c, err := ep.startStream(nc, false, nil, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// DialUDP opens a UDP socket connected to addr.
func (ep *Endpoint) DialUDP(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: dial udp %s: %w", addr, err)
	}
	c := ep.newConn(UDP)
	c.nc = nc
	c.local, c.remote = addrPort(nc.LocalAddr()), addrPort(nc.RemoteAddr())
	ep.connMu.Lock()
	if ep.closed {
		ep.connMu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	ep.conns[c] = struct{}{}
	ep.nconns.Store(int64(len(ep.conns)))
	ep.wg.Add(1)
	ep.connMu.Unlock()
	go c.readLoopUDPConn()
	return c, nil
}

// After calls f once d has passed, on the endpoint's timer goroutine
// (with its 20 ms resolution): f must be quick and must not block. It costs
// no goroutine and no runtime timer (the reference server delays replies
// with it).
func (ep *Endpoint) After(d time.Duration, f func()) {
	ep.wheel.schedule(new(timerEntry), d, f)
}

// Conns returns the number of open connections.
func (ep *Endpoint) Conns() int {
	ep.connMu.Lock()
	defer ep.connMu.Unlock()
	return len(ep.conns)
}

// Close closes listeners and connections, fails pending transactions and
// waits for the endpoint's goroutines.
func (ep *Endpoint) Close() error {
	ep.connMu.Lock()
	if ep.closed {
		ep.connMu.Unlock()
		return nil
	}
	ep.closed = true
	ls := ep.listeners
	conns := make([]*Conn, 0, len(ep.conns))
	for c := range ep.conns {
		conns = append(conns, c)
	}
	ep.connMu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	ep.wg.Wait()
	ep.wheel.close()
	return nil
}

func (ep *Endpoint) connClosed(c *Conn) {
	ep.connMu.Lock()
	delete(ep.conns, c)
	ep.nconns.Store(int64(len(ep.conns)))
	ep.releaseLocked(c)
	if c.pc != nil {
		delete(ep.udpConns, udpKey{c.pc.(*net.UDPConn), c.remote})
	}
	ep.connMu.Unlock()
	ep.pendMu.Lock()
	delete(ep.pendConns, c)
	ep.pendMu.Unlock()
	ep.failConnTxs(c)
	if ep.opts.OnConnClose != nil {
		ep.opts.OnConnClose(c)
	}
}

func (ep *Endpoint) malformed(c *Conn, head []byte, err error) {
	ep.stats.malformed.Add(1)
	ep.log.Debug("sipnet: malformed message", "conn", c.String(), "err", err)
	if ep.opts.OnMalformed != nil {
		ep.opts.OnMalformed(c, head, err)
	}
}

// datagram handles one UDP datagram: a keep-alive or one message.
func (ep *Endpoint) datagram(c *Conn, b []byte) {
	ep.stats.reads.Add(1)
	ep.stats.bytesIn.Add(uint64(len(b)))
	c.msgsIn.Add(1)
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i == len(b) {
		ep.stats.keepalives.Add(1)
		return
	}
	ep.stats.msgsIn.Add(1)
	raw := make([]byte, len(b)-i)
	copy(raw, b[i:])
	ep.receive(c, raw)
}

// receive dispatches one framed message.
func (ep *Endpoint) receive(c *Conn, raw []byte) {
	if ep.opts.Trace != nil {
		ep.opts.Trace(In, c, raw)
	}
	m, err := Scan(raw)
	if err != nil {
		ep.malformed(c, raw[:min(len(raw), 512)], err)
		// answered even without Via, Call-ID, From or CSeq: the answer
		// goes back on the connection (or to the datagram's source) and
		// copies what the request had
		ep.refuse(c, m, 400, "Bad Request", err)
		return
	}
	if m.IsRequest() {
		ep.handleRequest(c, m)
		return
	}
	ep.handleResponse(c, m)
}

// rejectOversize answers 513 to a request too large to accept, received
// on a connection the endpoint dialed.
func (ep *Endpoint) rejectOversize(c *Conn, raw []byte) {
	m, err := Scan(raw)
	if err != nil || !m.IsRequest() || m.Method == "ACK" {
		return
	}
	_ = c.Render(func(dst []byte) []byte {
		return appendResponse(dst, m, 513, "Message Too Large", "", nil, "", nil, nil)
	})
}

// refuse answers a request that cannot be handled with code, a Warning
// saying why; it answers nothing to a response, an ACK, or what has no
// request line.
func (ep *Endpoint) refuse(c *Conn, m *Message, code int, reason string, why error) {
	if m == nil || !m.IsRequest() || m.Method == "ACK" {
		return
	}
	_ = c.Render(func(dst []byte) []byte {
		return appendResponse(dst, m, code, reason, "", []Header{{"Warning", `399 gcload "` + sanitize(why.Error()) + `"`}}, "", nil, nil)
	})
}

// refuseFraming answers the message at the start of b that could not be
// framed (too large: 413; conflicting Content-Length: 400), from its
// header block; nothing when the header block did not end.
func (ep *Endpoint) refuseFraming(c *Conn, b []byte, err error) {
	end := bytes.Index(b[:min(len(b), ep.opts.MaxMessageSize)], []byte("\n\r\n"))
	if end < 0 {
		if end = bytes.Index(b[:min(len(b), ep.opts.MaxMessageSize)], []byte("\n\n")); end < 0 {
			return
		}
		end += 2
	} else {
		end += 3
	}
	m, _ := Scan(append([]byte(nil), b[:end]...))
	code, reason := 400, "Bad Request"
	if errors.Is(err, ErrTooLarge) {
		code, reason = 413, "Request Entity Too Large"
		ep.stats.tooLarge.Add(1)
	}
	ep.refuse(c, m, code, reason, err)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f {
			b[i] = '\''
		}
	}
	return string(b)
}
