package channel

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// XCCOS reply codes the server uses (docs/protocol.md).
const (
	CodeOK         = 200
	CodeBadRequest = 400
	CodeForbidden  = 403
	CodeNotFound   = 404
	CodeDisabled   = 409
	CodeTooLong    = 413
	CodeServer     = 500
	// CodeBusy [extension]: the server is behind (its store, or its
	// query workers) and refused the post or command without doing it;
	// the client may send it again later.
	CodeBusy = 503
)

// info handles an INFO in a session: an XCCOS envelope holding commands or
// one post.
func (h *Hub) info(s *session, tx *sipnet.ServerTx) {
	m := tx.Msg
	if !sipnet.IsTextPlain(m.ContentType) {
		_ = tx.Respond(415, "Unsupported Media Type", sipnet.Header{Name: "Accept", Value: "text/plain"})
		return
	}
	env, err := xccos.Parse(m.Body)
	if err != nil {
		h.ok(tx)
		name, envid := "error", uint64(0)
		if env != nil {
			envid = env.EnvID
			if len(env.Items) > 0 && env.Items[0].Name != "" {
				name = env.Items[0].Name
			}
		}
		s.reply(name, envid, CodeBadRequest, "malformed XCCOS: "+err.Error(), nil)
		return
	}
	if n := len(env.Items); n > h.cfg.MaxCommands {
		h.ok(tx)
		h.stats.limited.Add(1)
		s.reply(env.Items[0].Name, env.EnvID, CodeBadRequest, fmt.Sprintf("an envelope of %d elements: at most %d; none was done", n, h.cfg.MaxCommands), nil)
		return
	}
	if len(env.Items) == 1 && env.Items[0].Kind == xccos.KindChat {
		if d := h.cfg.PostDelay; d > 0 {
			time.AfterFunc(d, func() { h.post(s, tx, env.EnvID, env.Items[0].Chat) })
			return
		}
		h.post(s, tx, env.EnvID, env.Items[0].Chat)
		return
	}
	h.ok(tx)
	for i := range env.Items {
		it := &env.Items[i]
		switch it.Kind {
		case xccos.KindCommand:
			h.command(s, env.EnvID, it)
		case xccos.KindChat:
			s.reply("grpchat", env.EnvID, CodeBadRequest, "a grpchat must be the only element of its envelope", nil)
		default:
			s.reply(it.Name, env.EnvID, CodeBadRequest, fmt.Sprintf("a client sends commands and posts, not %s:%s", it.Kind, it.Name), nil)
		}
	}
}

func (h *Hub) command(s *session, envid uint64, it *xccos.Item) {
	if !h.cfg.Faults.Empty() {
		if f, ok := fault.IgnoreCommand(it.Name); ok && h.cfg.Faults.Has(f) {
			return // ignore-command=NAME: the INFO was answered, the reply never comes
		}
	}
	d := it.Data
	if d == nil {
		d = &xccos.Data{}
	}
	switch it.Name {
	case "getserverinfo", "getservinfo":
		h.serverInfo(s, envid, it.Name, d)
	case "chansrch":
		h.search(s, envid, d)
	case "join", "bjoin":
		h.join(s, envid, it.Name, d)
	case "part":
		h.part(s, envid, d)
	case "bccontext":
		h.history(s, envid, d)
	case "getinv":
		h.invitations(s, envid)
	case "msgsrch":
		h.messageSearch(s, envid, d)
	case "getfutok", "getfdtok":
		h.fileToken(s, envid, it.Name, d)
	case "chanupd":
		h.roomUpdate(s, envid, d)
	case "chancreate":
		h.roomCreate(s, envid, d)
	default:
		s.reply(it.Name, envid, CodeBadRequest, "unknown command cmd:"+it.Name, nil)
	}
}

func (h *Hub) serverInfo(s *session, envid uint64, name string, d *xccos.Data) {
	sib := &xccos.SIB{
		ServerTime:       xccos.FormatTime(h.cfg.Now()),
		SearchLimit:      strconv.Itoa(DefaultSearchLimit),
		MessageSizeLimit: strconv.Itoa(xccos.MessageSizeLimit),
		StorySizeLimit:   strconv.Itoa(xccos.StorySizeLimit),
		RootURI:          h.root,
		DBVersion:        h.dbVer,
	}
	if d.Server != nil {
		sib.InfoType = d.Server.InfoType
	}
	s.reply(name, envid, CodeOK, "", &xccos.Data{Server: sib})
}

