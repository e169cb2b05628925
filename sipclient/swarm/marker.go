package swarm

import (
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// A post's text starts with a marker that lets every recipient account for
// it: "gcl:TAG:ROOM:INDEX:SHARD:FLOOR:INTENDED_US|" then filler up to the
// post's planned size.
//
//   - TAG is the plan's run tag;
//   - ROOM and INDEX name the post in the plan (room index, post index in it);
//   - SHARD is the 1-based shard that sent it;
//   - FLOOR is the highest index in the room such that every post of that
//     shard up to it was resolved (acknowledged, refused or dropped) before
//     this post was sent: a recipient that already saw a post with floor F
//     from a shard and then receives that shard's post with index <= F got
//     it out of order;
//   - INTENDED_US is the post's intended time in Unix microseconds, from
//     which delivery latency is measured.
type marker struct {
	room, index, shard, floor int32
	intended                  int64
}

const markerPrefix = "gcl:"

// filler pads posts to their planned size.
var filler = strings.Repeat("the quick brown fox jumps over the lazy dog; ", 100)

// appendPostText renders the marker and filler to size characters (the
// marker alone when it is longer).
func appendPostText(dst []byte, tag string, m marker, size int) []byte {
	start := len(dst)
	dst = append(dst, markerPrefix...)
	dst = append(dst, tag...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(m.room), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(m.index), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(m.shard), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(m.floor), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, m.intended, 10)
	dst = append(dst, '|')
	if pad := size - (len(dst) - start); pad > 0 {
		for pad > 0 {
			n := min(pad, len(filler))
			dst = append(dst, filler[:n]...)
			pad -= n
		}
	}
	return dst
}

// parseMarker reads the marker at the start of a post's text; ok is false
// for posts without one or with another run's tag.
func parseMarker(text, tag string) (m marker, ok bool) {
	if !strings.HasPrefix(text, markerPrefix) {
		return m, false
	}
	s := text[len(markerPrefix):]
	if !strings.HasPrefix(s, tag) || len(s) <= len(tag) || s[len(tag)] != ':' {
		return m, false
	}
	s = s[len(tag)+1:]
	var f [5]int64
	for i := range f {
		end := strings.IndexByte(s, ':')
		if i == len(f)-1 {
			end = strings.IndexByte(s, '|')
		}
		if end <= 0 {
			return m, false
		}
		v, err := strconv.ParseInt(s[:end], 10, 64)
		if err != nil {
			return m, false
		}
		f[i] = v
		s = s[end+1:]
	}
	if f[0] < 0 || f[0] > 1<<31-1 || f[1] < 0 || f[1] > 1<<31-1 || f[2] < 1 || f[2] > 1<<15 || f[3] < -1 || f[3] > 1<<31-1 {
		return m, false
	}
	return marker{room: int32(f[0]), index: int32(f[1]), shard: int32(f[2]), floor: int32(f[3]), intended: f[4]}, true
}

// markerMemo remembers the markers last parsed. The clients' parse of a
// delivery is shared by every member the post reaches (sipclient's
// chatMemos), so their texts are one string: the same bytes at the same
// address, which a slot chosen by that address finds, and compares
// without reading them (a string comparison of one pointer). A text
// seen for the first time, or a copy, is parsed.
type markerMemo struct {
	slots [16]atomic.Pointer[markerEntry]
}

type markerEntry struct {
	text string // held: its bytes cannot be reused while remembered
	m    marker
	ok   bool
}

// parse is parseMarker(text, tag), remembered (tag is the run's: the same
// at every call).
func (mm *markerMemo) parse(text, tag string) (marker, bool) {
	if text == "" {
		return parseMarker(text, tag)
	}
	slot := &mm.slots[uintptr(unsafe.Pointer(unsafe.StringData(text)))/64%uintptr(len(mm.slots))]
	if e := slot.Load(); e != nil && e.text == text {
		return e.m, e.ok
	}
	m, ok := parseMarker(text, tag)
	slot.Store(&markerEntry{text: text, m: m, ok: ok})
	return m, ok
}
