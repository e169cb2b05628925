package sipnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gcload/gcload/internal/sipelog"
)

func TestScanLogMessages(t *testing.T) {
	for _, b := range sipelog.Blocks() {
		m, err := Scan(b.Msg)
		if err != nil {
			t.Fatalf("line %d: %v", b.Line, err)
		}
		p, err := m.Parse()
		if err != nil {
			t.Fatalf("line %d: sipgo: %v", b.Line, err)
		}
		if m.CallID != p.CallID().Value() {
			t.Errorf("line %d: Call-ID %q, sipgo %q", b.Line, m.CallID, p.CallID().Value())
		}
		from, _ := p.From().Params.Get("tag")
		if m.FromTag != from {
			t.Errorf("line %d: From tag %q, sipgo %q", b.Line, m.FromTag, from)
		}
		to, _ := p.To().Params.Get("tag")
		if m.ToTag != to {
			t.Errorf("line %d: To tag %q, sipgo %q", b.Line, m.ToTag, to)
		}
		br, _ := p.Via().Params.Get("branch")
		if m.Branch != br {
			t.Errorf("line %d: branch %q, sipgo %q", b.Line, m.Branch, br)
		}
		if m.CSeq != p.CSeq().SeqNo || m.CSeqMethod != string(p.CSeq().MethodName) {
			t.Errorf("line %d: CSeq %d %s", b.Line, m.CSeq, m.CSeqMethod)
		}
		if string(m.Body) != string(p.Body()) {
			t.Errorf("line %d: body differs", b.Line)
		}
	}
}

