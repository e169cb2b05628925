package sipnet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination tests read while the endpoint writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// limitedServer starts an endpoint that answers every request 200 (and
// signs the connection in when the request is a REGISTER), with limits o.
func limitedServer(t *testing.T, o Options) (*Endpoint, string, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	o.Handler = func(tx *ServerTx) {
		if tx.Msg.Method == "REGISTER" {
			tx.Conn.SignIn()
		}
		if tx.Msg.Method != "ACK" {
			_ = tx.Respond(200, "OK")
		}
	}
	ep := NewEndpoint(o)
	t.Cleanup(func() { ep.Close() })
	a, err := ep.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ep, a.String(), logs
}

func request(method, callID string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " sip:svc@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK" + callID + "\r\n")
	b.WriteString("From: <sip:alice@example.com>;tag=1\r\nTo: <sip:svc@example.com>\r\nCall-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if len(extra) == 0 || !strings.HasPrefix(strings.ToLower(extra[len(extra)-1]), "content-length") {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// rawConn is a test peer that writes what it is given and reads status
// lines.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, addr string, from string) *rawConn {
	t.Helper()
	c, err := tryDial(t, addr, from)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryDial connects from the address from ("" for any); a server that
// resets the connection at once may make the dial itself fail.
func tryDial(t *testing.T, addr string, from string) (*rawConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: bufio.NewReader(nc)}, nil
}

func (r *rawConn) write(s string) error {
	_, err := r.nc.Write([]byte(s))
	return err
}

// status reads one response's status line and headers (bodies are empty).
func (r *rawConn) status(within time.Duration) (string, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(within))
	line, err := r.rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	for {
		l, err := r.rd.ReadString('\n')
		if err != nil {
			return "", err
		}
		if l == "\r\n" {
			break
		}
	}
	return strings.TrimSpace(line), nil
}

// closed reports whether the server closed the connection (EOF or reset)
// within d.
func (r *rawConn) closed(d time.Duration) bool {
	_ = r.nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r.rd)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

func TestFrameRefusals(t *testing.T) {
	t.Parallel()
	head := "INFO a SIP/2.0\r\nContent-Length: 3\r\n"
	if _, n, err := frame([]byte(head+"l: 3\r\n\r\nabc"), 100); err != nil || n != len(head)+len("l: 3\r\n\r\nabc") {
		t.Fatalf("equal Content-Length headers: %d %v", n, err)
	}
	if _, _, err := frame([]byte(head+"Content-Length: 4\r\n\r\nabc"), 100); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "conflicting Content-Length") {
		t.Fatalf("conflicting Content-Length: %v", err)
	}
	// refused from the header alone: the body is never waited for
	if _, _, err := frame([]byte("INFO a SIP/2.0\r\nContent-Length: 1048000\r\n\r\nxx"), DefaultMaxMessageSize); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Content-Length 1048000: %v", err)
	}
	if _, _, err := frame([]byte("INFO a SIP/2.0\r\nContent-Length: 80\r\n\r\n"), 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("message over the limit: %v", err)
	}
	if _, err := Scan([]byte(request("INFO", "c", "Content-Length: 0", "Content-Length: 2"))); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "conflicting") {
		t.Fatalf("Scan of conflicting Content-Length: %v", err)
	}
}

