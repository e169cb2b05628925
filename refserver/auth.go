package refserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/ntlm"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
)

// Auth is how the registrar authenticates users.
type Auth string

// Authentication schemes (WithAuth).
const (
	// AuthNone: a REGISTER is accepted without credentials (the user is
	// whoever the REGISTER names); requests are bound to the connection
	// their user registered on.
	AuthNone Auth = "none"
	// AuthDigest: a REGISTER is challenged with SIP digest (RFC 3261,
	// SHA-256 and MD5, qop=auth); requests are bound to the connection
	// their user registered on.
	AuthDigest Auth = "digest"
	// AuthNTLM: a REGISTER is challenged with NTLM per MS-SIPAE; every
	// later message in both directions is signed and verified.
	AuthNTLM Auth = "ntlm"
)

// ParseAuth reads "none", "digest" or "ntlm".
func ParseAuth(s string) (Auth, error) {
	switch a := Auth(strings.ToLower(strings.TrimSpace(s))); a {
	case AuthNone, AuthDigest, AuthNTLM:
		return a, nil
	}
	return "", fmt.Errorf("auth %q: want none, digest or ntlm", s)
}

// AuthStats count what the registrar's authentication did.
type AuthStats struct {
	Scheme string `json:"scheme"`
	// Challenges counts the 401s sent to REGISTERs to be authenticated
	// (each step of an NTLM sign-in is one).
	Challenges uint64 `json:"challenges"`
	// SignIns counts users authenticated (an NTLM security association
	// established, digest credentials accepted); TrunkSignIns users
	// registered on a trusted mutual-TLS trunk without a challenge.
	SignIns      uint64 `json:"signins"`
	TrunkSignIns uint64 `json:"trunk_signins"`
	// Failures counts credentials that did not authenticate (wrong
	// password, unknown user, malformed).
	Failures uint64 `json:"failures"`
	// Unsigned and BadSignatures count requests refused after sign-in
	// for carrying no signature, or one that did not verify (replays
	// included); Impersonations requests naming another user than the
	// one their signature (or connection) authenticated.
	Unsigned       uint64 `json:"unsigned"`
	BadSignatures  uint64 `json:"bad_signatures"`
	Impersonations uint64 `json:"impersonations"`
	// SecurityAssociations is the number of NTLM security associations
	// established and not yet expired or dropped.
	SecurityAssociations int `json:"security_associations"`
	Accounts             int `json:"accounts"`
}

// authn is the registrar's authentication: the accounts, the NTLM
// (MS-SIPAE) and digest servers, and the counters.
type authn struct {
	scheme Auth
	store  *accounts.Store
	ntlm   *sipae.Server
	digest *digest.Server
	faults fault.Set
	log    *slog.Logger

	challenges, signIns, trunkSignIns, failures atomic.Uint64
	unsigned, badSignatures, impersonations     atomic.Uint64
}

// authConfig are the options authentication is made from.
type authConfig struct {
	scheme     Auth
	targetName string
	realm      string // digest realm (the domain)
	lifetime   time.Duration
	algorithms []digest.Algorithm
	nonceTTL   time.Duration
	creds      []accounts.Credential
	faults     fault.Set
	log        *slog.Logger
}

func newAuthn(c authConfig) (*authn, error) {
	a := &authn{scheme: c.scheme, store: accounts.NewStore(c.realm), faults: c.faults, log: c.log}
	if err := a.store.AddAll(c.creds); err != nil {
		return nil, fmt.Errorf("refserver: accounts: %w", err)
	}
	var err error
	if c.scheme == AuthNTLM {
		if a.ntlm, err = sipae.NewServer(sipae.ServerConfig{TargetName: c.targetName, Lookup: a.store.NTLM, Lifetime: c.lifetime}); err != nil {
			return nil, fmt.Errorf("refserver: ntlm: %w", err)
		}
	}
	if c.scheme == AuthDigest {
		if a.digest, err = digest.NewServer(digest.ServerConfig{Realm: c.realm, Algorithms: c.algorithms, NonceTTL: c.nonceTTL}); err != nil {
			return nil, fmt.Errorf("refserver: digest: %w", err)
		}
	}
	return a, nil
}

