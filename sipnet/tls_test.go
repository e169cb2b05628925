package sipnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gcload/gcload/internal/tlsconf"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and "sip.test", and
// a client certificate named "fe1.test" (a trunk's).
type testPKI struct {
	roots        *x509.CertPool
	server, cli  tls.Certificate
	otherCli     tls.Certificate // from another CA
	serverConfig *tls.Config
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	now := time.Now()
	ca, err := tlsconf.NewCA("test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(tlsconf.Leaf{Hosts: []string{"127.0.0.1", "sip.test"}, Server: true, ValidFor: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(tlsconf.Leaf{CommonName: "fe1.test", Client: true, ValidFor: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlsconf.NewCA("other CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ocli, err := other.Issue(tlsconf.Leaf{CommonName: "intruder", Client: true, ValidFor: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{roots: x509.NewCertPool()}
	if !p.roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM")
	}
	for _, x := range []struct {
		dst  *tls.Certificate
		pair tlsconf.Pair
	}{{&p.server, srv}, {&p.cli, cli}, {&p.otherCli, ocli}} {
		if *x.dst, err = x.pair.TLS(); err != nil {
			t.Fatal(err)
		}
	}
	p.serverConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.server},
		ClientCAs: p.roots, ClientAuth: tls.VerifyClientCertIfGiven}
	return p
}

