package xccos

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits enforced by Parse.
const (
	// MaxSize is the largest envelope Parse accepts, in bytes.
	MaxSize = 65536
	// MaxDepth is the deepest element nesting Parse accepts; the root
	// element is at depth 1.
	MaxDepth = 64
)

// Error is the error Parse, ParseTime and the tokenizer return. It says
// what is wrong (Msg) and where (Offset, Element); Err is one of the
// sentinel errors (ErrSyntax, ErrEnvID, ...), so callers test the class of
// failure with errors.Is and read the details with errors.As.
type Error struct {
	// Err is the sentinel error this error wraps.
	Err error
	// Offset is the byte offset into the input where the problem was
	// found, or -1 when the error is not about a position (ParseTime).
	Offset int
	// Element is the local name of the element concerned, "" when unknown.
	Element string
	// Msg is the human-readable description; it names the element.
	Msg string
}

// Error renders "xccos: offset N: MSG" (or "xccos: MSG" without an offset).
func (e *Error) Error() string {
	if e.Offset < 0 {
		return "xccos: " + e.Msg
	}
	return "xccos: offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap returns the sentinel error, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

func newError(sentinel error, off int, elem, format string, args ...any) *Error {
	return &Error{Err: sentinel, Offset: off, Element: elem, Msg: fmt.Sprintf(format, args...)}
}

// none marks a missing node index.
const none = -1

// xmlNode is one element of the parsed document. Children are linked
// through first/next; text is the concatenated character data (CDATA
// included, entities resolved) found directly inside the element.
type xmlNode struct {
	qname        string // qualified name as written: "x:cmd"
	text         string
	plen         int32 // length of the "prefix:" part of qname
	off          int32 // offset of the '<' of the start tag
	parent       int32
	first, last  int32 // first and last child element
	next         int32 // next sibling element
	attr0, attrN int32 // the element's attributes: doc.attrs[attr0:attrN]
}

// local returns the local name: "cmd" for "x:cmd".
func (n *xmlNode) local() string { return n.qname[n.plen:] }

// xmlAttr is one attribute. Namespace declarations (xmlns, xmlns:p) are
// kept with decl set so lookups by name skip them.
type xmlAttr struct {
	qname string
	value string // entities resolved, literal whitespace normalised
	plen  int32  // length of the "prefix:" part of qname
	off   int32  // offset of the attribute name
	decl  bool
}

func (a *xmlAttr) local() string { return a.qname[a.plen:] }

// xmlDoc is a parsed document: a flat list of elements in document order
// (nodes[0] is the root) and their attributes. Every string in it shares
// the memory of src, a single copy of the input, unless it needed
// unescaping.
type xmlDoc struct {
	src   string
	nodes []xmlNode
	attrs []xmlAttr
	// rootOpen is set once the root start tag has been read completely,
	// so a caller can salvage the envid of a document that fails later.
	rootOpen bool
}

type xmlParser struct {
	d     *xmlDoc
	src   string
	pos   int
	depth int
	// open holds the elements whose end tag has not been seen yet.
	open [MaxDepth]int32
	// When the text of open[i] comes in several pieces (split by comments
	// or children, CDATA, entities), bit i of building is set and the
	// pieces are gathered in bufs[i].
	building uint64
	bufs     [][]byte
	scratch  []byte
	seen     map[string]struct{} // duplicate check for elements with many attributes
}

// parse tokenizes b into d. On error d holds what was read so far. Bytes
// that are not UTF-8 encoded XML characters are refused (one pass over b
// before tokenizing); what comes before the first of them is still read,
// so that the envelope's header can be salvaged.
func (d *xmlDoc) parse(b []byte) error {
	src := string(b)
	bad, r := InvalidChar(src)
	if bad >= 0 {
		src = src[:bad]
	}
	d.src = src
	// Size the node and attribute lists from cheap upper bounds so a
	// typical envelope costs one allocation each: every element starts
	// with '<' (end tags make it an overestimate of about 2x), every
	// attribute has a '='.
	d.nodes = make([]xmlNode, 0, max(strings.Count(src, "<"), 1))
	if a := strings.Count(src, "="); a > 0 {
		d.attrs = make([]xmlAttr, 0, a)
	}
	p := xmlParser{d: d, src: src}
	err := p.run()
	if bad >= 0 {
		what := describeChar(string(b[bad:min(len(b), bad+utf8.UTFMax)]), 0, r)
		if p.depth > 0 {
			return p.errf(bad, p.openLocal(), "%s in <%s>", what, p.openName())
		}
		return p.errf(bad, "", "%s", what)
	}
	return err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *xmlParser) skipSpace() bool {
	start := p.pos
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

func (p *xmlParser) errf(off int, elem, format string, args ...any) error {
	return newError(ErrSyntax, off, elem, format, args...)
}

// openName returns the qualified name of the innermost open element, ""
// at top level.
func (p *xmlParser) openName() string {
	if p.depth == 0 {
		return ""
	}
	return p.d.nodes[p.open[p.depth-1]].qname
}

// openLocal returns the local name of the innermost open element.
func (p *xmlParser) openLocal() string {
	if p.depth == 0 {
		return ""
	}
	return p.d.nodes[p.open[p.depth-1]].local()
}

func (p *xmlParser) run() error {
	s := p.src
	if strings.HasPrefix(s, "\xef\xbb\xbf") { // UTF-8 byte order mark
		p.pos = 3
	}
	rootDone := false
	for {
		if p.depth == 0 {
			p.skipSpace()
			if p.pos >= len(s) {
				break
			}
			if s[p.pos] != '<' {
				if rootDone {
					return p.errf(p.pos, p.d.nodes[0].local(), "text after the root element <%s>", p.d.nodes[0].qname)
				}
				return p.errf(p.pos, "", "text before the root element")
			}
		} else {
			i := strings.IndexByte(s[p.pos:], '<')
			if i < 0 {
				n := &p.d.nodes[p.open[p.depth-1]]
				return p.errf(len(s), n.local(), "element <%s> is not closed (input ends)", n.qname)
			}
			if i > 0 {
				if err := p.text(p.pos, p.pos+i, false); err != nil {
					return err
				}
				p.pos += i
			}
		}
		rest := s[p.pos:]
		var next byte
		if len(rest) > 1 {
			next = rest[1]
		}
		switch {
		case next != '?' && next != '!' && next != '/':
			if p.depth == 0 && rootDone {
				return p.errf(p.pos, p.d.nodes[0].local(), "second root element after </%s>", p.d.nodes[0].qname)
			}
			if err := p.startTag(); err != nil {
				return err
			}
			if p.depth == 0 {
				rootDone = true // self-closing root
			}
		case next == '/':
			if err := p.endTag(); err != nil {
				return err
			}
			if p.depth == 0 {
				rootDone = true
			}
		case next == '?':
			end := strings.Index(rest[2:], "?>")
			if end < 0 {
				return p.errf(p.pos, p.openLocal(), "processing instruction is not terminated by ?>")
			}
			p.pos += 2 + end + 2
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return p.errf(p.pos, p.openLocal(), "comment is not terminated by -->")
			}
			p.pos += 4 + end + 3
		case strings.HasPrefix(rest, "<![CDATA["):
			if p.depth == 0 {
				return p.errf(p.pos, "", "CDATA section outside the root element")
			}
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return p.errf(p.pos, p.openLocal(), "CDATA section in <%s> is not terminated by ]]>", p.openName())
			}
			if err := p.text(p.pos+9, p.pos+9+end, true); err != nil {
				return err
			}
			p.pos += 9 + end + 3
		case strings.HasPrefix(rest, "<!DOCTYPE"):
			return p.errf(p.pos, "", "DOCTYPE is not allowed")
		default:
			return p.errf(p.pos, p.openLocal(), "unexpected markup declaration %.12q", rest)
		}
	}
	if !rootDone {
		return p.errf(len(s), "", "no root element")
	}
	return nil
}

