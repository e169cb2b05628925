package channel

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// session is one client's dialog with a channel service.
type session struct {
	hub     *Hub
	key     sipnet.DialogID
	user    string // address of record
	service string
	dlg     *sipnet.Dialog
	conn    *connState // of dlg.Conn

	mu     mutex
	rooms  map[*room]struct{}
	closed bool

	onResult sipnet.StatusFunc

	// held is a delivery the reorder-deliveries fault holds back
	held      []byte
	heldTimer *time.Timer
}

// HandleInvite answers an INVITE to a channel service (target, an address
// of record) and opens a session for user (whose identity the caller
// checked). A target that is not one of the hub's services (another pool
// server's, sent here by a client that sends everything over one
// connection) opens a session with the hub's first service.
func (h *Hub) HandleInvite(tx *sipnet.ServerTx, user, target string) {
	serviceURI := h.serviceURI(target)
	// one connection's requests are handled in turn, so the count cannot
	// change before the session is added
	h.sessMu.Lock()
	n := 0
	if cs := h.byConn[tx.Conn]; cs != nil {
		for _, o := range cs.sessions {
			if o.user == user {
				n++
			}
		}
	}
	h.sessMu.Unlock()
	if n >= h.cfg.MaxSessionsPerUser {
		h.stats.limited.Add(1)
		_ = tx.Respond(403, "Forbidden", ua.Warning(fmt.Sprintf("%s has %d channel sessions on this connection, the most allowed: end one with BYE first", user, n)))
		return
	}
	d, err := ua.Answer(tx, serviceURI, h.cfg.SessionExpires)
	if err != nil {
		_ = tx.Respond(400, "Bad Request", ua.Warning(err.Error()))
		return
	}
	s := &session{hub: h, key: d.ID(), user: user, service: serviceURI, dlg: d, rooms: map[*room]struct{}{}}
	s.onResult = s.deliveryResult
	h.sessMu.Lock()
	h.sessions[s.key] = s
	cs := h.byConn[d.Conn]
	if cs == nil {
		cs = &connState{}
		h.byConn[d.Conn] = cs
	}
	cs.sessions = append(cs.sessions, s)
	s.conn = cs
	h.sessMu.Unlock()
	h.stats.sessions.Add(1)
}

// HandleInDialog handles a request inside a channel session; it reports
// false when the dialog is not one of the hub's.
func (h *Hub) HandleInDialog(tx *sipnet.ServerTx, user string) bool {
	key := sipnet.DialogIDOf(tx.Msg)
	h.sessMu.Lock()
	s := h.sessions[key]
	h.sessMu.Unlock()
	if s == nil {
		return false
	}
	if user != s.user {
		if tx.Msg.Method != "ACK" {
			_ = tx.Respond(403, "Forbidden", ua.Warning("the dialog belongs to "+s.user))
		}
		return true
	}
	switch tx.Msg.Method {
	case "ACK":
	case "INFO":
		h.info(s, tx)
	case "BYE":
		_ = tx.Respond(200, "OK")
		h.endSession(s, true)
	case "UPDATE":
		_ = tx.Respond(200, "OK", sipnet.Header{Name: "Session-Expires", Value: strconv.Itoa(h.cfg.SessionExpires) + ";refresher=uac"})
	case "INVITE": // a re-INVITE refreshes the session
		_ = tx.Reply(sipnet.Reply{Code: 200, Reason: "OK", Headers: []sipnet.Header{{Name: "Contact", Value: "<" + s.service + ">"}}, ContentType: "application/sdp", Body: ua.SDP(tx.Conn)})
	default:
		_ = tx.Respond(405, "Method Not Allowed", sipnet.Header{Name: "Allow", Value: "INVITE, ACK, BYE, INFO, UPDATE"})
	}
	return true
}

// ConnClosed ends the sessions carried by a closed connection.
func (h *Hub) ConnClosed(c *sipnet.Conn) {
	h.sessMu.Lock()
	var list []*session
	if cs := h.byConn[c]; cs != nil {
		list = cs.sessions
	}
	delete(h.byConn, c)
	h.sessMu.Unlock()
	for _, s := range list {
		h.endSession(s, true)
	}
}

