package sipnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLS is the transport name of SIP over TLS (Via: SIP/2.0/TLS).
const TLS = "TLS"

// DefaultHandshakeTimeout bounds a TLS handshake on an accepted connection
// when Options.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// SIP over TLS keeps what makes plain TCP cheap: messages are rendered
// into the connection's plaintext buffer, corked while a read's answers or
// a post's fan-out are produced, and sealed in one go. crypto/tls seals
// into the wire below it (tlsWire), which never blocks: it queues the
// ciphertext, and the writer of the batch writes what the socket takes at
// once with the same non-blocking system call as plain TCP, leaving the
// rest to the writer goroutine. Reading goes through crypto/tls on the
// reader goroutine. Plain TCP connections do not touch any of this.

// tlsWire is the net.Conn below a tls.Conn: reads go to the socket; writes
// are queued as ciphertext (or, during the handshake and the final flush,
// written at once, blocking).
type tlsWire struct {
	net.Conn
	blocking atomic.Bool

	mu    sync.Mutex
	out   []byte // ciphertext not yet written
	spare []byte
}

func (w *tlsWire) Write(b []byte) (int, error) {
	if w.blocking.Load() {
		return w.Conn.Write(b)
	}
	w.mu.Lock()
	w.out = append(w.out, b...)
	w.mu.Unlock()
	return len(b), nil
}

// take returns the queued ciphertext, leaving the queue empty.
func (w *tlsWire) take() []byte {
	w.mu.Lock()
	b := w.out
	w.out = w.spare[:0]
	w.spare = nil
	w.mu.Unlock()
	return b
}

// putBack returns what the socket did not take (rest of b) to the front of
// the queue, or keeps b's memory for reuse when all was written and it is
// at most keep bytes (Endpoint.bufKeep).
func (w *tlsWire) putBack(b []byte, written, keep int) (pending bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if written < len(b) {
		rest := append(make([]byte, 0, len(b)-written+len(w.out)), b[written:]...)
		w.out = append(rest, w.out...)
	} else if w.spare == nil && cap(b) <= keep {
		w.spare = b[:0]
	}
	return len(w.out) > 0
}

// IsTLS reports whether the connection is SIP over TLS.
func (c *Conn) IsTLS() bool { return c.tc != nil }

// TLSState returns the TLS connection state (ok false for TCP and UDP, or
// before the handshake completed).
func (c *Conn) TLSState() (tls.ConnectionState, bool) {
	if c.tc == nil {
		return tls.ConnectionState{}, false
	}
	cs := c.tc.ConnectionState()
	return cs, cs.HandshakeComplete
}

// PeerCertificateName returns the common name of the peer's verified
// certificate: on the server, the identity a mutual-TLS client (a trunk)
// asserts; ok is false when the peer presented no certificate that
// verified.
func (c *Conn) PeerCertificateName() (string, bool) {
	cs, ok := c.TLSState()
	if !ok || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	return cs.VerifiedChains[0][0].Subject.CommonName, true
}

// ListenTLS serves SIP over TLS on addr with the server configuration cfg
// (its certificate; ClientCAs and ClientAuth for mutual TLS). Handshakes
// run on each connection's reader, bounded by Options.HandshakeTimeout.
func (ep *Endpoint) ListenTLS(addr string, cfg *tls.Config) (net.Addr, error) {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil) {
		return nil, errors.New("sipnet: listen tls: no server certificate")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: listen tls %s: %w", addr, err)
	}
	if err := ep.addListener(ln); err != nil {
		ln.Close()
		return nil, err
	}
	ep.acceptLoop(ln, cfg)
	return ln.Addr(), nil
}

// DialTLS opens a TLS connection to addr and completes the handshake
// before it returns. cfg's ServerName (SNI and the name verified) is the
// host of addr when empty.
func (ep *Endpoint) DialTLS(ctx context.Context, addr string, cfg *tls.Config) (*Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("sipnet: dial tls %s: %w", addr, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipnet: dial tls %s: %w", addr, err)
	}
	w := &tlsWire{Conn: nc}
	w.blocking.Store(true)
	tc := tls.Client(w, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("sipnet: tls handshake with %s: %w", addr, err)
	}
	w.blocking.Store(false)
	c, err := ep.startStream(nc, false, tc, w)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// handshake completes an accepted connection's TLS handshake, on its
// reader goroutine, within the endpoint's handshake timeout (a connection
// closed meanwhile ends it too: its socket is closed).
func (c *Conn) handshake() error {
	d := c.ep.opts.HandshakeTimeout
	if d == 0 {
		d = DefaultHandshakeTimeout
	}
	_ = c.nc.SetDeadline(time.Now().Add(d))
	err := c.tc.Handshake()
	_ = c.nc.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("sipnet: tls handshake with %s: %w", c.remote, err)
	}
	c.tw.blocking.Store(false)
	return nil
}

// sealTLS seals plain into the ciphertext queue and writes what the socket
// takes now (block: all of it, waiting for the socket). pending reports
// ciphertext left for the writer goroutine. The caller holds c.writing.
func (c *Conn) sealTLS(plain []byte, block bool) (n int, pending bool, err error) {
	// records of at most the buffer share (and crypto/tls's 16 KiB):
	// the peer keeps a read buffer as large as the largest it received
	rec := max(c.ep.bufKeep(), minTLSRecord)
	for len(plain) > 0 {
		n := min(len(plain), rec)
		if _, err := c.tc.Write(plain[:n]); err != nil {
			return 0, false, err
		}
		plain = plain[n:]
	}
	ct := c.tw.take()
	if len(ct) == 0 {
		return 0, c.tw.putBack(ct, 0, c.ep.bufKeep()), nil
	}
	if block {
		err = c.writeAll(ct)
		if err == nil {
			n = len(ct)
		}
	} else {
		n, err = c.tryWrite(ct)
	}
	return n, c.tw.putBack(ct, max(n, 0), c.ep.bufKeep()), err
}

// handshakeFailed counts and logs (rate-limited) an accepted connection
// whose TLS handshake failed.
func (ep *Endpoint) handshakeFailed(c *Conn, err error) {
	ep.stats.handshakeFailures.Add(1)
	ep.acceptLog.log(ep.log, slog.LevelInfo, "sipnet: tls handshake failed", "conn", c.String(), "err", err)
}