// Bit sets of ASCII bytes, split into bytes 0-63 (lo) and 64-127 (hi).
const (
	letterHi    = 0x07fffffe_07fffffe // A-Z a-z
	nameStartHi = letterHi | 1<<('_'-64)
	nameLo      = 0x03ff_0000_0000_0000 | 1<<'-' | 1<<'.' | 1<<':' // 0-9 - . :
	// attrSpecial marks the bytes of an attribute value that need work.
	attrSpecial = 1<<'<' | 1<<'&' | 1<<'\t' | 1<<'\n' | 1<<'\r'
)

func isNameStart(c byte) bool {
	return c >= 0x80 || c >= 64 && nameStartHi&(1<<(c-64)) != 0
}

func isNameByte(c byte) bool {
	if c < 64 {
		return nameLo&(1<<c) != 0
	}
	return c >= 0x80 || nameStartHi&(1<<(c-64)) != 0
}

// name reads a qualified name at p.pos: NAME or PREFIX:NAME. what says
// what the name is for; ctxQ and ctxLocal name the element it is read in
// (empty at top level), for error messages.
func (p *xmlParser) name(what, ctxQ, ctxLocal string) (qname, local string, plen int32, err error) {
	s := p.src
	start := p.pos
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if ctxQ != "" {
			msg += " in <" + ctxQ + ">"
		}
		return newError(ErrSyntax, start, ctxLocal, "%s", msg)
	}
	if start >= len(s) {
		return "", "", 0, fail("input ends where %s name was expected", what)
	}
	if !isNameStart(s[start]) {
		return "", "", 0, fail("invalid character %q where %s name was expected", s[start], what)
	}
	i := start + 1
	colon := -1
	for i < len(s) && isNameByte(s[i]) {
		if s[i] == ':' {
			if colon >= 0 {
				return "", "", 0, fail("%s name %q has more than one colon", what, s[start:i+1])
			}
			colon = i
		}
		i++
	}
	qname = s[start:i]
	local = qname
	if colon >= 0 {
		local = s[colon+1 : i]
		plen = int32(colon + 1 - start)
		if local == "" || !isNameStart(local[0]) {
			return "", "", 0, fail("%s name %q has an invalid local part", what, qname)
		}
	}
	p.pos = i
	return qname, local, plen, nil
}