// search lists the rooms the user may find whose name, description or
// topic contains the criteria (all of them for empty criteria).
func (h *Hub) search(s *session, envid uint64, d *xccos.Data) {
	crit := ""
	if d.Query != nil {
		crit = strings.ToLower(d.Query.Criteria)
	}
	h.mu.RLock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.RUnlock()
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.id, b.id) })
	out := &xccos.Data{Channels: []xccos.ChanIB{}}
	for _, r := range rooms {
		r.mu.Lock()
		ok := r.canFind(s.user) && (crit == "" || strings.Contains(strings.ToLower(r.info.Name+"\n"+r.info.Description+"\n"+r.info.Topic), crit))
		if ok {
			vis := "private"
			if r.info.Privacy == store.Open {
				vis = "public"
			}
			out.Channels = append(out.Channels, xccos.ChanIB{
				URI: r.uri, Name: r.info.Name, Description: r.info.Description, Topic: r.info.Topic,
				Info:  []xccos.KV{{ID: xccos.InfoUserCount, Value: strconv.Itoa(r.onlineCountLocked())}, {ID: xccos.InfoVisibility, Value: vis}},
				Props: []xccos.KV{{ID: xccos.PropFilePost, Value: strconv.FormatBool(h.cfg.Files != nil)}, {ID: xccos.PropInvite, Value: "true"}, {ID: xccos.PropLogged, Value: "true"}},
			})
		}
		r.mu.Unlock()
		if len(out.Channels) >= DefaultSearchLimit {
			break
		}
	}
	all := out.Channels
	k := fitting("chansrch", len(all), func(k int) *xccos.Data { return &xccos.Data{Channels: all[:k]} })
	out.Channels = all[:k]
	s.reply("chansrch", envid, CodeOK, "", out)
}

// join handles cmd:join and cmd:bjoin. The reply lists, at data level, the
// joiner and the others online (up to RosterLimit), and one chanib per room
// joined. With several rooms, those that fail are left out; if all fail the
// reply carries the first failure. The reply waits for the joins'
// compliance archive records (one per room) to be durable; then the
// session enters the rooms and the reply is sent, both on the store's
// goroutine, which also runs every fan-out, so no post reaches the client
// before the reply that names its room (enter).
func (h *Hub) join(s *session, envid uint64, name string, d *xccos.Data) {
	if len(d.ChanIDs) == 0 {
		s.reply(name, envid, CodeBadRequest, "no chanid to join", nil)
		return
	}
	if h.pool != nil {
		// a room another server created may not have been announced yet:
		// read it first (as a storage query, bounded like the others)
		var missing []string
		for _, c := range d.ChanIDs {
			if (c.Domain == "" || strings.EqualFold(c.Domain, h.cfg.Domain)) && store.ValidID(c.Value) && h.room(c.Value) == nil {
				missing = append(missing, c.Value)
			}
		}
		if len(missing) > 0 {
			h.query(s, name, envid, func() {
				ctx, cancel := h.queryContext(10 * time.Second)
				defer cancel()
				for _, id := range missing {
					h.loadRoom(ctx, id)
				}
				h.joinNow(s, envid, name, d)
			})
			return
		}
	}
	h.joinNow(s, envid, name, d)
}

