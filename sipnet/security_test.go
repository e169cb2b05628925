package sipnet

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gcload/gcload/internal/sipelog"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/sipae"
)

// TestSignedFieldsAsHeadersRead: what the scanner keeps for a signature
// is what sipae reads from the headers, for every message of the real
// SIPE session.
func TestSignedFieldsAsHeadersRead(t *testing.T) {
	n := 0
	for _, b := range sipelog.Blocks() {
		m, err := Scan(b.Msg)
		if err != nil {
			t.Fatal(err)
		}
		var got, want sipae.Fields
		m.SignedFields(&got)
		want.SetMessage(m, m.StatusCode)
		if got != want {
			t.Errorf("line %d: scanner %+v, headers %+v", b.Line, got, want)
		}
		n++
	}
	raw := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bK1\r\nFrom: \"A\" <sip:a@b>;tag=1\r\nTo: sip:c@d;tag=2;x=y\r\nCall-ID: c\r\nCSeq: 7 REGISTER\r\n" +
		"P-Asserted-Identity: \"A\" <sip:a@b>, <tel:+1234>\r\nExpires: 900\r\nAuthentication-Info: NTLM rspauth=\"x\"\r\nContent-Length: 0\r\n\r\n"
	m, err := Scan([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	var got, want sipae.Fields
	m.SignedFields(&got)
	want.SetMessage(m, 200)
	if got != want || got.PAITel != "tel:+1234" || got.Expires != "900" || got.ToURI != "sip:c@d" || m.AuthInfo != `NTLM rspauth="x"` {
		t.Errorf("scanner %+v\nheaders %+v (auth-info %q)", got, want, m.AuthInfo)
	}
	if n < 10 {
		t.Fatalf("only %d messages in the log", n)
	}
}

// testSA is a Security over real MS-SIPAE associations: the server signs
// with Authentication-Info and checks with sipae.Server, the client the
// other way round. Both check requests the way an application would (from
// the headers, sipae.Fields.SetMessage), so that what the endpoint signed
// from its own fields is verified from the wire.
type testSA struct {
	srv     *sipae.Server
	ssa     *sipae.ServerSA
	csa     *sipae.ClientSA
	checked atomic.Int64
	refused atomic.Int64
}

func (s *testSA) AppendSignature(dst []byte, f *sipae.Fields) []byte {
	if s.ssa != nil {
		dst = append(dst, "Authentication-Info: "...)
		dst = s.ssa.Sign(dst, f)
	} else {
		dst = append(dst, "Authorization: "...)
		dst = s.csa.Sign(dst, f)
	}
	return append(dst, "\r\n"...)
}

func (s *testSA) CheckResponse(m *Message) error {
	err := s.check(m)
	s.checked.Add(1)
	if err != nil {
		s.refused.Add(1)
	}
	return err
}

// CheckAnswer verifies without counting; a failure sends the answer to
// CheckResponse, which counts.
func (s *testSA) CheckAnswer(auth string, f *sipae.Fields) error {
	if s.ssa != nil {
		return s.srv.Check(s.ssa, auth, f)
	}
	return errors.New("the client side checks no answers on the fast path here")
}

func (s *testSA) check(m *Message) error {
	var f sipae.Fields
	f.SetMessage(m, m.StatusCode)
	if s.ssa != nil {
		_, _, err := s.srv.Authorize(m.Auth, &f)
		return err
	}
	return s.csa.Verify(m.AuthInfo, &f)
}

// signedPair signs alice in (in process) and returns the two ends'
// Security.
func signedPair(t testing.TB) (server, client *testSA) {
	t.Helper()
	store := accounts.NewStore("example.com")
	if err := store.Add(accounts.Credential{URI: "sip:alice@example.com", Password: "wonderland"}); err != nil {
		t.Fatal(err)
	}
	srv, err := sipae.NewServer(sipae.ServerConfig{TargetName: "gc.example.com", Lookup: store.NTLM})
	if err != nil {
		t.Fatal(err)
	}
	cli := sipae.NewClient(sipae.ClientConfig{User: "alice@example.com", Password: "wonderland"})
	step2, err := cli.Begin(srv.Offer())
	if err != nil {
		t.Fatal(err)
	}
	_, ch, err := srv.Authorize(step2, &sipae.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	step3, csa, err := cli.Continue(*ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	ssa, _, err := srv.Authorize(step3, &sipae.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	return &testSA{srv: srv, ssa: ssa}, &testSA{csa: csa}
}

// TestSignedBothWays: with a Security on each end, every request and final
// response either way carries a signature the other end verifies: sipgo
// requests (signRaw), in-dialog requests on the hot path and their
// answers on the fast path, responses with extra headers (Expires), and
// provisional responses go unsigned.
func TestSignedBothWays(t *testing.T) {
	for _, tr := range []string{TCP, TLS} {
		t.Run(tr, func(t *testing.T) {
			srvSec, cliSec := signedPair(t)
			var reqErrs []error
			var mu sync.Mutex
			var srvConn atomic.Pointer[Conn]
			h := func(tx *ServerTx) {
				srvConn.Store(tx.Conn)
				tx.Conn.SetSecurity(srvSec)
				mu.Lock()
				reqErrs = append(reqErrs, srvSec.check(tx.Msg))
				mu.Unlock()
				if tx.Msg.Method == "INVITE" {
					_ = tx.Respond(180, "Ringing")
				}
				_ = tx.Respond(200, "OK", Header{Name: "Expires", Value: "900"})
			}
			var cli *Endpoint
			var c *Conn
			if tr == TLS {
				p := newPKI(t)
				_, cli, _, c = tlsPair(t, p, h, Options{}, p.client(nil))
			} else {
				_, cli, c = pair(t, TCP, h, Options{})
			}
			c.SetSecurity(cliSec)
			for _, method := range []sip.RequestMethod{sip.OPTIONS, sip.INVITE} {
				tx, err := cli.Begin(c, newReq(method, "c-"+string(method)))
				if err != nil {
					t.Fatal(err)
				}
				var codes []int
				for r := range tx.Responses() {
					codes = append(codes, r.StatusCode)
					if r.StatusCode < 200 && r.AuthInfo != "" {
						t.Errorf("the provisional %d is signed", r.StatusCode)
					}
				}
				if fin, err := tx.Result(); err != nil || fin.StatusCode != 200 {
					t.Fatalf("%s: %v %v (responses %v)", method, fin, err, codes)
				}
			}
			d := NewDialog(c, "call-1", "<sip:alice@example.com>", "lt", "<sip:gcs1@example.com>", "rt", "sip:gcs1@example.com", 1)
			const n = 20
			done := make(chan int, n)
			for i := 0; i < n; i++ {
				if err := d.Send(cli, "INFO", "text/plain", []byte("m"), func(status int, err error) { done <- status }); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < n; i++ {
				if code := <-done; code != 200 {
					t.Fatalf("INFO answered %d", code)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i, err := range reqErrs {
				if err != nil {
					t.Errorf("request %d to the server: %v", i, err)
				}
			}
			if len(reqErrs) != 2+n {
				t.Errorf("%d requests checked, want %d", len(reqErrs), 2+n)
			}
			if got := cliSec.checked.Load(); got != 2+n || cliSec.refused.Load() != 0 {
				t.Errorf("client checked %d responses (%d refused), want %d", got, cliSec.refused.Load(), 2+n)
			}
		})
	}
}

// TestServerRequestsSignedFastPath: the server's in-dialog requests
// (deliveries) are signed from the dialog's fields, the client's answers
// signed from the request it answers, and checked by the server on the
// fast path; a badly signed answer is dropped there.
func TestServerRequestsSignedFastPath(t *testing.T) {
	srvSec, cliSec := signedPair(t)
	accepted := make(chan *Conn, 1)
	srv := NewEndpoint(Options{Handler: func(tx *ServerTx) {
		select {
		case accepted <- tx.Conn:
		default:
		}
		_ = tx.Respond(200, "OK")
	}, Timeout: 300 * time.Millisecond})
	defer srv.Close()
	a, err := srv.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reqErrs atomic.Int64
	var tamper atomic.Bool
	cli := NewEndpoint(Options{Handler: func(tx *ServerTx) {
		if cliSec.check(tx.Msg) != nil {
			reqErrs.Add(1)
		}
		if tamper.Load() {
			tx.Conn.SetSecurity(tamperer{cliSec})
		}
		_ = tx.Respond(200, "OK")
		tx.Conn.SetSecurity(cliSec)
	}})
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cli.DialTCP(ctx, a.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Do(ctx, c, newReq(sip.OPTIONS, "hello")); err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	sc.SetSecurity(srvSec)
	c.SetSecurity(cliSec)
	d := NewDialog(sc, "call-9", "<sip:gcs1@example.com>", "st", "<sip:alice@example.com>", "ct", "sip:alice@example.com", 100)
	send := func() (int, error) {
		res := make(chan struct {
			code int
			err  error
		}, 1)
		var b Batch
		if err := d.SendBatch(srv, &b, "INFO", "text/plain", []byte("delivery"), func(code int, err error) {
			res <- struct {
				code int
				err  error
			}{code, err}
		}); err != nil {
			return 0, err
		}
		b.Flush()
		r := <-res
		return r.code, r.err
	}
	for i := 0; i < 5; i++ {
		if code, err := send(); err != nil || code != 200 {
			t.Fatalf("delivery %d: %d %v", i, code, err)
		}
	}
	if reqErrs.Load() != 0 {
		t.Fatalf("%d of the server's requests did not verify at the client", reqErrs.Load())
	}
	before := srvSec.refused.Load()
	tamper.Store(true)
	if _, err := send(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a badly signed answer completed the delivery (err %v)", err)
	}
	if srvSec.refused.Load() != before+1 || srv.Stats().ResponsesRefused != 1 {
		t.Fatalf("refused %d, stats %d", srvSec.refused.Load()-before, srv.Stats().ResponsesRefused)
	}
}

// tamperer signs as its inner Security does, then changes one digit of
// the signature.
type tamperer struct{ inner Security }

func (t tamperer) AppendSignature(dst []byte, f *sipae.Fields) []byte {
	dst = t.inner.AppendSignature(dst, f)
	i := len(dst) - len("0\"\r\n")
	if dst[i] == '0' {
		dst[i] = '1'
	} else {
		dst[i] = '0'
	}
	return dst
}
func (t tamperer) CheckResponse(m *Message) error { return t.inner.CheckResponse(m) }
func (t tamperer) CheckAnswer(auth string, f *sipae.Fields) error {
	return t.inner.CheckAnswer(auth, f)
}

// nopSecurity signs nothing and accepts every response: what the fast
// path costs with a Security, apart from its cryptography.
type nopSecurity struct{}

func (nopSecurity) AppendSignature(dst []byte, _ *sipae.Fields) []byte { return dst }
func (nopSecurity) CheckResponse(*Message) error                       { return nil }
func (nopSecurity) CheckAnswer(string, *sipae.Fields) error            { return errors.New("scan it") }

// BenchmarkFastResponseSecured is BenchmarkFastResponse for a signed
// answer on a connection with a Security: the answer is scanned (into the
// reader's scratch message) before its transaction is completed. The
// difference between the two is the scan.
func BenchmarkFastResponseSecured(b *testing.B) {
	ep := NewEndpoint(Options{})
	defer ep.Close()
	c := &Conn{ep: ep, transport: TCP}
	c.SetSecurity(nopSecurity{})
	const head = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5061;branch="
	const tail = "\r\nFrom: <sip:gcs1@example.com>;tag=04a6bc86\r\nTo: <sip:alice@example.com>;tag=4789962377\r\nCall-ID: 9CC6g0DEBa9C41iE549m4046t2ED0bEB5Ex83D2x\r\nCSeq: 109 INFO\r\n" +
		`Authorization: NTLM qop="auth", opaque="2BDBAC9D", realm="SIP Communications Service", targetname="gc.example.com", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"` +
		"\r\nContent-Length: 0\r\n\r\n"
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

// BenchmarkScanSigned200 scans a member's signed 200 OK to a delivery.
func BenchmarkScanSigned200(b *testing.B) {
	raw := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKabcdef01-1f\r\nFrom: <sip:gcs1@example.com>;tag=04a6bc86\r\nTo: <sip:alice@example.com>;tag=4789962377\r\nCall-ID: 9CC6g0DEBa9C41iE549m4046t2ED0bEB5Ex83D2x\r\nCSeq: 109 INFO\r\n" +
		`Authorization: NTLM qop="auth", opaque="2BDBAC9D", realm="SIP Communications Service", targetname="gc.example.com", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"` +
		"\r\nContent-Length: 0\r\n\r\n")
	m := new(Message)
	var f sipae.Fields
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		*m = Message{}
		if err := m.scan(raw); err != nil {
			b.Fatal(err)
		}
		m.SignedFields(&f)
	}
}

// reportCPU adds the process's CPU time (user and system) per op to a
// benchmark's results: on a shared machine the wall time per op also
// counts the time other processes held the CPU.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAuthorizationOf: the fast path's look for the Authorization header
// finds it in the header block only, and leaves folded or cut values to
// the full scan.
func TestAuthorizationOf(t *testing.T) {
	for _, c := range []struct {
		msg, want string
		ok        bool
	}{
		{"SIP/2.0 200 OK\r\nVia: x\r\nAuthorization: NTLM a=\"b\"\r\nContent-Length: 0\r\n\r\n", `NTLM a="b"`, true},
		{"SIP/2.0 200 OK\r\nVia: x\r\nContent-Length: 30\r\n\r\n\r\nAuthorization: NTLM a=\"b\"\r\n", "", false},
		{"SIP/2.0 200 OK\r\nVia: x\r\nAuthorization: NTLM a=\"b\",\r\n c=d\r\n\r\n", "", false},
		{"SIP/2.0 200 OK\r\nVia: x\r\nauthorization: NTLM a=\"b\"\r\n\r\n", "", false},
		{"SIP/2.0 200 OK\r\nVia: x\r\nAuthorization: NTLM", "", false},
		{"SIP/2.0 200 OK\r\nVia: x\r\nX-Authorization: NTLM x\r\nAuthorization: NTLM a=\"b\"\r\n\r\n", `NTLM a="b"`, true},
		{"SIP/2.0 200 OK\r\nSubject: Authorization: NTLM x\r\nAuthorization: NTLM a=\"b\"\r\n\r\n", `NTLM a="b"`, true},
		{"SIP/2.0 200 OK\r\nVia: x\r\nAuthorization: NTLM a=\"b\rc\"\r\n\r\n", "", false},
		{"SIP/2.0 200 OK\r\nVia: x\r\nAuthorization: NTLM a=\"b\"\r", "", false},
	} {
		got, ok := authorizationOf([]byte(c.msg))
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %q %v, want %q %v", c.msg, got, ok, c.want, c.ok)
		}
	}
}
