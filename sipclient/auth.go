package sipclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
)

// Sign-in with credentials. A REGISTER without credentials that the
// server challenges (401, or 407 from a proxy) is answered, not failed:
// with NTLM as MS-SIPAE describes (the offer, the CHALLENGE under an
// opaque, the AUTHENTICATE; then every message signed both ways), or with
// SIP digest (SHA-256 or MD5, qop=auth; a stale nonce answered once
// more). Credentials that do not authenticate end the sign-in with an
// *AuthError.

// Schemes a client answers (Config.Auth).
const (
	AuthAny    = ""       // NTLM when offered, else digest
	AuthNTLM   = "ntlm"   // only NTLM
	AuthDigest = "digest" // only digest
)

// AuthError is a sign-in the server refused for its credentials: a
// challenge again after the client answered one, or 403 to its
// credentials. It reads "authentication failed (401 Unauthorized: …)".
type AuthError struct {
	Code    int
	Reason  string
	Warning string // the server's words, if it said why (the Warning header's text)
	Scheme  string // "NTLM" or "Digest" ("" when the client had nothing to answer with)
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("authentication failed (%d %s", e.Code, e.Reason)
	if e.Warning != "" {
		s += ": " + e.Warning
	}
	return s + ")"
}

// maxAuthSteps bounds the REGISTERs of one sign-in (NTLM needs three,
// digest two, a stale nonce one more).
const maxAuthSteps = 5

// signInAuth sends REGISTERs until one is answered 200, answering
// challenges; it returns the final answer, and the NTLM association when
// the sign-in established one.
func (c *Client) signInAuth(ctx context.Context) (*sipnet.Message, *sipae.ClientSA, error) {
	return c.registerAuth(ctx, false)
}