func (h *Hub) joinNow(s *session, envid uint64, name string, d *xccos.Data) {
	out := &xccos.Data{}
	// uib ids: numbers in order of first listing, across the rooms of
	// the reply (a user listed in two rooms keeps one id); room is the
	// last room (its index in the reply) that listed the user
	type uibOf struct{ id, room int }
	ids := make(map[string]uibOf, h.cfg.RosterLimit)
	var listed []listedUser // the users of the room at hand
	list := func(u string) {
		room := len(out.Channels)
		e, ok := ids[u]
		if ok && e.room == room {
			return // a second session of one user
		}
		if !ok {
			e.id = len(ids)
			out.Users = append(out.Users, xccos.UIB{ID: strconv.Itoa(e.id), URI: u})
		}
		e.room = room
		ids[u] = e
		listed = append(listed, listedUser{u, e.id})
	}
	firstCode, firstText := 0, ""
	var joined []*room
	for _, c := range d.ChanIDs {
		noRoom := fmt.Sprintf("no room %s on this server", xccos.ChanURI(c.Domain, c.Value))
		r := h.room(c.Value)
		if r == nil || (c.Domain != "" && !strings.EqualFold(c.Domain, h.cfg.Domain)) {
			if firstCode == 0 {
				firstCode, firstText = CodeNotFound, noRoom
			}
			continue
		}
		r.mu.Lock()
		code, text := 0, ""
		switch {
		case r.hiddenFrom(s.user):
			code, text = CodeNotFound, noRoom
		case r.info.Disabled && !h.cfg.Faults.Has(fault.DisabledRoomOpen):
			code, text = CodeDisabled, fmt.Sprintf("room %q is disabled", r.info.Name)
		case !r.canRead(s.user):
			code, text = CodeForbidden, fmt.Sprintf("%s is not a member of room %q", s.user, r.info.Name)
		}
		if code != 0 {
			r.mu.Unlock()
			if firstCode == 0 {
				firstCode, firstText = code, text
			}
			continue
		}
		listed = listed[:0]
		list(s.user)
		for _, o := range r.online {
			if len(listed) >= h.cfg.RosterLimit {
				break
			}
			list(o.user)
		}
		if len(r.remote) > 0 && len(listed) < h.cfg.RosterLimit {
			// in a pool, then those online on the other servers
			for _, u := range slices.Sorted(maps.Keys(r.remoteUsersLocked())) {
				if len(listed) >= h.cfg.RosterLimit {
					break
				}
				list(u)
			}
		}
		out.Channels = append(out.Channels, r.chanib(listed))
		r.mu.Unlock()
		joined = append(joined, r)
	}
	if len(joined) == 0 {
		s.reply(name, envid, firstCode, firstText, nil)
		return
	}
	// the join is answered once its archive records are durable
	events := make([]store.Event, len(joined))
	for i, r := range joined {
		events[i] = h.event(store.EventJoin, r, s.user, "")
	}
	if h.cfg.Faults.Has(fault.DuplicateArchiveRecords) && h.stats.archiveSeq.Add(1)%5 == 0 {
		events = append(events, events...)
	}
	h.recordThen(events, func(err error) {
		if err != nil {
			h.joinFailed(s, name, envid, err)
			return
		}
		h.enter(s, name, envid, out, joined)
	})
}

// joinFailed answers a join whose archive records failed.
func (h *Hub) joinFailed(s *session, name string, envid uint64, err error) {
	if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrClosed) {
		s.reply(name, envid, CodeBusy, busyText(err), nil)
		return
	}
	h.log.Error("channel: archive join", "user", s.user, "err", err)
	s.reply(name, envid, CodeServer, "the join could not be archived", nil)
}

// enter answers a join and puts the session in the rooms joined. It runs
// on the store's goroutine, which also runs every post's fan-out: the
// session enters first, so that the client may post as soon as it has the
// reply, and still no post reaches it before the reply. With a reply delay
// the session enters after the delayed reply. The join notices to the
// others online go out batched (the hub's fan-out batch, which only the
// store's goroutine uses): one write per shared connection, not one per
// member.
func (h *Hub) enter(s *session, name string, envid uint64, out *xccos.Data, joined []*room) {
	in := func(b *sipnet.Batch) {
		for _, r := range joined {
			r.mu.Lock()
			s.mu.Lock()
			closed := s.closed
			if !closed {
				s.rooms[r] = struct{}{}
			}
			s.mu.Unlock()
			if !closed && !r.info.Disabled && r.canRead(s.user) && !r.isOnline(s) {
				r.online = append(r.online, s)
				h.wentOnlineLocked(r, s)
				h.notifyJoinLocked(b, r, s)
			}
			r.mu.Unlock()
		}
		h.forgetInvitations(s.user, joined) // its store work is refused after Close
	}
	if h.cfg.ReplyDelay > 0 {
		s.replyThen(name, envid, CodeOK, "", out, func() { in(nil) })
		return
	}
	b := &h.fanout
	in(b)
	s.reply(name, envid, CodeOK, "", out)
	b.Flush()
}