func (a *authn) stats() AuthStats {
	st := AuthStats{
		Scheme: string(a.scheme), Challenges: a.challenges.Load(), SignIns: a.signIns.Load(), TrunkSignIns: a.trunkSignIns.Load(),
		Failures: a.failures.Load(), Unsigned: a.unsigned.Load(), BadSignatures: a.badSignatures.Load(),
		Impersonations: a.impersonations.Load(), Accounts: a.store.Len(),
	}
	if a.ntlm != nil {
		st.SecurityAssociations, _ = a.ntlm.Len()
	}
	return st
}

// trunk reports whether c is a trusted trunk: a TLS connection whose
// client certificate verified against the server's client CAs (a Front
// End's). Its users are authenticated by the Front End.
func trunk(c *sipnet.Conn) bool {
	_, ok := c.PeerCertificateName()
	return ok
}

// failed answers credentials that did not authenticate: 401 with a new
// challenge and a Warning saying why (never the password or a hash).
func (a *authn) failed(tx *sipnet.ServerTx, why error, challenges ...sipauth.Field) {
	a.failures.Add(1)
	a.log.Info("refserver: authentication failed", "conn", tx.Conn.String(), "why", why.Error())
	msg := why.Error()
	if !strings.Contains(msg, "authentication failed") {
		msg = "authentication failed: " + msg
	}
	a.challenge(tx, msg, challenges...)
}

// challenge answers 401 with challenges (WWW-Authenticate) and a Warning.
func (a *authn) challenge(tx *sipnet.ServerTx, warning string, challenges ...sipauth.Field) {
	a.challenges.Add(1)
	hdrs := make([]sipnet.Header, 0, len(challenges)+1)
	for _, c := range challenges {
		hdrs = append(hdrs, sipnet.Header{Name: "WWW-Authenticate", Value: c.String()})
	}
	if warning != "" {
		hdrs = append(hdrs, ua.Warning(sanitizeWarning(warning)))
	}
	_ = tx.Respond(401, "Unauthorized", hdrs...)
}

// register authenticates a REGISTER for aor (the address it registers),
// answering the challenge or refusal itself. It returns true when the
// registration may go on: the user is authenticated (and, with NTLM, the
// connection's Security holds the user's security association, so that
// the 200 is signed).
func (a *authn) register(tx *sipnet.ServerTx, b *binding, aor string) bool {
	if trunk(tx.Conn) {
		a.trunkSignIns.Add(1)
		return true
	}
	switch a.scheme {
	case AuthDigest:
		return a.registerDigest(tx, aor)
	case AuthNTLM:
		return a.registerNTLM(tx, b, aor)
	}
	return true
}

func (a *authn) registerDigest(tx *sipnet.ServerTx, aor string) bool {
	m := tx.Msg
	if m.Auth == "" || a.faults.Has(fault.NoChallenge) {
		if a.faults.Has(fault.NoChallenge) {
			return true
		}
		a.challenge(tx, "", a.digest.Challenges(false)...)
		return false
	}
	f, err := sipauth.Parse(m.Auth)
	if err != nil || !f.Is("Digest") {
		a.failed(tx, fmt.Errorf("the Authorization header is not Digest credentials"), a.digest.Challenges(false)...)
		return false
	}
	cr, err := digest.ParseCredentials(f)
	if err != nil {
		a.failed(tx, err, a.digest.Challenges(false)...)
		return false
	}
	switch err := a.digest.Verify(m.Method, m.RequestURI, cr, a.store.HA1); {
	case errors.Is(err, digest.ErrStale):
		a.challenge(tx, "the nonce expired", a.digest.Challenges(true)...)
		return false
	case errors.Is(err, digest.ErrBusy):
		_ = tx.Respond(503, "Service Unavailable", ua.Warning("too many sign-ins in progress"), sipnet.Header{Name: "Retry-After", Value: "5"})
		return false
	case err != nil:
		a.failed(tx, err, a.digest.Challenges(false)...)
		return false
	}
	acct, ok := a.store.Lookup(cr.Username, "")
	if !ok || !strings.EqualFold(acct.URI, aor) {
		a.impersonations.Add(1)
		_ = tx.Respond(403, "Forbidden", ua.Warning(sanitizeWarning(cr.Username+" may not register "+aor)))
		return false
	}
	a.signIns.Add(1)
	return true
}

