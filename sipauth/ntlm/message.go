package ntlm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// MaxMessageLen bounds the NTLM messages the decoders accept. A real
// AUTHENTICATE is a few hundred bytes (its NTLMv2 response repeats the
// CHALLENGE's target information); nothing legitimate comes near this.
const MaxMessageLen = 8 << 10

// Message types (MS-NLMP 2.2.1).
const (
	typeChallenge    = 2
	typeAuthenticate = 3
)

var signature = [8]byte{'N', 'T', 'L', 'M', 'S', 'S', 'P', 0}

// Sentinel errors.
var (
	// ErrMalformed wraps every error about a message that cannot be decoded.
	ErrMalformed = errors.New("ntlm: malformed message")
	// ErrUnsupported is returned for a well-formed exchange this
	// implementation refuses: NTLMv1, anonymous, missing flags.
	ErrUnsupported = errors.New("ntlm: unsupported")
	// ErrAuthFailed is returned when an AUTHENTICATE does not prove
	// knowledge of the account's password (or names no account).
	ErrAuthFailed = errors.New("ntlm: authentication failed")
	// ErrBadSignature is returned when a message signature does not verify.
	ErrBadSignature = errors.New("ntlm: bad signature")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Version is the VERSION structure (MS-NLMP 2.2.2.10), for debugging only.
type Version struct {
	Major, Minor uint8
	Build        uint16
	Revision     uint8 // NTLMSSP_REVISION_W2K3 = 15
}

// DefaultVersion is what this package writes: 5.1.2600 revision 15, the
// value the SIPE client sends.
var DefaultVersion = Version{Major: 5, Minor: 1, Build: 2600, Revision: 15}

func (v Version) put(b []byte) {
	b[0], b[1] = v.Major, v.Minor
	binary.LittleEndian.PutUint16(b[2:], v.Build)
	b[4], b[5], b[6] = 0, 0, 0
	b[7] = v.Revision
}

func parseVersion(b []byte) Version {
	return Version{Major: b[0], Minor: b[1], Build: binary.LittleEndian.Uint16(b[2:]), Revision: b[7]}
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d rev %d", v.Major, v.Minor, v.Build, v.Revision)
}

// AV pair IDs (MS-NLMP 2.2.2.1).
const (
	AvEOL             uint16 = 0
	AvNbComputerName  uint16 = 1
	AvNbDomainName    uint16 = 2
	AvDNSComputerName uint16 = 3
	AvDNSDomainName   uint16 = 4
	AvDNSTreeName     uint16 = 5
	AvFlags           uint16 = 6
	AvTimestamp       uint16 = 7
	AvSingleHost      uint16 = 8
	AvTargetName      uint16 = 9
	AvChannelBindings uint16 = 10
)

// maxAVPairs bounds the pairs of one target information block.
const maxAVPairs = 64

// AVPair is one attribute of a target information block.
type AVPair struct {
	ID    uint16
	Value []byte
}

// StringAV returns a pair whose value is s in UTF-16LE, as the name pairs
// (IDs 1 to 5 and 9) are.
func StringAV(id uint16, s string) AVPair {
	return AVPair{ID: id, Value: appendUTF16(nil, s)}
}

// AppendTargetInfo appends the pairs and the terminating MsvAvEOL.
func AppendTargetInfo(dst []byte, pairs ...AVPair) []byte {
	for _, p := range pairs {
		dst = binary.LittleEndian.AppendUint16(dst, p.ID)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.Value)))
		dst = append(dst, p.Value...)
	}
	return append(dst, 0, 0, 0, 0)
}

// ParseTargetInfo decodes a target information block. It must end with
// MsvAvEOL; bytes after it are ignored (clients pad).
func ParseTargetInfo(b []byte) ([]AVPair, error) {
	var out []AVPair
	for i := 0; ; {
		if len(b)-i < 4 {
			return nil, malformed("target info: no MsvAvEOL after %d pairs", len(out))
		}
		id := binary.LittleEndian.Uint16(b[i:])
		n := int(binary.LittleEndian.Uint16(b[i+2:]))
		i += 4
		if id == AvEOL {
			return out, nil
		}
		if n > len(b)-i {
			return nil, malformed("target info: pair %d (id %d) claims %d bytes, %d left", len(out), id, n, len(b)-i)
		}
		if len(out) == maxAVPairs {
			return nil, malformed("target info: more than %d pairs", maxAVPairs)
		}
		out = append(out, AVPair{ID: id, Value: b[i : i+n]})
		i += n
	}
}