func TestScanErrors(t *testing.T) {
	base := "INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 2 INFO\r\nContent-Length: 0\r\n\r\n"
	cases := map[string]string{
		"bad request line": strings.Replace(base, "INFO sip:a@b SIP/2.0", "INFO sip:a@b", 1),
		"lowercase method": strings.Replace(base, "INFO sip", "info sip", 1),
		"no via":           strings.Replace(base, "Via: SIP/2.0/TCP 1.2.3.4\r\n", "", 1),
		"no call-id":       strings.Replace(base, "Call-ID: c\r\n", "", 1),
		"bad cseq":         strings.Replace(base, "CSeq: 2 INFO", "CSeq: two INFO", 1),
		"cseq method":      strings.Replace(base, "CSeq: 2 INFO", "CSeq: 2 BYE", 1),
		"short body":       strings.Replace(base, "Content-Length: 0", "Content-Length: 9", 1),
		"bad status":       "SIP/2.0 99 Odd\r\n" + base[strings.Index(base, "Via"):],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Scan([]byte(in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	m, err := Scan([]byte(strings.Replace(base, "Call-ID: c", "i: compact\r\nl: 0", 1)))
	if err != nil || m.CallID != "compact" {
		t.Fatalf("compact form: %v %q", err, m.CallID)
	}
}

func TestFrame(t *testing.T) {
	msg := "INFO a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
	cases := []struct {
		in      string
		skip, n int
		wantErr bool
	}{
		{"\r\n\r\n", 4, 0, false},
		{"\r\n\r\n" + msg + "INFO", 4, len(msg), false},
		{msg[:20], 0, 0, false},
		{"INFO a SIP/2.0\r\nl: 2\r\n\r\nxy", 0, len("INFO a SIP/2.0\r\nl: 2\r\n\r\nxy"), false},
		{"INFO a SIP/2.0\nX: 1\n\n", 0, len("INFO a SIP/2.0\nX: 1\n\n"), false},
		{strings.Repeat("x", 200), 0, 0, true},
	}
	for _, c := range cases {
		skip, n, err := frame([]byte(c.in), 100)
		if skip != c.skip || n != c.n || (err != nil) != c.wantErr {
			t.Errorf("frame(%q) = %d, %d, %v; want %d, %d, err %v", c.in, skip, n, err, c.skip, c.n, c.wantErr)
		}
	}
}

// pair starts a server endpoint with handler h and a client endpoint.
func pair(t *testing.T, transport string, h func(*ServerTx), o Options) (srv, cli *Endpoint, conn *Conn) {
	t.Helper()
	o.Handler = h
	srv = NewEndpoint(o)
	t.Cleanup(func() { srv.Close() })
	cli = NewEndpoint(Options{T1: o.T1, Timeout: o.Timeout})
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()
	var err error
	if transport == TCP {
		a, lerr := srv.ListenTCP("127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		conn, err = cli.DialTCP(ctx, a.String())
	} else {
		a, lerr := srv.ListenUDP("127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		conn, err = cli.DialUDP(ctx, a.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli, conn
}

func newReq(method sip.RequestMethod, callID string) *sip.Request {
	var u sip.Uri
	_ = sip.ParseUri("sip:svc@example.com", &u)
	r := sip.NewRequest(method, u)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", "ftag")
	r.AppendHeader(from)
	r.AppendHeader(&sip.ToHeader{Address: u, Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	return r
}

func TestRequestResponse(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{TCP, UDP} {
		t.Run(tr, func(t *testing.T) {
			_, cli, c := pair(t, tr, func(tx *ServerTx) {
				_ = tx.Reply(Reply{Code: 200, Reason: "OK", ContentType: "text/plain", Body: []byte("hello " + tx.Msg.Method)})
			}, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := cli.Do(ctx, c, newReq(sip.OPTIONS, "c1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || string(res.Body) != "hello OPTIONS" || res.ToTag == "" {
				t.Fatalf("got %d %q to-tag %q", res.StatusCode, res.Body, res.ToTag)
			}
		})
	}
}

func TestUDPRetransmissionAbsorbed(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	// The server answers only after the client retransmitted twice.
	srv, cli, c := pair(t, UDP, func(tx *ServerTx) {
		calls.Add(1)
		go func() {
			// a real-time gap on purpose: the client's Timer A (T1 40 ms)
			// retransmits during it; Do waits for this answer
			time.Sleep(150 * time.Millisecond)
			_ = tx.Respond(200, "OK")
		}()
	}, Options{T1: 40 * time.Millisecond, Timeout: 2 * time.Second})
	_ = srv
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, c, newReq(sip.INFO, "c2"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler saw %d requests, want 1 (retransmissions absorbed)", calls.Load())
	}
	if cli.Stats().Retransmissions == 0 || srv.Stats().AbsorbedRetransmit == 0 {
		t.Fatalf("client retransmitted %d, server absorbed %d", cli.Stats().Retransmissions, srv.Stats().AbsorbedRetransmit)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	_, cli, c := pair(t, TCP, func(tx *ServerTx) {}, Options{})
	cli.opts.Timeout = 100 * time.Millisecond
	_, err := cli.Do(context.Background(), c, newReq(sip.INFO, "c3"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

// TestLateResponse: an answer that arrives after its transaction timed
// out is counted as late (not only as a stray), for both the synchronous
// and the asynchronous (recycled) transactions.
func TestLateResponse(t *testing.T) {
	t.Parallel()
	held := make(chan *ServerTx, 2)
	_, cli, c := pair(t, TCP, func(tx *ServerTx) { held <- tx }, Options{})
	cli.opts.Timeout = 100 * time.Millisecond
	if _, err := cli.Do(context.Background(), c, newReq(sip.INFO, "late1")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	answered := make(chan error, 1)
	err := cli.Send(c, "INFO", func(dst []byte, br Branch) []byte {
		return append(dst, "INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch="+br.String()+"\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: late2\r\nCSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n"...)
	}, func(_ int, err error) { answered <- err })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-answered; !errors.Is(err, ErrTimeout) {
		t.Fatalf("async: got %v, want ErrTimeout", err)
	}
	for range 2 {
		_ = (<-held).Respond(200, "OK")
	}
	deadline := time.Now().Add(5 * time.Second)
	for cli.Stats().LateResponses < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := cli.Stats(); st.LateResponses != 2 || st.Timeouts != 2 {
		t.Fatalf("late responses %d, timeouts %d, want 2 and 2", st.LateResponses, st.Timeouts)
	}
}

func TestCancelInvite(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{TCP, UDP} {
		t.Run(tr, func(t *testing.T) {
			_, cli, c := pair(t, tr, func(tx *ServerTx) {
				if tx.Msg.Method == "INVITE" {
					_ = tx.Reply(Reply{Code: 183, Reason: "Session Progress", ContentType: "text/plain", Body: []byte("early")})
				}
			}, Options{T1: 50 * time.Millisecond})
			tx, err := cli.Begin(c, newReq(sip.INVITE, "c4"))
			if err != nil {
				t.Fatal(err)
			}
			p := <-tx.Responses()
			if p.StatusCode != 183 || string(p.Body) != "early" {
				t.Fatalf("provisional %d %q", p.StatusCode, p.Body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ctx2, err := tx.Cancel()
			if err != nil {
				t.Fatal(err)
			}
			cr, err := ctx2.Wait(ctx)
			if err != nil || cr.StatusCode != 200 {
				t.Fatalf("CANCEL answered %v %v", cr, err)
			}
			fin, err := tx.Wait(ctx)
			if err != nil || fin.StatusCode != 487 || fin.ToTag != p.ToTag {
				t.Fatalf("INVITE final %v %v (to tag must match the 183)", fin, err)
			}
		})
	}
}

func TestCancelUnknown(t *testing.T) {
	t.Parallel()
	_, cli, c := pair(t, TCP, func(tx *ServerTx) {}, Options{})
	res, err := cli.Do(context.Background(), c, newReq(sip.CANCEL, "c5"))
	if err != nil || res.StatusCode != 481 {
		t.Fatalf("got %v %v, want 481", res, err)
	}
}

// TestRawPeer talks to a server endpoint with hand-written bytes: keep-alive
// CRLFs, a request without a Via branch, and a malformed request that must
// get a 400 while the connection stays up.
func TestRawPeer(t *testing.T) {
	t.Parallel()
	srv := NewEndpoint(Options{Handler: func(tx *ServerTx) { _ = tx.Respond(200, "OK") }})
	defer srv.Close()
	a, err := srv.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(nc)
	status := func() string {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		return strings.TrimSpace(line)
	}
	noBranch := "INFO sip:gcs1@example.com SIP/2.0\r\nVia: SIP/2.0/tcp 127.0.0.1:5\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:gcs1@example.com>;tag=2\r\nCall-ID: x\r\nCSeq: 2 INFO\r\nContent-Length: 0\r\n\r\n"
	bad := "INFO sip:gcs1@example.com SIP/2.0\r\nVia: SIP/2.0/tcp 127.0.0.1:5\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:g@e>\r\nCall-ID: y\r\nCSeq: nope INFO\r\nContent-Length: 0\r\n\r\n"
	_, _ = nc.Write([]byte("\r\n\r\n" + noBranch + "\r\n\r\n"))
	if s := status(); s != "SIP/2.0 200 OK" {
		t.Fatalf("no-branch request: %q", s)
	}
	_, _ = nc.Write([]byte(bad))
	if s := status(); !strings.HasPrefix(s, "SIP/2.0 400") {
		t.Fatalf("malformed request: %q", s)
	}
	_, _ = nc.Write([]byte(noBranch))
	if s := status(); s != "SIP/2.0 200 OK" {
		t.Fatalf("after malformed: %q", s)
	}
	if st := srv.Stats(); st.KeepAlives < 2 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDialogSendAsync(t *testing.T) {
	t.Parallel()
	got := make(chan string, 100)
	_, cli, c := pair(t, TCP, func(tx *ServerTx) {
		got <- string(tx.Msg.Body)
		_ = tx.Respond(200, "OK")
	}, Options{})
	d := NewDialog(c, "call-1", "<sip:alice@example.com>", "lt", "<sip:gcs1@example.com>", "rt", "sip:gcs1@example.com", 1)
	done := make(chan int, 100)
	for i := 0; i < 50; i++ {
		if err := d.Send(cli, "INFO", "text/plain", []byte("m"), func(status int, err error) {
			if err != nil {
				done <- 0
				return
			}
			done <- status
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("got %d", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("timeout")
		}
	}
	if len(got) != 50 {
		t.Fatalf("server saw %d", len(got))
	}
}

func BenchmarkScanInfo(b *testing.B) {
	raw := []byte("INFO sip:alice@example.com:5060;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKabcdef01-1f\r\nMax-Forwards: 70\r\nFrom: <sip:gcs1@example.com>;tag=04a6bc86\r\nTo: <sip:alice@example.com>;tag=4789962377\r\nCall-ID: 9CC6g0DEBa9C41iE549m4046t2ED0bEB5Ex83D2x\r\nCSeq: 109 INFO\r\nContent-Type: text/plain\r\nContent-Length: 240\r\n\r\n" +
		`<xccos ver="1" envid="1009" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:alice@example.com" ts="2026-11-21T21:42:34Z"><chat>hi bob (no echo test)</chat></grpchat></xccos>`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := frame(raw, 65535); err != nil {
			b.Fatal(err)
		}
		if _, err := Scan(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAsyncOutcomes: the hot path reports error answers and timeouts, over
// TCP (recycled transactions, fast answer matching) and UDP.
func TestAsyncOutcomes(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{TCP, UDP} {
		t.Run(tr, func(t *testing.T) {
			_, cli, c := pair(t, tr, func(tx *ServerTx) {
				switch string(tx.Msg.Body) {
				case "ok":
					_ = tx.Respond(200, "OK")
				case "gone":
					_ = tx.Respond(481, "Call/Transaction Does Not Exist")
				} // "silent": no answer
			}, Options{T1: 50 * time.Millisecond, Timeout: 400 * time.Millisecond})
			d := NewDialog(c, "call-2", "<sip:a@b>", "lt", "<sip:c@d>", "rt", "sip:c@d", 1)
			type outcome struct {
				status int
				err    error
			}
			for _, body := range []string{"ok", "gone", "silent"} {
				res := make(chan outcome, 1)
				start := time.Now()
				if err := d.Send(cli, "INFO", "text/plain", []byte(body), func(status int, err error) { res <- outcome{status, err} }); err != nil {
					t.Fatal(err)
				}
				var o outcome
				select {
				case o = <-res:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: no outcome", body)
				}
				switch body {
				case "ok":
					if o.status != 200 || o.err != nil {
						t.Fatalf("ok: %+v", o)
					}
				case "gone":
					if o.status != 481 || o.err != nil {
						t.Fatalf("gone: %+v", o)
					}
				case "silent":
					if !errors.Is(o.err, ErrTimeout) || time.Since(start) < 400*time.Millisecond {
						t.Fatalf("silent: %+v after %s", o, time.Since(start))
					}
				}
			}
			if st := cli.Stats(); st.Timeouts != 1 || st.Responses[200] != 1 || st.Responses[481] != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkFastResponse: matching a delivery's 200 to its recycled
// transaction straight from the read buffer. The loop also registers the
// transaction (as each delivery sent does); the response is rendered into
// one reused buffer, so the allocations reported are the path's own.
func BenchmarkFastResponse(b *testing.B) {
	ep := NewEndpoint(Options{})
	defer ep.Close()
	c := &Conn{ep: ep, transport: TCP}
	const head = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5061;branch="
	const tail = "\r\nFrom: <sip:gcs1@example.com>;tag=04a6bc86\r\nTo: <sip:alice@example.com>;tag=4789962377\r\nCall-ID: 9CC6g0DEBa9C41iE549m4046t2ED0bEB5Ex83D2x\r\nCSeq: 109 INFO\r\nContent-Length: 0\r\n\r\n"
	resp := make([]byte, 0, 512)
	answered := 0
	cb := StatusFunc(func(int, error) { answered++ })
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		br := ep.NewBranch()
		ep.asyncTx(c, br, "INFO", cb, nil, 0)
		resp = append(br.Append(append(resp[:0], head...)), tail...)
		if !ep.fastResponse(c, resp) {
			b.Fatal("not handled")
		}
	}
	if answered == 0 {
		b.Fatal("no callback ran")
	}
}

// TestDropAfterCloseTookTheTx: when a connection closes while a request is
// being sent on it, the closing connection may take the asynchronous
// transaction first (completing and recycling it, perhaps into another
// sender's transaction); the sender's drop must then leave it alone, and
// the failure is reported once, by the callback.
func TestDropAfterCloseTookTheTx(t *testing.T) {
	t.Parallel()
	ep := NewEndpoint(Options{})
	defer ep.Close()
	c := ep.newConn(TCP)
	var first, second []error
	br1 := ep.NewBranch()
	tx1 := ep.asyncTx(c, br1, "INFO", func(_ int, err error) { first = append(first, err) }, nil, 0)
	ep.failConnTxs(c) // the connection closes: tx1 is completed and recycled
	br2 := ep.NewBranch()
	tx2 := ep.asyncTx(c, br2, "INFO", func(_ int, err error) { second = append(second, err) }, nil, 0)
	if ep.dropAsync(tx1, br1.id<<1) {
		t.Fatal("the sender dropped a transaction the closing connection had taken")
	}
	key2 := br2.id << 1
	sh := ep.shard(key2)
	sh.mu.Lock()
	live := sh.m[key2] == tx2
	sh.mu.Unlock()
	if !live {
		t.Fatal("another sender's transaction was dropped")
	}
	if len(first) != 1 || !errors.Is(first[0], ErrClosed) || len(second) != 0 {
		t.Fatalf("callbacks: first %v, second %v", first, second)
	}
}

// BenchmarkFrameBatch frames a read of 10 responses to deliveries, as the
// server's reader does under fan-out.
func BenchmarkFrameBatch(b *testing.B) {
	one := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bK1a2b3c4d-1f\r\nFrom: <sip:gcs1@example.com>;tag=abcdef0123\r\nTo: <sip:user12@example.com>;tag=9876543210\r\nCall-ID: 0123456789abcdef@127.0.0.1\r\nCSeq: 101 INFO\r\nContent-Length: 0\r\n\r\n"
	var buf []byte
	for range 10 {
		buf = append(buf, one...)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for p := 0; p < len(buf); {
			_, n, err := frame(buf[p:], 65535)
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			p += n
		}
	}
}

// TestTCPBackPressureKeepsOrder: two senders each send many requests
// of 60 kB over one TCP connection (24 MB), to a peer that does not
// read until they are all queued, so that the socket fills, non-blocking
// writes come back partial and one sender queues while the other writes:
// the peer then reads every request, each sender's in its order (what the
// socket left is written first, before what was queued meanwhile).
func TestTCPBackPressureKeepsOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli := NewEndpoint(Options{})
	defer cli.Close()
	c, err := cli.DialTCP(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const senders, n = 2, 200
	d := NewDialog(c, "call-bp", "<sip:alice@example.com>", "lt", "<sip:gcs1@example.com>", "rt", "sip:gcs1@example.com", 1)
	big := strings.Repeat("x", 60000)
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				body := append([]byte(fmt.Sprintf("%d%07d", s, i)), big...)
				if err := d.Send(cli, "INFO", "text/plain", body, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// now read: every request, each sender's in order
	r := bufio.NewReaderSize(peer, 1<<16)
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	next := make([]int, senders)
	for got := 0; got < senders*n; got++ {
		m, err := readMessage(r)
		if err != nil {
			t.Fatalf("after %d requests: %v", got, err)
		}
		s := int(m.Body[0] - '0')
		if want := fmt.Sprintf("%d%07d", s, next[s]); s >= senders || string(m.Body[:8]) != want {
			t.Fatalf("sender %d's request %d arrived as %s", s, next[s], m.Body[:8])
		}
		next[s]++
	}
}

// readMessage reads one SIP message from a stream (Content-Length framed).
func readMessage(r *bufio.Reader) (*Message, error) {
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		head = append(head, line...)
	}
	i := bytes.Index(head, []byte("Content-Length: "))
	if i < 0 {
		return nil, fmt.Errorf("no Content-Length in %q", head)
	}
	j := bytes.IndexByte(head[i:], '\r')
	n, err := strconv.Atoi(string(head[i+len("Content-Length: ") : i+j]))
	if err != nil {
		return nil, err
	}
	msg := append(head, make([]byte, n)...)
	if _, err := io.ReadFull(r, msg[len(head):]); err != nil {
		return nil, err
	}
	return Scan(msg)
}

// TestRecycleKeepsTheLargerBuffer: a written buffer is kept as the spare,
// or as the empty queue when that is smaller, or in place of a smaller
// spare, never when too large; a smaller one never replaces a larger.
func TestRecycleKeepsTheLargerBuffer(t *testing.T) {
	big, small := make([]byte, 10, 64<<10), make([]byte, 0, 4<<10)
	c := &Conn{}
	c.recycleLocked(big)
	if cap(c.spare) != 64<<10 || len(c.spare) != 0 {
		t.Fatalf("no spare: kept cap %d len %d", cap(c.spare), len(c.spare))
	}
	c = &Conn{spare: make([]byte, 0, 1024), out: small}
	c.recycleLocked(big)
	if cap(c.out) != 64<<10 || cap(c.spare) != 1024 {
		t.Fatalf("empty smaller queue: queue cap %d, spare cap %d", cap(c.out), cap(c.spare))
	}
	c = &Conn{spare: make([]byte, 0, 1024), out: append(small, 'x')}
	c.recycleLocked(big)
	if cap(c.spare) != 64<<10 || len(c.out) != 1 {
		t.Fatalf("busy queue: spare cap %d, queue len %d", cap(c.spare), len(c.out))
	}
	c = &Conn{spare: make([]byte, 0, 64<<10), out: make([]byte, 0, 128<<10)}
	c.recycleLocked(small)
	if cap(c.spare) != 64<<10 || cap(c.out) != 128<<10 {
		t.Fatalf("a smaller buffer replaced one: spare cap %d, queue cap %d", cap(c.spare), cap(c.out))
	}
	c = &Conn{}
	c.recycleLocked(make([]byte, 0, maxRecycled+1))
	if c.spare != nil {
		t.Fatal("kept a buffer over maxRecycled")
	}
}