// registerNTLM runs the three steps of MS-SIPAE's sign-in; a REGISTER
// signed with an established association (a refresh, the last one with
// Expires: 0) is verified like any request.
func (a *authn) registerNTLM(tx *sipnet.ServerTx, b *binding, aor string) bool {
	m := tx.Msg
	if m.Auth == "" {
		if a.faults.Has(fault.NoChallenge) {
			return true
		}
		a.challenge(tx, "", a.ntlm.Offer())
		return false
	}
	var f sipae.Fields
	m.SignedFields(&f)
	sa, ch, err := a.ntlm.Authorize(m.Auth, &f)
	switch {
	case ch != nil:
		a.challenge(tx, "", *ch)
		return false
	case errors.Is(err, sipae.ErrBusy):
		_ = tx.Respond(503, "Service Unavailable", ua.Warning("too many sign-ins in progress"), sipnet.Header{Name: "Retry-After", Value: "5"})
		return false
	case errors.Is(err, sipae.ErrNoCredentials), errors.Is(err, sipae.ErrWrongTarget), errors.Is(err, sipae.ErrNoSA), errors.Is(err, sipae.ErrExpired):
		a.challenge(tx, err.Error(), a.ntlm.Offer())
		return false
	case errors.Is(err, ntlm.ErrAuthFailed), errors.Is(err, ntlm.ErrUnsupported), errors.Is(err, ntlm.ErrMalformed), errors.Is(err, sipae.ErrBadCredentials):
		a.failed(tx, err, a.ntlm.Offer())
		return false
	case err != nil: // unsigned, bad signature, replay of a signed REGISTER
		a.refuseSigned(tx, err)
		return false
	}
	sec := b.security(a)
	if sec.owns(sa) {
		if !strings.EqualFold(sec.userOf(sa), aor) {
			a.impersonations.Add(1)
			_ = tx.Respond(403, "Forbidden", ua.Warning(sanitizeWarning("signed in as "+sec.userOf(sa)+", not "+aor)))
			return false
		}
		return true
	}
	// a new association: whose is it?
	acct, ok := a.store.Lookup(sa.User, sa.Domain)
	if !ok || !strings.EqualFold(acct.URI, aor) {
		a.ntlm.Drop(sa)
		a.impersonations.Add(1)
		_ = tx.Respond(403, "Forbidden", ua.Warning(sanitizeWarning(sa.User+" may not register "+aor)))
		return false
	}
	sec.add(aor, sa)
	tx.Conn.SetSecurity(sec)
	a.signIns.Add(1)
	return true
}

// refuseSigned answers a request whose signature is missing or wrong
// after sign-in: 401 (no signature) or 403 (a signature that does not
// verify, or a replay), with a Warning; an ACK is dropped.
func (a *authn) refuseSigned(tx *sipnet.ServerTx, err error) {
	if errors.Is(err, sipae.ErrUnsigned) || errors.Is(err, sipae.ErrNoCredentials) {
		a.unsigned.Add(1)
		if tx.Msg.Method != "ACK" {
			a.challenge(tx, "the request is not signed: "+err.Error(), a.ntlm.Offer())
		}
		return
	}
	a.badSignatures.Add(1)
	if tx.Msg.Method != "ACK" {
		_ = tx.Respond(403, "Forbidden", ua.Warning(sanitizeWarning("the signature does not verify: "+err.Error())))
	}
}