// registerAuth is signInAuth; unregister sends the REGISTERs with
// Expires: 0 (a digest server challenges those too).
func (c *Client) registerAuth(ctx context.Context, unregister bool) (*sipnet.Message, *sipae.ClientSA, error) {
	var (
		ntlmCli   *sipae.Client
		sa        *sipae.ClientSA
		digestNC  uint32
		answered  string // the scheme answered last ("" before any)
		staleOnce bool
		auth      string // the credentials header's value
	)
	if c.cfg.ExpectChallenge && !unregister {
		c.router.checks.challenges.Add(1)
	}
	for step := 0; ; step++ {
		req := c.registerRequest()
		if unregister {
			addHeader(req, "Expires", "0")
		}
		if auth != "" {
			addHeader(req, "Authorization", auth)
		}
		res, err := c.ep.DoRequest(ctx, c.conn, req)
		if err != nil {
			return nil, nil, fmt.Errorf("sipclient: REGISTER %s: %w", c.aor, err)
		}
		if res.StatusCode == 200 {
			if step == 0 && c.cfg.ExpectChallenge && !unregister {
				c.violate(ruleid.Challenge, "a REGISTER without credentials was accepted (200): the server authenticates nobody", res.Raw)
			}
			return res, sa, nil
		}
		if res.StatusCode != 401 && res.StatusCode != 407 {
			if answered != "" && res.StatusCode == 403 {
				return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: warningText(res), Scheme: answered}
			}
			return nil, nil, &StatusError{Method: "REGISTER", Code: res.StatusCode, Reason: res.Reason}
		}
		challenges := res.Headers("WWW-Authenticate")
		if res.StatusCode == 407 {
			challenges = res.Headers("Proxy-Authenticate")
		}
		if step >= maxAuthSteps {
			return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: "still challenged after " + fmt.Sprint(step) + " answers", Scheme: answered}
		}
		if c.cfg.Password == "" {
			return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason,
				Warning: "the server asks for credentials (" + schemesOf(challenges) + ") and none are configured for " + c.aor}
		}
		ntlmCh, ntlmErr := sipae.FindNTLM(challenges)
		useNTLM := ntlmErr == nil && c.cfg.Auth != AuthDigest
		switch {
		case useNTLM && answered == "NTLM" && ntlmCli != nil && sa != nil:
			// a challenge after the AUTHENTICATE: refused
			return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: warningText(res), Scheme: "NTLM"}
		case useNTLM:
			_, hasOpaque := ntlmCh.Get("opaque")
			if !hasOpaque {
				if answered == "NTLM" { // the offer again after asking for the challenge
					return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: warningText(res), Scheme: "NTLM"}
				}
				user, domain := sipae.SplitLogin(c.login())
				ntlmCli = sipae.NewClient(sipae.ClientConfig{User: user, Domain: domain, Password: c.cfg.Password, Lifetime: c.cfg.SALifetime})
				if auth, err = ntlmCli.Begin(ntlmCh); err != nil {
					c.violate(ruleid.Challenge, "the NTLM offer cannot be answered: "+err.Error(), res.Raw)
					return nil, nil, fmt.Errorf("sipclient: REGISTER %s: %w", c.aor, err)
				}
				answered = "NTLM"
				continue
			}
			if ntlmCli == nil {
				c.violate(ruleid.Challenge, "an NTLM CHALLENGE came before the client asked for one", res.Raw)
				return nil, nil, fmt.Errorf("%w: NTLM challenge without an offer first", ErrUnexpected)
			}
			f, ferr := c.nextRegisterFields()
			if ferr != nil {
				return nil, nil, ferr
			}
			if auth, sa, err = ntlmCli.Continue(ntlmCh, f); err != nil {
				c.violate(ruleid.Challenge, "the NTLM CHALLENGE cannot be answered: "+err.Error(), res.Raw)
				return nil, nil, fmt.Errorf("sipclient: REGISTER %s: %w", c.aor, err)
			}
		default:
			ch, err := c.pickDigest(challenges)
			if err != nil {
				if answered == "" {
					c.violate(ruleid.Challenge, err.Error(), res.Raw)
				}
				return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: err.Error()}
			}
			if answered == "Digest" && !(ch.Stale && !staleOnce) {
				return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: warningText(res), Scheme: "Digest"}
			}
			if answered == "Digest" {
				staleOnce = true
			}
			digestNC++
			cr, err := digest.Respond(ch, "REGISTER", "sip:"+c.domain, c.login(), c.cfg.Password, digestNC, newCNonce())
			if err != nil {
				return nil, nil, &AuthError{Code: res.StatusCode, Reason: res.Reason, Warning: err.Error(), Scheme: "Digest"}
			}
			auth = cr.Field().String()
			answered = "Digest"
		}
	}
}

// login is the user name the client signs in with: Config.Login, or its
// address (user@host), as SIPE does when no separate login is set.
func (c *Client) login() string {
	if c.cfg.Login != "" {
		return c.cfg.Login
	}
	return strings.TrimPrefix(c.aor, "sip:")
}

// pickDigest chooses among the digest challenges: the configured
// algorithm, else the first the server offers (its preference).
func (c *Client) pickDigest(values []string) (digest.Challenge, error) {
	var offered []string
	for _, v := range values {
		fields, err := sipauth.ParseList(v)
		if err != nil {
			return digest.Challenge{}, fmt.Errorf("a challenge does not parse: %w", err)
		}
		for _, f := range fields {
			offered = append(offered, f.Scheme)
			if !f.Is("Digest") || c.cfg.Auth == AuthNTLM {
				continue
			}
			ch, err := digest.ParseChallenge(f)
			if err != nil {
				continue
			}
			if c.cfg.DigestAlgorithm == "" || strings.EqualFold(string(ch.Algorithm), c.cfg.DigestAlgorithm) {
				return ch, nil
			}
		}
	}
	want := "NTLM or Digest"
	switch {
	case c.cfg.Auth == AuthNTLM:
		want = "NTLM"
	case c.cfg.DigestAlgorithm != "":
		want = "Digest " + c.cfg.DigestAlgorithm
	case c.cfg.Auth == AuthDigest:
		want = "Digest"
	}
	return digest.Challenge{}, fmt.Errorf("the server offers %s, the client answers %s", strings.Join(offered, ", "), want)
}

