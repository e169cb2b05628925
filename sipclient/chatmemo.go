package sipclient

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/gcload/gcload/xccos"
)

// A post reaches every member of its room in the same bytes: the server
// renders its body once. The swarm's clients of one process receive it
// hundreds of times (a room of 1,000 over shared connections: 1,000
// times), and parsing it again for each was about 1 µs of each
// delivery's CPU, its cache misses included. chatMemos remembers the
// last canonical deliveries parsed, by a hash of their first bytes (the
// envelope's envid is there); a delivery whose body is byte for byte
// the one remembered takes its parse. Parsing is a function of the
// bytes, so every check on the delivery still runs on the same result;
// what depends on the member (duplicates, order, whom it reached) is
// judged per delivery as before.
type chatMemos struct {
	seed  maphash.Seed
	slots [64]atomic.Pointer[chatMemo]
}

// chatMemo is one body and its parse, whose strings are views of body
// (a copy the memo owns).
type chatMemo struct {
	body  string
	envid uint64
	chat  xccos.Chat
}

func newChatMemos() *chatMemos { return &chatMemos{seed: maphash.MakeSeed()} }

// parse is xccos.ParseChatString of body, remembered.
func (m *chatMemos) parse(body []byte) (uint64, xccos.Chat, bool) {
	key := body[:min(len(body), 96)]
	slot := &m.slots[maphash.Bytes(m.seed, key)%uint64(len(m.slots))]
	if p := slot.Load(); p != nil && p.body == string(body) {
		return p.envid, p.chat, true
	}
	s := string(body)
	envid, ch, ok := xccos.ParseChatString(s)
	if ok {
		slot.Store(&chatMemo{body: s, envid: envid, chat: ch})
	}
	return envid, ch, ok
}
