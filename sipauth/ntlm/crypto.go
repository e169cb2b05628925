package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"strings"
	"time"

	//lint:ignore SA1019 the NT hash is MD4 by definition (MS-NLMP 3.3.1); nothing else can compute it
	"golang.org/x/crypto/md4"
)

// NTHash is NTOWFv1, MD4 of the password in UTF-16LE (MS-NLMP 3.3.1): the
// only form of the password a server needs to keep.
func NTHash(password string) [16]byte {
	h := md4.New()
	h.Write(appendUTF16(nil, password))
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// NTOWFv2 is the NTLMv2 response key (MS-NLMP 3.3.2):
// HMAC_MD5(NT hash, UTF-16LE(Uppercase(user) ‖ domain)). The user name is
// taken exactly as it is sent in the AUTHENTICATE message ("alice", or
// "alice@example.com" with an empty domain when a client signs in with its
// UPN), so the same account gives a different key for each form.
func NTOWFv2(ntHash [16]byte, user, domain string) [16]byte {
	return ntowfv2(ntHash, strings.ToUpper(user), domain)
}

func ntowfv2(ntHash [16]byte, upperUser, domain string) [16]byte {
	m := hmac.New(md5.New, ntHash[:])
	b := appendUTF16(nil, upperUser)
	b = appendUTF16(b, domain)
	m.Write(b)
	var out [16]byte
	m.Sum(out[:0])
	return out
}

func hmacMD5(key []byte, parts ...[]byte) [16]byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var out [16]byte
	m.Sum(out[:0])
	return out
}

// ntlmv2Blob is the NTLMv2_CLIENT_CHALLENGE ("temp" in MS-NLMP 3.3.2):
// RespType 1, HiRespType 1, six zero bytes, the timestamp, the client
// challenge, four zero bytes, the target information, four zero bytes.
func ntlmv2Blob(timestamp uint64, clientChallenge [8]byte, targetInfo []byte) []byte {
	b := make([]byte, 28, 28+len(targetInfo)+4)
	b[0], b[1] = 1, 1
	binary.LittleEndian.PutUint64(b[8:], timestamp)
	copy(b[16:], clientChallenge[:])
	b = append(b, targetInfo...)
	return append(b, 0, 0, 0, 0)
}

// Response is what ComputeResponse derives for one CHALLENGE.
type Response struct {
	NT             []byte   // NtChallengeResponse: NTProofStr ‖ blob
	LM             [24]byte // LMv2: HMAC_MD5(key, server ‖ client challenge) ‖ client challenge
	NTProofStr     [16]byte
	SessionBaseKey [16]byte // HMAC_MD5(key, NTProofStr); also the KeyExchangeKey in NTLMv2
}

// ComputeResponse is NTLMv2's ComputeResponse (MS-NLMP 3.3.2) for the
// response key NTOWFv2 gives.
func ComputeResponse(responseKey [16]byte, serverChallenge, clientChallenge [8]byte, timestamp uint64, targetInfo []byte) Response {
	blob := ntlmv2Blob(timestamp, clientChallenge, targetInfo)
	var r Response
	r.NTProofStr = hmacMD5(responseKey[:], serverChallenge[:], blob)
	r.NT = append(r.NTProofStr[:], blob...)
	r.SessionBaseKey = hmacMD5(responseKey[:], r.NTProofStr[:])
	lm := hmacMD5(responseKey[:], serverChallenge[:], clientChallenge[:])
	copy(r.LM[:], lm[:])
	copy(r.LM[16:], clientChallenge[:])
	return r
}

// Filetime converts t to the NTLM timestamp: 100 ns ticks since
// 1601-01-01 UTC.
func Filetime(t time.Time) uint64 {
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns ticks
	return uint64(t.UnixNano()/100) + epochDelta
}

// FromFiletime is the inverse of Filetime.
func FromFiletime(ft uint64) time.Time {
	const epochDelta = 116444736000000000
	return time.Unix(0, (int64(ft)-epochDelta)*100).UTC()
}

// Keys are the four session security keys (MS-NLMP 3.4.5.2, 3.4.5.3).
type Keys struct {
	ClientSign, ClientSeal, ServerSign, ServerSeal [16]byte
}

const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// DeriveKeys computes SIGNKEY and SEALKEY for both directions from the
// exported session key, with extended session security (the only mode
// this package signs in): the sealing key is cut to 16, 7 or 5 bytes by
// Negotiate128 / Negotiate56 before it is hashed.
func DeriveKeys(exportedSessionKey [16]byte, flags Flags) Keys {
	n := 5
	switch {
	case flags.Has(Negotiate128):
		n = 16
	case flags.Has(Negotiate56):
		n = 7
	}
	k := exportedSessionKey[:]
	md := func(key []byte, magic string) [16]byte {
		h := md5.New()
		h.Write(key)
		h.Write([]byte(magic))
		var out [16]byte
		h.Sum(out[:0])
		return out
	}
	return Keys{
		ClientSign: md(k, clientSignMagic),
		ServerSign: md(k, serverSignMagic),
		ClientSeal: md(k[:n], clientSealMagic),
		ServerSeal: md(k[:n], serverSealMagic),
	}
}

// rc4 is RC4 with its state in a value, so that a per-message key schedule
// costs no allocation (crypto/rc4 allocates a Cipher for every key). NTLM
// needs RC4 only to encrypt the 16-byte session key and the 8-byte
// checksum of a signature.
type rc4State struct {
	s    [256]byte
	i, j uint8
}

func (c *rc4State) init(key []byte) {
	for i := range c.s {
		c.s[i] = byte(i)
	}
	var j uint8
	for i := 0; i < 256; i++ {
		j += c.s[i] + key[i%len(key)]
		c.s[i], c.s[j] = c.s[j], c.s[i]
	}
	c.i, c.j = 0, 0
}

func (c *rc4State) xor(dst, src []byte) {
	i, j := c.i, c.j
	for k, v := range src {
		i++
		j += c.s[i]
		c.s[i], c.s[j] = c.s[j], c.s[i]
		dst[k] = v ^ c.s[c.s[i]+c.s[j]]
	}
	c.i, c.j = i, j
}

// RC4K encrypts (or decrypts: RC4 is its own inverse) src with a fresh key
// schedule, as MS-NLMP's RC4K.
func RC4K(key, src []byte) []byte {
	var c rc4State
	c.init(key)
	out := make([]byte, len(src))
	c.xor(out, src)
	return out
}
