package sipauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds on what the parser accepts. A Kerberos ticket in gssapi-data is
// the largest legitimate value (a few KiB in base64); MaxLen leaves room
// for it and refuses anything bigger before looking at it.
const (
	MaxLen    = 16 << 10 // bytes in one header value
	MaxParams = 32       // parameters in one challenge or credential
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("sipauth: bad header value")

// SyntaxError says what is wrong with a header value and where (the byte
// offset into the value).
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("sipauth: bad header value at byte %d: %s", e.Pos, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

func syntaxErr(pos int, format string, a ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

// Param is one name=value parameter. Quoted tells whether the value was (or
// is to be written) a quoted string.
type Param struct {
	Name   string
	Value  string
	Quoted bool
}

// Field is one challenge, credential or authentication-info value: a scheme
// ("NTLM", "Kerberos", "Digest", "TLS-DSK"; empty for an RFC 3261
// Authentication-Info, which has none) and its parameters in order.
type Field struct {
	Scheme string
	Params []Param
}

// Get returns the value of the first parameter with that name, compared
// without regard to case.
func (f *Field) Get(name string) (string, bool) {
	for _, p := range f.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// Set replaces the value of the named parameter, or adds it at the end.
func (f *Field) Set(name, value string, quoted bool) {
	for i, p := range f.Params {
		if strings.EqualFold(p.Name, name) {
			f.Params[i] = Param{Name: p.Name, Value: value, Quoted: quoted}
			return
		}
	}
	f.Params = append(f.Params, Param{Name: name, Value: value, Quoted: quoted})
}

// Is reports whether the field's scheme is scheme, without regard to case.
func (f *Field) Is(scheme string) bool { return strings.EqualFold(f.Scheme, scheme) }

// Append writes the field as a header value: the scheme, a space, then the
// parameters separated by ", ".
func (f Field) Append(dst []byte) []byte {
	dst = append(dst, f.Scheme...)
	for i, p := range f.Params {
		switch {
		case i > 0:
			dst = append(dst, ", "...)
		case f.Scheme != "":
			dst = append(dst, ' ')
		}
		dst = AppendParam(dst, p.Name, p.Value, p.Quoted)
	}
	return dst
}

// String returns the field as a header value.
func (f Field) String() string { return string(f.Append(nil)) }

// AppendParam writes name=value, quoting the value if asked. In a quoted
// value '"' and '\' are escaped; control characters other than a tab, which
// no header value may carry, are written as spaces so that nothing a peer echoes can split
// a header.
func AppendParam(dst []byte, name, value string, quoted bool) []byte {
	dst = append(dst, name...)
	dst = append(dst, '=')
	if !quoted {
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c < 0x20 || c == 0x7f {
				c = ' '
			}
			dst = append(dst, c)
		}
		return dst
	}
	dst = append(dst, '"')
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case (c < 0x20 && c != '\t') || c == 0x7f:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// Parse reads one header value holding a single challenge, credential or
// authentication-info.
func Parse(v string) (Field, error) {
	var s Scanner
	if err := s.Reset(v); err != nil {
		return Field{}, err
	}
	f := Field{Scheme: s.Scheme()}
	for s.Next() {
		f.Params = append(f.Params, Param{Name: s.Name, Value: s.Value, Quoted: s.Quoted})
	}
	if err := s.Err(); err != nil {
		return Field{}, err
	}
	if s.pending != "" {
		return Field{}, syntaxErr(s.pos, "a second scheme %q in a single value", s.pending)
	}
	return f, nil
}

// ParseList reads a header value that may hold several challenges joined
// with commas (RFC 7235 section 4.1 allows a WWW-Authenticate line to list
// more than one): "NTLM realm=\"x\", targetname=\"y\", Kerberos realm=...".
func ParseList(v string) ([]Field, error) {
	var s Scanner
	if err := s.Reset(v); err != nil {
		return nil, err
	}
	var out []Field
	for {
		f := Field{Scheme: s.Scheme()}
		for s.Next() {
			f.Params = append(f.Params, Param{Name: s.Name, Value: s.Value, Quoted: s.Quoted})
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		out = append(out, f)
		if !s.NextScheme() {
			return out, nil
		}
	}
}

// Scanner walks the parameters of a header value without allocating (a
// quoted value with backslash escapes is the one case that copies). Use:
//
//	var s Scanner
//	if err := s.Reset(v); err != nil { ... }
//	for s.Next() { use s.Name, s.Value }
//	if err := s.Err(); err != nil { ... }
//
// When Next stops because another scheme begins (a list of challenges),
// NextScheme moves to it.
type Scanner struct {
	// The current parameter, valid after Next returned true.
	Name   string
	Value  string
	Quoted bool

	v       string
	pos     int
	scheme  string
	pending string // the next scheme, when Next stopped at one
	params  int
	err     error
}

// Reset starts scanning v. A value longer than MaxLen is refused before
// anything is read; a control character (a header value is a single line:
// folding is undone by the SIP parser) is refused where it is met.
func (s *Scanner) Reset(v string) error {
	*s = Scanner{v: v}
	if len(v) > MaxLen {
		s.err = syntaxErr(MaxLen, "value is %d bytes, more than the %d allowed", len(v), MaxLen)
		return s.err
	}
	i := skipWS(v, 0)
	tok, j := token(v, i)
	if tok == "" {
		if i == len(v) {
			s.err = syntaxErr(i, "empty value")
		} else {
			s.err = unexpected(i, v[i], "a scheme")
		}
		return s.err
	}
	if k := skipWS(v, j); k < len(v) && v[k] == '=' {
		s.pos = i // no scheme: RFC 3261 Authentication-Info starts with a parameter
		return nil
	}
	if j < len(v) && v[j] != ' ' && v[j] != '\t' && v[j] != ',' {
		s.err = unexpected(j, v[j], "a space after the scheme "+strconv.Quote(tok))
		return s.err
	}
	s.scheme, s.pos = tok, j
	return nil
}

// unexpected reports byte c at pos where want was expected, naming a
// control character as such.
func unexpected(pos int, c byte, want string) error {
	if ctype[c]&cCtl != 0 {
		return syntaxErr(pos, "control character 0x%02x", c)
	}
	return syntaxErr(pos, "expected %s, found %q", want, c)
}

// Scheme returns the scheme of the current challenge ("" when the value
// starts with a parameter).
func (s *Scanner) Scheme() string { return s.scheme }

// Err returns the first error met.
func (s *Scanner) Err() error { return s.err }

// NextScheme moves to the next challenge of a list, reporting whether
// there is one.
func (s *Scanner) NextScheme() bool {
	if s.err != nil || s.pending == "" {
		return false
	}
	s.scheme, s.pending, s.params = s.pending, "", 0
	return true
}

// Next reads the next parameter into Name, Value and Quoted. It returns
// false at the end of the value, at the start of another scheme, or on an
// error (see Err).
func (s *Scanner) Next() bool {
	if s.err != nil || s.pending != "" {
		return false
	}
	v := s.v
	i := s.pos
	comma := false
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
		comma = comma || v[i] == ','
		i++ // empty list items are allowed (RFC 7230 section 7)
	}
	if i == len(v) {
		s.pos = i
		return false
	}
	name, j := token(v, i)
	if name == "" {
		s.err = unexpected(i, v[i], "a parameter name")
		return false
	}
	k := skipWS(v, j)
	if k == len(v) || v[k] != '=' {
		if !comma {
			return s.fail(i, "expected name=value after the scheme, found %q", name)
		}
		s.pending, s.pos = name, j // another challenge begins
		return false
	}
	s.params++
	if s.params > MaxParams {
		return s.fail(i, "more than %d parameters", MaxParams)
	}
	k = skipWS(v, k+1)
	var val string
	quoted := false
	if k < len(v) && v[k] == '"' {
		var end int
		var err error
		val, end, err = quotedString(v, k)
		if err != nil {
			s.err = err
			return false
		}
		quoted, k = true, end
	} else {
		start := k
		for k < len(v) && ctype[v[k]]&cValueStop == 0 {
			k++
		}
		val = v[start:k]
		if k < len(v) && v[k] == '"' {
			return s.fail(k, "a quote inside the unquoted value of %s", name)
		}
	}
	k = skipWS(v, k)
	if k < len(v) && v[k] != ',' {
		s.err = unexpected(k, v[k], "',' after the value of "+name)
		return false
	}
	s.Name, s.Value, s.Quoted, s.pos = name, val, quoted, k
	return true
}

func (s *Scanner) fail(pos int, format string, a ...any) bool {
	s.err = syntaxErr(pos, format, a...)
	return false
}

func skipWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// token reads an RFC 3261 token at i.
func token(v string, i int) (string, int) {
	j := i
	for j < len(v) && ctype[v[j]]&cToken != 0 {
		j++
	}
	return v[i:j], j
}

// plainRun returns the index of the first byte at or after i that ends a
// run of plain quoted-string bytes ('"', '\\', a control character; see
// cQuoteStop), len(v) if none. It tests eight bytes at a time: a word
// with none of them is skipped whole (SIMD within a register).
func plainRun(v string, i int) int {
	const (
		lo  = 0x0101010101010101
		hi  = 0x8080808080808080
		ctl = 0x20 * lo // bytes below it are control characters
		quo = '"' * lo  // 0x22
		bsl = '\\' * lo // 0x5c
		del = 0x7f * lo
	)
	for ; i+8 <= len(v); i += 8 {
		x := uint64(v[i]) | uint64(v[i+1])<<8 | uint64(v[i+2])<<16 | uint64(v[i+3])<<24 |
			uint64(v[i+4])<<32 | uint64(v[i+5])<<40 | uint64(v[i+6])<<48 | uint64(v[i+7])<<56
		// a byte b is flagged when b < 0x20, b == '"', b == '\\' or b == 0x7f;
		// bytes >= 0x80 (UTF-8) pass the first test only when x itself has
		// the high bit clear (&^x), so they are never flagged
		q, s, d := x^quo, x^bsl, x^del
		flags := ((x - ctl) | (q-lo)&^q | (s-lo)&^s | (d-lo)&^d) &^ x & hi
		if flags != 0 {
			break
		}
	}
	for i < len(v) && ctype[v[i]]&cQuoteStop == 0 {
		i++
	}
	return i
}

// Byte classes.
const (
	cToken     = 1 << iota // RFC 3261 token character
	cCtl                   // control character other than HTAB
	cQuoteStop             // ends a run of plain quoted-string bytes: '"', '\\' or a control
	cValueStop             // ends an unquoted value: ',', SP, HTAB, '"' or a control
)

var ctype = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] |= cToken
		case c < 0x20 && c != '\t', c == 0x7f:
			t[c] |= cCtl | cQuoteStop | cValueStop
		}
		switch c {
		case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
			t[c] |= cToken
		case '"':
			t[c] |= cQuoteStop | cValueStop
		case '\\':
			t[c] |= cQuoteStop
		case ',', ' ', '\t':
			t[c] |= cValueStop
		}
	}
	return t
}()

