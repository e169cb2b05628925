package channel

import (
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// The channel services' side of the deliberate misbehaviours (package
// fault). Nothing here runs unless a fault is switched on.

// ok answers a client's INFO 200, with a body under info-200-body.
func (h *Hub) ok(tx *sipnet.ServerTx) {
	if h.cfg.Faults.Has(fault.Info200Body) {
		_ = tx.Reply(sipnet.Reply{Code: 200, Reason: "OK", ContentType: "text/plain", Body: []byte("ok")})
		return
	}
	_ = tx.Respond(200, "OK")
}

// sendFaulty sends an envelope with the envelope faults applied.
func (s *session) sendFaulty(env *xccos.Envelope) {
	f := s.hub.cfg.Faults
	if f.Has(fault.WrongNamespace) {
		env.NS = "urn:example:wrong"
	}
	if f.Has(fault.WrongVersion) {
		env.Ver = "2"
	}
	_ = s.dlg.Send(s.hub.ep, "INFO", s.hub.ctype, env.Marshal(), s.onResult)
}

// replyFaulty sends the reply to a command with the reply faults applied.
func (s *session) replyFaulty(name string, cmdEnvID uint64, code int, text string, data *xccos.Data) {
	h, f := s.hub, s.hub.cfg.Faults
	if name == "msgsrch" && f.Has(fault.WrongCommandID) {
		cmdEnvID++
	}
	env := xccos.NewReply(h.envids.Next(), name, cmdEnvID, code, text, data)
	if name == "getinv" && f.Has(fault.ReplyOutsideDialog) {
		d := s.dlg
		out := sipnet.NewDialog(d.Conn, "gcload-fault-"+sipnet.NewTag(), d.LocalURI, d.LocalTag, d.RemoteURI, d.RemoteTag, d.Target, 1)
		_ = ua.Send(h.ep, out, env, nil)
		return
	}
	s.send(env)
	if name == "chansrch" && f.Has(fault.DuplicateReply) {
		dup := xccos.NewReply(h.envids.Next(), name, cmdEnvID, code, text, data)
		h.ep.After(time.Second, func() { s.send(dup) }) // the endpoint's timer: it ends with the server
	}
	if (name == "join" || name == "bjoin") && code == CodeOK {
		if f.Has(fault.MalformedEnvelope) {
			cut := xccos.NewNotice(h.envids.Next(), "join", &xccos.Data{}).Marshal()
			s.sendBody(cut[:len(cut)/2])
		}
		if f.Has(fault.InvalidChars) {
			// the encoder passes control characters through as they are
			s.send(xccos.NewNotice(h.envids.Next(), "join", &xccos.Data{Users: []xccos.UIB{{ID: "0", URI: "sip:ev\x01l@" + h.cfg.Domain}}}))
		}
		if f.Has(fault.ServerCommand) {
			s.send(xccos.NewCommand(h.envids.Next(), "getinv", nil))
		}
	}
}

// reorder sends a delivery under reorder-deliveries: a held delivery goes
// out after the next one (or after 200 ms without one); hold says to hold
// this one back.
func (s *session) reorder(b *sipnet.Batch, body []byte, hold bool) {
	s.mu.Lock()
	prev := s.held
	s.held = nil
	if s.heldTimer != nil {
		s.heldTimer.Stop()
		s.heldTimer = nil
	}
	if hold && prev == nil {
		s.held = append([]byte(nil), body...)
		s.heldTimer = time.AfterFunc(200*time.Millisecond, s.flushHeld)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.sendBodyIn(b, body)
	if prev != nil {
		s.sendBodyIn(b, prev)
	}
}

func (s *session) flushHeld() {
	s.mu.Lock()
	prev := s.held
	s.held, s.heldTimer = nil, nil
	s.mu.Unlock()
	if prev != nil {
		s.sendBody(prev)
	}
}
