package ntlm

import "encoding/binary"

// md5Init is MD5's initial state (RFC 1321 3.3).
var md5Init = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}

// hmacMD5Key is an HMAC-MD5 key (RFC 2104) reduced to what every message
// needs: the MD5 states after the key XOR ipad and the key XOR opad
// blocks, 32 bytes in all. A signature then costs the message's blocks
// and one outer block, with no key schedule, no hash.Hash and nothing on
// the heap; the state a message starts from sits next to the signer's
// other fields (one cache line), which matters when a server signs for
// thousands of users in turn.
type hmacMD5Key struct {
	inner, outer [4]uint32
}

func newHMACMD5Key(key []byte) hmacMD5Key {
	var k hmacMD5Key
	var blk [64]byte
	if len(key) > 64 {
		s := md5Init
		sum := md5Finish(&s, key, 0)
		key = sum[:]
	}
	k.inner, k.outer = md5Init, md5Init
	copy(blk[:], key)
	for i := range blk {
		blk[i] ^= 0x36
	}
	md5Blocks(&k.inner, blk[:])
	for i := range blk {
		blk[i] ^= 0x36 ^ 0x5c
	}
	md5Blocks(&k.outer, blk[:])
	return k
}

// sum returns HMAC-MD5(key, prefix ‖ msg) (prefix: the 4 bytes of the
// sequence number).
func (k *hmacMD5Key) sum(prefix [4]byte, msg []byte) [16]byte {
	s := k.inner
	var blk [64]byte
	copy(blk[:4], prefix[:])
	n := copy(blk[4:], msg)
	var inner [16]byte
	if 4+len(msg) < 64 {
		inner = md5Finish(&s, blk[:4+n], 64)
	} else {
		md5Blocks(&s, blk[:])
		rest := msg[n:]
		full := len(rest) &^ 63
		md5Blocks(&s, rest[:full])
		inner = md5Finish(&s, rest[full:], uint64(128+full)) // ipad block, first block, full
	}
	s = k.outer
	return md5Finish(&s, inner[:], 64)
}

// md5Finish hashes the last bytes of a message (tail, shorter than any
// number of whole blocks is fine) after done bytes already compressed
// into s, pads (RFC 1321 3.1, 3.2) and returns the digest.
func md5Finish(s *[4]uint32, tail []byte, done uint64) [16]byte {
	full := len(tail) &^ 63
	md5Blocks(s, tail[:full])
	total := done + uint64(len(tail))
	tail = tail[full:]
	var buf [128]byte
	n := copy(buf[:], tail)
	buf[n] = 0x80
	end := 64
	if n >= 56 {
		end = 128
	}
	binary.LittleEndian.PutUint64(buf[end-8:end], total*8)
	md5Blocks(s, buf[:end])
	var out [16]byte
	for i, v := range s {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
}