// forgetInvitations ends the user's invitations to rooms just joined: in
// memory at once, in the store on a worker; an invitation the store failed
// to delete is kept, so that the next join tries again.
func (h *Hub) forgetInvitations(user string, rooms []*room) {
	h.invMu.Lock()
	var ended []store.Invitation
	kept := h.invited[user][:0]
	for _, inv := range h.invited[user] {
		if slices.ContainsFunc(rooms, func(r *room) bool { return r.id == inv.RoomID }) {
			ended = append(ended, inv)
		} else {
			kept = append(kept, inv)
		}
	}
	if len(kept) == 0 {
		delete(h.invited, user)
	} else {
		h.invited[user] = kept
	}
	h.invMu.Unlock()
	if len(ended) == 0 {
		return
	}
	h.goWork(func() {
		done := map[string]error{} // by room: one delete ends all of a room's
		var failed []store.Invitation
		for _, inv := range ended {
			err, tried := done[inv.RoomID]
			if !tried {
				ctx, cancel := h.writeContext(10 * time.Second)
				err = h.st.DeleteInvitations(ctx, user, inv.RoomID)
				cancel()
				done[inv.RoomID] = err
				if err != nil {
					h.log.Warn("channel: forget invitations", "user", user, "room", inv.RoomID, "err", err)
				}
			}
			if err != nil {
				failed = append(failed, inv)
			}
		}
		h.noteInvitations(failed)
	})
}

func (h *Hub) part(s *session, envid uint64, d *xccos.Data) {
	if len(d.Channels) == 0 {
		s.reply("part", envid, CodeBadRequest, "no chanib to leave", nil)
		return
	}
	uri := d.Channels[0].URI
	r := h.roomByURI(uri)
	if r == nil {
		s.reply("part", envid, CodeNotFound, "no room "+uri+" on this server", nil)
		return
	}
	r.mu.Lock()
	if r.hiddenFrom(s.user) {
		r.mu.Unlock()
		s.reply("part", envid, CodeNotFound, "no room "+uri+" on this server", nil)
		return
	}
	online := r.isOnline(s)
	r.mu.Unlock()
	if !online {
		s.mu.Lock()
		delete(s.rooms, r)
		s.mu.Unlock()
		s.reply("part", envid, CodeOK, "", &xccos.Data{Channels: []xccos.ChanIB{{URI: r.uri}}})
		return
	}
	// the part is done and answered once its archive record is durable
	h.recordThen([]store.Event{h.event(store.EventPart, r, s.user, "")}, func(err error) {
		if err != nil {
			if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrClosed) {
				s.reply("part", envid, CodeBusy, busyText(err), nil)
				return
			}
			h.log.Error("channel: archive part", "user", s.user, "err", err)
			s.reply("part", envid, CodeServer, "the part could not be archived", nil)
			return
		}
		r.mu.Lock()
		removed := r.removeOnline(s)
		if removed {
			h.leftLocked(r, s)
		}
		r.mu.Unlock()
		s.mu.Lock()
		delete(s.rooms, r)
		s.mu.Unlock()
		s.reply("part", envid, CodeOK, "", &xccos.Data{Channels: []xccos.ChanIB{{URI: r.uri}}})
		if removed {
			h.notifyPart(r, s)
		}
	})
}