func (p *xmlParser) startTag() error {
	s := p.src
	d := p.d
	start := p.pos
	p.pos++ // '<'
	qname, local, plen, err := p.name("element", p.openName(), p.openLocal())
	if err != nil {
		return err
	}
	if p.depth >= MaxDepth {
		return p.errf(start, local, "element <%s> is nested more than %d levels deep", qname, MaxDepth)
	}
	parent := int32(none)
	if p.depth > 0 {
		parent = p.open[p.depth-1]
	}
	a0 := len(d.attrs)
	selfClose := false
	for {
		sp := p.skipSpace()
		if p.pos >= len(s) {
			return p.errf(p.pos, local, "input ends inside the start tag <%s>", qname)
		}
		c := s[p.pos]
		if c == '>' {
			p.pos++
			break
		}
		if c == '/' {
			if p.pos+1 < len(s) && s[p.pos+1] == '>' {
				p.pos += 2
				selfClose = true
				break
			}
			return p.errf(p.pos, local, "expected '>' after '/' in <%s>", qname)
		}
		if !sp {
			return p.errf(p.pos, local, "expected whitespace, '>' or '/>' in <%s>, found %q", qname, c)
		}
		aoff := p.pos
		aq, _, apl, err := p.name("attribute", qname, local)
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(s) || s[p.pos] != '=' {
			return p.errf(aoff, local, "attribute %s of <%s> has no value", aq, qname)
		}
		p.pos++
		p.skipSpace()
		if p.pos >= len(s) || s[p.pos] != '"' && s[p.pos] != '\'' {
			return p.errf(p.pos, local, "value of attribute %s of <%s> is not quoted", aq, qname)
		}
		q := s[p.pos]
		vstart := p.pos + 1
		j := strings.IndexByte(s[vstart:], q)
		if j < 0 {
			return p.errf(aoff, local, "value of attribute %s of <%s> is not terminated", aq, qname)
		}
		val, err := p.attrValue(s[vstart:vstart+j], vstart, aq, qname, local)
		if err != nil {
			return err
		}
		p.pos = vstart + j + 1
		if err := p.checkDup(a0, aq, aoff, qname, local); err != nil {
			return err
		}
		d.attrs = append(d.attrs, xmlAttr{
			qname: aq,
			plen:  apl,
			value: val,
			off:   int32(aoff),
			decl:  aq == "xmlns" || strings.HasPrefix(aq, "xmlns:"),
		})
	}
	idx := int32(len(d.nodes))
	d.nodes = append(d.nodes, xmlNode{
		qname:  qname,
		plen:   plen,
		off:    int32(start),
		parent: parent,
		first:  none,
		last:   none,
		next:   none,
		attr0:  int32(a0),
		attrN:  int32(len(d.attrs)),
	})
	if parent != none {
		pn := &d.nodes[parent]
		if pn.first == none {
			pn.first = idx
		} else {
			d.nodes[pn.last].next = idx
		}
		pn.last = idx
	} else {
		d.rootOpen = true
	}
	if !selfClose {
		p.open[p.depth] = idx
		p.building &^= 1 << p.depth
		p.depth++
	}
	return nil
}

