package sipnet

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gcload/gcload/sipauth/sipae"
)

// DialogID identifies a dialog as a comparable value, for map keys that
// need no allocation per lookup.
type DialogID struct {
	CallID, LocalTag, RemoteTag string
}

// ID returns the dialog's DialogID.
func (d *Dialog) ID() DialogID { return DialogID{d.CallID, d.LocalTag, d.RemoteTag} }

// DialogIDOf returns the DialogID of the dialog an incoming in-dialog
// request belongs to (local tag = To tag); it allocates nothing.
func DialogIDOf(m *Message) DialogID { return DialogID{m.CallID, m.ToTag, m.FromTag} }

// Dialog is one side of an established dialog: what it needs to send
// in-dialog requests. The constant headers are rendered once.
type Dialog struct {
	CallID    string
	LocalTag  string
	RemoteTag string
	LocalURI  string // name-addr of this side without tag, "<sip:gcs1@example.com>"
	RemoteURI string // name-addr of the peer without tag
	Target    string // Request-URI of requests to the peer (its Contact)
	Conn      *Conn

	cseq atomic.Uint32
	line []byte // " TARGET SIP/2.0\r\n"
	head []byte // Max-Forwards, From, To, Call-ID lines (never changed: the names above view it)

	localAddr, remoteAddr string // the URIs of LocalURI and RemoteURI (what a signature covers)
	memo                  Memo   // the connection's DialogSecurity's (security.go)
}

// NewDialog builds a dialog. localCSeq is the last CSeq this side used.
func NewDialog(c *Conn, callID, localURI, localTag, remoteURI, remoteTag, target string, localCSeq uint32) *Dialog {
	d := &Dialog{Conn: c}
	d.cseq.Store(localCSeq)
	d.Target = strings.Clone(target)
	d.line = append(append(append(d.line, ' '), target...), " SIP/2.0\r\n"...)
	// The names are copied into the rendered head, and the dialog's
	// strings are views of it (it is never changed): a long-lived dialog
	// keeps no received message's buffer, one allocation holds them all,
	// and a signature reads its fields (Call-ID, URIs, tags) from the
	// cache lines the head was just copied from, not from five cold
	// strings per member.
	h := make([]byte, 0, 64+len(localURI)+len(localTag)+len(remoteURI)+len(remoteTag)+len(callID))
	h = append(h, "Max-Forwards: 70\r\nFrom: "...)
	lu := len(h)
	h = append(h, localURI...)
	h = append(h, ";tag="...)
	lt := len(h)
	h = append(h, localTag...)
	h = append(h, "\r\nTo: "...)
	ru := len(h)
	h = append(h, remoteURI...)
	rt := len(h)
	if remoteTag != "" {
		h = append(h, ";tag="...)
		rt = len(h)
		h = append(h, remoteTag...)
	}
	h = append(h, "\r\nCall-ID: "...)
	ci := len(h)
	h = append(h, callID...)
	h = append(h, "\r\n"...)
	d.head = h
	hs := unsafe.String(unsafe.SliceData(h), len(h))
	d.LocalURI, d.LocalTag = hs[lu:lu+len(localURI)], hs[lt:lt+len(localTag)]
	d.RemoteURI, d.RemoteTag = hs[ru:ru+len(remoteURI)], hs[rt:rt+len(remoteTag)]
	d.CallID = hs[ci : ci+len(callID)]
	d.localAddr, _ = sipae.SplitAddr(d.LocalURI)
	d.remoteAddr, _ = sipae.SplitAddr(d.RemoteURI)
	return d
}

// NextCSeq allocates the next local CSeq number.
func (d *Dialog) NextCSeq() uint32 { return d.cseq.Add(1) }

// AppendRequest renders an in-dialog request.
func (d *Dialog) AppendRequest(dst []byte, method string, br Branch, cseq uint32, ctype string, body []byte, extra ...Header) []byte {
	dst = append(dst, method...)
	dst = append(dst, d.line...)
	dst = appendVia(dst, d.Conn, br)
	dst = append(dst, d.head...)
	dst = append(dst, "CSeq: "...)
	dst = strconv.AppendUint(dst, uint64(cseq), 10)
	dst = append(dst, ' ')
	dst = append(dst, method...)
	dst = append(dst, "\r\n"...)
	for _, h := range extra {
		dst = appendHeader(dst, h.Name, h.Value)
	}
	if d.Conn != nil {
		if s := d.Conn.sec.Load(); s != nil {
			dst = d.Conn.signRequest(dst, s, d, method, cseq, extra)
		}
	}
	if ctype != "" {
		dst = appendHeader(dst, "Content-Type", ctype)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// StatusFunc gets the final status of a request sent on the hot path, or
// the error that ended its transaction (then status is 0). It runs on an
// endpoint goroutine and must not block.
type StatusFunc func(status int, err error)

// Send sends an in-dialog request on the hot path; cb (may be nil) gets
// the final status later, on an endpoint goroutine (not when Send returns
// an error). On TCP nothing is allocated per request (the transaction is
// recycled) and the answer is matched without building a Message.
func (d *Dialog) Send(ep *Endpoint, method, ctype string, body []byte, cb StatusFunc) error {
	return d.SendBatch(ep, nil, method, ctype, body, cb)
}

// SendBatch is Send as part of a Batch (a post's fan-out): the request is
// queued on its connection, which is written when the batch is flushed.
func (d *Dialog) SendBatch(ep *Endpoint, b *Batch, method, ctype string, body []byte, cb StatusFunc) error {
	cseq := d.NextCSeq()
	return ep.sendIn(d.Conn, b, method, func(dst []byte, br Branch) []byte {
		return d.AppendRequest(dst, method, br, cseq, ctype, body)
	}, cb, d, cseq)
}

// Begin starts an in-dialog request and returns its transaction.
func (d *Dialog) Begin(ep *Endpoint, method, ctype string, body []byte, extra ...Header) (*ClientTx, error) {
	cseq := d.NextCSeq()
	return ep.BeginRender(d.Conn, method, func(dst []byte, br Branch) []byte {
		return d.AppendRequest(dst, method, br, cseq, ctype, body, extra...)
	})
}

// Do sends an in-dialog request and waits for its final response.
func (d *Dialog) Do(ctx context.Context, ep *Endpoint, method, ctype string, body []byte, extra ...Header) (*Message, error) {
	tx, err := d.Begin(ep, method, ctype, body, extra...)
	if err != nil {
		return nil, err
	}
	return tx.Wait(ctx)
}

// Ack acknowledges a 2xx answer to the INVITE with CSeq number cseq that
// went out with inviteBranch. The ACK is its own transaction-less request;
// over UDP it is re-sent if the 2xx is retransmitted.
func (d *Dialog) Ack(ep *Endpoint, cseq uint32, inviteBranch string) error {
	raw := d.AppendRequest(nil, "ACK", ep.NewBranch(), cseq, "", nil)
	ep.rememberAck(d.Conn, inviteBranch, raw)
	return d.Conn.Write(raw)
}