// Challenge is a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
type Challenge struct {
	Flags           Flags
	ServerChallenge [8]byte
	TargetName      string
	// TargetInfo is the raw AV pair block, kept byte-exact: the client's
	// NTLMv2 response covers it.
	TargetInfo []byte
	Version    Version
}

const challengeHeaderLen = 56

// Marshal encodes the message: header, then TargetName, then TargetInfo.
func (c *Challenge) Marshal() []byte {
	name := encodeString(c.Flags, c.TargetName)
	b := make([]byte, challengeHeaderLen, challengeHeaderLen+len(name)+len(c.TargetInfo))
	copy(b, signature[:])
	binary.LittleEndian.PutUint32(b[8:], typeChallenge)
	off := challengeHeaderLen
	putField(b[12:], len(name), off)
	off += len(name)
	binary.LittleEndian.PutUint32(b[20:], uint32(c.Flags))
	copy(b[24:], c.ServerChallenge[:])
	putField(b[40:], len(c.TargetInfo), off)
	c.Version.put(b[48:])
	b = append(b, name...)
	return append(b, c.TargetInfo...)
}

// ParseChallenge decodes a CHALLENGE_MESSAGE.
func ParseChallenge(b []byte) (*Challenge, error) {
	if err := checkHeader(b, typeChallenge, 32); err != nil {
		return nil, err
	}
	c := &Challenge{Flags: Flags(binary.LittleEndian.Uint32(b[20:]))}
	copy(c.ServerChallenge[:], b[24:32])
	name, nameOff, err := field(b, 12, "TargetName")
	if err != nil {
		return nil, err
	}
	if c.TargetName, err = decodeString(c.Flags, name, "TargetName"); err != nil {
		return nil, err
	}
	payload := len(b)
	if len(name) > 0 {
		payload = nameOff
	}
	if len(b) >= 48 {
		info, infoOff, err := field(b, 40, "TargetInfo")
		if err != nil {
			return nil, err
		}
		if len(info) > 0 {
			if _, err := ParseTargetInfo(info); err != nil {
				return nil, err
			}
			c.TargetInfo = info
			payload = min(payload, infoOff)
		}
	}
	if len(b) >= challengeHeaderLen && payload >= challengeHeaderLen {
		c.Version = parseVersion(b[48:56])
	}
	if c.Flags.Has(NegotiateTargetInfo) && len(c.TargetInfo) == 0 {
		return nil, malformed("CHALLENGE sets TARGET_INFO but carries none")
	}
	return c, nil
}

// Authenticate is an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
type Authenticate struct {
	Flags       Flags
	LMResponse  []byte
	NTResponse  []byte
	Domain      string
	User        string
	Workstation string
	// EncryptedRandomSessionKey is present with NegotiateKeyExch.
	EncryptedRandomSessionKey []byte
	Version                   Version
	// MIC is the 16-byte message integrity code when the client sent one
	// (an empty slice otherwise).
	MIC []byte
}

const authenticateHeaderLen = 72 // with VERSION, without MIC

// Marshal encodes the message. The payload is in the order the SIPE client
// writes it (domain, user, workstation, LM, NT, session key), so a message
// built from the same inputs is byte-for-byte the same as SIPE's.
func (a *Authenticate) Marshal() []byte {
	hdr := authenticateHeaderLen
	if len(a.MIC) > 0 {
		hdr += 16
	}
	dom := encodeString(a.Flags, a.Domain)
	usr := encodeString(a.Flags, a.User)
	ws := encodeString(a.Flags, a.Workstation)
	n := hdr + len(dom) + len(usr) + len(ws) + len(a.LMResponse) + len(a.NTResponse) + len(a.EncryptedRandomSessionKey)
	b := make([]byte, hdr, n)
	copy(b, signature[:])
	binary.LittleEndian.PutUint32(b[8:], typeAuthenticate)
	off := hdr
	for _, f := range []struct {
		at   int
		data []byte
	}{{28, dom}, {36, usr}, {44, ws}, {12, a.LMResponse}, {20, a.NTResponse}, {52, a.EncryptedRandomSessionKey}} {
		putField(b[f.at:], len(f.data), off)
		off += len(f.data)
		b = append(b, f.data...)
	}
	binary.LittleEndian.PutUint32(b[60:], uint32(a.Flags))
	a.Version.put(b[64:72])
	if len(a.MIC) > 0 {
		copy(b[72:88], a.MIC)
	}
	return b
}

