package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestMD5BlocksAgreesWithCryptoMD5: the unrolled compression function and
// its padding give crypto/md5's digest for every length around the block
// boundaries (the padding takes one block or two) and beyond, and the
// RFC 1321 test suite's digests.
func TestMD5BlocksAgreesWithCryptoMD5(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"a", "0cc175b9c0f1b6a831c399e269772661"},
		{"abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"},
	} {
		s := md5Init
		got := md5Finish(&s, []byte(c.in), 0)
		if g := hex.EncodeToString(got[:]); g != c.want {
			t.Errorf("MD5(%q) = %s, want %s", c.in, g, c.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 600)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= len(buf); n++ {
		s := md5Init
		if got, want := md5Finish(&s, buf[:n], 0), md5.Sum(buf[:n]); got != want {
			t.Fatalf("MD5 of %d bytes: %x, want %x", n, got, want)
		}
	}
}

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
