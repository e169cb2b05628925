package sipnet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/emiago/sipgo/sip"
)

// Sentinel errors of the scanner and the transaction layer.
var (
	// ErrMalformed wraps every error about a message that cannot be scanned.
	ErrMalformed = errors.New("sipnet: malformed message")
	// ErrTimeout is returned when a transaction got no final response in time.
	ErrTimeout = errors.New("sipnet: transaction timed out")
	// ErrClosed is returned when the connection or endpoint closed first.
	ErrClosed = errors.New("sipnet: connection closed")
	// ErrOverflow is returned when a connection's output queue is full.
	ErrOverflow = errors.New("sipnet: output queue overflow")
)

// Message is one received SIP message. The scanner fills the fields that
// route it; Parse gives the full sipgo message. A Message owns its bytes.
type Message struct {
	// Raw is the whole message as received.
	Raw []byte

	// Requests: Method and RequestURI. Responses: StatusCode and Reason.
	Method     string
	RequestURI string
	StatusCode int
	Reason     string

	CallID     string
	From, To   string // header values as received
	FromTag    string
	ToTag      string
	CSeq       uint32
	CSeqMethod string
	// Branch is the branch parameter of the topmost Via ("" when absent).
	Branch string
	// SentBy is the sent-by (host[:port]) of the topmost Via.
	SentBy      string
	ContentType string
	Body        []byte
	// Auth is the value of the Authorization (or Proxy-Authorization)
	// header, AuthInfo of the Authentication-Info (or
	// Proxy-Authentication-Info) header: the credentials and signatures of
	// MS-SIPAE and digest ("" when absent).
	Auth, AuthInfo string

	// what a signature covers besides the fields above (sipae.Fields)
	cseqNum, expires, pai string
	hasPAI                bool
	sig                   sigAddrs

	// line spans of headers a response copies, in order of appearance
	vias                               []span
	viaBuf                             [2]span
	fromLine, toLine, callLine, cseqLn span

	parseOnce sync.Once
	parsed    sip.Message
	parseErr  error

	stx ServerTx // the transaction of a received request
}

type span struct{ start, end int } // [start,end) of a full header line without CRLF

// BodyString returns the body as a string that shares the message's
// memory (the message is never modified, so the view stays valid).
func (m *Message) BodyString() string {
	if len(m.Body) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(m.Body), len(m.Body))
}

// IsRequest reports whether the message is a request.
func (m *Message) IsRequest() bool { return m.Method != "" }

// Parse runs sipgo's full parser over the message, once.
func (m *Message) Parse() (sip.Message, error) {
	m.parseOnce.Do(func() {
		m.parsed, m.parseErr = sip.ParseMessage(m.Raw)
	})
	return m.parsed, m.parseErr
}

// Request returns the fully parsed request.
func (m *Message) Request() (*sip.Request, error) {
	p, err := m.Parse()
	if err != nil {
		return nil, err
	}
	r, ok := p.(*sip.Request)
	if !ok {
		return nil, fmt.Errorf("%w: not a request", ErrMalformed)
	}
	return r, nil
}

// Response returns the fully parsed response.
func (m *Message) Response() (*sip.Response, error) {
	p, err := m.Parse()
	if err != nil {
		return nil, err
	}
	r, ok := p.(*sip.Response)
	if !ok {
		return nil, fmt.Errorf("%w: not a response", ErrMalformed)
	}
	return r, nil
}

// Header returns the value of the first header with that name (case
// insensitive, compact forms understood), and whether it was present.
func (m *Message) Header(name string) (string, bool) {
	found, ok := "", false
	m.eachHeader(func(n, v string) bool {
		if sameHeader(n, name) {
			found, ok = v, true
			return false
		}
		return true
	})
	return found, ok
}

// Headers returns every value of the named header, in order.
func (m *Message) Headers(name string) []string {
	var out []string
	m.eachHeader(func(n, v string) bool {
		if sameHeader(n, name) {
			out = append(out, v)
		}
		return true
	})
	return out
}

