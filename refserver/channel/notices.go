package channel

import (
	"strconv"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// pendingNotice is a join or part waiting in its room for the gathered
// notices' flush. skip is the session that joined or left (nil for a
// user of another pool server): it is not told about itself.
type pendingNotice struct {
	join bool
	user string
	skip *session
	// silent marks a join past the notice limit: nobody is told of it,
	// but the joiner is not told of what came before it either
	silent bool
}

// noticeLocked sends ntc:join or ntc:part about user to the sessions online
// in r but skip, within the notice limit; r.mu is held. With a notice delay
// the notice waits in the room and goes out with the others of the window
// (flushNotices); b then is not used.
func (h *Hub) noticeLocked(b *sipnet.Batch, r *room, kind, user string, skip *session) {
	if h.cfg.NoticeLimit > 0 && r.onlineCountLocked() > h.cfg.NoticeLimit {
		if kind == "join" && skip != nil && len(r.pending) > 0 {
			r.pending = append(r.pending, pendingNotice{join: true, user: user, skip: skip, silent: true})
		}
		return
	}
	if (kind == "join" && h.cfg.Faults.Has(fault.NoJoinNotice)) || (kind == "part" && h.cfg.Faults.Has(fault.NoPartNotice)) {
		return
	}
	if d := h.cfg.NoticeDelay; d > 0 {
		r.pending = append(r.pending, pendingNotice{join: kind == "join", user: user, skip: skip})
		if !r.armed {
			r.armed = true
			time.AfterFunc(d, func() {
				if h.enterWork() { // Close waits for a flush under way
					defer h.wg.Done()
					h.flushNotices(r)
				}
			})
		}
		return
	}
	var body []byte
	for _, o := range r.online {
		if o == skip {
			continue
		}
		if body == nil {
			body = noticeBody(h, r, []pendingNotice{{join: kind == "join", user: user}})
		}
		h.stats.notices.Add(1)
		o.sendBodyIn(b, body)
	}
}

// flushNotices sends what r gathered: each member online gets the joins
// and parts that happened after it came in (a member that joined within
// the window hears of those who joined after it, as it would have one by
// one; its join reply listed those before it), as few notices as the
// order allows: one per run of joins or of parts, each naming every user
// of the run.
func (h *Hub) flushNotices(r *room) {
	var b sipnet.Batch // one write per connection, after the room's lock
	r.mu.Lock()
	ev := r.pending
	r.pending, r.armed = nil, false
	bodies := make(map[int][][]byte) // by the first event a member is told of
	for _, o := range r.online {
		from := 0
		for i := len(ev) - 1; i >= 0; i-- {
			if ev[i].skip == o {
				from = i + 1
				break
			}
		}
		if from == len(ev) {
			continue
		}
		bs, ok := bodies[from]
		if !ok { // nil when only silent joins follow
			bs = noticeBodies(h, r, ev[from:])
			bodies[from] = bs
		}
		for _, body := range bs {
			h.stats.notices.Add(1)
			o.sendBodyIn(&b, body)
		}
	}
	r.mu.Unlock()
	b.Flush()
}

// noticeBodies renders ev as notices, one per run of the same kind.
func noticeBodies(h *Hub, r *room, all []pendingNotice) [][]byte {
	ev := make([]pendingNotice, 0, len(all))
	for _, e := range all {
		if !e.silent {
			ev = append(ev, e)
		}
	}
	var out [][]byte
	for i := 0; i < len(ev); {
		j := i + 1
		for j < len(ev) && ev[j].join == ev[i].join {
			j++
		}
		out = append(out, noticeBody(h, r, ev[i:j]))
		i = j
	}
	return out
}

// noticeBody renders one ntc:join (uib entries with the aib naming the
// room, XCCOS §4) or ntc:part (SIPE's shape: data/chanib/uib) naming every
// user of run, all of one kind.
func noticeBody(h *Hub, r *room, run []pendingNotice) []byte {
	users := make([]xccos.UIB, len(run))
	if run[0].join {
		for i, e := range run {
			users[i] = xccos.UIB{ID: strconv.Itoa(i), URI: e.user, Affiliations: []xccos.AIB{{Key: r.affKey(e.user), Domain: h.cfg.Domain, Value: r.id}}}
		}
		return xccos.NewNotice(h.envids.Next(), "join", &xccos.Data{Users: users}).Marshal()
	}
	for i, e := range run {
		users[i] = xccos.UIB{URI: e.user}
	}
	return xccos.NewNotice(h.envids.Next(), "part", &xccos.Data{Channels: []xccos.ChanIB{{URI: r.uri, Users: users}}}).Marshal()
}
