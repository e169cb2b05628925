package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gcload/gcload/sipauth"
)

// Server defaults.
const (
	// DefaultNonceTTL is how long a nonce is good for.
	DefaultNonceTTL = 5 * time.Minute
	// DefaultMaxNonces bounds the nonces whose count is tracked at once.
	DefaultMaxNonces = 200000
)

// ServerConfig configures digest verification.
type ServerConfig struct {
	// Realm of the challenges. Required.
	Realm string
	// Algorithms offered, preferred first; nil means SHA-256 then MD5.
	Algorithms []Algorithm
	// NonceTTL; 0 means DefaultNonceTTL.
	NonceTTL time.Duration
	// MaxNonces; 0 means DefaultMaxNonces.
	MaxNonces int
	// Key authenticates the nonces; nil means 32 random bytes (nonces then
	// do not survive a restart, which only makes clients retry).
	Key []byte
	// Rand is the source of the key; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server makes digest challenges and verifies the credentials answering
// them. It is safe for concurrent use.
type Server struct {
	cfg ServerConfig

	mu       sync.Mutex
	counts   map[string]nonceState
	lastScan time.Time
}

type nonceState struct {
	nc      uint32
	expires time.Time
}

// HA1Lookup returns the stored HA1 (hex) of the account a username names
// for an algorithm, and whether there is one.
type HA1Lookup func(username, realm string, alg Algorithm) (ha1 string, ok bool)

// NewServer checks the configuration and fills its defaults.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Realm == "" {
		return nil, errors.New("digest: Realm is required")
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []Algorithm{SHA256, MD5}
	}
	for _, a := range cfg.Algorithms {
		if _, err := ParseAlgorithm(string(a)); err != nil || a == "" {
			return nil, fmt.Errorf("digest: algorithm %q is not supported", a)
		}
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if cfg.MaxNonces == 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Key == nil {
		cfg.Key = make([]byte, 32)
		if _, err := io.ReadFull(cfg.Rand, cfg.Key); err != nil {
			return nil, fmt.Errorf("digest: key: %w", err)
		}
	}
	return &Server{cfg: cfg, counts: map[string]nonceState{}}, nil
}

// Realm returns the server's realm.
func (s *Server) Realm() string { return s.cfg.Realm }

// Challenges returns the challenges of a 401 (407), one per algorithm,
// all with a fresh nonce and qop="auth"; stale marks a renewal after
// ErrStale.
func (s *Server) Challenges(stale bool) []sipauth.Field {
	nonce := s.nonce(s.cfg.Now())
	out := make([]sipauth.Field, 0, len(s.cfg.Algorithms))
	for _, a := range s.cfg.Algorithms {
		out = append(out, Challenge{Realm: s.cfg.Realm, Nonce: nonce, Algorithm: a, QOP: []string{"auth"}, Stale: stale}.Field())
	}
	return out
}

const nonceTagLen = 16

func (s *Server) nonce(t time.Time) string {
	var b [8 + nonceTagLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	copy(b[8:], s.tag(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) tag(stamp []byte) []byte {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write(stamp)
	m.Write([]byte(s.cfg.Realm))
	return m.Sum(nil)[:nonceTagLen]
}

// nonceTime checks that a nonce is this server's and returns when it was
// made.
func (s *Server) nonceTime(nonce string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceTagLen || !hmac.Equal(b[8:], s.tag(b[:8])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

// Verify checks credentials for a request (method and, if not empty, the
// Request-URI the credentials' uri must equal). It returns nil, or an
// error wrapping ErrBadCredentials, ErrUnsupported, ErrAuthFailed (answer
// with Challenges(false)), ErrStale (answer with Challenges(true)),
// ErrReplay or ErrBusy.
func (s *Server) Verify(method, requestURI string, c Credentials, lookup HA1Lookup) error {
	if c.Realm != s.cfg.Realm {
		return fmt.Errorf("%w: realm %q, want %q", ErrAuthFailed, c.Realm, s.cfg.Realm)
	}
	offered := false
	for _, a := range s.cfg.Algorithms {
		offered = offered || a == c.Algorithm
	}
	if !offered {
		return fmt.Errorf("%w: algorithm %s was not offered", ErrUnsupported, c.Algorithm)
	}
	if requestURI != "" && c.URI != requestURI {
		return fmt.Errorf("%w: uri %q is not the Request-URI %q", ErrBadCredentials, c.URI, requestURI)
	}
	issued, ok := s.nonceTime(c.Nonce)
	if !ok {
		return fmt.Errorf("%w: the nonce is not this server's", ErrAuthFailed)
	}
	ha1, ok := lookup(c.Username, c.Realm, c.Algorithm)
	if !ok {
		return fmt.Errorf("%w: no account %q", ErrAuthFailed, c.Username)
	}
	nc := ""
	if c.QOP != "" {
		nc = fmt.Sprintf("%08x", c.NC)
	}
	want := response(c.Algorithm, ha1, c.Nonce, nc, c.CNonce, c.QOP, method, c.URI)
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) != 1 {
		return fmt.Errorf("%w: wrong response for %q (wrong password)", ErrAuthFailed, c.Username)
	}
	now := s.cfg.Now()
	expires := issued.Add(s.cfg.NonceTTL)
	if !now.Before(expires) {
		return fmt.Errorf("%w: the nonce expired %v ago", ErrStale, now.Sub(expires).Round(time.Second))
	}
	if c.QOP == "" {
		return nil // RFC 2069: no count to check
	}
	return s.count(c.Nonce, c.NC, expires, now)
}

// count records a nonce count, which must exceed the last one.
func (s *Server) count(nonce string, nc uint32, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.counts[nonce]
	if ok && nc <= st.nc {
		return fmt.Errorf("%w: nc %08x after %08x", ErrReplay, nc, st.nc)
	}
	if !ok && len(s.counts) >= s.cfg.MaxNonces {
		if now.Sub(s.lastScan) > time.Second {
			for k, v := range s.counts {
				if !now.Before(v.expires) {
					delete(s.counts, k)
				}
			}
			s.lastScan = now
		}
		if len(s.counts) >= s.cfg.MaxNonces {
			return fmt.Errorf("%w: %d", ErrBusy, len(s.counts))
		}
	}
	s.counts[nonce] = nonceState{nc: nc, expires: expires}
	return nil
}