// Short is a one-line description for logs and violation reports.
func (m *Message) Short() string {
	if m.IsRequest() {
		return fmt.Sprintf("%s %s (Call-ID %s, CSeq %d %s)", m.Method, m.RequestURI, m.CallID, m.CSeq, m.CSeqMethod)
	}
	return fmt.Sprintf("%d %s (Call-ID %s, CSeq %d %s)", m.StatusCode, m.Reason, m.CallID, m.CSeq, m.CSeqMethod)
}

// header kinds the scanner routes on
const (
	hOther = iota
	hVia
	hCallID
	hFrom
	hTo
	hCSeq
	hContentLength
	hContentType
	hContact
	hAuthorization
	hAuthInfo
	hExpires
	hPAI // P-Asserted-Identity
	hPPI // P-Preferred-Identity
)

// eqFold compares a header name with a lower-case ASCII name.
func eqFold[T string | []byte](b T, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// headerKind classifies a header name without allocating; compact forms
// (RFC 3261 7.3.3) count as their long names.
func headerKind[T string | []byte](n T) int {
	switch len(n) {
	case 1:
		switch n[0] | 0x20 {
		case 'v':
			return hVia
		case 'i':
			return hCallID
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'l':
			return hContentLength
		case 'c':
			return hContentType
		case 'm':
			return hContact
		}
	case 2:
		if eqFold(n, "to") {
			return hTo
		}
	case 3:
		if eqFold(n, "via") {
			return hVia
		}
	case 4:
		if eqFold(n, "from") {
			return hFrom
		}
		if eqFold(n, "cseq") {
			return hCSeq
		}
	case 7:
		if eqFold(n, "call-id") {
			return hCallID
		}
		if eqFold(n, "contact") {
			return hContact
		}
		if eqFold(n, "expires") {
			return hExpires
		}
	case 13:
		if eqFold(n, "authorization") {
			return hAuthorization
		}
	case 19:
		if eqFold(n, "authentication-info") {
			return hAuthInfo
		}
		if eqFold(n, "proxy-authorization") {
			return hAuthorization
		}
		if eqFold(n, "p-asserted-identity") {
			return hPAI
		}
	case 20:
		if eqFold(n, "p-preferred-identity") {
			return hPPI
		}
	case 25:
		if eqFold(n, "proxy-authentication-info") {
			return hAuthInfo
		}
	case 12:
		if eqFold(n, "content-type") {
			return hContentType
		}
	case 14:
		if eqFold(n, "content-length") {
			return hContentLength
		}
	}
	return hOther
}

var compact = map[string]string{
	"i": "call-id", "f": "from", "t": "to", "v": "via", "l": "content-length",
	"c": "content-type", "m": "contact", "k": "supported", "s": "subject", "e": "content-encoding",
	"o": "event", "u": "allow-events",
}

// sameHeader reports whether header name n (as received) is want.
func sameHeader(n, want string) bool {
	if strings.EqualFold(n, want) {
		return true
	}
	if len(n) == 1 {
		return strings.EqualFold(compact[strings.ToLower(n)], want)
	}
	if len(want) == 1 {
		return strings.EqualFold(compact[strings.ToLower(want)], n)
	}
	return false
}

// eachHeader calls f with each header's name and value (folded lines
// joined), until f returns false.
func (m *Message) eachHeader(f func(name, value string) bool) {
	str := m.str()
	nl := strings.IndexByte(str, '\n')
	if nl < 0 {
		return
	}
	for pos := nl + 1; pos < len(str); {
		name, val, _, next, ok := nextHeader(str, pos)
		if !ok {
			return
		}
		if name != "" && !f(name, val) {
			return
		}
		pos = next
	}
}

// str views the message's bytes as a string: Raw is never modified, so
// fields can be substrings of it without copies.
func (m *Message) str() string {
	if len(m.Raw) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(m.Raw), len(m.Raw))
}