// TestOversizeBodyRefused: a request announcing a body over the message
// limit is answered 413 as soon as its header is in, and its connection
// closed: the server never holds the body (the attack held 1 MB per
// connection for ever).
func TestOversizeBodyRefused(t *testing.T) {
	t.Parallel()
	ep, addr, _ := limitedServer(t, Options{})
	c := dialRaw(t, addr, "")
	if err := c.write(request("INFO", "big", "Content-Type: text/plain", "Content-Length: 1048000") + strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	if s, err := c.status(5 * time.Second); err != nil || !strings.HasPrefix(s, "SIP/2.0 413 ") {
		t.Fatalf("oversize body: %q %v, want 413 before the body was sent", s, err)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("the connection stayed open after the 413")
	}
	if st := ep.Stats(); st.TooLarge != 1 {
		t.Fatalf("TooLarge %d", st.TooLarge)
	}
}

// TestConflictingContentLength: two Content-Length headers that differ
// cannot be framed safely: 400, and the connection is closed.
func TestConflictingContentLength(t *testing.T) {
	t.Parallel()
	_, addr, _ := limitedServer(t, Options{})
	c := dialRaw(t, addr, "")
	if err := c.write(request("OPTIONS", "cl", "Content-Length: 0", "Content-Length: 5") + "hello"); err != nil {
		t.Fatal(err)
	}
	if s, err := c.status(5 * time.Second); err != nil || !strings.HasPrefix(s, "SIP/2.0 400 ") {
		t.Fatalf("conflicting Content-Length: %q %v, want 400", s, err)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("the connection stayed open")
	}
}

// TestMalformedRequestsAnswered: a request missing Via, Call-ID, From or
// CSeq is answered 400 on its connection, never dropped in silence.
func TestMalformedRequestsAnswered(t *testing.T) {
	t.Parallel()
	_, addr, _ := limitedServer(t, Options{})
	c := dialRaw(t, addr, "")
	full := request("OPTIONS", "m")
	for _, h := range []string{"Via", "Call-ID", "From", "CSeq"} {
		var lines []string
		for _, l := range strings.Split(full, "\r\n") {
			if !strings.HasPrefix(l, h+":") {
				lines = append(lines, l)
			}
		}
		if err := c.write(strings.Join(lines, "\r\n")); err != nil {
			t.Fatal(err)
		}
		if s, err := c.status(5 * time.Second); err != nil || !strings.HasPrefix(s, "SIP/2.0 400 ") {
			t.Fatalf("request without %s: %q %v, want 400", h, s, err)
		}
	}
}

// TestSignInTimeout: an accepted connection that never signs in is closed
// after SignInTimeout; one that signed in stays.
func TestSignInTimeout(t *testing.T) {
	t.Parallel()
	const limit = 300 * time.Millisecond
	ep, addr, _ := limitedServer(t, Options{SignInTimeout: limit})
	idle := dialRaw(t, addr, "")
	user := dialRaw(t, addr, "")
	if err := user.write(request("REGISTER", "r1")); err != nil {
		t.Fatal(err)
	}
	if s, err := user.status(5 * time.Second); err != nil || s != "SIP/2.0 200 OK" {
		t.Fatalf("REGISTER: %q %v", s, err)
	}
	if !idle.closed(10 * time.Second) {
		t.Fatal("a connection that never signed in is still open")
	}
	// the signed-in one outlived the limit and still answers
	if err := user.write(request("OPTIONS", "o1")); err != nil {
		t.Fatal(err)
	}
	if s, err := user.status(5 * time.Second); err != nil || s != "SIP/2.0 200 OK" {
		t.Fatalf("signed-in connection after the sign-in limit: %q %v", s, err)
	}
	if st := ep.Stats(); st.SignInTimeouts != 1 {
		t.Fatalf("SignInTimeouts %d, want 1", st.SignInTimeouts)
	}
	// UDP: a peer that never signs in is forgotten
	ua, err := ep.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// the idle connection's close is seen by its peer before the endpoint
	// has let go of it: count once only the signed-in one is left
	for deadline := time.Now().Add(5 * time.Second); ep.Conns() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after the idle one closed, want the signed-in one", ep.Conns())
		}
	}
	before := ep.Conns()
	uc, err := net.Dial("udp", ua.String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, err := uc.Write([]byte(strings.ReplaceAll(request("OPTIONS", "u1"), "TCP", "UDP"))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ep.Conns() != before || ep.Stats().SignInTimeouts != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("UDP peer without sign-in: %d conns (want %d), %d sign-in timeouts", ep.Conns(), before, ep.Stats().SignInTimeouts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMessageTimeout: a connection with a half-sent message is closed
// after MessageTimeout; a busy connection whose reads often end inside a
// message, each completed in time, stays open.
func TestMessageTimeout(t *testing.T) {
	t.Parallel()
	const limit = 400 * time.Millisecond
	ep, addr, _ := limitedServer(t, Options{MessageTimeout: limit})
	half := dialRaw(t, addr, "")
	msg := request("OPTIONS", "h", "Content-Type: text/plain", "Content-Length: 100") + strings.Repeat("x", 100)
	if err := half.write(msg[:len(msg)-10]); err != nil {
		t.Fatal(err)
	}
	busy := dialRaw(t, addr, "")
	var answered int
	done := make(chan error, 1)
	go func() {
		// for three times the limit, every 50 ms: the end of one message
		// and the start of the next
		var err error
		prev := ""
		for i := 0; i < 3*int(limit/(50*time.Millisecond)); i++ {
			m := request("OPTIONS", "b"+strconv.Itoa(i))
			cut := len(m) / 2
			if err = busy.write(prev + m[:cut]); err != nil {
				break
			}
			prev = m[cut:]
			time.Sleep(50 * time.Millisecond)
		}
		if err == nil {
			err = busy.write(prev)
		}
		done <- err
	}()
	if !half.closed(10 * time.Second) {
		t.Fatal("a connection with a half-sent message is still open")
	}
	if err := <-done; err != nil {
		t.Fatalf("busy connection: %v", err)
	}
	for ; answered < 3*int(limit/(50*time.Millisecond)); answered++ {
		if s, err := busy.status(5 * time.Second); err != nil || s != "SIP/2.0 200 OK" {
			t.Fatalf("busy connection, answer %d: %q %v", answered, s, err)
		}
	}
	if st := ep.Stats(); st.MessageTimeouts != 1 {
		t.Fatalf("MessageTimeouts %d, want 1", st.MessageTimeouts)
	}
}

// TestConnectionCaps: connections over MaxConnsPerAddr (from one address)
// or MaxConns (in all) are reset at once and counted; the refusals are
// logged once, not once each; closing a connection frees its slot; the
// endpoint keeps serving the connections it holds.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	ep, addr, logs := limitedServer(t, Options{MaxConnsPerAddr: 3, MaxConns: 5})
	var held []*rawConn
	var serve func(c *rawConn, want bool, what string)
	// check dials from the address from and reports the connection when
	// it is served as want says
	check := func(from string, want bool, what string) *rawConn {
		t.Helper()
		c, err := tryDial(t, addr, from)
		if err != nil {
			if want {
				t.Fatalf("%s: %v", what, err)
			}
			return nil
		}
		serve(c, want, what)
		return c
	}
	serve = func(c *rawConn, want bool, what string) {
		t.Helper()
		if err := c.write(request("OPTIONS", "x")); err != nil && want {
			t.Fatalf("%s: %v", what, err)
		}
		s, err := c.status(5 * time.Second)
		if got := err == nil && s == "SIP/2.0 200 OK"; got != want {
			t.Fatalf("%s: answered %v (%q %v), want %v", what, got, s, err, want)
		}
	}
	for i := range 3 {
		held = append(held, check("127.0.0.1", true, "connection "+strconv.Itoa(i)+" from 127.0.0.1"))
	}
	for i := range 20 {
		check("127.0.0.1", false, "connection "+strconv.Itoa(i+3)+" from 127.0.0.1 (over the per-address cap)")
	}
	for range 2 {
		held = append(held, check("127.0.0.2", true, "connection from 127.0.0.2"))
	}
	check("127.0.0.3", false, "a sixth connection (over the total cap)")
	if st := ep.Stats(); st.Refused != 21 {
		t.Fatalf("Refused %d, want 21", st.Refused)
	}
	if n := strings.Count(logs.String(), "connection refused"); n != 1 {
		t.Fatalf("%d log lines about refused connections, want 1:\n%s", n, logs)
	}
	held[0].nc.Close()
	for deadline := time.Now().Add(5 * time.Second); ep.Conns() != 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after one closed, want 4", ep.Conns())
		}
	}
	check("127.0.0.1", true, "a connection from 127.0.0.1 after one closed")
	for i, c := range held[1:] {
		serve(c, true, "held connection "+strconv.Itoa(i+1))
	}
}

