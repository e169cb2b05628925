package ntlm

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

// Session is an established connectionless NTLM session, on either side.
// Sign signs with this side's keys, Verify checks with the peer's. It is
// safe for concurrent use.
type Session struct {
	// Flags are the negotiated flags (those of the AUTHENTICATE message).
	Flags Flags
	// User, Domain and Workstation are the names from the AUTHENTICATE
	// message, exactly as sent.
	User, Domain, Workstation string

	// the two directions, held in the session (no pointer to chase per
	// message)
	out, in signer
}

func newSession(flags Flags, k Keys, server bool, a *Authenticate) *Session {
	s := &Session{Flags: flags, User: a.User, Domain: a.Domain, Workstation: a.Workstation}
	if server {
		s.out.init(k.ServerSign, k.ServerSeal, flags)
		s.in.init(k.ClientSign, k.ClientSeal, flags)
	} else {
		s.out.init(k.ClientSign, k.ClientSeal, flags)
		s.in.init(k.ServerSign, k.ServerSeal, flags)
	}
	return s
}

// Sign returns the signature of msg with sequence number seq, made with
// this side's signing and sealing keys (MS-NLMP 3.4.4.2, MAC with
// extended session security).
func (s *Session) Sign(msg []byte, seq uint32) Signature { return s.out.sign(msg, seq) }

// FixSeqNum works out, once, what signing and verifying with sequence
// number seq need beyond the keys (the sealing key stream of that number),
// for a protocol that signs every message with the same number, as
// MS-SIPAE does. Call it before the session is shared; other numbers
// still work.
func (s *Session) FixSeqNum(seq uint32) {
	for _, d := range []*signer{&s.out, &s.in} {
		d.fixedKS = d.keystream(seq)
		d.fixedSeq, d.fixed = seq, true
	}
}

// SignBuilt is Sign of the message build appends to the buffer it is
// given: the buffer is the one MD5 reads, so the message is written
// once, and never copied. build must not keep the buffer.
func (s *Session) SignBuilt(seq uint32, build func(dst []byte) []byte) Signature {
	return s.out.signBuilt(seq, build)
}

// VerifyBuilt is Verify of the message build appends (see SignBuilt).
func (s *Session) VerifyBuilt(sig Signature, build func(dst []byte) []byte) error {
	return s.in.verifyBuilt(sig, build)
}

// Verify checks a signature the peer made over msg; the sequence number is
// the one the signature carries. It returns an error wrapping
// ErrBadSignature when it does not verify.
func (s *Session) Verify(msg []byte, sig Signature) error { return s.in.verify(msg, sig) }

// ServerConfig names the server in its CHALLENGE messages. The names go
// into the target information the client's NTLMv2 response covers; any
// left empty is omitted.
type ServerConfig struct {
	// TargetName is CHALLENGE.TargetName (MS-NLMP: the server's domain or
	// computer name). Empty: NetBIOSComputer.
	TargetName      string
	NetBIOSDomain   string
	NetBIOSComputer string
	DNSDomain       string
	DNSComputer     string
	DNSTree         string
	// Flags offered; zero means DatagramFlags.
	Flags Flags
	// MaxClockSkew, when positive, refuses an NTLMv2 response whose
	// timestamp is further than this from the server's clock (MS-NLMP
	// 3.3.2 says a server SHOULD). Zero accepts any timestamp: each
	// server challenge is answered once, which already prevents replay.
	MaxClockSkew time.Duration
}

// NewChallenge makes a CHALLENGE message with a random server challenge
// read from rand.
func NewChallenge(cfg ServerConfig, rand io.Reader) (*Challenge, error) {
	c := &Challenge{Flags: cfg.Flags, TargetName: cfg.TargetName, Version: DefaultVersion}
	if c.Flags == 0 {
		c.Flags = DatagramFlags
	}
	if c.TargetName == "" {
		c.TargetName = cfg.NetBIOSComputer
	}
	if _, err := io.ReadFull(rand, c.ServerChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: server challenge: %w", err)
	}
	var pairs []AVPair
	for _, p := range []struct {
		id uint16
		v  string
	}{
		{AvNbDomainName, cfg.NetBIOSDomain}, {AvNbComputerName, cfg.NetBIOSComputer},
		{AvDNSDomainName, cfg.DNSDomain}, {AvDNSComputerName, cfg.DNSComputer}, {AvDNSTreeName, cfg.DNSTree},
	} {
		if p.v != "" {
			pairs = append(pairs, StringAV(p.id, p.v))
		}
	}
	c.TargetInfo = AppendTargetInfo(nil, pairs...)
	return c, nil
}

// Lookup returns the NT hash of the account a user name and domain, as
// sent in an AUTHENTICATE message, name; ok is false when there is none.
type Lookup func(user, domain string) (ntHash [16]byte, ok bool)

