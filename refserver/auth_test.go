package refserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/ntlm"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
)

// The registrar's authentication, driven at the SIP level: requests built
// here, headers read here, so that each answer of the server is checked
// as it is on the wire.

var alice = accounts.Credential{URI: "sip:alice@example.com", Password: "wonderland"}
var bob = accounts.Credential{URI: "sip:bob@example.com", User: `EXAMPLE\bob`, Password: "builder"}

// wire is one test user's connection: its requests, and (after an NTLM
// sign-in) the security association that signs them and checks the
// server's answers.
type wire struct {
	t      testing.TB
	ep     *sipnet.Endpoint
	conn   *sipnet.Conn
	aor    string
	callID string
	tag    string
	cseq   uint32
	sec    *clientSec
}

func dial(t testing.TB, addr string, cfg *tls.Config, aor string) *wire {
	t.Helper()
	ep := sipnet.NewEndpoint(sipnet.Options{Handler: func(tx *sipnet.ServerTx) { _ = tx.Respond(200, "OK") }})
	t.Cleanup(func() { ep.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c *sipnet.Conn
	var err error
	if cfg != nil {
		c, err = ep.DialTLS(ctx, addr, cfg)
	} else {
		c, err = ep.DialTCP(ctx, addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &wire{t: t, ep: ep, conn: c, aor: aor, callID: sipnet.NewTag() + "reg", tag: sipnet.NewTag()}
}

func sipURI(s string) sip.Uri {
	var u sip.Uri
	_ = sip.ParseUri(s, &u)
	return u
}

// request builds an out-of-dialog request From the wire's user (or from).
func (w *wire) request(method sip.RequestMethod, ruri, from, callID string, cseq uint32, hdrs ...sip.Header) *sip.Request {
	r := sip.NewRequest(method, sipURI(ruri))
	f := &sip.FromHeader{Address: sipURI(from), Params: sip.NewParams()}
	f.Params.Add("tag", w.tag)
	r.AppendHeader(f)
	r.AppendHeader(&sip.ToHeader{Address: sipURI(from), Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	for _, h := range hdrs {
		r.AppendHeader(h)
	}
	return r
}

func (w *wire) do(r *sip.Request) *sipnet.Message {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := w.ep.Do(ctx, w.conn, r)
	if err != nil {
		w.t.Fatalf("%s: %v", r.Method, err)
	}
	return res
}

// register sends a REGISTER with an Authorization value ("" none).
func (w *wire) register(auth string, extra ...sip.Header) *sipnet.Message {
	w.cseq++
	hdrs := append([]sip.Header{sip.NewHeader("Contact", "<sip:x@127.0.0.1;transport=tcp>")}, extra...)
	if auth != "" {
		hdrs = append(hdrs, sip.NewHeader("Authorization", auth))
	}
	return w.do(w.request(sip.REGISTER, "sip:example.com", w.aor, w.callID, w.cseq, hdrs...))
}

// subscribe sends the provisioning SUBSCRIBE From from (signed when the
// wire's user signed in with NTLM).
func (w *wire) subscribe(from string) *sipnet.Message {
	return w.do(w.request(sip.SUBSCRIBE, from, from, sipnet.NewTag()+"sub", 1,
		sip.NewHeader("Event", "vnd-microsoft-provisioning-v2"), sip.NewHeader("Expires", "0")))
}

// warning returns a response's Warning text.
func warning(m *sipnet.Message) string {
	v, _ := m.Header("Warning")
	return v
}

// clientSec signs the wire's messages with its security association and
// checks the server's final responses, counting those that fail.
type clientSec struct {
	sa           *sipae.ClientSA
	tamper       atomic.Bool // sign, then change a digit
	unsigned     atomic.Bool // do not sign
	checked, bad atomic.Int64
	lastErr      atomic.Value
}

func (s *clientSec) AppendSignature(dst []byte, f *sipae.Fields) []byte {
	if s.unsigned.Load() {
		return dst
	}
	dst = append(dst, "Authorization: "...)
	dst = s.sa.Sign(dst, f)
	if s.tamper.Load() {
		i := len(dst) - 2
		dst[i] = "01"[(dst[i]-'0'+1)%2]
	}
	return append(dst, "\r\n"...)
}

func (s *clientSec) CheckResponse(m *sipnet.Message) error {
	s.checked.Add(1)
	var f sipae.Fields
	f.SetMessage(m, m.StatusCode) // from the headers, as a client reads them
	if err := s.sa.Verify(m.AuthInfo, &f); err != nil {
		s.bad.Add(1)
		s.lastErr.Store(err)
	}
	return nil
}

// CheckAnswer sends every answer the long way (CheckResponse).
func (s *clientSec) CheckAnswer(string, *sipae.Fields) error { return errors.New("checked in full") }

// signInNTLM runs MS-SIPAE's three REGISTERs as login with password; on
// success the wire signs everything after.
func (w *wire) signInNTLM(login, password string) (*sipnet.Message, error) {
	w.t.Helper()
	res := w.register("")
	if res.StatusCode != 401 {
		return res, fmt.Errorf("REGISTER without credentials answered %d, want 401", res.StatusCode)
	}
	offer, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
	if err != nil {
		return res, err
	}
	user, domain := sipae.SplitLogin(login)
	cli := sipae.NewClient(sipae.ClientConfig{User: user, Domain: domain, Password: password})
	step2, err := cli.Begin(offer)
	if err != nil {
		return res, err
	}
	res = w.register(step2)
	if res.StatusCode != 401 {
		return res, fmt.Errorf("REGISTER asking for the NTLM challenge answered %d, want 401", res.StatusCode)
	}
	ch, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
	if err != nil {
		return res, err
	}
	step3, sa, err := cli.Continue(ch, nil)
	if err != nil {
		return res, err
	}
	res = w.register(step3)
	if res.StatusCode != 200 {
		return res, fmt.Errorf("REGISTER with the AUTHENTICATE answered %d %s (%s)", res.StatusCode, res.Reason, warning(res))
	}
	var f sipae.Fields
	f.SetMessage(res, 200)
	if err := sa.Verify(res.AuthInfo, &f); err != nil {
		return res, fmt.Errorf("the REGISTER 200's signature: %w", err)
	}
	w.sec = &clientSec{sa: sa}
	w.conn.SetSecurity(w.sec)
	return res, nil
}

func ntlmServer(t testing.TB, opts ...refserver.Option) *refserver.Server {
	return refservertest.Start(t, append([]refserver.Option{refserver.WithAuth(refserver.AuthNTLM), refserver.WithAccounts(alice, bob)}, opts...)...)
}

// TestNTLMChallenge: an unauthenticated REGISTER to an NTLM server is
// answered 401 with MS-SIPAE's NTLM offer; asking for the challenge gives
// a real NTLM CHALLENGE message under an opaque.
func TestNTLMChallenge(t *testing.T) {
	srv := ntlmServer(t)
	w := dial(t, srv.TCPAddr(), nil, alice.URI)
	res := w.register("")
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials: %d %s", res.StatusCode, res.Reason)
	}
	offer, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	realm, _ := offer.Get("realm")
	target, _ := offer.Get("targetname")
	version, _ := offer.Get("version")
	if realm != "SIP Communications Service" || target != "gc.example.com" || version != "3" {
		t.Fatalf("offer %s", offer)
	}
	cli := sipae.NewClient(sipae.ClientConfig{User: "alice@example.com", Password: "x"})
	step2, _ := cli.Begin(offer)
	res = w.register(step2)
	ch, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
	if res.StatusCode != 401 || err != nil {
		t.Fatalf("second REGISTER: %d %v", res.StatusCode, err)
	}
	opaque, _ := ch.Get("opaque")
	data, _ := ch.Get("gssapi-data")
	if len(opaque) != 8 || !strings.HasPrefix(data, "TlRMTVNTUAACAAAA") {
		t.Fatalf("challenge %s", ch)
	}
	if st := srv.Stats().Auth; st.Scheme != "ntlm" || st.Challenges != 2 || st.SignIns != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNTLMSignInAndSigning: every login form signs in (the UPN SIPE sends,
// DOMAIN\user, the bare user, in any case); the server signs its answers,
// which verify; requests after sign-in must be signed, by their user.
func TestNTLMSignInAndSigning(t *testing.T) {
	srv := ntlmServer(t)
	for _, c := range []struct{ aor, login, password string }{
		{alice.URI, "alice@example.com", alice.Password},
		{alice.URI, "ALICE@EXAMPLE.COM", alice.Password},
		{alice.URI, "alice", alice.Password},
		{bob.URI, `EXAMPLE\bob`, bob.Password},
		{bob.URI, `example\BOB`, bob.Password},
		{bob.URI, "bob@example.com", bob.Password},
	} {
		t.Run(c.login, func(t *testing.T) {
			w := dial(t, srv.TCPAddr(), nil, c.aor)
			if res, err := w.signInNTLM(c.login, c.password); err != nil {
				t.Fatalf("%v (%d %s)", err, res.StatusCode, warning(res))
			}
			res := w.subscribe(c.aor)
			if res.StatusCode != 200 || res.AuthInfo == "" {
				t.Fatalf("signed SUBSCRIBE: %d, Authentication-Info %q", res.StatusCode, res.AuthInfo)
			}
			if w.sec.checked.Load() != 1 || w.sec.bad.Load() != 0 {
				t.Fatalf("server signatures: %d checked, %d bad (%v)", w.sec.checked.Load(), w.sec.bad.Load(), w.sec.lastErr.Load())
			}
		})
	}
}

// TestNTLMRefusals: after sign-in an unsigned request is refused 401, a
// tampered signature 403, a request From another user 403; a replayed
// REGISTER with a wrong password is a failure the server names.
func TestNTLMRefusals(t *testing.T) {
	srv := ntlmServer(t)
	w := dial(t, srv.TCPAddr(), nil, alice.URI)
	if _, err := w.signInNTLM("alice@example.com", alice.Password); err != nil {
		t.Fatal(err)
	}
	w.sec.unsigned.Store(true)
	if res := w.subscribe(alice.URI); res.StatusCode != 401 || !strings.Contains(warning(res), "not signed") {
		t.Errorf("unsigned SUBSCRIBE: %d %q", res.StatusCode, warning(res))
	}
	w.sec.unsigned.Store(false)
	w.sec.tamper.Store(true)
	if res := w.subscribe(alice.URI); res.StatusCode != 403 || !strings.Contains(warning(res), "does not verify") {
		t.Errorf("tampered SUBSCRIBE: %d %q", res.StatusCode, warning(res))
	}
	w.sec.tamper.Store(false)
	if res := w.subscribe(bob.URI); res.StatusCode != 403 || !strings.Contains(warning(res), "signed in as sip:alice@example.com") {
		t.Errorf("SUBSCRIBE From bob signed by alice: %d %q", res.StatusCode, warning(res))
	}
	if res := w.subscribe(alice.URI); res.StatusCode != 200 {
		t.Errorf("signed SUBSCRIBE after the refusals: %d %q", res.StatusCode, warning(res))
	}
	st := srv.Stats().Auth
	if st.Unsigned != 1 || st.BadSignatures != 1 || st.Impersonations != 1 {
		t.Errorf("stats %+v", st)
	}
	// wrong password
	w2 := dial(t, srv.TCPAddr(), nil, alice.URI)
	res, err := w2.signInNTLM("alice@example.com", "not her password")
	if err == nil || res.StatusCode != 401 || !strings.Contains(warning(res), "authentication failed") || strings.Contains(warning(res), "not her password") {
		t.Errorf("wrong password: %v, %d %q", err, res.StatusCode, warning(res))
	}
	// an account that signs in as itself but registers someone else
	w3 := dial(t, srv.TCPAddr(), nil, bob.URI)
	if res, err := w3.signInNTLM("alice@example.com", alice.Password); err == nil || res.StatusCode != 403 {
		t.Errorf("alice's credentials registering bob: %v, %d", err, res.StatusCode)
	}
	if st := srv.Stats().Auth; st.Failures != 1 || st.Impersonations != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestNTLMServerSignatureTampered: a client sees every signature of a
// server with bad-server-signature fail to verify.
func TestNTLMServerSignatureTampered(t *testing.T) {
	srv := ntlmServer(t, refserver.WithFaults(fault.Set{}.With(fault.BadServerSignature)))
	w := dial(t, srv.TCPAddr(), nil, alice.URI)
	if _, err := w.signInNTLM("alice@example.com", alice.Password); err == nil || !errors.Is(err, ntlm.ErrBadSignature) {
		t.Fatalf("sign-in with a tampered 200: %v", err)
	}
}

// TestNTLMExpiryAndRenewal: a security association expires; the next
// signed request gets 401 with the offer, and signing in again (a
// REGISTER without credentials, as SIPE renews) works on the same
// connection.
func TestNTLMExpiryAndRenewal(t *testing.T) {
	srv := ntlmServer(t, refserver.WithSecurityLifetime(time.Second))
	w := dial(t, srv.TCPAddr(), nil, alice.URI)
	if _, err := w.signInNTLM("alice@example.com", alice.Password); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var res *sipnet.Message
	for {
		res = w.subscribe(alice.URI)
		if res.StatusCode != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.StatusCode != 401 {
		t.Fatalf("after the lifetime: %d", res.StatusCode)
	}
	if _, err := sipae.FindNTLM(res.Headers("WWW-Authenticate")); err != nil || !strings.Contains(warning(res), "expired") {
		t.Fatalf("401 %q, offer: %v", warning(res), err)
	}
	w.conn.SetSecurity(nil)
	if _, err := w.signInNTLM("alice@example.com", alice.Password); err != nil {
		t.Fatalf("signing in again: %v", err)
	}
	if res := w.subscribe(alice.URI); res.StatusCode != 200 {
		t.Fatalf("after renewal: %d", res.StatusCode)
	}
}

// TestDigest: digest sign-in with SHA-256 and MD5, a stale nonce, a wrong
// password and an account registering someone else.
func TestDigest(t *testing.T) {
	srv := refservertest.Start(t, refserver.WithAuth(refserver.AuthDigest), refserver.WithAccounts(alice, bob))
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.MD5} {
		t.Run(string(alg), func(t *testing.T) {
			w := dial(t, srv.TCPAddr(), nil, alice.URI)
			res := w.register("")
			if res.StatusCode != 401 {
				t.Fatalf("REGISTER without credentials: %d", res.StatusCode)
			}
			ch := findDigest(t, res, alg)
			cr, err := digest.Respond(ch, "REGISTER", "sip:example.com", "alice", alice.Password, 1, "c0ffee")
			if err != nil {
				t.Fatal(err)
			}
			if res := w.register(cr.Field().String()); res.StatusCode != 200 {
				t.Fatalf("%s: %d %s", alg, res.StatusCode, warning(res))
			}
			if res := w.subscribe(alice.URI); res.StatusCode != 200 {
				t.Fatalf("SUBSCRIBE after digest sign-in: %d", res.StatusCode)
			}
			if res := w.subscribe(bob.URI); res.StatusCode != 403 {
				t.Fatalf("SUBSCRIBE From another user: %d", res.StatusCode)
			}
			bad, _ := digest.Respond(ch, "REGISTER", "sip:example.com", "alice", "wrong", 2, "c0ffee")
			if res := w.register(bad.Field().String()); res.StatusCode != 401 || !strings.Contains(warning(res), "authentication failed") {
				t.Fatalf("wrong password: %d %q", res.StatusCode, warning(res))
			}
		})
	}
	w := dial(t, srv.TCPAddr(), nil, bob.URI)
	ch := findDigest(t, w.register(""), digest.SHA256)
	cr, _ := digest.Respond(ch, "REGISTER", "sip:example.com", "alice", alice.Password, 1, "beef")
	if res := w.register(cr.Field().String()); res.StatusCode != 403 {
		t.Fatalf("alice registering bob: %d", res.StatusCode)
	}
}

// TestDigestStale: a nonce past its lifetime is answered 401 with
// stale=TRUE and a fresh nonce.
func TestDigestStale(t *testing.T) {
	srv := refservertest.Start(t, refserver.WithAuth(refserver.AuthDigest), refserver.WithAccounts(alice), refserver.WithDigestNonceTTL(200*time.Millisecond))
	w := dial(t, srv.TCPAddr(), nil, alice.URI)
	ch := findDigest(t, w.register(""), digest.SHA256)
	time.Sleep(300 * time.Millisecond) // the nonce's lifetime, not a wait for a condition
	cr, _ := digest.Respond(ch, "REGISTER", "sip:example.com", "alice", alice.Password, 1, "c0ffee")
	res := w.register(cr.Field().String())
	if res.StatusCode != 401 {
		t.Fatalf("stale nonce: %d", res.StatusCode)
	}
	fresh := findDigest(t, res, digest.SHA256)
	if !fresh.Stale || fresh.Nonce == ch.Nonce {
		t.Fatalf("stale=%v, nonce renewed %v", fresh.Stale, fresh.Nonce != ch.Nonce)
	}
	cr, _ = digest.Respond(fresh, "REGISTER", "sip:example.com", "alice", alice.Password, 1, "c0ffee")
	if res := w.register(cr.Field().String()); res.StatusCode != 200 {
		t.Fatalf("fresh nonce: %d", res.StatusCode)
	}
}

func findDigest(t testing.TB, res *sipnet.Message, alg digest.Algorithm) digest.Challenge {
	t.Helper()
	for _, v := range res.Headers("WWW-Authenticate") {
		f, err := sipauth.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		if ch, err := digest.ParseChallenge(f); err == nil && ch.Algorithm == alg {
			if len(ch.QOP) != 1 || ch.QOP[0] != "auth" {
				t.Fatalf("qop %v", ch.QOP)
			}
			return ch
		}
	}
	t.Fatalf("no %s challenge in %q", alg, res.Headers("WWW-Authenticate"))
	return digest.Challenge{}
}

// TestTLSTrunk: over TLS, a connection with a client certificate from the
// server's client CA is a trusted trunk whose users register without a
// challenge; without one, users are challenged.
func TestTLSTrunk(t *testing.T) {
	dir := t.TempDir()
	b, err := tlsconf.WriteBundle(dir, []string{"127.0.0.1"}, "fe1.example.com", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{CertFile: b.Cert, KeyFile: b.Key, ClientCAFile: b.CA})
	if err != nil {
		t.Fatal(err)
	}
	srv := ntlmServer(t, refserver.WithTLS("127.0.0.1:0", scfg))
	pool, err := tlsconf.LoadPool(b.CA)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(b.ClientCert, b.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	trunkCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	w := dial(t, srv.TLSAddr(), trunkCfg, alice.URI)
	if res := w.register(""); res.StatusCode != 200 {
		t.Fatalf("REGISTER on the trunk: %d", res.StatusCode)
	}
	w.aor = bob.URI // the trunk carries many users
	if res := w.register(""); res.StatusCode != 200 {
		t.Fatalf("second user on the trunk: %d", res.StatusCode)
	}
	if res := w.subscribe(alice.URI); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE on the trunk: %d", res.StatusCode)
	}
	if res := w.subscribe("sip:carol@example.com"); res.StatusCode != 403 {
		t.Fatalf("SUBSCRIBE From a user the trunk did not register: %d", res.StatusCode)
	}
	plain := dial(t, srv.TLSAddr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, alice.URI)
	if _, err := plain.signInNTLM("alice@example.com", alice.Password); err != nil {
		t.Fatalf("NTLM over TLS without a client certificate: %v", err)
	}
	if st := srv.Stats().Auth; st.TrunkSignIns != 2 || st.SignIns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAdminAccounts: accounts added through the admin API sign in; the
// list shows no password; a bad account is refused without adding any.
// No password, given or tried, reaches the server's log (at debug level),
// which does record the failed sign-in.
func TestAdminAccounts(t *testing.T) {
	logs := &syncBuffer{}
	srv := refservertest.Start(t, refserver.WithAuth(refserver.AuthNTLM),
		refserver.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.AdminURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+refservertest.AdminToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := call("POST", "/api/accounts", `{"accounts":[{"uri":"sip:alice@example.com","password":"wonderland"},{"uri":"sip:bob@example.com","user":"EXAMPLE\\bob","password":"builder"}]}`); code != 200 {
		t.Fatalf("add: %d", code)
	}
	if code := call("POST", "/api/accounts", `[{"uri":"sip:carol@example.com","password":"c"},{"uri":"mailto:x","password":"secret-value"}]`); code != 400 {
		t.Fatalf("a bad account: %d", code)
	}
	req, _ := http.NewRequest("GET", srv.AdminURL()+"/api/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+refservertest.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Accounts []map[string]string `json:"accounts"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(list.Accounts) != 2 || list.Accounts[1]["user"] != `EXAMPLE\bob` || list.Accounts[0]["password"] != "" {
		t.Fatalf("list %v", list)
	}
	w := dial(t, srv.TCPAddr(), nil, bob.URI)
	if _, err := w.signInNTLM(`EXAMPLE\bob`, "builder"); err != nil {
		t.Fatal(err)
	}
	w = dial(t, srv.TCPAddr(), nil, bob.URI)
	if _, err := w.signInNTLM(`EXAMPLE\bob`, "guessed-wrong"); err == nil {
		t.Fatal("a wrong password signed in")
	}
	out := logs.String()
	if !strings.Contains(out, "authentication failed") {
		t.Fatalf("the failed sign-in is not in the log:\n%s", out)
	}
	for _, pw := range []string{"wonderland", "builder", "secret-value", "guessed-wrong"} {
		if strings.Contains(out, pw) {
			t.Errorf("the log holds the password %q:\n%s", pw, out)
		}
	}
}
