package sipnet

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gcload/gcload/sipauth/sipae"
)

// Security signs the messages a connection sends and checks the responses
// it receives (MS-SIPAE: once a user signed in with NTLM, every message in
// both directions carries a signature). The application (the reference
// server's registrar, the simulated client) implements it with its
// security associations and sets it on the connection with SetSecurity;
// the endpoint calls it for every message it renders on that connection
// and every final response it receives there. Requests received are
// checked by the application itself (it decides what a refusal is).
type Security interface {
	// AppendSignature appends the header line that signs an outgoing
	// message ("Authentication-Info: NTLM …\r\n" from a server,
	// "Authorization: NTLM …\r\n" from a client), or nothing when the
	// message is not to be signed (no security association for its user).
	// f holds the message's signed fields; f.Status is a response's code,
	// 0 for a request. Provisional responses are not passed. It runs with
	// the connection's signing lock held and must not call back into the
	// connection.
	AppendSignature(dst []byte, f *sipae.Fields) []byte
	// CheckResponse is told of every final response received on the
	// connection before it completes its transaction (m is valid only
	// during the call); an error drops the response, whose transaction
	// then times out.
	CheckResponse(m *Message) error
	// CheckAnswer is the fast path's shortcut for the answer to an
	// in-dialog request the endpoint sent: auth is its Authorization
	// value and f the fields it echoes from the request (the dialog's
	// URIs and tags, the Call-ID and CSeq) with its status. nil accepts
	// it; an error only sends it the full way (CheckResponse), so it must
	// have no effect (count nothing, record no sequence number).
	CheckAnswer(auth string, f *sipae.Fields) error
}

// DialogSecurity is a Security that remembers, in each dialog, what it
// looked up to sign the dialog's requests and check their answers (the
// security association of the dialog's user). A server delivering to
// thousands of users over one shared connection then signs a delivery and
// checks its answer without looking the user up by address twice per
// delivery (two map look-ups with cold keys: about 0.8 µs a delivery in a
// room of 1,000). For the in-dialog requests the endpoint renders and
// their answers on the fast path, the endpoint calls these instead of
// AppendSignature and CheckAnswer, with the dialog's Memo; what they do
// must be what those would do.
type DialogSecurity interface {
	Security
	AppendDialogSignature(dst []byte, f *sipae.Fields, memo *Memo) []byte
	CheckDialogAnswer(auth string, f *sipae.Fields, memo *Memo) error
}

// Memo is a dialog's slot for what its connection's DialogSecurity
// remembers of it. Safe for concurrent use.
type Memo struct{ p atomic.Pointer[memoBox] }

type memoBox struct{ v any }

// Load returns what Store stored last (nil: nothing).
func (m *Memo) Load() any {
	if b := m.p.Load(); b != nil {
		return b.v
	}
	return nil
}

// Store replaces what the memo holds.
func (m *Memo) Store(v any) { m.p.Store(&memoBox{v}) }

type securityBox struct {
	s Security
	d DialogSecurity // s, when it is one
}

// SetSecurity makes s sign what the connection sends from now on and
// check the responses it receives (nil: neither).
func (c *Conn) SetSecurity(s Security) {
	if s == nil {
		c.sec.Store(nil)
		return
	}
	d, _ := s.(DialogSecurity)
	c.sec.Store(&securityBox{s, d})
}

// Security returns what SetSecurity set (nil when nothing).
func (c *Conn) Security() Security {
	if b := c.sec.Load(); b != nil {
		return b.s
	}
	return nil
}

// SignedFields fills the message fields a signature covers (Call-ID to
// Expires, and the status code of a response) from what the scanner found,
// exactly as sipae.Fields.SetMessage reads them from the headers, without
// reading the headers again. The header fields (Protocol to TargetName)
// are left as they are.
func (m *Message) SignedFields(f *sipae.Fields) {
	a := m.signedAddrs()
	f.Status = m.StatusCode
	f.CallID = m.CallID
	f.CSeqNum, f.CSeqMethod = m.cseqNum, m.CSeqMethod
	f.FromURI, f.FromTag = a.fromURI, a.fromTag
	f.ToURI, f.ToTag = a.toURI, a.toTag
	f.PAISIP, f.PAITel = sipae.AssertedIdentity(m.pai)
	f.Expires = m.expires
}

// sigAddrs are the URIs and tags of From and To as a signature covers
// them (sipae.SplitAddr), worked out once per message: the verifier of a
// request and the signer of its answer both need them.
type sigAddrs struct {
	once                           sync.Once
	fromURI, fromTag, toURI, toTag string
}

