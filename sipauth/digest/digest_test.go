package digest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/sipauth"
)

// RFC 7616 section 3.9.1: Mufasa, "Circle of Life", GET /dir/index.html.
func TestRFC7616Examples(t *testing.T) {
	ch := Challenge{
		Realm:  "http-auth@example.org",
		Nonce:  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
		QOP:    []string{"auth", "auth-int"},
	}
	const cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	for _, tt := range []struct {
		alg  Algorithm
		want string
	}{
		{MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		ch.Algorithm = tt.alg
		c, err := Respond(ch, "GET", "/dir/index.html", "Mufasa", "Circle of Life", 1, cnonce)
		if err != nil {
			t.Fatal(err)
		}
		if c.Response != tt.want {
			t.Errorf("%s: response %s, RFC 7616 says %s", tt.alg, c.Response, tt.want)
		}
	}
}

// RFC 2617 section 3.5 (the MD5 example RFC 7616 replaced).
func TestRFC2617Example(t *testing.T) {
	ch := Challenge{Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", QOP: []string{"auth", "auth-int"},
		Opaque: "5ccc069c403ebaf9f0171e9517f40e41"}
	c, err := Respond(ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", 1, "0a4f113b")
	if err != nil {
		t.Fatal(err)
	}
	if c.Response != "6629fae49393a05397450978507c4ef1" {
		t.Errorf("response %s", c.Response)
	}
	want := `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"`
	if got := c.Field().String(); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	f, _ := sipauth.Parse(want)
	back, err := ParseCredentials(f)
	if err != nil || back != c {
		t.Errorf("ParseCredentials = %+v, %v", back, err)
	}
}

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

const realm = "example.com"

// store keeps HA1 only, per algorithm, as an account store does.
var store = func() map[string]string {
	m := map[string]string{}
	for _, a := range []Algorithm{MD5, SHA256, MD5Sess, SHA256Sess} {
		m["alice/"+string(a)] = HA1(a, "alice", realm, "s3cret")
	}
	return m
}()

func lookup(user, r string, alg Algorithm) (string, bool) {
	h, ok := store[user+"/"+string(alg)]
	return h, ok
}

// signIn answers the server's challenge for alg the way a SIP client
// does: parse the header value, respond.
func signIn(t *testing.T, s *Server, alg Algorithm, user, password string, nc uint32) (Credentials, error) {
	t.Helper()
	for _, f := range s.Challenges(false) {
		ch, err := ParseChallenge(f)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Algorithm != alg {
			continue
		}
		c, err := Respond(ch, "REGISTER", "sip:example.com", user, password, nc, "cn0nce")
		if err != nil {
			t.Fatal(err)
		}
		hf, _ := sipauth.Parse(c.Field().String())
		back, err := ParseCredentials(hf)
		if err != nil {
			t.Fatal(err)
		}
		return back, s.Verify("REGISTER", "sip:example.com", back, lookup)
	}
	t.Fatalf("no %s challenge", alg)
	return Credentials{}, nil
}

func TestServerRoundTrip(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, err := NewServer(ServerConfig{Realm: realm, Algorithms: []Algorithm{SHA256, MD5, SHA256Sess, MD5Sess}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if s.Realm() != realm {
		t.Fatalf("realm %q, want %q", s.Realm(), realm)
	}
	chs := s.Challenges(false)
	if len(chs) != 4 || !strings.Contains(chs[0].String(), "algorithm=SHA-256,") || !strings.Contains(chs[0].String(), `qop="auth"`) {
		t.Fatalf("challenges: %v", chs)
	}
	for _, alg := range []Algorithm{MD5, SHA256, MD5Sess, SHA256Sess} {
		t.Run(string(alg), func(t *testing.T) {
			clk.t = clk.t.Add(time.Millisecond) // a fresh nonce: each is counted once
			if _, err := signIn(t, s, alg, "alice", "s3cret", 1); err != nil {
				t.Fatalf("right password: %v", err)
			}
			if _, err := signIn(t, s, alg, "alice", "wrong", 1); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("wrong password: %v", err)
			}
			if _, err := signIn(t, s, alg, "bob", "s3cret", 1); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("unknown user: %v", err)
			}
		})
	}
}

func TestServerRefuses(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, _ := NewServer(ServerConfig{Realm: realm, Now: clk.Now, MaxNonces: 2})
	f := s.Challenges(false)[1] // MD5
	ch, _ := ParseChallenge(f)
	good, _ := Respond(ch, "INVITE", "sip:bob@example.com", "alice", "s3cret", 1, "abc")
	if err := s.Verify("INVITE", "sip:bob@example.com", good, lookup); err != nil {
		t.Fatal(err)
	}
	next, _ := Respond(ch, "INVITE", "sip:bob@example.com", "alice", "s3cret", 2, "abc")
	other, _ := NewServer(ServerConfig{Realm: realm, Now: clk.Now})
	foreign, _ := ParseChallenge(other.Challenges(false)[1])
	fromOther, _ := Respond(foreign, "INVITE", "sip:bob@example.com", "alice", "s3cret", 1, "abc")
	wrongRealm := ch
	wrongRealm.Realm = "evil.com"
	inOtherRealm, _ := Respond(wrongRealm, "INVITE", "sip:bob@example.com", "alice", "s3cret", 3, "abc")
	tests := []struct {
		name   string
		method string
		uri    string
		c      Credentials
		want   error
	}{
		{"replayed nc", "INVITE", "sip:bob@example.com", good, ErrReplay},
		{"other method", "BYE", "sip:bob@example.com", next, ErrAuthFailed},
		{"other Request-URI", "INVITE", "sip:carol@example.com", next, ErrBadCredentials},
		{"nonce of another server", "INVITE", "sip:bob@example.com", fromOther, ErrAuthFailed},
		{"other realm", "INVITE", "sip:bob@example.com", inOtherRealm, ErrAuthFailed},
		{"algorithm not offered", "INVITE", "sip:bob@example.com", func() Credentials { c := next; c.Algorithm = MD5Sess; return c }(), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Verify(tt.method, tt.uri, tt.c, lookup); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if err := s.Verify("INVITE", "sip:bob@example.com", next, lookup); err != nil {
		t.Fatalf("next count: %v", err)
	}
	// The nonce expires: the right answer is stale, the wrong one failed.
	clk.t = clk.t.Add(DefaultNonceTTL)
	late, _ := Respond(ch, "INVITE", "sip:bob@example.com", "alice", "s3cret", 9, "abc")
	if err := s.Verify("INVITE", "sip:bob@example.com", late, lookup); !errors.Is(err, ErrStale) {
		t.Fatalf("expired nonce: %v", err)
	}
	lateWrong, _ := Respond(ch, "INVITE", "sip:bob@example.com", "alice", "nope", 9, "abc")
	if err := s.Verify("INVITE", "sip:bob@example.com", lateWrong, lookup); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("expired nonce, wrong password: %v", err)
	}
	if f := s.Challenges(true)[0]; !strings.Contains(f.String(), "stale=TRUE") {
		t.Errorf("stale challenge %s", f)
	}
}

func TestNonceTrackingIsBounded(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, _ := NewServer(ServerConfig{Realm: realm, Now: clk.Now, MaxNonces: 2})
	use := func() error {
		ch, _ := ParseChallenge(s.Challenges(false)[0])
		c, _ := Respond(ch, "REGISTER", "sip:example.com", "alice", "s3cret", 1, "x")
		clk.t = clk.t.Add(time.Nanosecond) // a new nonce each time
		return s.Verify("REGISTER", "sip:example.com", c, lookup)
	}
	for range 2 {
		if err := use(); err != nil {
			t.Fatal(err)
		}
	}
	if err := use(); !errors.Is(err, ErrBusy) {
		t.Fatalf("third live nonce: %v", err)
	}
	clk.t = clk.t.Add(DefaultNonceTTL + 2*time.Second)
	if err := use(); err != nil {
		t.Fatalf("after the first two expired: %v", err)
	}
}

func TestRFC2069AndUnsupported(t *testing.T) {
	s, _ := NewServer(ServerConfig{Realm: realm, Algorithms: []Algorithm{MD5}})
	ch, _ := ParseChallenge(s.Challenges(false)[0])
	ch.QOP = nil // an old server: no qop
	c, err := Respond(ch, "REGISTER", "sip:example.com", "alice", "s3cret", 1, "")
	if err != nil || c.QOP != "" || strings.Contains(c.Field().String(), "nc=") {
		t.Fatalf("RFC 2069 response %+v %v", c, err)
	}
	if err := s.Verify("REGISTER", "", c, lookup); err != nil {
		t.Fatalf("RFC 2069 response refused: %v", err)
	}
	ch.QOP = []string{"auth-int"}
	if _, err := Respond(ch, "REGISTER", "sip:example.com", "alice", "s3cret", 1, "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("auth-int only: %v", err)
	}
	for _, v := range []string{
		`Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth-int, nc=00000001, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="u", response="x", userhash=true`,
		`Digest username="a", realm="r", nonce="n", uri="u", response="x", algorithm=SHA-512-256`,
	} {
		f, _ := sipauth.Parse(v)
		if _, err := ParseCredentials(f); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{
		`Digest realm="r", nonce="n", uri="u", response="x"`,
		`Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=1, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=00000001`,
		`NTLM username="a"`,
	} {
		f, _ := sipauth.Parse(v)
		if _, err := ParseCredentials(f); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: %v", v, err)
		}
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Error("a server without realm")
	}
	if _, err := NewServer(ServerConfig{Realm: "r", Algorithms: []Algorithm{"SHA-1"}}); err == nil {
		t.Error("SHA-1 accepted")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(`Digest username="alice", realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="x", qop=auth, nc=00000001`)
	f.Add(`Digest realm="a", nonce="b", algorithm=SHA-256, qop="auth", stale=TRUE`)
	s, _ := NewServer(ServerConfig{Realm: realm})
	f.Fuzz(func(t *testing.T, v string) {
		fl, err := sipauth.Parse(v)
		if err != nil {
			return
		}
		_, _ = ParseChallenge(fl)
		c, err := ParseCredentials(fl)
		if err != nil {
			return
		}
		if err := s.Verify("REGISTER", "", c, lookup); err == nil {
			t.Fatalf("forged credentials accepted: %s", v)
		}
	})
}

func ExampleRespond() {
	ch := Challenge{Realm: "example.com", Nonce: "abc", Algorithm: SHA256, QOP: []string{"auth"}}
	c, _ := Respond(ch, "REGISTER", "sip:example.com", "alice", "s3cret", 1, "0a4f113b")
	fmt.Println(c.Field())
	// Output: Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="2b21b35472c7a945a0362710542812885040b08751a7b21a11a317b894b2b630", algorithm=SHA-256, cnonce="0a4f113b", qop=auth, nc=00000001
}
