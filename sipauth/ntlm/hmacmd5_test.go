package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestHMACMD5KeyAgreesWithCryptoHMAC: the precomputed-state HMAC gives
// crypto/hmac's for every message length around the block boundaries,
// with a 16-byte key (NTLM's) and with keys longer than a block, and
// the signer's checksum is its first 8 bytes.
func TestHMACMD5KeyAgreesWithCryptoHMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	msg := make([]byte, 400)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	for _, klen := range []int{16, 64, 65, 100} {
		key := msg[:klen]
		k := newHMACMD5Key(key)
		for n := 0; n <= len(msg); n++ {
			prefix := [4]byte{100, 0, 0, byte(n)}
			m := hmac.New(md5.New, key)
			m.Write(prefix[:])
			m.Write(msg[:n])
			want := m.Sum(nil)
			if got := k.sum(prefix, msg[:n]); !bytes.Equal(got[:], want) {
				t.Fatalf("key %d bytes, message %d bytes: %x, want %x", klen, n, got, want)
			}
		}
	}
	var sk, ek [16]byte
	copy(sk[:], msg)
	var s signer
	s.init(sk, ek, 0) // no key exchange: the checksum in clear
	m := hmac.New(md5.New, sk[:])
	var seq [4]byte
	binary.LittleEndian.PutUint32(seq[:], 100)
	m.Write(seq[:])
	m.Write(msg[:190])
	if cs := s.checksum(msg[:190], 100); !bytes.Equal(cs[:], m.Sum(nil)[:8]) {
		t.Fatalf("checksum %x, want the first 8 bytes of %x", cs, m.Sum(nil))
	}
}