func (m *Message) signedAddrs() *sigAddrs {
	a := &m.sig
	a.once.Do(func() {
		a.fromURI, a.fromTag = sipae.SplitAddr(m.From)
		a.toURI, a.toTag = sipae.SplitAddr(m.To)
	})
	return a
}

// signRequest appends the signature of an in-dialog request the endpoint
// renders (its fields are the dialog's: nothing is scanned).
func (c *Conn) signRequest(dst []byte, s *securityBox, d *Dialog, method string, cseq uint32, extra []Header) []byte {
	c.signMu.Lock()
	f := &c.sf
	*f = sipae.Fields{
		CallID: d.CallID, CSeqMethod: method,
		FromURI: d.localAddr, FromTag: d.LocalTag, ToURI: d.remoteAddr, ToTag: d.RemoteTag,
	}
	f.CSeqNum = c.number(cseq)
	extraFields(f, extra)
	if s.d != nil {
		dst = s.d.AppendDialogSignature(dst, f, &d.memo)
	} else {
		dst = s.s.AppendSignature(dst, f)
	}
	c.signMu.Unlock()
	return dst
}

// signResponse appends the signature of a final response to req the
// endpoint renders: the Via, From, To, Call-ID and CSeq lines are the
// request's (with toTag when the request had none), hdrs the extra
// headers.
func (c *Conn) signResponse(dst []byte, s Security, req *Message, code int, toTag string, hdrs []Header) []byte {
	c.signMu.Lock()
	f := &c.sf
	a := req.signedAddrs()
	*f = sipae.Fields{CallID: req.CallID, CSeqNum: req.cseqNum, CSeqMethod: req.CSeqMethod, Status: code,
		FromURI: a.fromURI, FromTag: a.fromTag, ToURI: a.toURI, ToTag: a.toTag}
	if req.ToTag == "" {
		f.ToTag = toTag
	}
	extraFields(f, hdrs)
	dst = s.AppendSignature(dst, f)
	c.signMu.Unlock()
	return dst
}

// number renders n into the connection's scratch space, as a string valid
// while signMu is held.
func (c *Conn) number(n uint32) string {
	b := strconv.AppendUint(c.numBuf[:0], uint64(n), 10)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// extraFields takes Expires and P-Asserted-Identity (or
// P-Preferred-Identity) from the extra headers of a message being built.
func extraFields(f *sipae.Fields, hdrs []Header) {
	pai, ppi := false, ""
	for _, h := range hdrs {
		switch headerKind(h.Name) {
		case hExpires:
			if f.Expires == "" {
				f.Expires = strings.TrimSpace(h.Value)
			}
		case hPAI:
			f.PAISIP, f.PAITel = sipae.AssertedIdentity(h.Value)
			pai = true
		case hPPI:
			ppi = h.Value
		}
	}
	if !pai && ppi != "" {
		f.PAISIP, f.PAITel = sipae.AssertedIdentity(ppi)
	}
}

// signRaw signs a complete message rendered elsewhere (a request sipgo
// built, a CANCEL, the ACK of a failure): it scans the message and inserts
// the signature's header line at the end of its headers. Not for the hot
// path.
func (c *Conn) signRaw(raw []byte) []byte {
	s := c.Security()
	if s == nil {
		return raw
	}
	m, err := Scan(raw)
	if err != nil || (m.StatusCode != 0 && m.StatusCode < 200) {
		return raw
	}
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return raw
	}
	end += 2
	c.signMu.Lock()
	f := &c.sf
	*f = sipae.Fields{}
	m.SignedFields(f)
	line := s.AppendSignature(nil, f)
	c.signMu.Unlock()
	if len(line) == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(line))
	out = append(out, raw[:end]...)
	out = append(out, line...)
	return append(out, raw[end:]...)
}

// checkResponse runs the connection's Security over a final response;
// false: drop it.
func (ep *Endpoint) checkResponse(c *Conn, m *Message) bool {
	s := c.Security()
	if s == nil || m.StatusCode < 200 {
		return true
	}
	if err := s.CheckResponse(m); err != nil {
		ep.stats.refusedSigned.Add(1)
		ep.signLog.log(ep.log, slog.LevelInfo, "sipnet: response dropped", "conn", c.String(), "response", m.Short(), "why", err.Error())
		return false
	}
	return true
}