func TestAfter(t *testing.T) {
	ep := NewEndpoint(Options{})
	defer ep.Close()
	start := time.Now()
	fired := make(chan time.Duration, 2)
	ep.After(100*time.Millisecond, func() { fired <- time.Since(start) })
	select {
	case d := <-fired:
		if d < 100*time.Millisecond {
			t.Fatalf("fired after %s, want at least 100ms", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never fired")
	}
	select {
	case <-fired:
		t.Fatal("fired twice")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestDialedConnectionSkipsOversize: on a connection the endpoint dialed,
// a message over the limit from the server it chose is answered 513 and
// skipped, and the connection goes on (only accepted connections are
// closed for it).
func TestDialedConnectionSkipsOversize(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep := NewEndpoint(Options{Handler: func(tx *ServerTx) { _ = tx.Respond(200, "OK") }})
	defer ep.Close()
	if _, err := ep.DialTCP(t.Context(), ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	srv := &rawConn{t: t, nc: nc, rd: bufio.NewReader(nc)}
	big := strings.Repeat("x", DefaultMaxMessageSize+100)
	if err := srv.write(request("INFO", "big", "Content-Type: text/plain", "Content-Length: "+strconv.Itoa(len(big))) + big); err != nil {
		t.Fatal(err)
	}
	if s, err := srv.status(5 * time.Second); err != nil || !strings.HasPrefix(s, "SIP/2.0 513 ") {
		t.Fatalf("oversize request from the server: %q %v, want 513", s, err)
	}
	if err := srv.write(request("OPTIONS", "after")); err != nil {
		t.Fatal(err)
	}
	if s, err := srv.status(5 * time.Second); err != nil || s != "SIP/2.0 200 OK" {
		t.Fatalf("after the oversize request: %q %v", s, err)
	}
}

// TestRateLog: a flood of one kind of event writes one line per logEvery,
// and the next line says how many were left out.
func TestRateLog(t *testing.T) {
	var buf lockedBuffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	var r rateLog
	for range 5000 {
		r.log(l, slog.LevelError, "sipnet: accept failed", "err", "too many open files")
	}
	if n := strings.Count(buf.String(), "accept failed"); n != 1 {
		t.Fatalf("%d lines for 5000 events, want 1", n)
	}
	r.mu.Lock()
	r.next = time.Now() // as if logEvery had passed
	r.mu.Unlock()
	r.log(l, slog.LevelError, "sipnet: accept failed", "err", "too many open files")
	if !strings.Contains(buf.String(), "more_since_last_line=4999") {
		t.Fatalf("the second line does not count the ones left out:\n%s", buf.String())
	}
}
