package sipclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipclient"
)

const room = "ma-chan://example.com/r1"

var users = []accounts.Credential{
	{URI: "sip:user0@example.com", Password: "pass0"},
	{URI: "sip:user1@example.com", User: `EXAMPLE\user1`, Password: "pass1"},
	{URI: "sip:user2@example.com", User: "user2", Password: "pass2"},
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func authServer(t *testing.T, opts ...refserver.Option) *refserver.Server {
	uris := make([]string, len(users))
	for i, u := range users {
		uris[i] = u.URI
	}
	return refservertest.Start(t, append([]refserver.Option{refserver.WithAccounts(users...), refserver.WithRooms(refservertest.Room("r1", uris...))}, opts...)...)
}

// connect makes a client of user i (its login and password unless cfg
// says otherwise) and connects it.
func connect(t *testing.T, cfg sipclient.Config) (*sipclient.Client, error) {
	t.Helper()
	c, err := sipclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c, c.Connect(ctxT(t))
}

func creds(i int, server string) sipclient.Config {
	return sipclient.Config{User: users[i].URI, Login: users[i].User, Password: users[i].Password, Server: server, ExpectChallenge: true}
}

// events collects a client's deliveries and violations.
type events struct {
	mu         sync.Mutex
	deliveries []string
	violations []*sipclient.Violation
}

func (e *events) on(ev sipclient.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev.Kind {
	case sipclient.Delivery:
		e.deliveries = append(e.deliveries, ev.Chat.Text)
	case sipclient.Breach:
		e.violations = append(e.violations, ev.Violation)
	}
}

func (e *events) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		got := len(e.deliveries)
		e.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d deliveries, want %d", len(e.deliveries), n)
}

// TestNTLMEndToEnd: users sign in with NTLM in each login form, join and
// post; every message both ways is signed and every server signature
// verifies (no violation), and the posts arrive.
func TestNTLMEndToEnd(t *testing.T) {
	for _, tr := range []string{"TCP", "TLS", "UDP"} {
		t.Run(tr, func(t *testing.T) {
			var opts []refserver.Option
			var tlsCfg *tls.Config
			if tr == "TLS" {
				dir := t.TempDir()
				b, err := tlsconf.WriteBundle(dir, []string{"127.0.0.1"}, "fe", time.Now(), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				scfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{CertFile: b.Cert, KeyFile: b.Key})
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, refserver.WithTLS("127.0.0.1:0", scfg))
				if tlsCfg, err = tlsconf.ClientConfig(tlsconf.ClientOptions{CAFile: b.CA}); err != nil {
					t.Fatal(err)
				}
			}
			srv := authServer(t, append(opts, refserver.WithAuth(refserver.AuthNTLM))...)
			addr := srv.TCPAddr()
			switch tr {
			case "TLS":
				addr = srv.TLSAddr()
			case "UDP":
				addr = srv.UDPAddr()
			}
			evs := make([]*events, len(users))
			clients := make([]*sipclient.Client, len(users))
			for i := range users {
				evs[i] = &events{}
				cfg := creds(i, addr)
				cfg.Transport, cfg.TLS, cfg.OnEvent = tr, tlsCfg, evs[i].on
				c, err := connect(t, cfg)
				if err != nil {
					t.Fatalf("%s: %v", users[i].URI, err)
				}
				if _, err := c.Join(ctxT(t), room); err != nil {
					t.Fatal(err)
				}
				clients[i] = c
			}
			for i, c := range clients {
				if _, err := c.Post(ctxT(t), room, "hello from "+users[i].URI); err != nil {
					t.Fatal(err)
				}
			}
			for i, e := range evs {
				e.wait(t, len(users))
				e.mu.Lock()
				if len(e.violations) > 0 {
					t.Errorf("%s: %v", users[i].URI, e.violations[0])
				}
				e.mu.Unlock()
			}
			st := srv.Stats().Auth
			if st.SignIns != uint64(len(users)) || st.Unsigned+st.BadSignatures+st.Impersonations != 0 {
				t.Fatalf("server auth stats %+v", st)
			}
			if srv.Stats().SIP.ResponsesRefused != 0 {
				t.Fatalf("the server refused %d signed answers", srv.Stats().SIP.ResponsesRefused)
			}
		})
	}
}

// TestWrongPassword: a wrong password fails the sign-in with an
// AuthError that says so, and the server's reason.
func TestWrongPassword(t *testing.T) {
	for _, auth := range []refserver.Auth{refserver.AuthNTLM, refserver.AuthDigest} {
		t.Run(string(auth), func(t *testing.T) {
			srv := authServer(t, refserver.WithAuth(auth))
			cfg := creds(0, srv.TCPAddr())
			cfg.Password = "wrong"
			_, err := connect(t, cfg)
			var ae *sipclient.AuthError
			if !errors.As(err, &ae) || ae.Code != 401 || !strings.HasPrefix(err.Error(), "authentication failed (401 Unauthorized: "+string(auth)+": authentication failed") ||
				!strings.Contains(err.Error(), "'user0@example.com'") || !strings.Contains(err.Error(), "(wrong password)") {
				t.Fatalf("wrong password: %v", err)
			}
			cfg.Password = ""
			if _, err = connect(t, cfg); !errors.As(err, &ae) || !strings.Contains(err.Error(), "none are configured") {
				t.Fatalf("no password: %v", err)
			}
		})
	}
}

