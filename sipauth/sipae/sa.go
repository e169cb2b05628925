package sipae

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/ntlm"
)

// Defaults.
const (
	// DefaultRealm is the realm every OCS/Lync server uses.
	DefaultRealm = "SIP Communications Service"
	// DefaultVersion is the protocol version a Server offers: 3, the
	// version the SIPE client was observed to sign with.
	DefaultVersion = 3
	// DefaultLifetime is how long a security association lasts when
	// nothing else says: the SIPE client's cap when the mechanism gives no
	// lifetime (NTLM gives none), and this package's server default.
	DefaultLifetime = 8 * time.Hour
	// RenewBefore is how long before its expiry a client renews an SA
	// (MS-SIPAE 3.2.2: "SHOULD be five (5) minutes or longer").
	RenewBefore = 5 * time.Minute
	// SeqNum is the NTLM sequence number of every MS-SIPAE signature: a
	// constant, the salt and counter are in the signed string instead.
	SeqNum = 100
	// ReplayWindow is how far behind the highest cnum (or snum) received a
	// number may be and still be accepted once; older or repeated numbers
	// are replays. The window is this project's choice (MS-SIPAE numbers
	// every message; it does not say how far a receiver tolerates
	// reordering).
	ReplayWindow = 64
)

const protocolNTLM = "NTLM"

// Sentinel errors. Each refusal wraps one of them (or an ntlm error) so
// that callers choose the SIP answer with errors.Is.
var (
	// ErrNoCredentials: the header is absent or carries another scheme.
	ErrNoCredentials = errors.New("sipae: no NTLM credentials")
	// ErrWrongTarget: realm or targetname are not this server's (or, on
	// the client, not those of the security association).
	ErrWrongTarget = errors.New("sipae: realm or targetname do not match")
	// ErrNoSA: the opaque names no security association or pending
	// challenge (never issued, expired or dropped).
	ErrNoSA = errors.New("sipae: no such security association")
	// ErrExpired: the security association has expired.
	ErrExpired = errors.New("sipae: security association expired")
	// ErrUnsigned: an established association's message carries no
	// signature.
	ErrUnsigned = errors.New("sipae: message not signed")
	// ErrReplay: the cnum (snum) was already received or is outside the
	// replay window.
	ErrReplay = errors.New("sipae: replayed or out-of-window sequence number")
	// ErrBusy: too many challenges are outstanding.
	ErrBusy = errors.New("sipae: too many pending challenges")
	// ErrBadCredentials: the header is malformed.
	ErrBadCredentials = errors.New("sipae: malformed credentials")
)

// window remembers which sequence numbers were received, the way IPsec
// does: the highest, and a bitmap of the ReplayWindow numbers below it.
type window struct {
	top  uint32
	bits uint64 // bit i: top-i received
	any  bool
}

// accept marks n received, refusing a number seen before or too old.
func (w *window) accept(n uint32) error {
	switch {
	case !w.any || n > w.top:
		shift := n - w.top
		if !w.any || shift >= ReplayWindow {
			w.bits = 0
		} else {
			w.bits <<= shift
		}
		w.top, w.bits, w.any = n, w.bits|1, true
		return nil
	case w.top-n >= ReplayWindow:
		return fmt.Errorf("%w: %d is more than %d behind %d", ErrReplay, n, ReplayWindow, w.top)
	case w.bits&(1<<(w.top-n)) != 0:
		return fmt.Errorf("%w: %d was already received", ErrReplay, n)
	}
	w.bits |= 1 << (w.top - n)
	return nil
}

// sa is what both sides' security associations share: the NTLM session,
// the names the signed strings carry, and the signing state.
type sa struct {
	// what a message signed or verified reads and writes, together at the
	// front (a server signs for a different user at every delivery: each
	// line here is a cache miss)
	mu      sync.Mutex
	num     uint32   // the last cnum/snum sent
	rng     rand.PCG // the per-message rand salt
	seen    window   // the peer's numbers
	salt    [8]byte
	numb    [10]byte
	version int
	session *ntlm.Session
	headStr string // see head
	mid     string // see ownMid
	realm   string
	target  string

	opaque               string
	established, expires time.Time
}

func (a *sa) init(session *ntlm.Session, realm, target, opaque string, version int, now time.Time, lifetime time.Duration, seed io.Reader) error {
	var s [16]byte
	if _, err := io.ReadFull(seed, s[:]); err != nil {
		return fmt.Errorf("sipae: seeding the salt generator: %w", err)
	}
	a.realm, a.target, a.opaque, a.version, a.session = realm, target, opaque, version, session
	a.headStr = a.makeHead()
	a.mid = ownMid(realm, target)
	a.established, a.expires = now, now.Add(lifetime)
	// The salt is sent in the clear and is no secret (the key is what
	// makes a signature unforgeable): a PCG seeded from the configured
	// source (16 bytes of state, where a ChaCha8 was 300 per user)
	a.rng = *rand.NewPCG(binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:]))
	// MS-SIPAE signs every message with the same sequence number: its
	// sealing key stream is worked out once, here
	session.FixSeqNum(SeqNum)
	return nil
}