// ParseAuthenticate decodes an AUTHENTICATE_MESSAGE.
func ParseAuthenticate(b []byte) (*Authenticate, error) {
	if err := checkHeader(b, typeAuthenticate, 64); err != nil {
		return nil, err
	}
	a := &Authenticate{Flags: Flags(binary.LittleEndian.Uint32(b[60:]))}
	payload := len(b)
	get := func(at int, name string) ([]byte, error) {
		v, off, err := field(b, at, name)
		if len(v) > 0 {
			payload = min(payload, off)
		}
		return v, err
	}
	var err error
	var dom, usr, ws []byte
	if a.LMResponse, err = get(12, "LmChallengeResponse"); err != nil {
		return nil, err
	}
	if a.NTResponse, err = get(20, "NtChallengeResponse"); err != nil {
		return nil, err
	}
	if dom, err = get(28, "DomainName"); err != nil {
		return nil, err
	}
	if usr, err = get(36, "UserName"); err != nil {
		return nil, err
	}
	if ws, err = get(44, "Workstation"); err != nil {
		return nil, err
	}
	if a.EncryptedRandomSessionKey, err = get(52, "EncryptedRandomSessionKey"); err != nil {
		return nil, err
	}
	if a.Domain, err = decodeString(a.Flags, dom, "DomainName"); err != nil {
		return nil, err
	}
	if a.User, err = decodeString(a.Flags, usr, "UserName"); err != nil {
		return nil, err
	}
	if a.Workstation, err = decodeString(a.Flags, ws, "Workstation"); err != nil {
		return nil, err
	}
	if payload >= 72 && len(b) >= 72 {
		a.Version = parseVersion(b[64:72])
	}
	if payload >= 88 && len(b) >= 88 {
		a.MIC = b[72:88]
	}
	if n := len(a.EncryptedRandomSessionKey); n != 0 && n != 16 {
		return nil, malformed("EncryptedRandomSessionKey is %d bytes, want 16", n)
	}
	return a, nil
}

func checkHeader(b []byte, typ uint32, minLen int) error {
	if len(b) > MaxMessageLen {
		return malformed("%d bytes, more than the %d allowed", len(b), MaxMessageLen)
	}
	if len(b) < 12 || [8]byte(b[:8]) != signature {
		return malformed("no NTLMSSP signature")
	}
	if got := binary.LittleEndian.Uint32(b[8:]); got != typ {
		return malformed("message type %d, want %d", got, typ)
	}
	if len(b) < minLen {
		return malformed("%d bytes, shorter than the %d-byte header of message type %d", len(b), minLen, typ)
	}
	return nil
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

// field reads the (Len, MaxLen, BufferOffset) triple at b[at:] and returns
// the bytes it points to.
func field(b []byte, at int, name string) ([]byte, int, error) {
	n := int(binary.LittleEndian.Uint16(b[at:]))
	off := int(binary.LittleEndian.Uint32(b[at+4:]))
	if n == 0 {
		return nil, off, nil
	}
	if off > len(b) || n > len(b)-off {
		return nil, 0, malformed("%s: %d bytes at offset %d, beyond the %d-byte message", name, n, off, len(b))
	}
	return b[off : off+n], off, nil
}

// encodeString writes s as the negotiated encoding: UTF-16LE with
// NegotiateUnicode, else the OEM code page, taken here as Latin-1.
func encodeString(f Flags, s string) []byte {
	if f.Has(NegotiateUnicode) {
		return appendUTF16(nil, s)
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

func decodeString(f Flags, b []byte, name string) (string, error) {
	if !f.Has(NegotiateUnicode) {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	}
	if len(b)%2 != 0 {
		return "", malformed("%s: odd length %d for UTF-16", name, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func appendUTF16(dst []byte, s string) []byte {
	for _, r := range s {
		if r1, r2 := utf16.EncodeRune(r); r1 != '\uFFFD' {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(r1))
			dst = binary.LittleEndian.AppendUint16(dst, uint16(r2))
			continue
		}
		dst = binary.LittleEndian.AppendUint16(dst, uint16(r))
	}
	return dst
}
