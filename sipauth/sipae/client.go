package sipae

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/ntlm"
)

// ClientConfig is a user's NTLM identity and the client's environment.
type ClientConfig struct {
	// User and Domain as the client sends them: "alice" with "EXAMPLE"
	// (typed as EXAMPLE\alice), or the sign-in address
	// "alice@example.com" with an empty domain, as SIPE does when no
	// separate login is set.
	User, Domain string
	Password     string
	Workstation  string
	// Rand is the source of the client challenge, the session key and the
	// salts; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Lifetime the client assumes for an association (NTLM tells it
	// none); 0 means DefaultLifetime. It renews RenewBefore earlier.
	Lifetime time.Duration
}

// SplitLogin splits a login as a user types it: "DOMAIN\user" gives the
// domain and the user; "user" and "user@domain" (a UPN) are sent as they
// are with an empty domain.
func SplitLogin(login string) (user, domain string) {
	if d, u, ok := strings.Cut(login, `\`); ok {
		return u, d
	}
	return login, ""
}

// Client signs a user in to one registrar: Begin answers the first 401,
// Continue the second, which establishes the security association. A
// Client is used for one sign-in at a time.
type Client struct {
	cfg     ClientConfig
	realm   string
	target  string
	version int
}

// NewClient fills the configuration's defaults.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	return &Client{cfg: cfg}
}

// FindNTLM returns the NTLM challenge among the WWW-Authenticate (or
// Proxy-Authenticate) values of a response, each of which may list
// several challenges.
func FindNTLM(values []string) (sipauth.Field, error) {
	var schemes []string
	for _, v := range values {
		fields, err := sipauth.ParseList(v)
		if err != nil {
			return sipauth.Field{}, fmt.Errorf("%w: %w", ErrBadCredentials, err)
		}
		for _, f := range fields {
			if f.Is(protocolNTLM) {
				return f, nil
			}
			schemes = append(schemes, f.Scheme)
		}
	}
	return sipauth.Field{}, fmt.Errorf("%w: the server offers %v", ErrNoCredentials, schemes)
}

// Begin answers the first challenge (NTLM realm, targetname, version)
// with the Authorization value that asks for an NTLM CHALLENGE:
// NTLM qop="auth", realm, targetname, gssapi-data="", version.
func (c *Client) Begin(challenge sipauth.Field) (string, error) {
	if !challenge.Is(protocolNTLM) {
		return "", fmt.Errorf("%w: scheme %q", ErrNoCredentials, challenge.Scheme)
	}
	if err := c.learn(challenge); err != nil {
		return "", err
	}
	f := sipauth.Field{Scheme: protocolNTLM}
	f.Set("qop", "auth", true)
	f.Set("realm", c.realm, true)
	f.Set("targetname", c.target, true)
	f.Set("gssapi-data", "", true)
	if c.version > 2 {
		f.Set("version", strconv.Itoa(c.version), false)
	}
	return f.String(), nil
}

// learn takes realm, targetname and version from a challenge.
func (c *Client) learn(ch sipauth.Field) error {
	realm, ok1 := ch.Get("realm")
	target, ok2 := ch.Get("targetname")
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: the NTLM challenge has no realm or targetname", ErrBadCredentials)
	}
	c.realm, c.target, c.version = realm, target, 2
	if v, ok := ch.Get("version"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: version %q", ErrBadCredentials, v)
		}
		c.version = n
	}
	return nil
}

// Continue answers the NTLM challenge of the second 401 (opaque,
// gssapi-data with the CHALLENGE message) with the Authorization value
// carrying the AUTHENTICATE message, and returns the established
// association. From version 4 on that request is signed itself, so f must
// hold its message fields; before, f may be nil.
func (c *Client) Continue(challenge sipauth.Field, f *Fields) (string, *ClientSA, error) {
	return c.cont(challenge, f, nil)
}

func (c *Client) cont(challenge sipauth.Field, f *Fields, randOverride []byte) (string, *ClientSA, error) {
	if !challenge.Is(protocolNTLM) {
		return "", nil, fmt.Errorf("%w: scheme %q", ErrNoCredentials, challenge.Scheme)
	}
	if err := c.learn(challenge); err != nil {
		return "", nil, err
	}
	opaque, ok1 := challenge.Get("opaque")
	data, ok2 := challenge.Get("gssapi-data")
	if !ok1 || !ok2 || data == "" {
		return "", nil, fmt.Errorf("%w: the NTLM challenge has no opaque or gssapi-data", ErrBadCredentials)
	}
	msg, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", nil, fmt.Errorf("%w: gssapi-data is not base64: %w", ErrBadCredentials, err)
	}
	now := c.cfg.Now()
	auth, session, err := ntlm.Respond(ntlm.ClientConfig{User: c.cfg.User, Domain: c.cfg.Domain, Password: c.cfg.Password,
		Workstation: c.cfg.Workstation}, msg, c.cfg.Rand, now)
	if err != nil {
		return "", nil, err
	}
	sa := &ClientSA{}
	if err := sa.init(session, c.realm, c.target, opaque, c.version, now, c.cfg.Lifetime, c.cfg.Rand); err != nil {
		return "", nil, err
	}
	head := func(dst []byte) []byte {
		h := sipauth.Field{Scheme: protocolNTLM}
		h.Set("qop", "auth", true)
		h.Set("opaque", opaque, true)
		h.Set("realm", c.realm, true)
		h.Set("targetname", c.target, true)
		h.Set("gssapi-data", base64.StdEncoding.EncodeToString(auth), true)
		if c.version > 2 {
			h.Set("version", strconv.Itoa(c.version), false)
		}
		return h.Append(dst)
	}
	if c.version < 4 {
		return string(head(nil)), sa, nil
	}
	if f == nil {
		return "", nil, fmt.Errorf("sipae: version %d signs the AUTHENTICATE request, and its fields are missing", c.version)
	}
	return string(sa.appendAuth(nil, f, head, "crand", "cnum", "response", randOverride)), sa, nil
}

// ClientSA is an established security association on the client.
type ClientSA struct {
	sa
}

// RenewAt returns when the client should sign in again: RenewBefore ahead
// of the expiry it assumes (MS-SIPAE 3.2.2), or halfway through a lifetime
// shorter than twice RenewBefore. A client renews with a REGISTER without
// credentials, as SIPE does.
func (sa *ClientSA) RenewAt() time.Time {
	life := sa.expires.Sub(sa.established)
	if life > 2*RenewBefore {
		return sa.expires.Add(-RenewBefore)
	}
	return sa.established.Add(life / 2)
}

// Sign signs a message to the server, whose fields f holds (the header
// fields are filled in), and appends the Authorization (or
// Proxy-Authorization) value: NTLM qop="auth", opaque, realm, targetname,
// crand, cnum, response. It does not allocate.
func (sa *ClientSA) Sign(dst []byte, f *Fields) []byte {
	return sa.appendAuth(dst, f, sa.head, "crand", "cnum", "response", nil)
}

// Verify checks a message from the server: info is its
// Authentication-Info (or Proxy-Authentication-Info) value, f its message
// fields. The errors wrap ErrNoCredentials (another scheme),
// ErrWrongTarget (no association has this realm and targetname: MS-SIPAE
// 3.2.5.2 discards the message), ErrUnsigned, ntlm.ErrBadSignature or
// ErrReplay.
func (sa *ClientSA) Verify(info string, f *Fields) error {
	if p, ok := sa.scanOwn(info, "srand", "snum", "rspauth"); ok {
		return sa.verifyFrom(p, f)
	}
	p, err := scanAuth(info, "srand", "snum", "rspauth")
	if err != nil {
		return err
	}
	if !eq(p.scheme, "ntlm") {
		return fmt.Errorf("%w: scheme %q", ErrNoCredentials, p.scheme)
	}
	if !strings.EqualFold(p.realm, sa.realm) || !strings.EqualFold(p.target, sa.target) {
		return fmt.Errorf("%w: realm %q targetname %q", ErrWrongTarget, p.realm, p.target)
	}
	if p.sig == "" || !p.hasRand || !p.hasNum {
		return fmt.Errorf("%w: no srand, snum and rspauth", ErrUnsigned)
	}
	return sa.verifyFrom(p, f)
}
