// Package digest implements SIP digest authentication (RFC 3261 section
// 22.4, with RFC 7616's algorithms as RFC 8760 brings them to SIP): MD5
// and SHA-256 and their -sess variants, qop "auth", nonces that expire
// (stale=true) and nonce counts that may not repeat.
//
// The client side is Respond. The server side is a Server: Challenges for
// the 401 (one challenge per algorithm, SHA-256 first, as RFC 8760 section
// 2.4 asks), Verify for the credentials that answer them. A server never
// needs the password: it verifies against HA1 = H(username:realm:password)
// per algorithm, which HA1 computes and an account store keeps.
//
// Nonces are stateless, 8 bytes of issue time and an HMAC-SHA-256 tag of
// it under the server's key (base64url), so any nonce the server made can
// be checked without remembering it; only the highest nonce count seen per
// nonce is remembered, for as long as the nonce lives, to refuse replays.
package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/gcload/gcload/sipauth"
)

// Algorithm is a digest algorithm name as it appears in the algorithm
// parameter.
type Algorithm string

// The algorithms supported.
const (
	MD5        Algorithm = "MD5"
	MD5Sess    Algorithm = "MD5-sess"
	SHA256     Algorithm = "SHA-256"
	SHA256Sess Algorithm = "SHA-256-sess"
)

// Sentinel errors.
var (
	// ErrBadCredentials: the header is malformed or lacks a parameter.
	ErrBadCredentials = errors.New("digest: malformed")
	// ErrUnsupported: an algorithm, qop or userhash this package does not do.
	ErrUnsupported = errors.New("digest: unsupported")
	// ErrAuthFailed: the response is wrong, the user unknown or the nonce
	// not one of this server's.
	ErrAuthFailed = errors.New("digest: authentication failed")
	// ErrStale: the response is right but the nonce expired; challenge
	// again with stale=true.
	ErrStale = errors.New("digest: stale nonce")
	// ErrReplay: the nonce count did not increase.
	ErrReplay = errors.New("digest: replayed nonce count")
	// ErrBusy: too many live nonces are being tracked.
	ErrBusy = errors.New("digest: too many nonces in use")
)

// ParseAlgorithm returns the algorithm of a parameter value, without regard
// to case; an absent algorithm is MD5 (RFC 3261).
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range []Algorithm{MD5, MD5Sess, SHA256, SHA256Sess} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	if s == "" {
		return MD5, nil
	}
	return "", fmt.Errorf("%w: algorithm %q", ErrUnsupported, s)
}

func (a Algorithm) newHash() func() hash.Hash {
	if a == SHA256 || a == SHA256Sess {
		return sha256.New
	}
	return md5.New
}

func (a Algorithm) sess() bool { return a == MD5Sess || a == SHA256Sess }

// h returns the lower-case hex digest of the parts joined with ':'.
func (a Algorithm) h(parts ...string) string {
	m := a.newHash()()
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{':'})
		}
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// HA1 is H(username:realm:password), what a server stores per algorithm
// instead of the password (the -sess variants store the same value and
// derive the session key from it per nonce).
func HA1(alg Algorithm, username, realm, password string) string {
	return alg.h(username, realm, password)
}

// response is the request-digest of RFC 7616 section 3.4.1 for qop "auth"
// (or RFC 2069's when qop is empty).
func response(alg Algorithm, ha1, nonce, nc, cnonce, qop, method, uri string) string {
	if alg.sess() {
		ha1 = alg.h(ha1, nonce, cnonce)
	}
	ha2 := alg.h(method, uri)
	if qop == "" {
		return alg.h(ha1, nonce, ha2)
	}
	return alg.h(ha1, nonce, nc, cnonce, qop, ha2)
}

// Challenge is a Digest challenge (WWW-Authenticate / Proxy-Authenticate).
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm Algorithm
	QOP       []string // offered: "auth", "auth-int"
	Stale     bool
}

// Field returns the challenge as a header value.
func (c Challenge) Field() sipauth.Field {
	f := sipauth.Field{Scheme: "Digest"}
	f.Set("realm", c.Realm, true)
	f.Set("nonce", c.Nonce, true)
	if c.Opaque != "" {
		f.Set("opaque", c.Opaque, true)
	}
	f.Set("algorithm", string(c.Algorithm), false)
	if len(c.QOP) > 0 {
		f.Set("qop", strings.Join(c.QOP, ","), true)
	}
	if c.Stale {
		f.Set("stale", "TRUE", false)
	}
	return f
}