// endSession removes a session from its rooms (telling the others) and
// forgets it.
func (h *Hub) endSession(s *session, notify bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.rooms = nil
	s.mu.Unlock()
	var parts []store.Event
	for _, r := range rooms {
		r.mu.Lock()
		removed := r.removeOnline(s)
		if removed {
			h.leftLocked(r, s)
		}
		r.mu.Unlock()
		if removed {
			parts = append(parts, h.event(store.EventPart, r, s.user, store.PartSessionEnded))
		}
		if removed && notify {
			h.notifyPart(r, s)
		}
	}
	h.recordAsync(parts)
	h.sessMu.Lock()
	if h.sessions[s.key] == s {
		delete(h.sessions, s.key)
	}
	if cs := h.byConn[s.dlg.Conn]; cs != nil {
		list := cs.sessions
		for i, x := range list {
			if x == s {
				list[i] = list[len(list)-1]
				list[len(list)-1] = nil
				list = list[:len(list)-1]
				break
			}
		}
		cs.sessions = list // the state stays until the connection closes
	}
	h.sessMu.Unlock()
}

// deliveryResult handles the client's answer to an INFO the hub sent: an
// error answer (481, 487, 408) or a timeout means the client no longer
// has this dialog, so the session ends.
func (s *session) deliveryResult(status int, err error) {
	if err == nil && status < 300 {
		return
	}
	s.hub.stats.deliveryErrs.Add(1)
	s.hub.endSession(s, true)
}

// send sends an envelope to the session.
func (s *session) send(env *xccos.Envelope) {
	if s.hub.cfg.Faults.Empty() {
		_ = ua.Send(s.hub.ep, s.dlg, env, s.onResult)
		return
	}
	s.sendFaulty(env)
}

// sendBody sends a rendered envelope to the session.
func (s *session) sendBody(body []byte) { s.sendBodyIn(nil, body) }

// sendBodyIn sends a rendered envelope to the session as part of a batch.
func (s *session) sendBodyIn(b *sipnet.Batch, body []byte) {
	_ = s.dlg.SendBatch(s.hub.ep, b, "INFO", s.hub.ctype, body, s.onResult)
}

// reply sends the reply to a command.
func (s *session) reply(name string, cmdEnvID uint64, code int, text string, data *xccos.Data) {
	s.replyThen(name, cmdEnvID, code, text, data, nil)
}

// replyThen sends the reply to a command, then calls then (when not nil):
// both after Config.ReplyDelay, on the endpoint's timing wheel, when a
// delay is set. data must not change afterwards.
func (s *session) replyThen(name string, cmdEnvID uint64, code int, text string, data *xccos.Data, then func()) {
	h := s.hub
	h.stats.commands.Add(1)
	if d := h.cfg.ReplyDelay; d > 0 {
		h.ep.After(d, func() { s.sendReply(name, cmdEnvID, code, text, data, then) })
		return
	}
	s.sendReply(name, cmdEnvID, code, text, data, then)
}

func (s *session) sendReply(name string, cmdEnvID uint64, code int, text string, data *xccos.Data, then func()) {
	h := s.hub
	if !h.cfg.Faults.Empty() {
		s.replyFaulty(name, cmdEnvID, code, text, data)
	} else {
		s.send(xccos.NewReply(h.envids.Next(), name, cmdEnvID, code, text, data))
	}
	if then != nil {
		then()
	}
}

// notifyJoinLocked tells the others online in r that s joined; r.mu is
// held. With b (nil: none) the notices wait for b's Flush, so that a
// shared connection carries them in one write.
func (h *Hub) notifyJoinLocked(b *sipnet.Batch, r *room, s *session) {
	h.noticeLocked(b, r, "join", s.user, s)
}

// notifyPart tells the others online in r that s left (SIPE's shape:
// data/chanib/uib).
func (h *Hub) notifyPart(r *room, s *session) {
	var b sipnet.Batch // one write per connection, after the room's lock
	r.mu.Lock()
	h.noticeLocked(&b, r, "part", s.user, s)
	r.mu.Unlock()
	b.Flush()
}

// sendPart tells to, whose session was removed from r by the server (room
// disabled, access revoked), that user left.
func (h *Hub) sendPart(to *session, r *room, who *session) {
	h.stats.notices.Add(1)
	to.sendBody(noticeBody(h, r, []pendingNotice{{user: who.user}}))
}

func (r *room) affKey(user string) string {
	if r.roles[user]&roleManager != 0 {
		return xccos.AffManager
	}
	return xccos.AffMember
}