func (p *testPKI) client(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.roots}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// tlsPair starts a TLS server endpoint with handler h and a client
// endpoint connected to it with cfg.
func tlsPair(t *testing.T, p *testPKI, h func(*ServerTx), o Options, cfg *tls.Config) (srv, cli *Endpoint, addr string, conn *Conn) {
	t.Helper()
	o.Handler = h
	srv = NewEndpoint(o)
	t.Cleanup(func() { srv.Close() })
	cli = NewEndpoint(Options{T1: o.T1, Timeout: o.Timeout})
	t.Cleanup(func() { cli.Close() })
	a, err := srv.ListenTLS("127.0.0.1:0", p.serverConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err = cli.DialTLS(ctx, a.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli, a.String(), conn
}

func TestTLSRequestResponse(t *testing.T) {
	p := newPKI(t)
	peer := make(chan string, 1)
	_, cli, _, c := tlsPair(t, p, func(tx *ServerTx) {
		name, ok := tx.Conn.PeerCertificateName()
		if !ok {
			name = "(none)"
		}
		select {
		case peer <- tx.Conn.Transport() + " " + name:
		default:
		}
		_ = tx.Reply(Reply{Code: 200, Reason: "OK", ContentType: "text/plain", Body: []byte("hello " + tx.Msg.Method)})
	}, Options{}, p.client(nil))
	if c.Transport() != TLS || !c.IsTLS() || !c.Reliable() {
		t.Fatalf("transport %s tls %v", c.Transport(), c.IsTLS())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := newReq(sip.OPTIONS, "c1")
	res, err := cli.Do(ctx, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || string(res.Body) != "hello OPTIONS" {
		t.Fatalf("got %d %q", res.StatusCode, res.Body)
	}
	if via, _ := res.Header("Via"); !strings.HasPrefix(via, "SIP/2.0/TLS ") {
		t.Errorf("Via %q, want SIP/2.0/TLS", via)
	}
	if got := <-peer; got != "TLS (none)" {
		t.Errorf("server saw %q, want a TLS connection without a client certificate", got)
	}
}

// TestTLSMutual: a client certificate from the server's client CA names
// the trunk on the server's side; one from another CA is refused at the
// handshake.
func TestTLSMutual(t *testing.T) {
	p := newPKI(t)
	names := make(chan string, 1)
	_, cli, addr, c := tlsPair(t, p, func(tx *ServerTx) {
		name, _ := tx.Conn.PeerCertificateName()
		names <- name
		_ = tx.Respond(200, "OK")
	}, Options{}, p.client(&p.cli))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Do(ctx, c, newReq(sip.OPTIONS, "m1")); err != nil {
		t.Fatal(err)
	}
	if n := <-names; n != "fe1.test" {
		t.Fatalf("peer name %q, want fe1.test", n)
	}
	// a certificate of another CA: crypto/tls does not even offer it
	// (the server names its CAs), so the connection has no identity
	other, err := cli.DialTLS(ctx, addr, p.client(&p.otherCli))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Do(ctx, other, newReq(sip.OPTIONS, "m2")); err != nil {
		t.Fatal(err)
	}
	if n := <-names; n != "" {
		t.Fatalf("peer name %q over a connection without a valid certificate", n)
	}
	// forced on the server anyway: refused at the handshake
	forced := p.client(nil)
	forced.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p.otherCli, nil }
	bad, err := cli.DialTLS(ctx, addr, forced)
	if err == nil {
		// TLS 1.3: the client finishes before the server checks its
		// certificate; the server then closes the connection
		select {
		case <-bad.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a connection with a foreign client certificate stayed open")
		}
	}
}

// TestTLSVerification: the client refuses a server certificate it cannot
// verify (unknown CA, wrong name) unless told to skip verification.
func TestTLSVerification(t *testing.T) {
	p := newPKI(t)
	srv := NewEndpoint(Options{Handler: func(tx *ServerTx) { _ = tx.Respond(200, "OK") }})
	defer srv.Close()
	a, err := srv.ListenTLS("127.0.0.1:0", p.serverConfig)
	if err != nil {
		t.Fatal(err)
	}
	cli := NewEndpoint(Options{})
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.DialTLS(ctx, a.String(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a certificate from an unknown CA was accepted")
	}
	wrongName := p.client(nil)
	wrongName.ServerName = "elsewhere.test"
	if _, err := cli.DialTLS(ctx, a.String(), wrongName); err == nil {
		t.Error("a certificate for another name was accepted")
	}
	sni := p.client(nil)
	sni.ServerName = "sip.test" // a name in the certificate, sent as SNI
	if _, err := cli.DialTLS(ctx, a.String(), sni); err != nil {
		t.Errorf("SNI sip.test: %v", err)
	}
	if _, err := cli.DialTLS(ctx, a.String(), &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("insecure skip verify: %v", err)
	}
	if st := srv.Stats(); st.HandshakeFailures < 2 {
		t.Errorf("handshake failures %d, want the two refused", st.HandshakeFailures)
	}
}

// TestTLSHandshakeTimeout: a peer that connects and never speaks TLS is
// closed after the handshake timeout, and counted.
func TestTLSHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	srv := NewEndpoint(Options{HandshakeTimeout: 200 * time.Millisecond})
	defer srv.Close()
	a, err := srv.ListenTLS("127.0.0.1:0", p.serverConfig)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	var ne net.Error
	if _, err := nc.Read(b[:]); err == nil {
		t.Fatal("the server sent something to a silent peer")
	} else if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the silent connection was not closed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for (srv.Stats().HandshakeFailures == 0 || srv.Conns() != 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Stats().HandshakeFailures != 1 || srv.Conns() != 0 {
		t.Fatalf("handshake failures %d, connections %d", srv.Stats().HandshakeFailures, srv.Conns())
	}
}

// TestTLSBatchAndBackPressure: many asynchronous requests over TLS, some
// larger than the socket takes at once, all arrive in order and are
// answered: the writer goroutine finishes what the caller's non-blocking
// write left.
func TestTLSBatchAndBackPressure(t *testing.T) {
	p := newPKI(t)
	var seen atomic.Int64
	order := make(chan string, 400)
	_, cli, _, c := tlsPair(t, p, func(tx *ServerTx) {
		seen.Add(1)
		order <- string(tx.Msg.Body[:8])
		_ = tx.Respond(200, "OK")
	}, Options{}, p.client(nil))
	d := NewDialog(c, "call-1", "<sip:alice@example.com>", "lt", "<sip:gcs1@example.com>", "rt", "sip:gcs1@example.com", 1)
	big := strings.Repeat("x", 60000)
	const n = 300
	done := make(chan int, n)
	var b Batch
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf("%08d", i))
		if i%10 == 0 {
			body = append(body, big...)
		}
		if err := d.SendBatch(cli, &b, "INFO", "text/plain", body, func(status int, err error) {
			if err != nil {
				done <- 0
				return
			}
			done <- status
		}); err != nil {
			t.Fatal(err)
		}
		if i%7 == 6 {
			b.Flush()
		}
	}
	b.Flush()
	for i := 0; i < n; i++ {
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("request answered %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d answered", i, n)
		}
	}
	for i := 0; i < n; i++ {
		want := fmt.Sprintf("%08d", i)
		if got := <-order; got != want {
			t.Fatalf("request %d arrived as %s", i, got)
		}
	}
	if st := cli.Stats(); st.Writes >= st.MessagesOut {
		t.Errorf("%d writes for %d messages: not batched", st.Writes, st.MessagesOut)
	}
}

// TestTLSCloseFlushes: what is queued when the application closes a TLS
// connection is still delivered, then close_notify.
func TestTLSCloseFlushes(t *testing.T) {
	p := newPKI(t)
	got := make(chan string, 1)
	_, cli, _, c := tlsPair(t, p, func(tx *ServerTx) {
		got <- string(tx.Msg.Body)
	}, Options{}, p.client(nil))
	d := NewDialog(c, "call-2", "<sip:alice@example.com>", "lt", "<sip:gcs1@example.com>", "rt", "sip:gcs1@example.com", 1)
	var b Batch
	if err := d.SendBatch(cli, &b, "INFO", "text/plain", []byte("last words"), nil); err != nil {
		t.Fatal(err)
	}
	c.Close() // before the batch is flushed: Close flushes it
	b.Flush()
	select {
	case s := <-got:
		if s != "last words" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued request was lost at close")
	}
}