// history answers bccontext with the last N stored messages of a room the
// user may read, oldest first.
func (h *Hub) history(s *session, envid uint64, d *xccos.Data) {
	if len(d.Channels) == 0 {
		s.reply("bccontext", envid, CodeBadRequest, "no chanib to read", nil)
		return
	}
	uri := d.Channels[0].URI
	r := h.roomByURI(uri)
	if r == nil {
		s.reply("bccontext", envid, CodeNotFound, "no room "+uri+" on this server", nil)
		return
	}
	r.mu.Lock()
	ok, disabled, hidden := r.canRead(s.user), r.info.Disabled, r.hiddenFrom(s.user)
	r.mu.Unlock()
	switch {
	case hidden:
		s.reply("bccontext", envid, CodeNotFound, "no room "+uri+" on this server", nil)
		return
	case disabled:
		s.reply("bccontext", envid, CodeDisabled, "room "+uri+" is disabled", nil)
		return
	case !ok:
		s.reply("bccontext", envid, CodeForbidden, s.user+" may not read "+uri, nil)
		return
	}
	n := 25
	if d.History != nil && d.History.Last > 0 {
		n = min(d.History.Last, DefaultHistoryMax)
	}
	h.query(s, "bccontext", envid, func() {
		ctx, cancel := h.queryContext(30 * time.Second)
		defer cancel()
		msgs, err := h.st.History(ctx, r.id, n)
		if err != nil {
			s.reply("bccontext", envid, CodeServer, "history unavailable: "+err.Error(), nil)
			return
		}
		all := make([]xccos.Chat, 0, len(msgs))
		for _, m := range msgs {
			all = append(all, h.chatOf(r.uri, m))
		}
		// the newest that fit in one envelope
		k := fitting("bccontext", len(all), func(k int) *xccos.Data {
			return &xccos.Data{Channels: []xccos.ChanIB{{URI: r.uri, Messages: all[len(all)-k:]}}}
		})
		c := xccos.ChanIB{URI: r.uri, Messages: all[len(all)-k:]}
		if h.cfg.Faults.Has(fault.HistoryReversed) {
			slices.Reverse(c.Messages)
		}
		// answered once the history view's archive record is durable
		ev := h.event(store.EventBackchat, r, s.user, strconv.Itoa(k))
		h.recordThen([]store.Event{ev}, func(err error) {
			if err != nil {
				if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrClosed) {
					s.reply("bccontext", envid, CodeBusy, busyText(err), nil)
					return
				}
				s.reply("bccontext", envid, CodeServer, "the history view could not be archived: "+err.Error(), nil)
				return
			}
			s.reply("bccontext", envid, CodeOK, "", &xccos.Data{Channels: []xccos.ChanIB{c}})
		})
	})
}

// replyBudget is the largest reply body the server sends: an envelope
// within xccos.MaxSize (clients refuse larger ones) whose INFO, with its
// SIP headers, stays within a SIP message's 65,535 bytes.
const replyBudget = xccos.MaxSize - 2048

