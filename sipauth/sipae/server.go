package sipae

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/ntlm"
)

// Server defaults.
const (
	// DefaultChallengeTTL is how long an NTLM CHALLENGE may wait for its
	// AUTHENTICATE (a real client answers at once).
	DefaultChallengeTTL = 2 * time.Minute
	// DefaultMaxPending bounds the CHALLENGEs waiting for an answer, so
	// that a flood of sign-in starts cannot grow the server without end.
	DefaultMaxPending = 10000
)

// ServerConfig configures the registrar side of MS-SIPAE with NTLM.
type ServerConfig struct {
	// Realm of the challenges; empty means DefaultRealm.
	Realm string
	// TargetName is the server's FQDN (the targetname parameter). Required.
	TargetName string
	// Version offered in the challenge (2, 3 or 4); 0 means DefaultVersion.
	Version int
	// NTLM names the server in its CHALLENGE messages.
	NTLM ntlm.ServerConfig
	// Lookup finds an account's NT hash by the user name and domain the
	// client sent. Required.
	Lookup ntlm.Lookup
	// Rand is the source of server challenges, opaques and salts;
	// nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Lifetime of a security association; 0 means DefaultLifetime.
	Lifetime time.Duration
	// ChallengeTTL and MaxPending bound the pending challenges; 0 means
	// DefaultChallengeTTL and DefaultMaxPending.
	ChallengeTTL time.Duration
	MaxPending   int
}

// Server issues NTLM challenges, establishes security associations (SAs)
// and verifies the signature of every request that follows, by the opaque
// each carries. It is safe for concurrent use.
type Server struct {
	cfg ServerConfig
	// monotonic: cfg.Now is time.Now, whose readings carry the
	// monotonic clock (see expired)
	monotonic bool

	mu        sync.Mutex
	pending   map[string]pending
	sas       map[string]*ServerSA
	lastSweep time.Time
}

type pending struct {
	ch      *ntlm.Challenge
	expires time.Time
}

// ServerSA is an established security association on the server: the
// signed-in user and the keys that sign to and verify from the client.
type ServerSA struct {
	sa
	// User and Domain as the client sent them in its AUTHENTICATE message.
	User, Domain string
}