// checkDup rejects a second attribute with the same qualified name.
func (p *xmlParser) checkDup(a0 int, aq string, aoff int, qname, local string) error {
	attrs := p.d.attrs[a0:]
	const linear = 16
	if len(attrs) < linear {
		for i := range attrs {
			if attrs[i].qname == aq {
				return p.errf(aoff, local, "attribute %s of <%s> appears twice", aq, qname)
			}
		}
		return nil
	}
	if len(attrs) == linear || p.seen == nil {
		if p.seen == nil {
			p.seen = make(map[string]struct{})
		}
		clear(p.seen)
		for i := range attrs {
			p.seen[attrs[i].qname] = struct{}{}
		}
	}
	if _, dup := p.seen[aq]; dup {
		return p.errf(aoff, local, "attribute %s of <%s> appears twice", aq, qname)
	}
	p.seen[aq] = struct{}{}
	return nil
}

// attrValue resolves entities in a raw attribute value and normalises
// literal tab, CR, LF and CR LF to a space, as XML requires.
func (p *xmlParser) attrValue(raw string, base int, aname, qname, local string) (string, error) {
	simple := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 64 && attrSpecial&(1<<c) != 0 {
			if c == '<' {
				return "", p.errf(base+i, local, "'<' in value of attribute %s of <%s>", aname, qname)
			}
			simple = false
		}
	}
	if simple {
		return raw, nil
	}
	buf := p.scratch[:0]
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			var n int
			var err error
			buf, n, err = p.entity(buf, raw, i, base, local)
			if err != nil {
				return "", err
			}
			i += n
		case '\r':
			buf = append(buf, ' ')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case '\t', '\n':
			buf = append(buf, ' ')
			i++
		default:
			buf = append(buf, c)
			i++
		}
	}
	p.scratch = buf
	return string(buf), nil
}

// text adds the character data src[from:to] to the innermost open element.
func (p *xmlParser) text(from, to int, cdata bool) error {
	i := p.depth - 1
	n := &p.d.nodes[p.open[i]]
	seg := p.src[from:to]
	plain := cdata || strings.IndexByte(seg, '&') < 0
	if p.building&(1<<i) == 0 {
		if plain && n.text == "" {
			n.text = seg // the common case: one piece, no entities
			return nil
		}
		for len(p.bufs) <= i {
			p.bufs = append(p.bufs, nil)
		}
		p.bufs[i] = append(p.bufs[i][:0], n.text...)
		p.building |= 1 << i
	}
	if plain {
		p.bufs[i] = append(p.bufs[i], seg...)
		return nil
	}
	buf := p.bufs[i]
	for j := 0; j < len(seg); {
		k := strings.IndexByte(seg[j:], '&')
		if k < 0 {
			buf = append(buf, seg[j:]...)
			break
		}
		buf = append(buf, seg[j:j+k]...)
		j += k
		var err error
		buf, k, err = p.entity(buf, seg, j, from, n.local())
		if err != nil {
			return err
		}
		j += k
	}
	p.bufs[i] = buf
	return nil
}

// maxRefLen bounds the name of an entity or character reference, so a
// bare '&' is reported without scanning the rest of the input.
const maxRefLen = 32