func schemesOf(values []string) string {
	var out []string
	for _, v := range values {
		fields, err := sipauth.ParseList(v)
		if err != nil {
			continue
		}
		for _, f := range fields {
			out = append(out, f.Scheme)
		}
	}
	if len(out) == 0 {
		return "no WWW-Authenticate"
	}
	return strings.Join(out, ", ")
}

// warningText is a response's Warning text (the quoted part), or its
// reason phrase when it has none.
func warningText(m *sipnet.Message) string {
	w, ok := m.Header("Warning")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(w, '"'); i >= 0 {
		if j := strings.LastIndexByte(w, '"'); j > i {
			return w[i+1 : j]
		}
	}
	return w
}

func newCNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// registerRequest builds the next REGISTER of the client's registration.
func (c *Client) registerRequest() *sipnet.OutRequest {
	c.mu.Lock()
	if c.regCallID == "" {
		c.regCallID, c.regTag = newCallID(), sipnet.NewTag()
	}
	c.regCSeq++
	callID, tag, cseq := c.regCallID, c.regTag, c.regCSeq
	c.mu.Unlock()
	req := c.newRequest("REGISTER", "sip:"+c.domain, c.aor, callID, tag, cseq)
	addHeader(req, "Contact", "<"+c.contactURI()+`>;methods="INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY";proxy=replace`)
	req.Headers = append(req.Headers, registerHeaders...)
	return req
}

// registerHeaders are the constant headers of every REGISTER, after its
// Contact.
var registerHeaders = []sipnet.Header{
	{Name: "Supported", Value: "gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence"},
	{Name: "Event", Value: "registration"},
	{Name: "ms-keep-alive", Value: "UAC;hop-hop=yes"},
}

// nextRegisterFields returns the signed fields of the REGISTER the client
// sends next (MS-SIPAE version 4 signs the AUTHENTICATE request): the
// request is built as it will be, scanned, and its CSeq taken back.
func (c *Client) nextRegisterFields() (*sipae.Fields, error) {
	req := c.registerRequest()
	c.mu.Lock()
	c.regCSeq-- // the request is sent next, with this same number
	c.mu.Unlock()
	m, err := sipnet.Scan(req.AppendFields(nil))
	if err != nil {
		return nil, fmt.Errorf("sipclient: REGISTER fields: %w", err)
	}
	var f sipae.Fields
	m.SignedFields(&f)
	return &f, nil
}

// security is the MS-SIPAE state of one connection on the client side:
// the association of each user signed in with NTLM on it (most
// connections carry one; a shared connection many). It signs what the
// users send and checks what the server sends them; a server signature
// that is missing or does not verify is a violation of
// ruleid.ServerSignature, recorded on the user's client, and the message is
// taken all the same.
type security struct {
	router *Router
	mu     sync.RWMutex
	users  map[string]*userSA // by lower-case address
	exact  map[string]*userSA // by the address as the client writes it
	single atomic.Pointer[userSA]
	// gen counts changes of users: a client's memo of its own entry
	// (ownSA) holds while gen has not moved
	gen atomic.Uint64
}

// ownSA is what a client remembers of its entry in its connection's
// security, so that checking each delivery to it needs no look-up by
// address (a map with cold keys, hundreds of users per connection).
type ownSA struct {
	s   *security
	gen uint64
	u   *userSA
}

type userSA struct {
	c         *Client
	aor       string
	cur, prev *sipae.ClientSA
}