// nextHeader reads the header line at pos: its name and trimmed value, the
// span of the whole line (folded continuations included, CR LF excluded)
// and where the next line starts. ok is false at the blank line or the
// end. A line without a colon has an empty name.
func nextHeader(s string, pos int) (name, val string, ln span, next int, ok bool) {
	end := strings.IndexByte(s[pos:], '\n')
	if end < 0 {
		end = len(s)
	} else {
		end += pos
	}
	lineEnd := end
	if lineEnd > pos && s[lineEnd-1] == '\r' {
		lineEnd--
	}
	if lineEnd == pos {
		return "", "", span{}, end + 1, false
	}
	next = end + 1
	folded := false
	for next < len(s) && (s[next] == ' ' || s[next] == '\t') { // folded continuation
		e := strings.IndexByte(s[next:], '\n')
		if e < 0 {
			e = len(s)
		} else {
			e += next
		}
		lineEnd = e
		if lineEnd > next && s[lineEnd-1] == '\r' {
			lineEnd--
		}
		next = e + 1
		folded = true
	}
	line := s[pos:lineEnd]
	ln = span{pos, lineEnd}
	colon := -1
	for i := 0; i < len(line); i++ { // header names are short: no call for it
		if line[i] == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 {
		return "", "", ln, next, true
	}
	name = trim(line[:colon])
	val = trim(line[colon+1:])
	if folded {
		val = unfold(val)
	}
	return name, val, ln, next, true
}

// trim is strings.TrimSpace, without its work in the usual case: spaces
// and tabs before a printable ASCII byte, and a printable ASCII last byte.
func trim(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	s = s[i:]
	if len(s) > 0 && s[0] > ' ' && s[0] < 0x7f && s[len(s)-1] > ' ' && s[len(s)-1] < 0x7f {
		return s
	}
	return strings.TrimSpace(s)
}

func unfold(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\r' && v[i] != '\n' {
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// Scan scans one complete, framed SIP message. raw is retained and must
// not be modified afterwards: the message's fields are views of it.
func Scan(raw []byte) (*Message, error) {
	m := &Message{}
	if err := m.scan(raw); err != nil {
		if m.Method == "" && m.StatusCode == 0 {
			return nil, err // not even a start line
		}
		return m, err
	}
	return m, nil
}

// scan fills the zero message m from raw.
func (m *Message) scan(raw []byte) error {
	m.Raw = raw
	m.vias = m.viaBuf[:0]
	str := m.str()
	nl := strings.IndexByte(str, '\n')
	if nl < 0 {
		return fmt.Errorf("%w: no line end after the start line", ErrMalformed)
	}
	start := str[:nl]
	start = strings.TrimSuffix(start, "\r")
	if err := m.scanStart(start); err != nil {
		return err
	}
	clen := -1
	var haveCSeq, haveCallID, haveFrom, haveTo bool
	var bad error
	pos := nl + 1
	bodyStart := len(str)
	for pos < len(str) {
		name, val, ln, next, ok := nextHeader(str, pos)
		if !ok {
			bodyStart = min(next, len(str))
			break
		}
		pos = next
		switch headerKind(name) {
		case hVia:
			m.vias = append(m.vias, ln)
			if len(m.vias) == 1 {
				m.SentBy, m.Branch = viaSentByBranch(val)
			}
		case hCallID:
			m.CallID, haveCallID, m.callLine = val, true, ln
		case hFrom:
			m.From, haveFrom, m.fromLine = val, true, ln
			m.FromTag = tagParam(val)
		case hTo:
			m.To, haveTo, m.toLine = val, true, ln
			m.ToTag = tagParam(val)
		case hCSeq:
			m.cseqLn = ln // copied into a 400 even when it does not parse
			num, meth, ok := strings.Cut(val, " ")
			m.cseqNum = strings.TrimSpace(num)
			n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
			if !ok || err != nil || n > 2147483647 {
				if bad == nil {
					bad = fmt.Errorf("%w: bad CSeq %q", ErrMalformed, val)
				}
				continue
			}
			m.CSeq, m.CSeqMethod, haveCSeq = uint32(n), strings.TrimSpace(meth), true
		case hContentLength:
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				if bad == nil {
					bad = fmt.Errorf("%w: bad Content-Length %q", ErrMalformed, val)
				}
				continue
			}
			if clen >= 0 && n != clen && bad == nil {
				bad = fmt.Errorf("%w: conflicting Content-Length headers (%d and %d)", ErrMalformed, clen, n)
			}
			clen = n
		case hContentType:
			m.ContentType = val
		case hAuthorization:
			if m.Auth == "" {
				m.Auth = val
			}
		case hAuthInfo:
			if m.AuthInfo == "" {
				m.AuthInfo = val
			}
		case hExpires:
			if m.expires == "" {
				m.expires = val
			}
		case hPAI:
			m.pai, m.hasPAI = val, true
		case hPPI:
			if !m.hasPAI {
				m.pai = val
			}
		}
	}
	if bad != nil {
		return bad
	}
	switch {
	case len(m.vias) == 0:
		return fmt.Errorf("%w: no Via header", ErrMalformed)
	case !haveCallID || m.CallID == "":
		return fmt.Errorf("%w: no Call-ID header", ErrMalformed)
	case !haveFrom:
		return fmt.Errorf("%w: no From header", ErrMalformed)
	case !haveTo:
		return fmt.Errorf("%w: no To header", ErrMalformed)
	case !haveCSeq:
		return fmt.Errorf("%w: no CSeq header", ErrMalformed)
	}
	if m.IsRequest() && m.CSeqMethod != m.Method {
		return fmt.Errorf("%w: CSeq method %q does not match %s", ErrMalformed, m.CSeqMethod, m.Method)
	}
	body := raw[bodyStart:]
	if clen >= 0 {
		if clen > len(body) {
			return fmt.Errorf("%w: Content-Length %d but %d body bytes", ErrMalformed, clen, len(body))
		}
		body = body[:clen]
	}
	if len(body) > 0 {
		m.Body = body
	}
	return nil
}

func (m *Message) scanStart(line string) error {
	if strings.HasPrefix(line, "SIP/") {
		ver, rest, ok := strings.Cut(line, " ")
		if !ok || ver != "SIP/2.0" {
			return fmt.Errorf("%w: bad status line %q", ErrMalformed, line)
		}
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 699 {
			return fmt.Errorf("%w: bad status code in %q", ErrMalformed, line)
		}
		m.StatusCode, m.Reason = n, reason
		return nil
	}
	method, rest, ok1 := strings.Cut(line, " ")
	ruri, ver, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || ver != "SIP/2.0" || method == "" || ruri == "" {
		return fmt.Errorf("%w: bad request line %q", ErrMalformed, line)
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; c < 'A' || c > 'Z' {
			return fmt.Errorf("%w: bad method in request line %q", ErrMalformed, line)
		}
	}
	m.Method, m.RequestURI = method, ruri
	return nil
}

// viaSentByBranch returns the sent-by and branch of the first value of a
// Via header: "SIP/2.0/TCP host:port;branch=z9hG4bK...".
func viaSentByBranch(v string) (sentBy, branch string) {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	sp := strings.IndexByte(v, ' ')
	if tab := strings.IndexByte(v, '\t'); tab >= 0 && (sp < 0 || tab < sp) {
		sp = tab
	}
	if sp < 0 {
		return "", ""
	}
	rest := strings.TrimSpace(v[sp:])
	hostEnd := strings.IndexByte(rest, ';')
	if hostEnd < 0 {
		return rest, ""
	}
	return strings.TrimSpace(rest[:hostEnd]), param(rest[hostEnd:], "branch")
}

// tagParam returns the tag parameter of a From/To value, looking only after
// the closing '>' of a name-addr.
func tagParam(v string) string {
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i:]
	} else {
		return ""
	}
	return param(v, "tag")
}

// param finds ;name=value in a parameter list.
func param(v, name string) string {
	for len(v) > 0 {
		i := strings.IndexByte(v, ';')
		if i < 0 {
			return ""
		}
		v = v[i+1:]
		p := v
		if end := strings.IndexByte(v, ';'); end >= 0 {
			p = v[:end]
		}
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return ""
}

// IsTextPlain reports whether a Content-Type value is text/plain (any
// case, parameters allowed), without allocating.
func IsTextPlain(ct string) bool {
	const want = "text/plain"
	if len(ct) < len(want) || !eqFold(ct[:len(want)], want) {
		return false
	}
	rest := ct[len(want):]
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ' ', '\t':
			continue
		case ';':
			return true
		default:
			return false
		}
	}
	return true
}