// entity decodes the reference at s[i] (an '&'), appends its value to dst
// and returns the number of bytes it spans. base is the offset of s in the
// input, elem the element for error messages.
func (p *xmlParser) entity(dst []byte, s string, i, base int, elem string) ([]byte, int, error) {
	end := min(len(s), i+1+maxRefLen)
	j := strings.IndexByte(s[i+1:end], ';')
	if j < 0 {
		return dst, 0, p.errf(base+i, elem, "'&' in <%s> does not start an entity or character reference", elem)
	}
	name := s[i+1 : i+1+j]
	switch name {
	case "lt":
		return append(dst, '<'), j + 2, nil
	case "gt":
		return append(dst, '>'), j + 2, nil
	case "amp":
		return append(dst, '&'), j + 2, nil
	case "quot":
		return append(dst, '"'), j + 2, nil
	case "apos":
		return append(dst, '\''), j + 2, nil
	}
	if len(name) < 2 || name[0] != '#' {
		return dst, 0, p.errf(base+i, elem, "undefined entity &%s; in <%s>", name, elem)
	}
	digits, radix := name[1:], uint32(10)
	if digits[0] == 'x' {
		digits, radix = digits[1:], 16
	}
	if digits == "" {
		return dst, 0, p.errf(base+i, elem, "empty character reference &%s; in <%s>", name, elem)
	}
	var r uint32
	for k := 0; k < len(digits); k++ {
		c := digits[k]
		var v uint32
		switch {
		case c >= '0' && c <= '9':
			v = uint32(c - '0')
		case radix == 16 && c >= 'a' && c <= 'f':
			v = uint32(c-'a') + 10
		case radix == 16 && c >= 'A' && c <= 'F':
			v = uint32(c-'A') + 10
		default:
			return dst, 0, p.errf(base+i, elem, "malformed character reference &%s; in <%s>", name, elem)
		}
		r = r*radix + v
		if r > utf8.MaxRune {
			return dst, 0, p.errf(base+i, elem, "character reference &%s; in <%s> is out of range", name, elem)
		}
	}
	if !isXMLChar(r) {
		return dst, 0, p.errf(base+i, elem, "character reference &%s; in <%s> is not an XML character", name, elem)
	}
	return utf8.AppendRune(dst, rune(r)), j + 2, nil
}

// isXMLChar reports whether r is allowed by the XML 1.0 Char production.
func isXMLChar(r uint32) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}

func (p *xmlParser) endTag() error {
	s := p.src
	start := p.pos
	p.pos += 2
	qname, local, _, err := p.name("closing tag", p.openName(), p.openLocal())
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.pos >= len(s) || s[p.pos] != '>' {
		return p.errf(p.pos, local, "expected '>' to end </%s>", qname)
	}
	p.pos++
	if p.depth == 0 {
		return p.errf(start, local, "closing tag </%s> without an open element", qname)
	}
	i := p.depth - 1
	n := &p.d.nodes[p.open[i]]
	if n.qname != qname {
		return p.errf(start, n.local(), "element <%s> closed by </%s>", n.qname, qname)
	}
	if p.building&(1<<i) != 0 {
		n.text = string(p.bufs[i])
		p.building &^= 1 << i
	}
	p.depth--
	return nil
}

// attr returns the index in d.attrs of the attribute of node n with the
// given local name, skipping namespace declarations, or none.
func (d *xmlDoc) attr(n int32, local string) int32 {
	nd := &d.nodes[n]
	for i := nd.attr0; i < nd.attrN; i++ {
		if a := &d.attrs[i]; !a.decl && a.local() == local {
			return i
		}
	}
	return none
}

// attrValue returns the value of an attribute of node n ("" when absent).
func (d *xmlDoc) attrValue(n int32, local string) string {
	if i := d.attr(n, local); i != none {
		return d.attrs[i].value
	}
	return ""
}

// child returns the first child element of n with the given local name.
func (d *xmlDoc) child(n int32, local string) int32 {
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		if d.nodes[c].local() == local {
			return c
		}
	}
	return none
}

// namespace returns the namespace the name of node n is in, as declared on
// n itself: the default namespace for an unprefixed name, the declaration
// of its prefix otherwise ("" when not declared on n).
func (d *xmlDoc) namespace(n int32) string {
	nd := &d.nodes[n]
	for i := nd.attr0; i < nd.attrN; i++ {
		a := &d.attrs[i]
		if !a.decl {
			continue
		}
		if nd.plen == 0 && a.qname == "xmlns" || nd.plen > 0 && a.plen > 0 && a.local() == nd.qname[:nd.plen-1] {
			return a.value
		}
	}
	return ""
}