// verify checks the signature of a request after sign-in (anything but a
// REGISTER) on a connection whose users signed in with NTLM, and that it
// comes From the user whose association signed it. It answers a refusal
// itself and returns false then. Requests on trunks and connections
// without associations pass (their users are bound to the connection).
func (a *authn) verify(tx *sipnet.ServerTx, b *binding, from string) bool {
	if a.scheme != AuthNTLM || b == nil {
		return true
	}
	sec := b.sec.Load()
	if sec == nil || sec.empty() {
		return true
	}
	m := tx.Msg
	if a.faults.Has(fault.AcceptUnsigned) {
		if m.Auth == "" {
			return true
		}
		var f sipae.Fields
		m.SignedFields(&f)
		_, _, _ = a.ntlm.Authorize(m.Auth, &f) // whatever it says
		return true
	}
	if m.Auth == "" {
		a.refuseSigned(tx, fmt.Errorf("%w: no Authorization header", sipae.ErrUnsigned))
		return false
	}
	var f sipae.Fields
	m.SignedFields(&f)
	// the association of the user the request is From, on this
	// connection, checked without a look-up; any other case the long way
	if u := sec.user(from); u != nil {
		err := a.ntlm.Check(u.cur, m.Auth, &f)
		if errors.Is(err, sipae.ErrOtherSA) && u.prev != nil {
			err = a.ntlm.Check(u.prev, m.Auth, &f)
		}
		switch {
		case err == nil:
			return true
		case errors.Is(err, sipae.ErrExpired):
			a.unsigned.Add(1)
			if m.Method != "ACK" {
				a.challenge(tx, err.Error(), a.ntlm.Offer())
			}
			return false
		case !errors.Is(err, sipae.ErrOtherSA):
			a.refuseSigned(tx, err)
			return false
		}
	}
	sa, _, err := a.ntlm.Authorize(m.Auth, &f)
	switch {
	case errors.Is(err, sipae.ErrNoSA), errors.Is(err, sipae.ErrExpired), errors.Is(err, sipae.ErrWrongTarget):
		a.unsigned.Add(1)
		if m.Method != "ACK" {
			a.challenge(tx, err.Error(), a.ntlm.Offer())
		}
		return false
	case err != nil:
		a.refuseSigned(tx, err)
		return false
	case sa == nil || !sec.owns(sa):
		a.refuseSigned(tx, fmt.Errorf("%w: the association is not this connection's", sipae.ErrNoSA))
		return false
	}
	if user := sec.userOf(sa); !strings.EqualFold(user, from) && !a.faults.Has(fault.NoIdentityBinding) {
		a.impersonations.Add(1)
		if m.Method != "ACK" {
			_ = tx.Respond(403, "Forbidden", ua.Warning(sanitizeWarning("signed in as "+user+", not "+from)))
		}
		return false
	}
	return true
}

// connSecurity is a connection's MS-SIPAE state on the server: the
// security association of each user signed in on it with NTLM. It signs
// the server's messages to them (a response for the user who sent the
// request, a request for the user it is sent to) and checks their
// answers to the server's requests.
type connSecurity struct {
	a  *authn
	mu sync.RWMutex
	// by lower-case address (exact: as registered); renewed associations
	// stay until they expire, for messages signed before the renewal
	users, exact map[string]*userSAs
	// bySA finds the user of an association (current or previous): a
	// shared connection carries hundreds of users, and every signed
	// request asks whose its association is
	bySA map[*sipae.ServerSA]*userSAs
	// the one user of a connection that carries one (most)
	single atomic.Pointer[userSAs]
	// gen counts the changes of users: a dialog's memo of its user's
	// associations (dialogMemo) holds while gen has not moved
	gen atomic.Uint64
}

var _ sipnet.DialogSecurity = (*connSecurity)(nil)

// dialogMemo is what a dialog remembers of its user's associations on
// the connection (sipnet.DialogSecurity): a delivery then finds them
// without a look-up by address.
type dialogMemo struct {
	s   *connSecurity
	gen uint64
	u   *userSAs // nil: the dialog's user has none
}

type userSAs struct {
	aor       string
	cur, prev *sipae.ServerSA
}

func (b *binding) security(a *authn) *connSecurity {
	if s := b.sec.Load(); s != nil {
		return s
	}
	s := &connSecurity{a: a, users: map[string]*userSAs{}, exact: map[string]*userSAs{}, bySA: map[*sipae.ServerSA]*userSAs{}}
	if b.sec.CompareAndSwap(nil, s) {
		return s
	}
	return b.sec.Load()
}

