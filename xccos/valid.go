package xccos

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Every XCCOS body is XML, whose text is Unicode: UTF-8 (the only encoding
// XCCOS peers use) of characters of the XML 1.0 Char production. Bytes that
// are not UTF-8 (\xff, an overlong \xc0\xaf) and control characters other
// than tab, LF and CR (\x01) make a body no XML parser accepts, so Parse
// refuses them and a server must never store or send them.

// InvalidChar returns the byte offset of the first byte of s that is not
// part of the UTF-8 encoding of an XML 1.0 character, and that character
// (utf8.RuneError for a byte that is not UTF-8), or -1 when s is valid
// throughout. It reads s once, sixteen bytes at a time while they are
// printable ASCII.
func InvalidChar(s string) (int, rune) {
	const lo = 0x2020202020202020 // 0x20 in every byte
	const hi = 0x8080808080808080
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	i := 0
	for i < len(b) {
		// a byte below 0x20 borrows (its high bit becomes set), a byte
		// from 0x80 has it set: neither means printable ASCII
		for i+16 <= len(b) {
			w0 := binary.LittleEndian.Uint64(b[i:])
			w1 := binary.LittleEndian.Uint64(b[i+8:])
			if (w0|(w0-lo)|w1|(w1-lo))&hi != 0 {
				break
			}
			i += 16
		}
		if i+8 <= len(b) {
			if w := binary.LittleEndian.Uint64(b[i:]); (w|(w-lo))&hi == 0 {
				i += 8
				continue
			}
		}
		// byte by byte to the end of this word
		for end := min(i+8, len(b)); i < end; {
			c := b[i]
			if c < utf8.RuneSelf {
				if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
					return i, rune(c)
				}
				i++
				continue
			}
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(uint32(r)) {
				return i, r
			}
			i += n
		}
	}
	return -1, 0
}

// ValidText reports whether s holds only UTF-8 encoded XML 1.0 characters:
// whether it can be sent in an XCCOS body (as text or attribute value,
// escaped).
func ValidText(s string) bool {
	i, _ := InvalidChar(s)
	return i < 0
}

// SanitizeText returns s with every byte sequence that is not an XML 1.0
// character replaced by U+FFFD, so that text stored before it was checked
// can still be sent; s itself when it is valid.
func SanitizeText(s string) string {
	i, _ := InvalidChar(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteRune(utf8.RuneError)
		_, n := utf8.DecodeRuneInString(s[i:])
		s = s[i+n:]
		i, _ = InvalidChar(s)
	}
	b.WriteString(s)
	return b.String()
}

// describeChar names an invalid character for an error message.
func describeChar(s string, off int, r rune) string {
	if r == utf8.RuneError {
		if _, n := utf8.DecodeRuneInString(s[off:]); n == 1 {
			return fmt.Sprintf(`byte \x%02x that is not UTF-8`, s[off])
		}
	}
	return fmt.Sprintf("character U+%04X that XML does not allow", r)
}
