// Package ua holds what the reference server's services share as SIP user
// agents: answering a dialog-creating INVITE, sending XCCOS envelopes in a
// dialog, and numbering the server's envelopes.
package ua

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync/atomic"

	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// DefaultSessionExpires is the Session-Expires a service answers with; SIPE
// refreshes with an empty UPDATE every N-10 seconds.
const DefaultSessionExpires = 600

// ContentType of XCCOS bodies.
const ContentType = "text/plain"

// EnvIDs numbers the envelopes a service sends. Real servers use 64-bit
// values; this one starts at a random 48-bit value.
type EnvIDs struct{ n atomic.Uint64 }

// NewEnvIDs returns a counter with a random start.
func NewEnvIDs() *EnvIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	e := &EnvIDs{}
	e.n.Store(binary.LittleEndian.Uint64(b[:]) >> 16)
	return e
}

// Next returns a fresh envid.
func (e *EnvIDs) Next() uint64 { return e.n.Add(1) }

// SDP renders the session description a service answers an INVITE with.
func SDP(c *sipnet.Conn) []byte {
	ip := c.LocalAddr().Addr().String()
	kind := "IP4"
	if c.LocalAddr().Addr().Is6() {
		kind = "IP6"
	}
	return []byte("v=0\r\no=- 0 0 IN " + kind + " " + ip + "\r\ns=session\r\nc=IN " + kind + " " + ip + "\r\nt=0 0\r\nm=message 5061 sip null\r\n")
}

// Answer accepts a dialog-creating INVITE with 200 OK (SDP, Contact of
// the service, Session-Expires) and returns the service's side of the new
// dialog. target is where in-dialog requests to the client go: its Contact.
func Answer(tx *sipnet.ServerTx, serviceURI string, sessionExpires int) (*sipnet.Dialog, error) {
	m := tx.Msg
	target := m.From
	if c, ok := m.Header("Contact"); ok {
		target = c
	}
	targetURI, err := sipnet.URIOf(target)
	if err != nil {
		return nil, err
	}
	remoteURI, err := sipnet.URIOf(m.From)
	if err != nil {
		return nil, err
	}
	tag := tx.ToTag()
	hdrs := []sipnet.Header{
		{Name: "Contact", Value: "<" + serviceURI + ">"},
		{Name: "Supported", Value: "ms-sender"},
	}
	if sessionExpires > 0 {
		hdrs = append(hdrs, sipnet.Header{Name: "Session-Expires", Value: strconv.Itoa(sessionExpires) + ";refresher=uac"})
	}
	d := sipnet.NewDialog(tx.Conn, m.CallID, "<"+serviceURI+">", tag, "<"+remoteURI+">", m.FromTag, targetURI, 100)
	if err := tx.Reply(sipnet.Reply{Code: 200, Reason: "OK", Headers: hdrs, ContentType: "application/sdp", Body: SDP(tx.Conn)}); err != nil {
		return nil, err
	}
	return d, nil
}

// Send sends an envelope in a dialog as an INFO; cb (may be nil) gets the
// client's answer.
func Send(ep *sipnet.Endpoint, d *sipnet.Dialog, env *xccos.Envelope, cb sipnet.StatusFunc) error {
	return d.Send(ep, "INFO", ContentType, env.Marshal(), cb)
}

// Warning is the Warning header (RFC 3261 20.43, code 399) that says in
// words why the server refused a request.
func Warning(text string) sipnet.Header {
	return sipnet.Header{Name: "Warning", Value: `399 gcload "` + text + `"`}
}