// appendAuth signs f as the next message and appends the header value:
// names[0] and names[1] are the rand and num parameter names ("crand",
// "cnum" or "srand", "snum"), sigName the signature's ("response",
// "rspauth"). head writes what comes before the signature parameters.
// randOverride, when not nil, replaces the generated salt (tests).
func (a *sa) appendAuth(dst []byte, f *Fields, head func(dst []byte) []byte, randName, numName, sigName string, randOverride []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.num++
	salt := a.salt[:]
	if randOverride != nil {
		salt = randOverride
	} else {
		const digits = "0123456789abcdef"
		v := a.rng.Uint64()
		for i := range salt {
			salt[i] = digits[v&15]
			v >>= 4
		}
	}
	num := strconv.AppendUint(a.numb[:0], uint64(a.num), 10)
	f.Protocol, f.Realm, f.TargetName = protocolNTLM, a.realm, a.target
	// the signed string written straight into the buffer MD5 reads (a
	// pooled one: a buffer per association would be one more cold object
	// per message for a server signing to thousands of users in turn)
	sig := a.session.SignBuilt(SeqNum, func(dst []byte) []byte {
		return appendOwnSigned(dst, a.version, a.mid, f, salt, num)
	})

	dst = head(dst)
	dst = append(dst, ", "...)
	dst = appendQuoted(dst, randName, salt)
	dst = append(dst, ", "...)
	dst = appendQuoted(dst, numName, num)
	dst = append(dst, ", "...)
	dst = append(dst, sigName...)
	dst = append(dst, `="`...)
	dst = sig.AppendHex(dst)
	return append(dst, '"')
}

func appendQuoted[T string | []byte](dst []byte, name string, v T) []byte {
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = append(dst, v...)
	return append(dst, '"')
}

// verify checks a signature the peer made over f (whose header fields come
// from the peer's header) and records its number.
func (a *sa) verify(f *Fields, sigHex string) error {
	sig, err := ntlm.ParseSignature(sigHex)
	if err != nil {
		return err
	}
	n, ok := parseNum(f.Num)
	if !ok {
		return fmt.Errorf("%w: sequence number %q", ErrBadCredentials, f.Num)
	}
	own := f.Protocol == protocolNTLM && f.Realm == a.realm && f.TargetName == a.target
	if err := a.session.VerifyBuilt(sig, func(dst []byte) []byte {
		if own {
			return appendOwnSigned(dst, a.version, a.mid, f, f.Rand, f.Num)
		}
		return AppendSigned(dst, a.version, f)
	}); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen.accept(n)
}

// parseNum reads a cnum or snum: decimal digits (no sign, no spaces), at
// most a uint32, as strconv.ParseUint(s, 10, 32) reads them.
func parseNum(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return uint32(n), n <= 1<<32-1
}

// authParams are the parameters of an Authorization or
// Authentication-Info value that MS-SIPAE uses.
type authParams struct {
	scheme                      string
	realm, target, opaque       string
	gssapi                      string
	hasGSSAPI                   bool
	version                     int
	rand, num, sig              string
	hasVersion, hasRand, hasNum bool
}

// scanOwn reads a value that begins exactly with the association's own
// head (NTLM qop="auth", opaque, realm and targetname, as both sides of
// this package write them: a peer answering with the names it was given)
// followed by exactly ", rand=\"…\", num=\"…\", sig=\"…\"" and nothing else:
// the names and the association's are then the same bytes, and need no
// parsing or comparison. false: any other shape, which scanAuth reads.
// TestScanOwnAgrees holds it to scanAuth.
func (a *sa) scanOwn(v, randName, numName, sigName string) (authParams, bool) {
	var p authParams
	if len(v) > sipauth.MaxLen || !strings.HasPrefix(v, a.headStr) {
		return p, false
	}
	rest := v[len(a.headStr):]
	var ok bool
	if p.rand, rest, ok = quotedParam(rest, randName); !ok {
		return p, false
	}
	if p.num, rest, ok = quotedParam(rest, numName); !ok {
		return p, false
	}
	if p.sig, rest, ok = quotedParam(rest, sigName); !ok || rest != "" {
		return p, false
	}
	p.scheme, p.realm, p.target, p.opaque = protocolNTLM, a.realm, a.target, a.opaque
	p.hasRand, p.hasNum = true, true
	return p, true
}

// quotedParam reads `, name="value"` (a value of one or more characters,
// none of them a quote, a backslash or a control character) at the start
// of v.
func quotedParam(v, name string) (val, rest string, ok bool) {
	if len(v) < len(name)+6 || v[0] != ',' || v[1] != ' ' || v[2:2+len(name)] != name || v[2+len(name)] != '=' || v[3+len(name)] != '"' {
		return "", "", false
	}
	v = v[4+len(name):]
	i := 0
	for i < len(v) && plainQuoted[v[i]] {
		i++
	}
	if i == 0 || i == len(v) || v[i] != '"' {
		return "", "", false
	}
	return v[:i], v[i+1:], true
}