// securityOf returns the connection's security, made on first use.
func (r *Router) securityOf(conn *sipnet.Conn) *security {
	r.secMu.Lock()
	defer r.secMu.Unlock()
	if s, ok := conn.Security().(*security); ok {
		return s
	}
	s := &security{router: r, users: map[string]*userSA{}, exact: map[string]*userSA{}}
	conn.SetSecurity(s)
	return s
}

// add makes sa the association of c's user; the one it renews stays for
// what the server signed before it learned of the renewal.
func (s *security) add(c *Client, sa *sipae.ClientSA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(c.aor)
	u := &userSA{c: c, aor: c.aor, cur: sa}
	if old := s.users[k]; old != nil {
		u.prev = old.cur
	}
	s.users[k] = u
	s.exact[c.aor] = u
	s.resetSingleLocked()
	s.gen.Add(1)
}

func (s *security) remove(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(c.aor)
	if u := s.users[k]; u != nil && u.c == c {
		delete(s.users, k)
		delete(s.exact, c.aor)
	}
	s.resetSingleLocked()
	s.gen.Add(1)
}

func (s *security) resetSingleLocked() {
	s.single.Store(nil)
	if len(s.users) == 1 {
		for _, u := range s.users {
			s.single.Store(u)
		}
	}
}

func (s *security) find(uri string) *userSA {
	if u := s.single.Load(); u != nil {
		if strings.EqualFold(u.aor, uri) {
			return u
		}
		if a, err := sipnet.AOR(uri); err == nil && strings.EqualFold(u.aor, a) {
			return u
		}
		return nil
	}
	s.mu.RLock()
	u := s.exact[uri] // as the client writes its address: no allocation
	s.mu.RUnlock()
	if u != nil {
		return u
	}
	a, err := sipnet.AOR(uri)
	if err != nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[strings.ToLower(a)]
}

// AppendSignature signs a message of one of the connection's users: its
// requests (From it) and its answers to the server's requests (To it).
func (s *security) AppendSignature(dst []byte, f *sipae.Fields) []byte {
	user := f.FromURI
	if f.Status != 0 {
		user = f.ToURI
	}
	u := s.find(user)
	if u == nil || (f.CSeqMethod == "REGISTER" && u.c.renewing.Load()) {
		return dst // a renewal signs in afresh, unsigned
	}
	dst = append(dst, "Authorization: "...)
	dst = u.cur.Sign(dst, f)
	return append(dst, "\r\n"...)
}

// CheckResponse verifies the server's answer to a user's request. The
// answers to REGISTERs are the sign-in's own to check (a renewal's are
// signed with associations the connection does not know yet).
func (s *security) CheckResponse(m *sipnet.Message) error {
	if m.CSeqMethod == "REGISTER" {
		return nil
	}
	var f sipae.Fields
	m.SignedFields(&f)
	if u := s.find(f.FromURI); u != nil {
		u.verifyFields(m, &f)
	}
	return nil
}

// CheckAnswer verifies the server's answer to a user's in-dialog request
// from the fields it echoes; a failure sends it the long way
// (CheckResponse), which records the violation.
func (s *security) CheckAnswer(auth string, f *sipae.Fields) error {
	u := s.find(f.FromURI)
	if u == nil {
		return nil // not a signed-in user's: nothing to check
	}
	err := u.cur.Verify(auth, f)
	if err == nil {
		u.c.router.checks.signatures.Add(1)
	}
	return err
}

// verify checks the server's signature on m, a message to u's user.
func (u *userSA) verify(m *sipnet.Message) {
	var f sipae.Fields
	m.SignedFields(&f)
	u.verifyFields(m, &f)
}

