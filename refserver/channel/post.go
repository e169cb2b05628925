package channel

import (
	"strconv"
	"strings"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// post handles a grpchat from a client. A refused post gets its INFO
// answered 200 and an rpl:grpchat error reply (code 400, 403, 404, 409 or
// 413) that names the post's envid. An accepted post is queued to the
// store under the room's lock, so the store makes posts durable in room
// order; its INFO is answered 200 only once it is durable, then the post
// is delivered to every session online in the room, the author's included.
func (h *Hub) post(s *session, tx *sipnet.ServerTx, envid uint64, c *xccos.Chat) {
	reject := func(code int, text string) {
		_ = tx.Respond(200, "OK")
		h.stats.rejected.Add(1)
		s.reply("grpchat", envid, code, text, nil)
	}
	r := h.roomByURI(c.ChanURI)
	switch {
	case c.ChanURI == "":
		reject(CodeBadRequest, "grpchat without chanUri")
		return
	case r == nil:
		reject(CodeNotFound, "no room "+c.ChanURI+" on this server")
		return
	case c.TSRaw == "":
		reject(CodeBadRequest, "grpchat without ts")
		return
	case c.Author != "" && !sameUser(c.Author, s.user):
		reject(CodeForbidden, "author "+c.Author+" is not the poster "+s.user)
		return
	}
	n := xccos.TextLen(c.Text)
	switch {
	case c.Story && n > xccos.StorySizeLimit:
		reject(CodeTooLong, "story of "+strconv.Itoa(n)+" characters is over the limit of "+strconv.Itoa(xccos.StorySizeLimit))
		return
	case !c.Story && n > xccos.MessageSizeLimit:
		reject(CodeTooLong, "message of "+strconv.Itoa(n)+" characters is over the limit of "+strconv.Itoa(xccos.MessageSizeLimit)+" (send a story)")
		return
	case strings.TrimSpace(c.Text) == "":
		reject(CodeBadRequest, "empty message")
		return
	}
	r.mu.Lock()
	code, text := 0, ""
	switch {
	case r.info.Disabled:
		code, text = CodeDisabled, "room "+c.ChanURI+" is disabled"
	case !r.canRead(s.user):
		code, text = CodeForbidden, s.user+" is not a member of "+c.ChanURI
	case !r.canPost(s.user):
		code, text = CodeForbidden, "only presenters post in auditorium "+c.ChanURI
	case !r.isOnline(s):
		code, text = CodeForbidden, "join "+c.ChanURI+" before posting"
	}
	if code != 0 {
		r.mu.Unlock()
		reject(code, text)
		return
	}
	r.nextSeq++
	m := store.Message{RoomID: r.id, Seq: r.nextSeq, Author: s.user, TS: h.cfg.Now().UTC(), Text: c.Text, Story: c.Story}
	p := &pending{hub: h, room: r, tx: tx, msg: m, envid: h.envids.Next()}
	h.st.Append(m, p.durable)
	r.mu.Unlock()
}

type pending struct {
	hub   *Hub
	room  *room
	tx    *sipnet.ServerTx
	msg   store.Message
	envid uint64
}

// durable runs on the store's goroutine, in append order.
func (p *pending) durable(err error) {
	h := p.hub
	if err != nil {
		h.log.Error("channel: store post", "room", p.room.id, "seq", p.msg.Seq, "err", err)
		_ = p.tx.Respond(500, "Server Internal Error", ua.Warning("the post could not be stored"))
		return
	}
	h.stats.posts.Add(1)
	_ = p.tx.Respond(200, "OK")
	body := xccos.AppendChat(make([]byte, 0, 256+len(p.msg.Text)), p.envid, &xccos.Chat{
		ChanURI: p.room.uri, Author: p.msg.Author, TS: p.msg.TS, Text: p.msg.Text, Story: p.msg.Story,
	})
	r := p.room
	r.mu.Lock()
	b := &h.fanout
	if h.cfg.Faults.Empty() {
		h.stats.deliveries.Add(uint64(len(r.online))) // counted first: a client may read the count as soon as it has the post
		for _, s := range r.online {
			s.sendBodyIn(b, body)
		}
	} else {
		for _, s := range r.online {
			h.deliverFaulty(b, s, body)
		}
	}
	r.mu.Unlock()
	b.Flush()
}

// sameUser compares an author attribute with a session's address of record.
func sameUser(author, user string) bool {
	a, err := sipnet.AOR(author)
	return err == nil && a == user
}

// deliverFaulty delivers with the fan-out faults switched on: of every
// 100 deliveries, the 100th is dropped (drop-deliveries) and the 50th sent
// twice (duplicate-deliveries), so both faults can be on together.
func (h *Hub) deliverFaulty(b *sipnet.Batch, s *session, body []byte) {
	switch h.stats.faultSeq.Add(1) % 100 {
	case 0:
		if h.cfg.Faults.Has(fault.DropDeliveries) {
			h.stats.dropped.Add(1)
			return
		}
	case 50:
		if h.cfg.Faults.Has(fault.DuplicateDeliveries) {
			h.stats.duplicated.Add(1)
			h.stats.deliveries.Add(1)
			s.sendBodyIn(b, body)
		}
	}
	h.stats.deliveries.Add(1)
	s.sendBodyIn(b, body)
}