// fitting returns the largest k <= n for which the reply name carrying
// data(k) fits in replyBudget [extension].
func fitting(name string, n int, data func(k int) *xccos.Data) int {
	size := func(k int) int {
		return len(xccos.NewReply(1<<64-1, name, 1<<64-1, CodeOK, "", data(k)).Marshal())
	}
	if size(n) <= replyBudget {
		return n
	}
	lo, hi := 0, n // size(lo) fits, size(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if size(mid) <= replyBudget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// chatOf renders a stored message; text stored before the server refused
// bytes that are not XML characters is repaired, so that it can be sent.
func (h *Hub) chatOf(uri string, m store.Message) xccos.Chat {
	return xccos.Chat{ChanURI: uri, Author: xccos.SanitizeText(m.Author), TS: m.TS, Text: xccos.SanitizeText(m.Text), Story: m.Story, File: h.fileOf(uri, m)}
}

func (h *Hub) invitations(s *session, envid uint64) {
	d := &xccos.Data{}
	h.invMu.Lock()
	for _, inv := range h.invited[s.user] {
		d.Invites = append(d.Invites, xccos.Inv{InviteID: strconv.FormatInt(inv.ID, 10), Domain: h.cfg.Domain, ChanURI: xccos.ChanURI(h.cfg.Domain, inv.RoomID), Author: inv.By})
	}
	h.invMu.Unlock()
	all := d.Invites
	k := fitting("getinv", len(all), func(k int) *xccos.Data { return &xccos.Data{Invites: all[:k]} })
	d.Invites = all[:k]
	s.reply("getinv", envid, CodeOK, "", d)
}

// messageSearch is the msgsrch extension: stored posts of the rooms the
// user may read, by room, author, keyword and time range; newest first,
// grouped in one chanib per room.
func (h *Hub) messageSearch(s *session, envid uint64, d *xccos.Data) {
	q := d.Search
	if q == nil {
		s.reply("msgsrch", envid, CodeBadRequest, "no msq query", nil)
		return
	}
	var query store.Query
	query.Author, query.Keyword = q.Author, q.Keyword
	if h.cfg.Faults.Has(fault.SearchIgnoreAuthor) {
		query.Author = ""
	}
	query.Limit = q.Limit
	if query.Limit <= 0 || query.Limit > DefaultSearchLimit {
		query.Limit = DefaultSearchLimit
	}
	for _, f := range []struct {
		raw  string
		dst  *time.Time
		name string
	}{{q.From, &query.From, "from"}, {q.To, &query.To, "to"}} {
		if f.raw == "" {
			continue
		}
		t, err := xccos.ParseTime(f.raw)
		if err != nil {
			s.reply("msgsrch", envid, CodeBadRequest, "msq "+f.name+": "+err.Error(), nil)
			return
		}
		*f.dst = t
	}
	if !query.To.IsZero() {
		// a timestamp on the wire has 100 ns steps; posts are stored to
		// the nanosecond: "to" takes in the whole step it names, so that a
		// post's own ts finds it
		query.To = query.To.Add(100*time.Nanosecond - 1)
	}
	if q.ChanURI != "" {
		r := h.roomByURI(q.ChanURI)
		noRoom := "no room " + q.ChanURI + " on this server"
		if r == nil {
			s.reply("msgsrch", envid, CodeNotFound, noRoom, nil)
			return
		}
		r.mu.Lock()
		ok, disabled, hidden := r.canRead(s.user), r.info.Disabled, r.hiddenFrom(s.user)
		r.mu.Unlock()
		if h.cfg.Faults.Has(fault.SearchAllRooms) {
			ok, disabled, hidden = true, false, false
		}
		switch {
		case hidden:
			s.reply("msgsrch", envid, CodeNotFound, noRoom, nil)
			return
		case disabled:
			s.reply("msgsrch", envid, CodeDisabled, "room "+q.ChanURI+" is disabled", nil)
			return
		case !ok:
			s.reply("msgsrch", envid, CodeForbidden, s.user+" may not read "+q.ChanURI, nil)
			return
		}
		query.RoomIDs = []string{r.id}
	} else {
		h.mu.RLock()
		for _, r := range h.rooms {
			r.mu.Lock()
			if r.canRead(s.user) && !r.info.Disabled || h.cfg.Faults.Has(fault.SearchAllRooms) {
				query.RoomIDs = append(query.RoomIDs, r.id)
			}
			r.mu.Unlock()
		}
		h.mu.RUnlock()
	}
	h.query(s, "msgsrch", envid, func() {
		ctx, cancel := h.queryContext(30 * time.Second)
		defer cancel()
		msgs, err := h.st.Search(ctx, query)
		if err != nil {
			s.reply("msgsrch", envid, CodeServer, "search unavailable: "+err.Error(), nil)
			return
		}
		// the newest that fit in one envelope
		k := fitting("msgsrch", len(msgs), func(k int) *xccos.Data { return h.searchData(msgs[:k]) })
		s.reply("msgsrch", envid, CodeOK, "", h.searchData(msgs[:k]))
	})
}

// searchData groups found messages (newest first) in one chanib per room.
func (h *Hub) searchData(msgs []store.Message) *xccos.Data {
	out := &xccos.Data{Channels: []xccos.ChanIB{}}
	idx := map[string]int{}
	for _, m := range msgs {
		uri := xccos.ChanURI(h.cfg.Domain, m.RoomID)
		i, ok := idx[uri]
		if !ok {
			i = len(out.Channels)
			idx[uri] = i
			out.Channels = append(out.Channels, xccos.ChanIB{URI: uri})
		}
		out.Channels[i].Messages = append(out.Channels[i].Messages, h.chatOf(uri, m))
	}
	return out
}