// add makes sa the association of aor; its previous one, if any, stays
// (for messages signed before the renewal) until the next renewal.
// Entries are replaced, never changed, so readers of single need no lock.
func (s *connSecurity) add(aor string, sa *sipae.ServerSA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(aor)
	u := &userSAs{aor: aor, cur: sa}
	if old := s.users[k]; old != nil {
		u.prev = old.cur
		if old.prev != nil {
			s.a.ntlm.Drop(old.prev)
			delete(s.bySA, old.prev)
		}
		if old.aor != aor {
			delete(s.exact, old.aor)
		}
	}
	s.users[k] = u
	s.exact[aor] = u
	s.bySA[sa] = u
	if u.prev != nil {
		s.bySA[u.prev] = u
	}
	s.resetSingleLocked()
	s.gen.Add(1)
}

// remove forgets aor's associations (its unREGISTER).
func (s *connSecurity) remove(aor string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(aor)
	if u := s.users[k]; u != nil {
		for _, sa := range []*sipae.ServerSA{u.cur, u.prev} {
			if sa != nil {
				s.a.ntlm.Drop(sa)
				delete(s.bySA, sa)
			}
		}
		delete(s.users, k)
		delete(s.exact, u.aor)
	}
	s.resetSingleLocked()
	s.gen.Add(1)
}

func (s *connSecurity) resetSingleLocked() {
	if len(s.users) == 1 {
		for _, u := range s.users {
			s.single.Store(u)
		}
		return
	}
	s.single.Store(nil)
}

// dropAll forgets every association of the connection (it closed).
func (s *connSecurity) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, u := range s.users {
		for _, sa := range []*sipae.ServerSA{u.cur, u.prev} {
			if sa != nil {
				s.a.ntlm.Drop(sa)
			}
		}
		delete(s.users, k)
	}
	clear(s.exact)
	clear(s.bySA)
	s.single.Store(nil)
	s.gen.Add(1)
}

func (s *connSecurity) empty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users) == 0
}

