package ntlm

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// SignatureLen is the size of an NTLMSSP_MESSAGE_SIGNATURE.
const SignatureLen = 16

// Signature is an NTLMSSP_MESSAGE_SIGNATURE with extended session
// security (MS-NLMP 2.2.2.9.1): Version 1 ‖ Checksum (8) ‖ SeqNum, little
// endian.
type Signature [SignatureLen]byte

// SeqNum returns the sequence number the signature was made with.
func (s Signature) SeqNum() uint32 { return binary.LittleEndian.Uint32(s[12:]) }

// AppendHex appends the signature in hexadecimal (lower case, as the
// response and rspauth parameters carry it).
func (s Signature) AppendHex(dst []byte) []byte { return hex.AppendEncode(dst, s[:]) }

// String returns the signature in hexadecimal.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// ParseSignature decodes a signature from hexadecimal of either case,
// without allocating.
func ParseSignature(h string) (Signature, error) {
	var s Signature
	if len(h) != 2*SignatureLen {
		return s, fmt.Errorf("%w: signature is %d hex digits, want %d", ErrBadSignature, len(h), 2*SignatureLen)
	}
	var bad byte
	for i := range s {
		hi, lo := unhexTable[h[2*i]], unhexTable[h[2*i+1]]
		bad |= hi | lo
		s[i] = hi<<4 | lo&0x0f
	}
	if bad&0xf0 != 0 {
		return Signature{}, fmt.Errorf("%w: signature %q is not hexadecimal", ErrBadSignature, h)
	}
	return s, nil
}

// unhexTable maps a hexadecimal digit of either case to its value and
// anything else to 0xff.
var unhexTable = func() (t [256]byte) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// signer computes the MAC of one direction (MS-NLMP 3.4.4.2 with extended
// session security). It holds the HMAC-MD5 key as its two precomputed
// states (hmacMD5Key) and caches the RC4 keystream for the last sequence
// number: in datagram mode the sealing key is re-derived per message as
// MD5(SealingKey ‖ SeqNum), so for a fixed SeqNum (MS-SIPAE always uses
// 100) the key, and therefore the 8 keystream bytes that encrypt the
// checksum, are the same for every message. Safe for concurrent use: a
// signature is computed on the caller's stack, and the cached keystream
// is an immutable value swapped atomically.
type signer struct {
	mac     hmacMD5Key
	keyExch bool
	// fixed: fixedKS is the keystream of fixedSeq, set before the session
	// is shared (Session.FixSeqNum) and never changed: read with no
	// pointer to follow
	fixed    bool
	fixedSeq uint32
	fixedKS  [8]byte
	datagram bool
	sealKey  [16]byte
	ks       atomic.Pointer[keystream]
}

// keystream is the 8 RC4 bytes that encrypt a checksum made with seq.
type keystream struct {
	seq uint32
	ks  [8]byte
}

func (s *signer) init(signKey, sealKey [16]byte, flags Flags) {
	s.mac = newHMACMD5Key(signKey[:])
	s.sealKey = sealKey
	s.datagram = flags.Has(NegotiateDatagram)
	s.keyExch = flags.Has(NegotiateKeyExch)
}

// keystream returns the 8 RC4 bytes that encrypt a checksum made with seq.
func (s *signer) keystream(seq uint32) [8]byte {
	if s.fixed && seq == s.fixedSeq {
		return s.fixedKS
	}
	if k := s.ks.Load(); k != nil && k.seq == seq {
		return k.ks
	}
	key := s.sealKey
	if s.datagram {
		var in [20]byte
		copy(in[:], s.sealKey[:])
		binary.LittleEndian.PutUint32(in[16:], seq)
		key = md5.Sum(in[:])
	}
	var c rc4State
	c.init(key[:])
	k := &keystream{seq: seq}
	c.xor(k.ks[:], k.ks[:])
	s.ks.Store(k)
	return k.ks
}

// checksum computes the 8-byte checksum of msg with seq.
func (s *signer) checksum(msg []byte, seq uint32) [8]byte {
	return s.checksumBuilt(seq, func(dst []byte) []byte { return append(dst, msg...) })
}

// checksumBuilt is checksum of the message build appends.
func (s *signer) checksumBuilt(seq uint32, build func(dst []byte) []byte) [8]byte {
	var sq [4]byte
	binary.LittleEndian.PutUint32(sq[:], seq)
	sum := s.mac.sumBuilt(sq, build)
	var out [8]byte
	copy(out[:], sum[:8])
	if s.keyExch {
		ks := s.keystream(seq)
		for i := range out {
			out[i] ^= ks[i]
		}
	}
	return out
}

func (s *signer) sign(msg []byte, seq uint32) Signature {
	return s.signBuilt(seq, func(dst []byte) []byte { return append(dst, msg...) })
}

func (s *signer) signBuilt(seq uint32, build func(dst []byte) []byte) Signature {
	cs := s.checksumBuilt(seq, build)
	var sig Signature
	sig[0] = 1
	copy(sig[4:12], cs[:])
	binary.LittleEndian.PutUint32(sig[12:], seq)
	return sig
}

func (s *signer) verify(msg []byte, sig Signature) error {
	return s.verifyBuilt(sig, func(dst []byte) []byte { return append(dst, msg...) })
}

func (s *signer) verifyBuilt(sig Signature, build func(dst []byte) []byte) error {
	if binary.LittleEndian.Uint32(sig[:4]) != 1 {
		return fmt.Errorf("%w: version %d, want 1", ErrBadSignature, binary.LittleEndian.Uint32(sig[:4]))
	}
	cs := s.checksumBuilt(sig.SeqNum(), build)
	if subtle.ConstantTimeCompare(cs[:], sig[4:12]) != 1 {
		return fmt.Errorf("%w: checksum does not match the message", ErrBadSignature)
	}
	return nil
}
