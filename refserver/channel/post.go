package channel

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// post handles a grpchat from a client. A refused post gets its INFO
// answered 200 and an rpl:grpchat error reply (code 400, 403, 404, 409,
// 413, or 503 when the store is behind) that names the post's envid. An accepted post is queued to the
// store under the room's lock, so the store makes posts durable in room
// order; its INFO is answered 200 only once it is durable, then the post
// is delivered to every session online in the room, the author's included.
func (h *Hub) post(s *session, tx *sipnet.ServerTx, envid uint64, c *xccos.Chat) {
	reject := func(code int, text string) {
		h.ok(tx)
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
	case c.Author != "" && !sameUser(c.Author, s.user) && !h.cfg.Faults.Has(fault.AcceptSpoofedAuthor):
		reject(CodeForbidden, "author "+c.Author+" is not the poster "+s.user)
		return
	}
	n := xccos.TextLen(c.Text)
	if h.cfg.Faults.Has(fault.NoSizeLimit) {
		n = 0
	}
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
	case r.hiddenFrom(s.user):
		code, text = CodeNotFound, "no room "+c.ChanURI+" on this server"
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
	m := store.Message{RoomID: r.id, Seq: r.nextSeq + 1, Author: s.user, TS: h.cfg.Now().UTC(), Text: c.Text, Story: c.Story}
	if c.Author != "" && h.cfg.Faults.Has(fault.AcceptSpoofedAuthor) {
		if a, err := sipnet.AOR(c.Author); err == nil {
			m.Author = a
		}
	}
	if h.cfg.Faults.Has(fault.DropArchiveRecords) && h.stats.archiveSeq.Add(1)%10 == 0 {
		m.SkipArchive = true
	}
	p := &pending{hub: h, room: r, tx: tx, msg: m, envid: h.envids.Next()}
	// Append never blocks: the store's writer needs this room's lock to
	// deliver what it committed
	var err error
	if h.pool != nil {
		err = h.postPool(r, p)
	} else {
		err = h.st.Append(m, p.durable)
	}
	if err != nil {
		r.mu.Unlock()
		h.ok(tx)
		h.stats.busy.Add(1)
		text := "busy: the store is behind (" + err.Error() + "); post again later"
		if errors.Is(err, store.ErrClosed) {
			text = "busy: the server is shutting down"
		}
		s.reply("grpchat", envid, CodeBusy, text, nil)
		return
	}
	if h.pool == nil {
		r.nextSeq++
	}
	r.mu.Unlock()
}

type pending struct {
	hub   *Hub
	room  *room
	tx    *sipnet.ServerTx
	msg   store.Message
	envid uint64
	// done, for a file post (no SIP transaction), is sent the outcome
	done chan<- error
}

// durable runs on the store's goroutine, in append order.
func (p *pending) durable(err error) {
	h := p.hub
	if err != nil {
		h.log.Error("channel: store post", "room", p.room.id, "seq", p.msg.Seq, "err", err)
		if p.done != nil {
			p.done <- err
			return
		}
		_ = p.tx.Respond(500, "Server Internal Error", ua.Warning("the post could not be stored"))
		return
	}
	h.stats.posts.Add(1)
	if p.tx != nil {
		h.ok(p.tx)
	}
	body := xccos.AppendChat(make([]byte, 0, 256+len(p.msg.Text)), p.envid, &xccos.Chat{
		ChanURI: p.room.uri, Author: p.msg.Author, TS: p.msg.TS, Text: p.msg.Text, Story: p.msg.Story,
		File: h.fileOf(p.room.uri, p.msg),
	})
	r := p.room
	r.mu.Lock()
	b := &h.fanout
	h.deliverLocked(r, b, p.msg.Author, body, p.msg.File != "")
	r.mu.Unlock()
	b.Flush()
	if p.done != nil {
		p.done <- nil
	}
}

// sameUser compares an author attribute with a session's address of record.
func sameUser(author, user string) bool {
	a, err := sipnet.AOR(author)
	return err == nil && a == user
}

// faultyBody applies the faults that change what every delivery of a post
// says.
func (h *Hub) faultyBody(body []byte) []byte {
	if h.cfg.Faults.Has(fault.ChatNoTS) {
		body = dropAttr(body, "ts")
	}
	return body
}

// dropAttr removes the first attribute name="..." from an element.
func dropAttr(body []byte, name string) []byte {
	key := []byte(" " + name + `="`)
	i := bytes.Index(body, key)
	if i < 0 {
		return body
	}
	j := bytes.IndexByte(body[i+len(key):], '"')
	if j < 0 {
		return body
	}
	out := append([]byte(nil), body[:i]...)
	return append(out, body[i+len(key)+j+1:]...)
}

// deliverFaulty delivers one post to one session with the fan-out faults
// switched on. The author's own copy is left alone by all but no-echo;
// of the other deliveries, counted server-wide, the 100th of every 100 is
// dropped (drop-deliveries), the 50th sent twice (duplicate-deliveries)
// and the 5th of every 10 held back until that session's next delivery
// (reorder-deliveries), so that these faults can be on together.
func (h *Hub) deliverFaulty(b *sipnet.Batch, s *session, author string, body []byte) {
	if s.user == author {
		if h.cfg.Faults.Has(fault.NoEcho) {
			h.stats.dropped.Add(1)
			return
		}
		h.stats.deliveries.Add(1)
		s.sendBodyIn(b, body)
		return
	}
	seq := h.stats.faultSeq.Add(1)
	switch seq % 100 {
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
	if h.cfg.Faults.Has(fault.ReorderDeliveries) {
		s.reorder(b, body, seq%10 == 5)
		return
	}
	s.sendBodyIn(b, body)
}