// plainQuoted marks the characters a quoted value holds without escapes:
// none of the quote, the backslash or a control character.
var plainQuoted = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != 0x7f && c != '"' && c != '\\'
	}
	return t
}()

// scanAuth reads the parameters of a value without allocating. randName,
// numName and sigName are "crand", "cnum", "response" for credentials and
// "srand", "snum", "rspauth" for authentication-info.
func scanAuth(v, randName, numName, sigName string) (authParams, error) {
	if p, ok := scanAuthFast(v, randName, numName, sigName); ok {
		return p, nil
	}
	return scanAuthGeneral(v, randName, numName, sigName)
}

// scanAuthGeneral is scanAuth with the general scanner (sipauth.Scanner).
func scanAuthGeneral(v, randName, numName, sigName string) (authParams, error) {
	var p authParams
	var s sipauth.Scanner
	if err := s.Reset(v); err != nil {
		return p, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	}
	p.scheme = s.Scheme()
	for s.Next() {
		switch n := s.Name; {
		case eq(n, "realm"):
			p.realm = s.Value
		case eq(n, "targetname"):
			p.target = s.Value
		case eq(n, "opaque"):
			p.opaque = s.Value
		case eq(n, "gssapi-data"):
			p.gssapi, p.hasGSSAPI = s.Value, true
		case eq(n, "version"):
			ver, err := strconv.Atoi(s.Value)
			if err != nil || ver < 0 || ver > 1000 {
				return p, fmt.Errorf("%w: version %q", ErrBadCredentials, s.Value)
			}
			p.version, p.hasVersion = ver, true
		case eq(n, randName):
			p.rand, p.hasRand = s.Value, true
		case eq(n, numName):
			p.num, p.hasNum = s.Value, true
		case eq(n, sigName):
			p.sig = s.Value
		}
	}
	if err := s.Err(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	}
	return p, nil
}

// scanAuthFast reads a value in the shape signers write (a scheme, one
// space, then name="value" or name=token items separated by ", " or
// ","), in one pass with no calls, and reports false for anything else
// (escapes, control characters, tabs, empty items, a second scheme,
// over sipauth.MaxLen or sipauth.MaxParams), which the general scanner
// then reads or refuses. What it accepts, the general scanner reads the
// same way (TestScanAuthFastAgrees).
func scanAuthFast(v, randName, numName, sigName string) (authParams, bool) {
	var p authParams
	if len(v) > sipauth.MaxLen {
		return p, false
	}
	i := 0
	for i < len(v) && tokenChar[v[i]] {
		i++
	}
	if i == 0 || i >= len(v) || v[i] != ' ' {
		return p, false
	}
	p.scheme = v[:i]
	i++
	for n := 1; ; n++ {
		if n > sipauth.MaxParams {
			return p, false
		}
		j := i
		for j < len(v) && tokenChar[v[j]] {
			j++
		}
		if j == i || j+1 >= len(v) || v[j] != '=' {
			return p, false
		}
		name := v[i:j]
		j++
		var val string
		if v[j] == '"' {
			k := j + 1
			for k < len(v) && v[k] != '"' {
				if c := v[k]; c == '\\' || c < 0x20 || c == 0x7f {
					return p, false
				}
				k++
			}
			if k == len(v) {
				return p, false
			}
			val, i = v[j+1:k], k+1
		} else {
			k := j
			for k < len(v) && tokenChar[v[k]] {
				k++
			}
			if k == j {
				return p, false
			}
			val, i = v[j:k], k
		}
		if !p.set(name, val, randName, numName, sigName) {
			return p, false
		}
		if i == len(v) {
			return p, true
		}
		if v[i] != ',' {
			return p, false
		}
		i++
		if i < len(v) && v[i] == ' ' {
			i++
		}
		if i == len(v) {
			return p, false // a trailing comma: the general scanner's
		}
	}
}

// set takes one parameter into p; false: a version that is not a number.
func (p *authParams) set(name, val, randName, numName, sigName string) bool {
	switch {
	case eq(name, "realm"):
		p.realm = val
	case eq(name, "targetname"):
		p.target = val
	case eq(name, "opaque"):
		p.opaque = val
	case eq(name, "gssapi-data"):
		p.gssapi, p.hasGSSAPI = val, true
	case eq(name, "version"):
		ver, err := strconv.Atoi(val)
		if err != nil || ver < 0 || ver > 1000 {
			return false
		}
		p.version, p.hasVersion = ver, true
	case eq(name, randName):
		p.rand, p.hasRand = val, true
	case eq(name, numName):
		p.num, p.hasNum = val, true
	case eq(name, sigName):
		p.sig = val
	}
	return true
}

// tokenChar marks RFC 3261 token characters.
var tokenChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-.!%*_+`'~", byte(c)) >= 0
	}
	return t
}()

// eq compares a parameter name (an RFC 3261 token: no control
// characters, which |0x20 could turn into punctuation) with a lower-case
// name, without regard to case.
func eq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i]|0x20 != b[i] && a[i] != b[i] {
			return false
		}
	}
	return true
}