// ParseChallenge reads a Digest challenge.
func ParseChallenge(f sipauth.Field) (Challenge, error) {
	if !f.Is("Digest") {
		return Challenge{}, fmt.Errorf("%w: scheme %q is not Digest", ErrBadCredentials, f.Scheme)
	}
	var c Challenge
	var ok bool
	if c.Realm, ok = f.Get("realm"); !ok {
		return Challenge{}, fmt.Errorf("%w: challenge without realm", ErrBadCredentials)
	}
	if c.Nonce, ok = f.Get("nonce"); !ok {
		return Challenge{}, fmt.Errorf("%w: challenge without nonce", ErrBadCredentials)
	}
	c.Opaque, _ = f.Get("opaque")
	alg, _ := f.Get("algorithm")
	var err error
	if c.Algorithm, err = ParseAlgorithm(alg); err != nil {
		return Challenge{}, err
	}
	if q, ok := f.Get("qop"); ok {
		for _, o := range strings.Split(q, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.QOP = append(c.QOP, strings.ToLower(o))
			}
		}
	}
	s, _ := f.Get("stale")
	c.Stale = strings.EqualFold(s, "true")
	return c, nil
}

// Credentials are a Digest response (Authorization / Proxy-Authorization).
type Credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm Algorithm
	CNonce    string
	Opaque    string
	QOP       string // "auth", or "" for an RFC 2069 response
	NC        uint32 // nonce count, with qop
}

// Field returns the credentials as a header value.
func (c Credentials) Field() sipauth.Field {
	f := sipauth.Field{Scheme: "Digest"}
	f.Set("username", c.Username, true)
	f.Set("realm", c.Realm, true)
	f.Set("nonce", c.Nonce, true)
	f.Set("uri", c.URI, true)
	f.Set("response", c.Response, true)
	f.Set("algorithm", string(c.Algorithm), false)
	if c.QOP != "" {
		f.Set("cnonce", c.CNonce, true)
		f.Set("qop", c.QOP, false)
		f.Set("nc", fmt.Sprintf("%08x", c.NC), false)
	}
	if c.Opaque != "" {
		f.Set("opaque", c.Opaque, true)
	}
	return f
}

// ParseCredentials reads Digest credentials.
func ParseCredentials(f sipauth.Field) (Credentials, error) {
	if !f.Is("Digest") {
		return Credentials{}, fmt.Errorf("%w: scheme %q is not Digest", ErrBadCredentials, f.Scheme)
	}
	var c Credentials
	for _, p := range []struct {
		name string
		dst  *string
	}{{"username", &c.Username}, {"realm", &c.Realm}, {"nonce", &c.Nonce}, {"uri", &c.URI}, {"response", &c.Response}} {
		v, ok := f.Get(p.name)
		if !ok {
			return Credentials{}, fmt.Errorf("%w: credentials without %s", ErrBadCredentials, p.name)
		}
		*p.dst = v
	}
	if uh, _ := f.Get("userhash"); strings.EqualFold(uh, "true") {
		return Credentials{}, fmt.Errorf("%w: userhash", ErrUnsupported)
	}
	alg, _ := f.Get("algorithm")
	var err error
	if c.Algorithm, err = ParseAlgorithm(alg); err != nil {
		return Credentials{}, err
	}
	c.Opaque, _ = f.Get("opaque")
	c.CNonce, _ = f.Get("cnonce")
	if q, ok := f.Get("qop"); ok {
		c.QOP = strings.ToLower(q)
		if c.QOP != "auth" {
			return Credentials{}, fmt.Errorf("%w: qop %q", ErrUnsupported, q)
		}
		nc, _ := f.Get("nc")
		n, err := strconv.ParseUint(nc, 16, 32)
		if err != nil || len(nc) != 8 {
			return Credentials{}, fmt.Errorf("%w: nc %q is not 8 hex digits", ErrBadCredentials, nc)
		}
		if c.CNonce == "" {
			return Credentials{}, fmt.Errorf("%w: qop without cnonce", ErrBadCredentials)
		}
		c.NC = uint32(n)
	}
	return c, nil
}

// Respond answers a challenge for a request (method, Request-URI) with the
// nc-th use of its nonce and a fresh client nonce. It uses qop "auth" when
// the challenge offers it, the RFC 2069 form when it offers no qop, and
// refuses a challenge that offers only auth-int.
func Respond(ch Challenge, method, uri, username, password string, nc uint32, cnonce string) (Credentials, error) {
	c := Credentials{Username: username, Realm: ch.Realm, Nonce: ch.Nonce, URI: uri, Algorithm: ch.Algorithm, Opaque: ch.Opaque}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	if len(ch.QOP) > 0 {
		auth := false
		for _, q := range ch.QOP {
			auth = auth || q == "auth"
		}
		if !auth {
			return Credentials{}, fmt.Errorf("%w: the challenge offers qop %v, not auth", ErrUnsupported, ch.QOP)
		}
		if cnonce == "" {
			return Credentials{}, fmt.Errorf("%w: qop auth needs a client nonce", ErrBadCredentials)
		}
		c.QOP, c.NC, c.CNonce = "auth", nc, cnonce
	}
	ha1 := HA1(c.Algorithm, username, ch.Realm, password)
	c.Response = response(c.Algorithm, ha1, c.Nonce, fmt.Sprintf("%08x", nc), c.CNonce, c.QOP, method, uri)
	return c, nil
}
