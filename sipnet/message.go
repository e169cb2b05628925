package sipnet

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

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

	// line spans of headers a response copies, in order of appearance
	vias                               []span
	fromLine, toLine, callLine, cseqLn span

	parseOnce sync.Once
	parsed    sip.Message
	parseErr  error
}

type span struct{ start, end int } // [start,end) of a full header line without CRLF

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
	want := canonicalName(name)
	found := ""
	ok := false
	eachHeader(m.Raw, func(n, v []byte, _ span) bool {
		if canonicalName(string(n)) == want {
			found, ok = string(v), true
			return false
		}
		return true
	})
	return found, ok
}

// Headers returns every value of the named header, in order.
func (m *Message) Headers(name string) []string {
	want := canonicalName(name)
	var out []string
	eachHeader(m.Raw, func(n, v []byte, _ span) bool {
		if canonicalName(string(n)) == want {
			out = append(out, string(v))
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

var compact = map[string]string{
	"i": "call-id", "f": "from", "t": "to", "v": "via", "l": "content-length",
	"c": "content-type", "m": "contact", "k": "supported", "s": "subject", "e": "content-encoding",
	"o": "event", "u": "allow-events",
}

func canonicalName(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if c, ok := compact[n]; ok {
		return c
	}
	return n
}

// eachHeader calls f for each header line (after the start line) with its
// name and trimmed value; folded continuation lines are joined. It stops
// when f returns false or at the blank line.
func eachHeader(raw []byte, f func(name, value []byte, line span) bool) {
	pos := bytes.IndexByte(raw, '\n')
	if pos < 0 {
		return
	}
	pos++
	for pos < len(raw) {
		end := lineEnd(raw, pos)
		line := trimCR(raw[pos:end])
		if len(line) == 0 {
			return
		}
		next := end + 1
		// join folded lines
		for next < len(raw) && (raw[next] == ' ' || raw[next] == '\t') {
			e := lineEnd(raw, next)
			next = e + 1
		}
		full := raw[pos:min(next, len(raw))]
		full = bytes.TrimRight(full, "\r\n")
		colon := bytes.IndexByte(full, ':')
		if colon > 0 {
			name := bytes.TrimSpace(full[:colon])
			val := full[colon+1:]
			if bytes.ContainsAny(val, "\r\n") {
				val = unfold(val)
			}
			if !f(name, bytes.TrimSpace(val), span{pos, pos + len(full)}) {
				return
			}
		}
		pos = next
	}
}

func unfold(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for _, c := range v {
		if c == '\r' || c == '\n' {
			continue
		}
		out = append(out, c)
	}
	return out
}

func lineEnd(b []byte, from int) int {
	i := bytes.IndexByte(b[from:], '\n')
	if i < 0 {
		return len(b)
	}
	return from + i
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// Scan scans one complete, framed SIP message. raw is retained.
func Scan(raw []byte) (*Message, error) {
	m := &Message{Raw: raw}
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("%w: no line end after the start line", ErrMalformed)
	}
	start := string(trimCR(raw[:nl]))
	if err := m.scanStart(start); err != nil {
		return nil, err
	}
	var clen = -1
	var haveCSeq, haveCallID, haveFrom, haveTo bool
	var bad error
	headerEnd := -1
	eachHeader(raw, func(name, val []byte, ln span) bool {
		headerEnd = ln.end
		switch canonicalName(string(name)) {
		case "via":
			m.vias = append(m.vias, ln)
			if len(m.vias) == 1 {
				m.SentBy, m.Branch = viaSentByBranch(val)
			}
		case "call-id":
			m.CallID, haveCallID, m.callLine = string(val), true, ln
		case "from":
			m.From, haveFrom, m.fromLine = string(val), true, ln
			m.FromTag = tagParam(val)
		case "to":
			m.To, haveTo, m.toLine = string(val), true, ln
			m.ToTag = tagParam(val)
		case "cseq":
			m.cseqLn = ln // copied into a 400 even when it does not parse
			num, meth, ok := bytes.Cut(bytes.TrimSpace(val), []byte(" "))
			n, err := strconv.ParseUint(string(bytes.TrimSpace(num)), 10, 32)
			if !ok || err != nil || n > 2147483647 {
				bad = fmt.Errorf("%w: bad CSeq %q", ErrMalformed, val)
				return false
			}
			m.CSeq, m.CSeqMethod, haveCSeq, m.cseqLn = uint32(n), string(bytes.TrimSpace(meth)), true, ln
		case "content-length":
			n, err := strconv.Atoi(string(val))
			if err != nil || n < 0 {
				bad = fmt.Errorf("%w: bad Content-Length %q", ErrMalformed, val)
				return false
			}
			clen = n
		case "content-type":
			m.ContentType = string(val)
		}
		return true
	})
	if bad != nil {
		return m, bad
	}
	switch {
	case len(m.vias) == 0:
		return m, fmt.Errorf("%w: no Via header", ErrMalformed)
	case !haveCallID || m.CallID == "":
		return m, fmt.Errorf("%w: no Call-ID header", ErrMalformed)
	case !haveFrom:
		return m, fmt.Errorf("%w: no From header", ErrMalformed)
	case !haveTo:
		return m, fmt.Errorf("%w: no To header", ErrMalformed)
	case !haveCSeq:
		return m, fmt.Errorf("%w: no CSeq header", ErrMalformed)
	}
	if m.IsRequest() && m.CSeqMethod != m.Method {
		return m, fmt.Errorf("%w: CSeq method %q does not match %s", ErrMalformed, m.CSeqMethod, m.Method)
	}
	// body: after the blank line
	bodyStart := -1
	if headerEnd >= 0 {
		if i := bytes.Index(raw[headerEnd:], []byte("\n\n")); i >= 0 && i <= 2 {
			bodyStart = headerEnd + i + 2
		} else if i := bytes.Index(raw[headerEnd:], []byte("\r\n\r\n")); i >= 0 && i <= 1 {
			bodyStart = headerEnd + i + 4
		}
	}
	if bodyStart < 0 {
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			bodyStart = i + 4
		} else {
			bodyStart = len(raw)
		}
	}
	body := raw[min(bodyStart, len(raw)):]
	if clen >= 0 {
		if clen > len(body) {
			return m, fmt.Errorf("%w: Content-Length %d but %d body bytes", ErrMalformed, clen, len(body))
		}
		body = body[:clen]
	}
	if len(body) > 0 {
		m.Body = body
	}
	return m, nil
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
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[2] != "SIP/2.0" || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("%w: bad request line %q", ErrMalformed, line)
	}
	for _, c := range parts[0] {
		if c < 'A' || c > 'Z' {
			return fmt.Errorf("%w: bad method in request line %q", ErrMalformed, line)
		}
	}
	m.Method, m.RequestURI = parts[0], parts[1]
	return nil
}

// viaSentByBranch returns the sent-by and branch of the first value of a
// Via header: "SIP/2.0/TCP host:port;branch=z9hG4bK...".
func viaSentByBranch(v []byte) (sentBy, branch string) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	sp := bytes.IndexAny(v, " \t")
	if sp < 0 {
		return "", ""
	}
	rest := bytes.TrimSpace(v[sp:])
	hostEnd := bytes.IndexByte(rest, ';')
	if hostEnd < 0 {
		return string(rest), ""
	}
	sentBy = string(bytes.TrimSpace(rest[:hostEnd]))
	return sentBy, param(rest[hostEnd:], "branch")
}

// tagParam returns the tag parameter of a From/To value, looking only after
// the closing '>' of a name-addr.
func tagParam(v []byte) string {
	if i := bytes.LastIndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	} else if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[i:]
	} else {
		return ""
	}
	return param(v, "tag")
}

// param finds ;name=value in a parameter list.
func param(v []byte, name string) string {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ';')
		if i < 0 {
			return ""
		}
		v = v[i+1:]
		end := bytes.IndexByte(v, ';')
		p := v
		if end >= 0 {
			p = v[:end]
		}
		k, val, _ := bytes.Cut(p, []byte("="))
		if strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			return string(bytes.Trim(bytes.TrimSpace(val), `"`))
		}
	}
	return ""
}
