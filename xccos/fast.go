package xccos

import (
	"strings"
)

// ParseChat is the fast path for the most frequent envelope on the wire: a
// grpchat delivery rendered canonically, exactly as AppendChat renders it
// (root attributes ver="1", envid, xmlns in that order; grpchat attributes
// id, seqid, chanUri, author, ts, optional story; one <chat> child). It
// reports ok false for anything else, including any deviation a checker
// must see (another namespace or version, an extra attribute, CDATA,
// whitespace between tags); the caller then uses Parse. When ok is true
// the result equals what Parse returns. It copies b once.
func ParseChat(b []byte) (envid uint64, c Chat, ok bool) {
	return ParseChatString(string(b))
}

// ParseChatString is ParseChat of a string: the Chat's strings are views
// of s, so nothing is copied unless the text holds entities.
func ParseChatString(s string) (envid uint64, c Chat, ok bool) {
	const head = `<xccos ver="1" envid="`
	if !strings.HasPrefix(s, head) {
		return 0, c, false
	}
	s = s[len(head):]
	q := strings.IndexByte(s, '"')
	if q <= 0 || q > 20 {
		return 0, c, false
	}
	for i := 0; i < q; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, c, false
		}
		d := uint64(s[i] - '0')
		if envid > (1<<64-1-d)/10 {
			return 0, c, false // over uint64
		}
		envid = envid*10 + d
	}
	if q > 1 && s[0] == '0' {
		return 0, c, false // leading zero: leave it to Parse
	}
	s = s[q:]
	const mid = `" xmlns="` + Namespace + `"><grpchat id="grpchat" seqid="`
	if !strings.HasPrefix(s, mid) {
		return 0, c, false
	}
	s = s[len(mid):]
	// what follows the literal head is checked in one pass: bytes that are
	// not UTF-8 XML characters are Parse's to report
	if bad, _ := InvalidChar(s); bad >= 0 {
		return 0, c, false
	}
	seq, s, ok := fastAttrValue(s)
	if !ok || seq == "" {
		return 0, c, false
	}
	for _, name := range [...]string{"chanUri", "author", "ts"} {
		if !strings.HasPrefix(s, " "+name+`="`) {
			return 0, c, false
		}
		var v string
		v, s, ok = fastAttrValue(s[len(name)+3:])
		if !ok {
			return 0, c, false
		}
		switch name {
		case "chanUri":
			c.ChanURI = v
		case "author":
			c.Author = v
		case "ts":
			c.TSRaw = v
		}
	}
	if strings.HasPrefix(s, ` story="true"`) {
		c.Story = true
		s = s[len(` story="true"`):]
	}
	if c.ChanURI == "" || c.Author == "" {
		return 0, c, false // Parse leaves such attributes out of its rendering: not canonical
	}
	t, tok := parseTime(c.TSRaw)
	if !tok {
		return 0, c, false // Parse reports the error
	}
	c.TS = t
	const open = `><chat>`
	const tail = `</chat></grpchat></xccos>`
	if !strings.HasPrefix(s, open) || !strings.HasSuffix(s, tail) {
		return 0, c, false
	}
	text := s[len(open) : len(s)-len(tail)]
	if strings.IndexByte(text, '<') >= 0 || strings.IndexByte(text, '>') >= 0 {
		return 0, c, false
	}
	if strings.IndexByte(text, '&') >= 0 {
		var uok bool
		if text, uok = unescapeSimple(text); !uok {
			return 0, c, false
		}
	}
	c.Text = text
	return envid, c, true
}

// fastAttrValue reads a double-quoted value (after its opening quote) with
// no character that needs decoding; ok is false otherwise.
func fastAttrValue(s string) (v, rest string, ok bool) {
	q := strings.IndexByte(s, '"')
	if q < 0 {
		return "", s, false
	}
	v = s[:q]
	if strings.ContainsAny(v, "&<\t\r\n") {
		return "", s, false
	}
	return v, s[q+1:], true
}

// unescapeSimple decodes the five predefined entities; ok is false for
// anything else (character references go the slow way).
func unescapeSimple(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "&amp;"):
			b.WriteByte('&')
			s = s[5:]
		case strings.HasPrefix(s, "&lt;"):
			b.WriteByte('<')
			s = s[4:]
		case strings.HasPrefix(s, "&gt;"):
			b.WriteByte('>')
			s = s[4:]
		case strings.HasPrefix(s, "&quot;"):
			b.WriteByte('"')
			s = s[6:]
		case strings.HasPrefix(s, "&apos;"):
			b.WriteByte('\'')
			s = s[6:]
		default:
			return "", false
		}
	}
}
