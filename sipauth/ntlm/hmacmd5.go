package ntlm

import (
	"crypto/md5"
	"encoding"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
)

// hmacMD5Key is an HMAC-MD5 key (RFC 2104) reduced to what every message
// needs: the MD5 chaining values after the key XOR ipad block and after
// the key XOR opad block, 32 bytes in all, held in the signer itself. A
// signature loads them into a pooled MD5 (crypto/md5, whose block
// function is assembly) and hashes the message and the outer block: no
// key schedule, no per-association hash objects, nothing on the heap per
// message. With thousands of users signed in, a server signs and checks
// for a different user at every delivery; crypto/hmac's per-key state
// (two digests, two marshalled states, the HMAC object) is then a handful
// of cold cache lines per message, where this is one.
type hmacMD5Key struct {
	inner, outer [4]uint32
}

func newHMACMD5Key(key []byte) hmacMD5Key {
	if len(key) > md5.BlockSize {
		sum := md5.Sum(key)
		key = sum[:]
	}
	var blk [md5.BlockSize]byte
	copy(blk[:], key)
	for i := range blk {
		blk[i] ^= 0x36
	}
	var k hmacMD5Key
	k.inner = chainAfter(blk[:])
	for i := range blk {
		blk[i] ^= 0x36 ^ 0x5c
	}
	k.outer = chainAfter(blk[:])
	return k
}

// chainAfter returns MD5's chaining values after one block.
func chainAfter(block []byte) [4]uint32 {
	h := md5.New()
	h.Write(block)
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil || len(st) != md5State {
		panic("ntlm: crypto/md5's marshalled state changed")
	}
	var s [4]uint32
	for i := range s {
		s[i] = binary.BigEndian.Uint32(st[len(md5Magic)+4*i:])
	}
	return s
}

// crypto/md5's marshalled state: magic, the four chaining values (big
// endian), the pending block, the length hashed (big endian).
const (
	md5Magic = "md5\x01"
	md5State = len(md5Magic) + 4*4 + md5.BlockSize + 8
)

// macScratch is an MD5 and its buffers, pooled: hot in the cache of
// whichever thread signs. The messages it hashes are padded here (MD5's
// 0x80, zeros and bit length), so that crypto/md5 only ever runs whole
// blocks and its chaining values, read back from its marshalled state,
// are the digest: no Sum (which copies the digest and pads through
// Write), no second copy of the message.
type macScratch struct {
	h     hash.Hash
	u     encoding.BinaryUnmarshaler
	a     encoding.BinaryAppender
	state [md5State]byte // a state to load: after one block (the key's)
	got   [md5State]byte // a state read back
	msg   []byte         // prefix ‖ message ‖ padding
	outer [md5.BlockSize]byte
}

var macPool = sync.Pool{New: func() any {
	h := md5.New()
	s := &macScratch{h: h, u: h.(encoding.BinaryUnmarshaler), a: h.(encoding.BinaryAppender), msg: make([]byte, 0, 512)}
	copy(s.state[:], md5Magic)
	// one block hashed: the key block
	binary.BigEndian.PutUint64(s.state[md5State-8:], md5.BlockSize)
	// the outer message: the inner digest, then its padding for a
	// block and 16 bytes hashed
	s.outer[md5.Size] = 0x80
	binary.LittleEndian.PutUint64(s.outer[md5.BlockSize-8:], (md5.BlockSize+md5.Size)*8)
	return s
}}

// start resets the MD5 to chaining values s after one block.
func (m *macScratch) start(s *[4]uint32) {
	for i, v := range s {
		binary.BigEndian.PutUint32(m.state[len(md5Magic)+4*i:], v)
	}
	if err := m.u.UnmarshalBinary(m.state[:]); err != nil {
		panic("ntlm: crypto/md5 refused its own state: " + err.Error())
	}
}

// digest writes the MD5 digest of what was hashed, which ended on a
// padded block, into dst: the chaining values, little endian.
func (m *macScratch) digest(dst []byte) {
	st, err := m.a.AppendBinary(m.got[:0])
	if err != nil || len(st) != md5State {
		panic("ntlm: crypto/md5's marshalled state changed")
	}
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint32(dst[4*i:], binary.BigEndian.Uint32(st[len(md5Magic)+4*i:]))
	}
}

// sum returns HMAC-MD5(key, prefix ‖ msg) (prefix: the 4 bytes of the
// sequence number).
func (k *hmacMD5Key) sum(prefix [4]byte, msg []byte) [md5.Size]byte {
	return k.sumBuilt(prefix, func(dst []byte) []byte { return append(dst, msg...) })
}

// sumBuilt returns HMAC-MD5(key, prefix ‖ msg), where build appends msg
// to the buffer it is given (the pooled one that is hashed: the message
// is written once, where MD5 reads it). build must not keep the buffer.
func (k *hmacMD5Key) sumBuilt(prefix [4]byte, build func(dst []byte) []byte) [md5.Size]byte {
	m := macPool.Get().(*macScratch)
	m.start(&k.inner)
	b := build(append(m.msg[:0], prefix[:]...))
	n := len(b)
	padded := (n + 9 + md5.BlockSize - 1) &^ (md5.BlockSize - 1)
	b = slices.Grow(b, padded-n)[:padded]
	b[n] = 0x80
	clear(b[n+1 : padded-8])
	binary.LittleEndian.PutUint64(b[padded-8:], uint64(md5.BlockSize+n)*8)
	// one Write of the pooled buffer (a caller's buffer passed through the
	// interface would escape)
	m.h.Write(b)
	m.digest(m.outer[:md5.Size])
	m.start(&k.outer)
	m.h.Write(m.outer[:])
	var out [md5.Size]byte
	m.digest(out[:])
	m.msg = b[:0]
	if cap(m.msg) > 4096 {
		m.msg = make([]byte, 0, 512)
	}
	macPool.Put(m)
	return out
}