// owns reports whether sa is one of the connection's associations.
func (s *connSecurity) owns(sa *sipae.ServerSA) bool {
	if u := s.single.Load(); u != nil {
		return u.cur == sa || u.prev == sa
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bySA[sa] != nil
}

// userOf returns the address sa signed in (one of the connection's).
func (s *connSecurity) userOf(sa *sipae.ServerSA) string {
	if u := s.single.Load(); u != nil && (u.cur == sa || u.prev == sa) {
		return u.aor
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.bySA[sa]; u != nil {
		return u.aor
	}
	return ""
}

// find returns the current association of the user at uri.
func (s *connSecurity) find(uri string) *sipae.ServerSA {
	if u := s.user(uri); u != nil {
		return u.cur
	}
	return nil
}

// user returns the associations of the user at uri: by the address as
// registered first (no allocation: a message names its user as it
// registered), else by its address of record in lower case.
func (s *connSecurity) user(uri string) *userSAs {
	if u := s.single.Load(); u != nil {
		if sameAddress(u.aor, uri) {
			return u
		}
		return nil
	}
	s.mu.RLock()
	u := s.exact[uri]
	s.mu.RUnlock()
	if u != nil {
		return u
	}
	aor, err := sipnet.AOR(uri)
	if err != nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[strings.ToLower(aor)]
}

// userMemo is user(uri) remembered in a dialog's memo (uri is always the
// dialog's peer): looked up again only after the connection's users
// changed.
func (s *connSecurity) userMemo(uri string, memo *sipnet.Memo) *userSAs {
	gen := s.gen.Load() // before the look-up: a change meanwhile moves it
	if m, _ := memo.Load().(*dialogMemo); m != nil && m.s == s && m.gen == gen {
		return m.u
	}
	u := s.user(uri)
	memo.Store(&dialogMemo{s: s, gen: gen, u: u})
	return u
}

// sameAddress compares an address of record with the URI of a message
// (which may carry a port or parameters) without allocating in the usual
// case of the same spelling.
func sameAddress(aor, uri string) bool {
	if strings.EqualFold(aor, uri) {
		return true
	}
	a, err := sipnet.AOR(uri)
	return err == nil && strings.EqualFold(aor, a)
}

// AppendSignature signs a message to one of the connection's users with
// its association: Authentication-Info (MS-SIPAE 3.3.5).
func (s *connSecurity) AppendSignature(dst []byte, f *sipae.Fields) []byte {
	user := f.ToURI // a request to the client
	if f.Status != 0 {
		user = f.FromURI // the answer to the client's request
	}
	return s.sign(dst, f, s.find(user))
}

// AppendDialogSignature is AppendSignature for an in-dialog request to
// the dialog's user, found through the dialog's memo.
func (s *connSecurity) AppendDialogSignature(dst []byte, f *sipae.Fields, memo *sipnet.Memo) []byte {
	var sa *sipae.ServerSA
	if u := s.userMemo(f.ToURI, memo); u != nil {
		sa = u.cur
	}
	return s.sign(dst, f, sa)
}

func (s *connSecurity) sign(dst []byte, f *sipae.Fields, sa *sipae.ServerSA) []byte {
	if sa == nil {
		return dst
	}
	dst = append(dst, "Authentication-Info: "...)
	start := len(dst)
	dst = sa.Sign(dst, f)
	if s.a.faults.Has(fault.BadServerSignature) {
		tamper(dst[start:])
	}
	return append(dst, "\r\n"...)
}

// tamper changes the last digit of the signature in an
// Authentication-Info value (bad-server-signature).
func tamper(v []byte) {
	i := len(v) - 2 // before the closing quote
	if i < 0 {
		return
	}
	if v[i] == '0' {
		v[i] = '1'
	} else {
		v[i] = '0'
	}
}

// CheckResponse verifies a client's answer to the server's request: it
// must be signed with the association of one of the connection's users.
func (s *connSecurity) CheckResponse(m *sipnet.Message) error {
	if s.empty() {
		return nil
	}
	if s.a.faults.Has(fault.AcceptUnsigned) {
		return nil
	}
	if m.Auth == "" {
		s.a.unsigned.Add(1)
		return sipae.ErrUnsigned
	}
	var f sipae.Fields
	m.SignedFields(&f)
	sa, _, err := s.a.ntlm.Authorize(m.Auth, &f)
	if err != nil {
		s.a.badSignatures.Add(1)
		return err
	}
	if !s.owns(sa) {
		s.a.badSignatures.Add(1)
		return fmt.Errorf("%w: the association is not this connection's", sipae.ErrNoSA)
	}
	return nil
}

// CheckAnswer verifies a client's answer to the server's in-dialog
// request from the fields it echoes, with the association of the dialog's
// user, without looking it up by opaque; any failure goes the full way
// (CheckResponse), which counts.
func (s *connSecurity) CheckAnswer(auth string, f *sipae.Fields) error {
	return s.checkAnswer(auth, f, s.user(f.ToURI))
}

// CheckDialogAnswer is CheckAnswer with the dialog's user found through
// the dialog's memo.
func (s *connSecurity) CheckDialogAnswer(auth string, f *sipae.Fields, memo *sipnet.Memo) error {
	return s.checkAnswer(auth, f, s.userMemo(f.ToURI, memo))
}

func (s *connSecurity) checkAnswer(auth string, f *sipae.Fields, u *userSAs) error {
	if s.a.faults.Has(fault.AcceptUnsigned) {
		return nil
	}
	if u == nil {
		return sipae.ErrOtherSA
	}
	err := s.a.ntlm.Check(u.cur, auth, f)
	if errors.Is(err, sipae.ErrOtherSA) && u.prev != nil {
		err = s.a.ntlm.Check(u.prev, auth, f)
	}
	return err
}

// tlsConfigured reports whether cfg can serve (it has a certificate).
func tlsConfigured(cfg *tls.Config) bool {
	return cfg != nil && (len(cfg.Certificates) > 0 || cfg.GetCertificate != nil || cfg.GetConfigForClient != nil)
}
