package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
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
	for i := 0; i < SignatureLen; i++ {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return Signature{}, fmt.Errorf("%w: signature %q is not hexadecimal", ErrBadSignature, h)
		}
		s[i] = hi<<4 | lo
	}
	return s, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// signer computes the MAC of one direction (MS-NLMP 3.4.4.2 with extended
// session security). It holds the HMAC-MD5 state keyed once with the
// signing key and caches the RC4 keystream for the last sequence number:
// in datagram mode the sealing key is re-derived per message as
// MD5(SealingKey ‖ SeqNum), so for a fixed SeqNum (MS-SIPAE always uses
// 100) the key, and therefore the 8 keystream bytes that encrypt the
// checksum, are the same for every message. Safe for concurrent use.
type signer struct {
	mu       sync.Mutex
	mac      hash.Hash
	sealKey  [16]byte
	datagram bool
	keyExch  bool

	ksValid bool
	ksSeq   uint32
	ks      [8]byte

	seq [4]byte
	sum [16]byte
}

func newSigner(signKey, sealKey [16]byte, flags Flags) *signer {
	return &signer{
		mac:      hmac.New(md5.New, signKey[:]),
		sealKey:  sealKey,
		datagram: flags.Has(NegotiateDatagram),
		keyExch:  flags.Has(NegotiateKeyExch),
	}
}

// keystream returns the 8 RC4 bytes that encrypt a checksum made with seq.
// The caller holds mu.
func (s *signer) keystream(seq uint32) [8]byte {
	if s.ksValid && s.ksSeq == seq {
		return s.ks
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
	var ks [8]byte
	c.xor(ks[:], ks[:])
	s.ks, s.ksSeq, s.ksValid = ks, seq, true
	return ks
}

// checksum computes the 8-byte checksum of msg with seq. The caller holds mu.
func (s *signer) checksum(msg []byte, seq uint32) [8]byte {
	binary.LittleEndian.PutUint32(s.seq[:], seq)
	s.mac.Reset()
	s.mac.Write(s.seq[:])
	s.mac.Write(msg)
	sum := s.mac.Sum(s.sum[:0])
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
	s.mu.Lock()
	cs := s.checksum(msg, seq)
	s.mu.Unlock()
	var sig Signature
	sig[0] = 1
	copy(sig[4:12], cs[:])
	binary.LittleEndian.PutUint32(sig[12:], seq)
	return sig
}

func (s *signer) verify(msg []byte, sig Signature) error {
	if binary.LittleEndian.Uint32(sig[:4]) != 1 {
		return fmt.Errorf("%w: version %d, want 1", ErrBadSignature, binary.LittleEndian.Uint32(sig[:4]))
	}
	s.mu.Lock()
	cs := s.checksum(msg, sig.SeqNum())
	s.mu.Unlock()
	if subtle.ConstantTimeCompare(cs[:], sig[4:12]) != 1 {
		return fmt.Errorf("%w: checksum does not match the message", ErrBadSignature)
	}
	return nil
}
