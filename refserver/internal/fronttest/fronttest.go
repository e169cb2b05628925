// Package fronttest is a minimal SIP front for the unit tests of the
// reference server's services (channel, lookup): a real sipnet endpoint
// on a loopback port that signs anyone in (REGISTER and the provisioning
// SUBSCRIBE answered 200) and hands INVITEs and in-dialog requests to the
// service under test, so that real clients (sipclient) drive it without
// the rest of the server (registrar bindings, limits, admin API).
package fronttest

import (
	"testing"

	"github.com/gcload/gcload/sipnet"
)

// Service is what the front routes to: a lookup.Service or a
// channel.Hub behind a small adapter of the test's.
type Service interface {
	// Owns reports whether the INVITE's Request-URI (an AOR) is the
	// service's.
	Owns(target string) bool
	HandleInvite(tx *sipnet.ServerTx, from, target string)
	// HandleInDialog handles a request of one of its dialogs, false when
	// the dialog is not its.
	HandleInDialog(tx *sipnet.ServerTx, from string) bool
	ConnClosed(c *sipnet.Conn)
}

// Front is an endpoint routing to one service.
type Front struct {
	// Endpoint is the front's endpoint, for the service's Config.
	Endpoint *sipnet.Endpoint
	t        testing.TB
	svc      Service
}

// New makes a front's endpoint, closed when the test ends (after the
// cleanups registered later, such as the service's Close: cleanups run
// last in, first out).
func New(t testing.TB) *Front {
	f := &Front{t: t}
	f.Endpoint = sipnet.NewEndpoint(sipnet.Options{
		Handler: func(tx *sipnet.ServerTx) { route(f.svc, tx) },
		OnConnClose: func(c *sipnet.Conn) {
			if f.svc != nil {
				f.svc.ConnClosed(c)
			}
		},
	})
	t.Cleanup(func() { f.Endpoint.Close() })
	return f
}

// Serve routes to svc and listens on 127.0.0.1 (a random TCP port),
// returning the address.
func (f *Front) Serve(svc Service) string {
	f.t.Helper()
	f.svc = svc
	addr, err := f.Endpoint.ListenTCP("127.0.0.1:0")
	if err != nil {
		f.t.Fatalf("fronttest: listen: %v", err)
	}
	return addr.String()
}

func route(s Service, tx *sipnet.ServerTx) {
	m := tx.Msg
	switch m.Method {
	case "REGISTER":
		_ = tx.Reply(sipnet.Reply{Code: 200, Reason: "OK", Headers: []sipnet.Header{
			{Name: "Expires", Value: "900"}, {Name: "Supported", Value: "msrtc-event-categories"},
			{Name: "Allow-Events", Value: "vnd-microsoft-provisioning-v2"},
		}})
		return
	case "SUBSCRIBE":
		_ = tx.Reply(sipnet.Reply{Code: 200, Reason: "OK", ContentType: "application/vnd-microsoft-roaming-provisioning-v2+xml",
			Body: []byte(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist"/>`)})
		return
	case "ACK":
		if m.ToTag != "" {
			s.HandleInDialog(tx, from(m))
		}
		return
	}
	if m.ToTag != "" {
		if !s.HandleInDialog(tx, from(m)) {
			_ = tx.Respond(481, "Call/Transaction Does Not Exist")
		}
		return
	}
	if m.Method != "INVITE" {
		_ = tx.Respond(405, "Method Not Allowed")
		return
	}
	target, err := sipnet.AOR(m.RequestURI)
	if err != nil || !s.Owns(target) {
		_ = tx.Respond(404, "Not Found")
		return
	}
	s.HandleInvite(tx, from(m), target)
}

func from(m *sipnet.Message) string {
	aor, _ := sipnet.AOR(m.From)
	return aor
}