// TestDigestBothAlgorithms: digest sign-in with SHA-256 and with MD5 (and
// with the server's preference), then the session works.
func TestDigestBothAlgorithms(t *testing.T) {
	srv := authServer(t, refserver.WithAuth(refserver.AuthDigest))
	for i, alg := range []string{"SHA-256", "MD5", ""} {
		t.Run(alg, func(t *testing.T) {
			cfg := creds(i, srv.TCPAddr())
			cfg.DigestAlgorithm = alg
			c, err := connect(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Join(ctxT(t), room); err != nil {
				t.Fatal(err)
			}
		})
	}
	// a server offering MD5 only, to a client that wants SHA-256
	md5 := authServer(t, refserver.WithAuth(refserver.AuthDigest), refserver.WithDigestAlgorithms(digest.MD5))
	cfg := creds(0, md5.TCPAddr())
	cfg.DigestAlgorithm = "SHA-256"
	if _, err := connect(t, cfg); err == nil || !strings.Contains(err.Error(), "the client answers Digest SHA-256") {
		t.Fatalf("SHA-256 against MD5 only: %v", err)
	}
}

// TestServerSignatureViolation: a server whose signatures do not verify
// is caught on every message as a violation of auth/server-signature,
// and the session goes on.
func TestServerSignatureViolation(t *testing.T) {
	srv := authServer(t, refserver.WithAuth(refserver.AuthNTLM), refserver.WithFaults(fault.Set{}.With(fault.BadServerSignature)))
	e := &events{}
	cfg := creds(0, srv.TCPAddr())
	cfg.OnEvent = e.on
	c, err := connect(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctxT(t), room); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctxT(t), room, "x"); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) < 3 {
		t.Fatalf("%d violations", len(e.violations))
	}
	for _, v := range e.violations {
		if v.Rule != ruleid.ServerSignature || !strings.Contains(v.Detail, "does not verify") {
			t.Fatalf("violation %v", v)
		}
	}
}

// TestNoChallengeViolation: a client given credentials sees a server that
// accepts a REGISTER without them as a violation of auth/challenge.
func TestNoChallengeViolation(t *testing.T) {
	srv := authServer(t, refserver.WithAuth(refserver.AuthNTLM), refserver.WithFaults(fault.Set{}.With(fault.NoChallenge)))
	e := &events{}
	cfg := creds(0, srv.TCPAddr())
	cfg.OnEvent = e.on
	if _, err := connect(t, cfg); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) != 1 || e.violations[0].Rule != ruleid.Challenge {
		t.Fatalf("violations %v", e.violations)
	}
}

// TestRenewal: with a short association lifetime on both sides the client
// signs in again before the server's expires, and keeps working.
func TestRenewal(t *testing.T) {
	srv := authServer(t, refserver.WithAuth(refserver.AuthNTLM), refserver.WithSecurityLifetime(2*time.Second))
	e := &events{}
	cfg := creds(0, srv.TCPAddr())
	cfg.OnEvent, cfg.SALifetime = e.on, 2*time.Second
	c, err := connect(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctxT(t), room); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Renewals() < 3 && time.Now().Before(deadline) {
		if _, err := c.Post(ctxT(t), room, "during renewals"); err != nil {
			t.Fatalf("post after %d renewals: %v", c.Renewals(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.Renewals() < 3 {
		t.Fatalf("%d renewals in 10 s with a 2 s lifetime", c.Renewals())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range e.violations {
		t.Errorf("violation: %v", v)
	}
	if st := srv.Stats().Auth; st.SignIns < 4 || st.Unsigned+st.BadSignatures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRenewalAfter401: a client that assumes a longer lifetime than the
// server's meets a 401 when the server's association expires, signs in
// again at once, and its requests work again.
func TestRenewalAfter401(t *testing.T) {
	srv := authServer(t, refserver.WithAuth(refserver.AuthNTLM), refserver.WithSecurityLifetime(time.Second))
	c, err := connect(t, creds(0, srv.TCPAddr())) // assumes 8 hours
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctxT(t), room); err != nil {
		t.Fatal(err)
	}
	saw401 := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (!saw401 || c.Renewals() == 0) {
		_, err := c.Post(ctxT(t), room, "x")
		var se *sipclient.StatusError
		if errors.As(err, &se) && se.Code == 401 {
			saw401 = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !saw401 || c.Renewals() == 0 {
		t.Fatalf("401 seen %v, renewals %d", saw401, c.Renewals())
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Post(ctxT(t), room, "after the renewal"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("posting after the renewal: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