// Accept verifies an AUTHENTICATE message answering the challenge c (which
// the caller must use only once) and returns the established session. now
// is the server's clock, used only with cfg.MaxClockSkew. Errors wrap
// ErrMalformed, ErrUnsupported or ErrAuthFailed; none holds a secret.
func Accept(cfg ServerConfig, c *Challenge, msg []byte, lookup Lookup, now time.Time) (*Session, error) {
	a, err := ParseAuthenticate(msg)
	if err != nil {
		return nil, err
	}
	if a.User == "" && len(a.NTResponse) == 0 {
		return nil, fmt.Errorf("%w: anonymous authentication", ErrUnsupported)
	}
	if !a.Flags.Has(serverRequired) {
		return nil, fmt.Errorf("%w: flags %v lack %v", ErrUnsupported, a.Flags, serverRequired&^a.Flags)
	}
	if len(a.NTResponse) == 24 {
		return nil, fmt.Errorf("%w: an NTLMv1 response (only NTLMv2 is accepted)", ErrUnsupported)
	}
	if len(a.NTResponse) < 16+28+4 {
		return nil, malformed("NtChallengeResponse is %d bytes, too short for NTLMv2", len(a.NTResponse))
	}
	blob := a.NTResponse[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return nil, malformed("NTLMv2 response type %d.%d, want 1.1", blob[0], blob[1])
	}
	if a.Flags.Has(NegotiateKeyExch) && len(a.EncryptedRandomSessionKey) != 16 {
		return nil, malformed("KEY_EXCH without an encrypted random session key")
	}
	ntHash, ok := lookup(a.User, a.Domain)
	if !ok {
		return nil, fmt.Errorf("%w: no account for user %q domain %q", ErrAuthFailed, a.User, a.Domain)
	}
	proof := [16]byte(a.NTResponse[:16])
	key, ok := proveV2(ntHash, a.User, a.Domain, c.ServerChallenge, blob, proof)
	if !ok {
		return nil, fmt.Errorf("%w: the NTLMv2 response of user %q domain %q does not verify (wrong password)", ErrAuthFailed, a.User, a.Domain)
	}
	if cfg.MaxClockSkew > 0 {
		t := FromFiletime(binary.LittleEndian.Uint64(blob[8:16]))
		if d := now.Sub(t); d > cfg.MaxClockSkew || d < -cfg.MaxClockSkew {
			return nil, fmt.Errorf("%w: the client's clock is %v off (at most %v allowed)", ErrAuthFailed, d.Round(time.Second), cfg.MaxClockSkew)
		}
	}
	base := hmacMD5(key[:], proof[:])
	exported := base // KeyExchangeKey = SessionBaseKey in NTLMv2
	if a.Flags.Has(NegotiateKeyExch) {
		exported = [16]byte(RC4K(base[:], a.EncryptedRandomSessionKey))
	}
	return newSession(a.Flags, DeriveKeys(exported, a.Flags), true, a), nil
}

// proveV2 checks NTProofStr for the user name upper-cased the Unicode way
// (as Windows does) and, if that differs, the ASCII-only way (as the SIPE
// client does), returning the response key that verified.
func proveV2(ntHash [16]byte, user, domain string, serverChallenge [8]byte, blob []byte, proof [16]byte) ([16]byte, bool) {
	tries := []string{strings.ToUpper(user)}
	if a := asciiUpper(user); a != tries[0] {
		tries = append(tries, a)
	}
	for _, u := range tries {
		key := ntowfv2(ntHash, u, domain)
		got := hmacMD5(key[:], serverChallenge[:], blob)
		if hmac.Equal(got[:], proof[:]) {
			return key, true
		}
	}
	return [16]byte{}, false
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// ClientConfig is the identity a client answers challenges with.
type ClientConfig struct {
	// User and Domain as sent: "alice" with "EXAMPLE", or the UPN
	// "alice@example.com" with an empty domain.
	User, Domain string
	Password     string
	// Workstation is the client's computer name (may be empty).
	Workstation string
	// NoLMResponse sends an empty LmChallengeResponse, as MS-NLMP says a
	// client SHOULD with target information; the default sends LMv2, as
	// the SIPE client and Office Communicator do.
	NoLMResponse bool
	// Version is written in the AUTHENTICATE message; zero means
	// DefaultVersion.
	Version Version
}

// Respond answers a CHALLENGE message with an AUTHENTICATE message and
// returns the client's session. The client challenge and the random
// session key are read from rand; now is the timestamp of the NTLMv2
// response unless the challenge carries MsvAvTimestamp.
func Respond(cfg ClientConfig, challenge []byte, rand io.Reader, now time.Time) ([]byte, *Session, error) {
	c, err := ParseChallenge(challenge)
	if err != nil {
		return nil, nil, err
	}
	if !c.Flags.Has(clientRequired) {
		return nil, nil, fmt.Errorf("%w: the server's flags %v lack %v", ErrUnsupported, c.Flags, clientRequired&^c.Flags)
	}
	pairs, err := ParseTargetInfo(c.TargetInfo)
	if err != nil {
		return nil, nil, err
	}
	ts := Filetime(now)
	for _, p := range pairs {
		if p.ID == AvTimestamp && len(p.Value) == 8 {
			ts = binary.LittleEndian.Uint64(p.Value)
		}
	}
	var clientChallenge [8]byte
	var exported [16]byte
	if _, err := io.ReadFull(rand, clientChallenge[:]); err != nil {
		return nil, nil, fmt.Errorf("ntlm: client challenge: %w", err)
	}
	if _, err := io.ReadFull(rand, exported[:]); err != nil {
		return nil, nil, fmt.Errorf("ntlm: random session key: %w", err)
	}
	flags := c.Flags&clientSupported | RequestTarget
	if flags.Has(Negotiate128) {
		flags &^= Negotiate56
	}
	key := NTOWFv2(NTHash(cfg.Password), cfg.User, cfg.Domain)
	r := ComputeResponse(key, c.ServerChallenge, clientChallenge, ts, c.TargetInfo)
	a := &Authenticate{
		Flags:                     flags,
		NTResponse:                r.NT,
		Domain:                    cfg.Domain,
		User:                      cfg.User,
		Workstation:               cfg.Workstation,
		EncryptedRandomSessionKey: RC4K(r.SessionBaseKey[:], exported[:]),
		Version:                   cfg.Version,
	}
	if a.Version == (Version{}) {
		a.Version = DefaultVersion
	}
	if !cfg.NoLMResponse {
		a.LMResponse = r.LM[:]
	}
	return a.Marshal(), newSession(flags, DeriveKeys(exported, flags), false, a), nil
}