// NewServer checks the configuration and fills its defaults.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.Version == 0 {
		cfg.Version = DefaultVersion
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	monotonic := cfg.Now == nil
	if monotonic {
		cfg.Now = time.Now
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.ChallengeTTL == 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	var errs []error
	if cfg.TargetName == "" {
		errs = append(errs, errors.New("sipae: TargetName is required"))
	}
	if cfg.Lookup == nil {
		errs = append(errs, errors.New("sipae: Lookup is required"))
	}
	if cfg.Version < 2 || cfg.Version > 4 {
		errs = append(errs, fmt.Errorf("sipae: version %d, want 2, 3 or 4", cfg.Version))
	}
	if strings.ContainsAny(cfg.Realm+cfg.TargetName, "\"\\\r\n") {
		errs = append(errs, errors.New("sipae: realm and target name may not hold quotes, backslashes or line breaks"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.NTLM.NetBIOSComputer == "" && cfg.NTLM.DNSComputer == "" {
		host, domain, _ := strings.Cut(cfg.TargetName, ".")
		cfg.NTLM.NetBIOSComputer = strings.ToUpper(host)
		cfg.NTLM.DNSComputer = cfg.TargetName
		if domain != "" {
			cfg.NTLM.NetBIOSDomain = strings.ToUpper(strings.Split(domain, ".")[0])
			cfg.NTLM.DNSDomain, cfg.NTLM.DNSTree = domain, domain
		}
	}
	return &Server{cfg: cfg, monotonic: monotonic, pending: map[string]pending{}, sas: map[string]*ServerSA{}}, nil
}

// Offer is the challenge of the first 401 (or 407), to a request without
// credentials: NTLM realm="…", targetname="…", version=N.
func (s *Server) Offer() sipauth.Field {
	f := sipauth.Field{Scheme: protocolNTLM}
	f.Set("realm", s.cfg.Realm, true)
	f.Set("targetname", s.cfg.TargetName, true)
	if s.cfg.Version > 2 {
		f.Set("version", strconv.Itoa(s.cfg.Version), false)
	}
	return f
}

// Authorize handles the NTLM credentials of a request (the value of its
// Authorization or Proxy-Authorization header) whose message fields f
// holds (Fields.SetMessage). Exactly one of its results is set:
//
//   - a challenge: the request asked for one (gssapi-data=""); answer 401
//     (407) with it as the WWW-Authenticate (Proxy-Authenticate) value;
//   - a security association: the request carries a valid AUTHENTICATE
//     message, or a valid signature of an established association;
//   - an error, wrapping what was wrong: ErrNoCredentials,
//     ErrBadCredentials, ErrWrongTarget (answer with Offer), ErrNoSA and
//     ErrExpired (the client must sign in again: answer with Offer),
//     ErrBusy (503), ntlm.ErrAuthFailed, ntlm.ErrUnsupported,
//     ntlm.ErrMalformed (sign-in failed), ErrUnsigned,
//     ntlm.ErrBadSignature, ErrReplay (a message to refuse).
func (s *Server) Authorize(value string, f *Fields) (*ServerSA, *sipauth.Field, error) {
	p, err := scanAuth(value, "crand", "cnum", "response")
	if err != nil {
		return nil, nil, err
	}
	if !eq(p.scheme, "ntlm") {
		return nil, nil, fmt.Errorf("%w: scheme %q", ErrNoCredentials, p.scheme)
	}
	if !strings.EqualFold(p.realm, s.cfg.Realm) || !strings.EqualFold(p.target, s.cfg.TargetName) {
		return nil, nil, fmt.Errorf("%w: realm %q targetname %q", ErrWrongTarget, p.realm, p.target)
	}
	now := s.cfg.Now()
	if p.hasGSSAPI && p.gssapi == "" {
		ch, err := s.challenge(now)
		return nil, ch, err
	}
	if p.hasGSSAPI {
		sa, err := s.establish(p, now)
		if err != nil {
			return nil, nil, err
		}
		if p.sig != "" { // version 4: the AUTHENTICATE request is signed too
			if err := sa.verifyFrom(p, f); err != nil {
				s.Drop(sa)
				return nil, nil, err
			}
		}
		return sa, nil, nil
	}
	s.mu.Lock()
	sa := s.sas[p.opaque]
	if sa != nil && !now.Before(sa.expires) {
		delete(s.sas, p.opaque)
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %s expired at %s", ErrExpired, p.opaque, sa.expires.Format(time.RFC3339))
	}
	s.mu.Unlock()
	if sa == nil {
		return nil, nil, fmt.Errorf("%w: opaque %q", ErrNoSA, p.opaque)
	}
	if p.sig == "" || !p.hasRand || !p.hasNum {
		return nil, nil, fmt.Errorf("%w: no crand, cnum and response", ErrUnsigned)
	}
	if err := sa.verifyFrom(p, f); err != nil {
		return nil, nil, err
	}
	return sa, nil, nil
}

// ErrOtherSA is returned by Check when the credentials name another
// association than the one given (by their opaque): look it up with
// Authorize instead.
var ErrOtherSA = errors.New("sipae: the credentials name another security association")

// Check verifies the signed credentials of a message (value, from its
// Authorization header; f its message fields) against sa, the association
// the caller expects (the one of the message's user on its connection),
// without looking associations up: no lock but sa's own. It returns
// ErrOtherSA when value names another association (or carries a sign-in's
// gssapi-data), ErrExpired for an association past its lifetime, and
// otherwise what Authorize would for a signed message.
func (s *Server) Check(sa *ServerSA, value string, f *Fields) error {
	p, own := sa.scanOwn(value, "crand", "cnum", "response")
	if !own {
		var err error
		if p, err = scanAuth(value, "crand", "cnum", "response"); err != nil {
			return err
		}
	}
	if !own {
		// the own head is the scheme, realm and targetname of sa, the
		// server's: nothing to compare
		if p.hasGSSAPI || p.opaque != sa.opaque {
			return ErrOtherSA
		}
		if !eq(p.scheme, "ntlm") {
			return fmt.Errorf("%w: scheme %q", ErrNoCredentials, p.scheme)
		}
		if !strings.EqualFold(p.realm, s.cfg.Realm) || !strings.EqualFold(p.target, s.cfg.TargetName) {
			return fmt.Errorf("%w: realm %q targetname %q", ErrWrongTarget, p.realm, p.target)
		}
	}
	if s.expired(sa) {
		s.Drop(sa)
		return fmt.Errorf("%w: %s expired at %s", ErrExpired, p.opaque, sa.expires.Format(time.RFC3339))
	}
	if p.sig == "" || !p.hasRand || !p.hasNum {
		return fmt.Errorf("%w: no crand, cnum and response", ErrUnsigned)
	}
	return sa.verifyFrom(p, f)
}

// expired reports whether sa has reached its expiry. With the default
// clock it reads the monotonic clock alone (time.Since of the
// establishment: one clock read where time.Now makes two); a clock given
// in the configuration is asked.
func (s *Server) expired(sa *ServerSA) bool {
	if s.monotonic {
		return time.Since(sa.established) >= sa.expires.Sub(sa.established)
	}
	return !s.cfg.Now().Before(sa.expires)
}

// challenge makes an NTLM CHALLENGE under a new opaque.
func (s *Server) challenge(now time.Time) (*sipauth.Field, error) {
	ch, err := ntlm.NewChallenge(s.cfg.NTLM, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= s.cfg.MaxPending || now.Sub(s.lastSweep) >= s.cfg.ChallengeTTL {
		s.sweepLocked(now)
	}
	if len(s.pending) >= s.cfg.MaxPending {
		return nil, fmt.Errorf("%w: %d outstanding", ErrBusy, len(s.pending))
	}
	opaque, err := s.newOpaqueLocked()
	if err != nil {
		return nil, err
	}
	s.pending[opaque] = pending{ch: ch, expires: now.Add(s.cfg.ChallengeTTL)}
	f := sipauth.Field{Scheme: protocolNTLM}
	f.Set("opaque", opaque, true)
	f.Set("gssapi-data", base64.StdEncoding.EncodeToString(ch.Marshal()), true)
	f.Set("targetname", s.cfg.TargetName, true)
	f.Set("realm", s.cfg.Realm, true)
	if s.cfg.Version > 2 {
		f.Set("version", strconv.Itoa(s.cfg.Version), false)
	}
	return &f, nil
}

// newOpaqueLocked returns 8 upper-case hex digits (the form OCS uses)
// naming no pending challenge or association.
func (s *Server) newOpaqueLocked() (string, error) {
	var b [4]byte
	for range 100 {
		if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
			return "", fmt.Errorf("sipae: opaque: %w", err)
		}
		o := fmt.Sprintf("%08X", binary.BigEndian.Uint32(b[:]))
		if _, ok := s.pending[o]; ok {
			continue
		}
		if _, ok := s.sas[o]; ok {
			continue
		}
		return o, nil
	}
	return "", errors.New("sipae: no free opaque after 100 tries")
}

// establish verifies the AUTHENTICATE message answering a pending
// challenge, which it uses up either way.
func (s *Server) establish(p authParams, now time.Time) (*ServerSA, error) {
	s.mu.Lock()
	pend, ok := s.pending[p.opaque]
	delete(s.pending, p.opaque)
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no pending challenge for opaque %q", ErrNoSA, p.opaque)
	}
	if !now.Before(pend.expires) {
		return nil, fmt.Errorf("%w: the challenge for opaque %q expired at %s", ErrExpired, p.opaque, pend.expires.Format(time.RFC3339))
	}
	msg, err := base64.StdEncoding.DecodeString(p.gssapi)
	if err != nil {
		return nil, fmt.Errorf("%w: gssapi-data is not base64: %w", ErrBadCredentials, err)
	}
	session, err := ntlm.Accept(s.cfg.NTLM, pend.ch, msg, s.cfg.Lookup, now)
	if err != nil {
		return nil, err
	}
	sa := &ServerSA{User: session.User, Domain: session.Domain}
	if err := sa.init(session, s.cfg.Realm, s.cfg.TargetName, p.opaque, s.cfg.Version, now, s.cfg.Lifetime, s.cfg.Rand); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sas[p.opaque] = sa
	s.mu.Unlock()
	return sa, nil
}

// Drop forgets an association (when its connection closes, or the client
// signs in again).
func (s *Server) Drop(sa *ServerSA) {
	s.mu.Lock()
	if s.sas[sa.opaque] == sa {
		delete(s.sas, sa.opaque)
	}
	s.mu.Unlock()
}

// Sweep forgets expired associations and challenges. Authorize sweeps
// when it issues a challenge at most once per ChallengeTTL; a server with
// long-lived associations and few sign-ins may call it from a timer.
func (s *Server) Sweep() {
	s.mu.Lock()
	s.sweepLocked(s.cfg.Now())
	s.mu.Unlock()
}

func (s *Server) sweepLocked(now time.Time) {
	for k, p := range s.pending {
		if !now.Before(p.expires) {
			delete(s.pending, k)
		}
	}
	for k, sa := range s.sas {
		if !now.Before(sa.expires) {
			delete(s.sas, k)
		}
	}
	s.lastSweep = now
}

// Len returns the numbers of established associations and of pending
// challenges.
func (s *Server) Len() (sas, pendingChallenges int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sas), len(s.pending)
}

// verifyFrom fills the header fields of f from the credentials, byte for
// byte, and verifies the client's signature.
func (a *sa) verifyFrom(p authParams, f *Fields) error {
	f.Protocol, f.Rand, f.Num, f.Realm, f.TargetName = p.scheme, p.rand, p.num, p.realm, p.target
	return a.verify(f, p.sig)
}

// Opaque returns the opaque naming the association.
func (a *sa) Opaque() string { return a.opaque }

// Version returns the MS-SIPAE version the association signs with.
func (a *sa) Version() int { return a.version }

// Established returns when the association was established.
func (a *sa) Established() time.Time { return a.established }

// Expires returns when the association expires.
func (a *sa) Expires() time.Time { return a.expires }

// Sign signs a message to the client, whose fields f holds (the header
// fields are filled in), and appends the Authentication-Info (or
// Proxy-Authentication-Info) value: NTLM qop="auth", opaque, realm,
// targetname, srand, snum, rspauth. It does not allocate.
func (sa *ServerSA) Sign(dst []byte, f *Fields) []byte {
	return sa.appendAuth(dst, f, sa.head, "srand", "snum", "rspauth", nil)
}

// head appends what comes before the signature parameters, made once per
// association: NTLM qop="auth", opaque="…", realm="…", targetname="…".
func (a *sa) head(dst []byte) []byte { return append(dst, a.headStr...) }

func (a *sa) makeHead() string {
	dst := []byte(`NTLM qop="auth", opaque="`)
	dst = append(dst, a.opaque...)
	dst = append(dst, `", realm="`...)
	dst = append(dst, a.realm...)
	dst = append(dst, `", targetname="`...)
	dst = append(dst, a.target...)
	return string(append(dst, '"'))
}