// verifyFields is verify with m's signed fields f.
func (u *userSA) verifyFields(m *sipnet.Message, f *sipae.Fields) {
	u.c.router.checks.signatures.Add(1)
	if m.AuthInfo == "" {
		u.c.violate(ruleid.ServerSignature, "the server's message carries no Authentication-Info signature after the NTLM sign-in", m.Raw)
		return
	}
	err := u.cur.Verify(m.AuthInfo, f)
	if err != nil && u.prev != nil {
		if u.prev.Verify(m.AuthInfo, f) == nil {
			return
		}
	}
	if err != nil {
		u.c.violate(ruleid.ServerSignature, "the server's signature does not verify: "+err.Error(), m.Raw)
	}
}

// verifyRequest checks the signature of a request the server sent to the
// client, when the client signed in with NTLM on its connection.
func (c *Client) verifyRequest(m *sipnet.Message) {
	s, ok := c.conn.Security().(*security)
	if !ok {
		return
	}
	var f sipae.Fields
	m.SignedFields(&f)
	var u *userSA
	if f.ToURI == c.aor { // to this client, as it writes its address
		gen := s.gen.Load() // before the look-up: a change meanwhile moves it
		if o := c.ownSA.Load(); o != nil && o.s == s && o.gen == gen {
			u = o.u
		} else {
			u = s.find(f.ToURI)
			c.ownSA.Store(&ownSA{s: s, gen: gen, u: u})
		}
	} else {
		u = s.find(f.ToURI)
	}
	if u != nil {
		u.verifyFields(m, &f)
	}
}

// verifyFinal checks the signature of the 200 that ended an NTLM sign-in
// (it arrives before the connection's security knows the association).
func (c *Client) verifyFinal(res *sipnet.Message, sa *sipae.ClientSA) {
	u := &userSA{c: c, aor: c.aor, cur: sa}
	u.verify(res)
}

// scheduleRenewal signs in again at the association's renewal time
// (MS-SIPAE 3.2.2: before it expires), on a goroutine the client waits
// for when it closes.
func (c *Client) scheduleRenewal(sa *sipae.ClientSA) {
	d := time.Until(sa.RenewAt())
	c.ep.After(max(d, 0), func() {
		c.mu.Lock()
		if c.closed || c.sa != sa {
			c.mu.Unlock()
			return
		}
		c.bg.Add(1)
		c.mu.Unlock()
		go func() {
			defer c.bg.Done()
			c.renew(sa)
		}()
	})
}

// renew signs the user in again (a REGISTER without credentials, as SIPE
// renews), replacing the association. A failed renewal is reported as an
// Ended event; the old association goes on until the server refuses it.
func (c *Client) renew(old *sipae.ClientSA) {
	ctx, cancel := context.WithTimeout(c.bgCtx, 30*time.Second)
	defer cancel()
	if !c.renewing.CompareAndSwap(false, true) {
		return // one renewal at a time
	}
	res, sa, err := c.signInAuth(ctx)
	c.renewing.Store(false)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.emit(Event{Kind: Ended, At: c.cfg.Now(), Text: "renewing the NTLM security association: " + err.Error()})
		}
		return
	}
	c.renewals.Add(1)
	if sa != nil {
		c.verifyFinal(res, sa)
		c.mu.Lock()
		c.sa = sa
		c.mu.Unlock()
		c.router.securityOf(c.conn).add(c, sa)
		c.scheduleRenewal(sa)
	}
	_ = old // the connection's security keeps it for what was signed before
}

// refused is told of the status of a request the client signed: a 401
// means the server no longer knows the association (it expired sooner
// than the client assumed, or the server restarted), and the client signs
// in again at once, as SIPE does, on a goroutine the client waits for
// when it closes. The request that met the 401 has failed.
func (c *Client) refused(status int) {
	if status != 401 {
		return
	}
	c.mu.Lock()
	sa := c.sa
	if sa == nil || c.closed || c.renewing.Load() {
		c.mu.Unlock()
		return
	}
	c.bg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.bg.Done()
		c.renew(sa)
	}()
}

// Renewals returns how many times the client renewed its NTLM security
// association.
func (c *Client) Renewals() int64 { return c.renewals.Load() }