// quotedString reads the quoted string starting at v[i] == '"', returning
// its unescaped contents and the index after the closing quote.
func quotedString(v string, i int) (string, int, error) {
	// Fast path: no escapes, no control characters.
	j := plainRun(v, i+1)
	if j < len(v) && v[j] == '"' {
		return v[i+1 : j], j + 1, nil
	}
	escaped := false
	for {
		for j < len(v) && ctype[v[j]]&cQuoteStop == 0 {
			j++
		}
		if j == len(v) {
			return "", 0, syntaxErr(i, "unterminated quoted string")
		}
		switch c := v[j]; c {
		case '\\':
			if j+1 == len(v) {
				return "", 0, syntaxErr(j, "a backslash ends the value")
			}
			if ctype[v[j+1]]&cCtl != 0 {
				return "", 0, unexpected(j+1, v[j+1], "")
			}
			escaped = true
			j += 2
			continue
		case '"':
		default:
			return "", 0, unexpected(j, c, "")
		}
		break
	}
	if !escaped {
		return v[i+1 : j], j + 1, nil
	}
	var b strings.Builder
	b.Grow(j - i)
	for k := i + 1; k < j; k++ {
		if v[k] == '\\' {
			k++
		}
		b.WriteByte(v[k])
	}
	return b.String(), j + 1, nil
}
