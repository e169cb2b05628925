package channel

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// A hub in a pool of servers on one database (Config.Pool): every server
// holds every room, and the members of a room may be connected to any of
// them. A post is numbered by the database when it commits (the room's
// row is locked, so the pool's posts to a room get one order); each server
// delivers a room's posts to its own sessions strictly in that order, each
// once: its own posts as soon as they are committed and every earlier one
// was delivered, the others' read from the table when a notification (or
// a resync) says they are committed. room.nextSeq is then the last
// sequence number delivered here. Who is online where is published to the
// other servers (Pool.Publish), which tell their members (ntc:join,
// ntc:part) and count them in rosters, search results and the notice
// limit.

// Pool is what a hub needs from the database a pool of servers shares;
// refserver implements it over store/postgres.
type Pool interface {
	// Self is this server's ID in the pool.
	Self() string
	// AppendSeq queues a post whose sequence number the store assigns at
	// commit; it never blocks (store.ErrBusy, store.ErrClosed) and calls
	// done on one goroutine, in append order.
	AppendSeq(m store.Message, done func(seq uint64, err error)) error
	// ReadSince returns up to limit posts of a room after seq, in order.
	ReadSince(ctx context.Context, roomID string, after uint64, limit int) ([]store.Message, error)
	// LastSeqs returns every room's last committed sequence number.
	LastSeqs(ctx context.Context) (map[string]uint64, error)
	// Room reads one room (store.ErrNotFound when there is none).
	Room(ctx context.Context, id string) (store.Room, error)
	// UserInvitations reads a user's outstanding invitations.
	UserInvitations(ctx context.Context, user string) ([]store.Invitation, error)
	// Online reads who is online where: the rows of server, or of every
	// server when server is "".
	Online(ctx context.Context, server string) ([]store.Presence, error)
	// Publish tells the other servers that this server now has
	// p.Sessions sessions of p.User online in p.Room, after one joined
	// (join) or left. It never blocks.
	Publish(p store.Presence, join bool)
}

// fetchBatch bounds the posts read from the table at once.
const fetchBatch = 256

// heldPost is a post of this server, committed, that waits until the
// posts numbered before it (other servers') are delivered.
type heldPost struct {
	author string
	body   []byte
	file   bool // a file post
}

// PoolEnabled reports whether the hub is one server of a pool.
func (h *Hub) PoolEnabled() bool { return h.pool != nil }

// postPool queues a post of a pool's server; r.mu is held. The store
// numbers it at commit.
func (h *Hub) postPool(r *room, p *pending) error {
	p.msg.Seq = 0
	return h.pool.AppendSeq(p.msg, p.committed)
}

// committed runs on the store's goroutine, in append order, once a post of
// this server is durable (or failed): the post is acknowledged, then
// delivered here in its room's order.
func (p *pending) committed(seq uint64, err error) {
	if err != nil {
		p.durable(err)
		return
	}
	h := p.hub
	h.stats.posts.Add(1)
	if p.tx != nil {
		h.ok(p.tx)
	}
	body := xccos.AppendChat(make([]byte, 0, 256+len(p.msg.Text)), p.envid, &xccos.Chat{
		ChanURI: p.room.uri, Author: p.msg.Author, TS: p.msg.TS, Text: p.msg.Text, Story: p.msg.Story,
		File: h.fileOf(p.room.uri, p.msg),
	})
	file := p.msg.File != ""
	r := p.room
	b := &h.fanout
	r.mu.Lock()
	switch {
	case seq <= r.nextSeq:
		// delivered already, read from the table after another server's
		// notification
	case seq == r.nextSeq+1:
		h.deliverLocked(r, b, p.msg.Author, body, file)
		r.nextSeq = seq
		h.drainLocked(r, b)
	default:
		// another server's posts come first: read them, then this one
		if r.ahead == nil {
			r.ahead = map[uint64]heldPost{}
		}
		r.ahead[seq] = heldPost{author: p.msg.Author, body: body, file: file}
		h.wantLocked(r, seq-1)
	}
	r.mu.Unlock()
	b.Flush()
	if p.done != nil {
		p.done <- nil // durable; delivered, or held for its turn
	}
}

// drainLocked delivers the held posts that are next in order; r.mu is held.
func (h *Hub) drainLocked(r *room, b *sipnet.Batch) {
	for len(r.ahead) > 0 {
		hp, ok := r.ahead[r.nextSeq+1]
		if !ok {
			return
		}
		delete(r.ahead, r.nextSeq+1)
		h.deliverLocked(r, b, hp.author, hp.body, hp.file)
		r.nextSeq++
	}
}

// deliverLocked sends a post's rendered body to every session online in r
// (r.mu is held), with the fan-out faults when some are switched on.
func (h *Hub) deliverLocked(r *room, b *sipnet.Batch, author string, body []byte, file bool) {
	// the delivery faults are about text posts: a file post is delivered
	// whole unless file-post-author-only is on
	if authorOnly := h.cfg.Faults.Has(fault.FilePostAuthorOnly); file && (authorOnly || !h.cfg.Faults.Empty()) {
		for _, s := range r.online {
			if !authorOnly || s.user == author {
				h.stats.deliveries.Add(1)
				s.sendBodyIn(b, body)
			}
		}
		return
	}
	if h.cfg.Faults.Empty() {
		h.stats.deliveries.Add(uint64(len(r.online))) // counted first: a client may read the count as soon as it has the post
		for _, s := range r.online {
			s.sendBodyIn(b, body)
		}
		return
	}
	body = h.faultyBody(body)
	for _, s := range r.online {
		h.deliverFaulty(b, s, author, body)
	}
}

// wantLocked notes that r's posts are committed up to seq and starts
// reading them unless a reader is at work; r.mu is held.
func (h *Hub) wantLocked(r *room, seq uint64) {
	if seq > r.want {
		r.want = seq
	}
	if r.want <= r.nextSeq || r.fetching || h.ctx.Err() != nil {
		return
	}
	r.fetching = true
	h.wg.Add(1)
	go h.fetch(r)
}

// Committed tells the hub that another server committed r's posts up to
// seq (a notification of the pool's database).
func (h *Hub) Committed(roomID string, seq uint64) {
	r := h.room(roomID)
	if r == nil {
		return // a room this server does not know yet: nobody here is in it
	}
	r.mu.Lock()
	h.wantLocked(r, seq)
	r.mu.Unlock()
}

// maxAhead bounds the other servers' posts held for want of an earlier
// one; beyond, they are read from the table when their turn comes.
const maxAhead = 4096

// Posted delivers a post another server committed, carried by its
// notification: at once when every earlier post of its room was
// delivered here, else after them (read from the table).
func (h *Hub) Posted(m store.Message) {
	r := h.room(m.RoomID)
	if r == nil {
		return
	}
	r.mu.Lock()
	switch {
	case m.Seq <= r.nextSeq:
		r.mu.Unlock()
		return
	case m.Seq == r.nextSeq+1:
		h.stats.poolCarried.Add(1)
		var b sipnet.Batch
		h.deliverLocked(r, &b, m.Author, h.renderStored(r, m), m.File != "")
		r.nextSeq = m.Seq
		h.drainLocked(r, &b)
		r.mu.Unlock()
		b.Flush()
		return
	}
	if len(r.ahead) < maxAhead {
		if r.ahead == nil {
			r.ahead = map[uint64]heldPost{}
		}
		r.ahead[m.Seq] = heldPost{author: m.Author, body: h.renderStored(r, m)}
		h.stats.poolCarried.Add(1)
	}
	h.wantLocked(r, m.Seq)
	r.mu.Unlock()
}

// renderStored renders a stored post's delivery.
func (h *Hub) renderStored(r *room, m store.Message) []byte {
	return xccos.AppendChat(make([]byte, 0, 256+len(m.Text)), h.envids.Next(), &xccos.Chat{
		ChanURI: r.uri, Author: xccos.SanitizeText(m.Author), TS: m.TS, Text: xccos.SanitizeText(m.Text), Story: m.Story,
		File: h.fileOf(r.uri, m),
	})
}

// fetch reads r's posts from the table and delivers them in order, until
// every post known to be committed is delivered; it retries a failed read
// until the hub closes.
func (h *Hub) fetch(r *room) {
	defer h.wg.Done()
	var b sipnet.Batch
	backoff := 50 * time.Millisecond
	for {
		r.mu.Lock()
		from, want := r.nextSeq, r.want
		if want <= from || h.ctx.Err() != nil {
			r.fetching = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		msgs, err := h.pool.ReadSince(ctx, r.id, from, fetchBatch)
		cancel()
		if err != nil {
			if h.ctx.Err() == nil {
				h.log.Warn("channel: read the pool's posts", "room", r.id, "after", from, "err", err, "retry in", backoff)
			}
			select {
			case <-h.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		r.mu.Lock()
		for _, m := range msgs {
			if m.Seq <= r.nextSeq {
				continue
			}
			if m.Seq != r.nextSeq+1 {
				break // cannot be: a room's rows become visible in order
			}
			if hp, ok := r.ahead[m.Seq]; ok {
				delete(r.ahead, m.Seq)
				h.deliverLocked(r, &b, hp.author, hp.body, hp.file)
			} else {
				h.stats.poolRead.Add(1)
				h.deliverLocked(r, &b, m.Author, h.renderStored(r, m), m.File != "")
			}
			r.nextSeq = m.Seq
		}
		h.drainLocked(r, &b)
		if len(msgs) == 0 && r.want > r.nextSeq {
			h.log.Warn("channel: the pool's posts announced are not in the table", "room", r.id, "delivered", r.nextSeq, "announced", r.want)
			r.want = r.nextSeq
		}
		r.mu.Unlock()
		b.Flush()
	}
}

// Resync catches up after notifications may have been missed (the pool's
// subscription started or reconnected): rooms are read again, every room's
// posts committed since are delivered, and who is online on the other
// servers is read again (members told of the differences).
func (h *Hub) Resync(ctx context.Context) error {
	if err := h.CategoriesChanged(ctx); err != nil {
		return err
	}
	rooms, err := h.st.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, rm := range rooms {
		h.applyRoom(rm)
	}
	last, err := h.pool.LastSeqs(ctx)
	if err != nil {
		return err
	}
	for id, seq := range last {
		h.Committed(id, seq)
	}
	online, err := h.pool.Online(ctx, "")
	if err != nil {
		return err
	}
	h.replaceRemote(online, "")
	return nil
}

// RoomChanged reads a room another server created or changed and applies
// it: sessions here that may no longer read it leave it.
func (h *Hub) RoomChanged(ctx context.Context, id string) error {
	rm, err := h.pool.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	h.applyRoom(rm)
	return nil
}

// applyRoom adds a room this server did not know, or applies another
// server's change of one it knows.
func (h *Hub) applyRoom(rm store.Room) *room {
	h.mu.Lock()
	r := h.rooms[rm.ID]
	if r == nil {
		r = h.newRoom(rm)
		h.rooms[rm.ID] = r
		h.mu.Unlock()
		return r
	}
	h.mu.Unlock()
	r.mu.Lock()
	h.setInfoLocked(r, rm) // keeps nextSeq: what was delivered here
	var evicted []*session
	if rm.Disabled {
		evicted = r.online
		r.online = nil
	} else {
		evicted = r.evictUnreadable()
	}
	for _, s := range evicted {
		h.leftLocked(r, s)
	}
	r.mu.Unlock()
	h.evicted(r, evicted)
	return r
}

// loadRoom reads a room this server does not know yet (created on another
// server, whose notification has not come); nil when there is none.
func (h *Hub) loadRoom(ctx context.Context, id string) *room {
	if r := h.room(id); r != nil {
		return r
	}
	rm, err := h.pool.Room(ctx, id)
	if err != nil {
		return nil
	}
	return h.applyRoom(rm)
}

// InvitationsChanged reads a user's invitations again (another server
// added or ended some).
func (h *Hub) InvitationsChanged(ctx context.Context, user string) error {
	invs, err := h.pool.UserInvitations(ctx, user)
	if err != nil {
		return err
	}
	h.invMu.Lock()
	if len(invs) == 0 {
		delete(h.invited, user)
	} else {
		h.invited[user] = invs
	}
	h.invMu.Unlock()
	return nil
}

// RemotePresence applies another server's presence change: user has n
// sessions online in a room there now, after one joined (join) or left.
// The members online here are told.
func (h *Hub) RemotePresence(server, roomID, user string, n int, join bool) {
	if server == h.pool.Self() {
		return
	}
	r := h.room(roomID)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setRemoteLocked(server, user, n)
	if join {
		h.noticeLocked(nil, r, "join", user, nil)
	} else {
		h.noticeLocked(nil, r, "part", user, nil)
	}
}

// ServerOnline reads another server's rows of the online table again (it
// replaced them: it restarted, or registered again after an expiry).
func (h *Hub) ServerOnline(ctx context.Context, server string) error {
	if server == h.pool.Self() {
		return nil
	}
	rows, err := h.pool.Online(ctx, server)
	if err != nil {
		return err
	}
	h.replaceRemote(rows, server)
	return nil
}

// ServerGone drops what another server had online (it left the pool, or
// was expired after it stopped heart-beating): its users leave the rooms,
// and the members online here are told.
func (h *Hub) ServerGone(server string) {
	if server == h.pool.Self() {
		return
	}
	h.replaceRemote(nil, server)
}

// replaceRemote replaces what server (every other server when "") has
// online by rows, telling the members here of the differences.
func (h *Hub) replaceRemote(rows []store.Presence, server string) {
	self := h.pool.Self()
	type key struct{ srv, user string }
	next := map[string]map[key]int{} // room -> (server, user) -> sessions
	for _, p := range rows {
		if p.Server == self || (server != "" && p.Server != server) || p.Sessions <= 0 {
			continue
		}
		if next[p.Room] == nil {
			next[p.Room] = map[key]int{}
		}
		next[p.Room][key{p.Server, p.User}] = p.Sessions
	}
	h.mu.RLock()
	rooms := slices.Collect(maps.Values(h.rooms))
	h.mu.RUnlock()
	for _, r := range rooms {
		want := next[r.id]
		r.mu.Lock()
		if len(r.remote) == 0 && len(want) == 0 {
			r.mu.Unlock()
			continue
		}
		before := r.remoteUsersLocked()
		for srv, users := range r.remote {
			if server != "" && srv != server {
				continue
			}
			for u := range users {
				if _, ok := want[key{srv, u}]; !ok {
					r.setRemoteLocked(srv, u, 0)
				}
			}
		}
		for k, n := range want {
			r.setRemoteLocked(k.srv, k.user, n)
		}
		after := r.remoteUsersLocked()
		for u := range before {
			if !after[u] && r.local[u] == 0 {
				h.noticeLocked(nil, r, "part", u, nil)
			}
		}
		for u := range after {
			if !before[u] && r.local[u] == 0 {
				h.noticeLocked(nil, r, "join", u, nil)
			}
		}
		r.mu.Unlock()
	}
}

// setRemoteLocked records that user has n sessions in r on server; r.mu is
// held.
func (r *room) setRemoteLocked(server, user string, n int) {
	users := r.remote[server]
	old := users[user]
	switch {
	case n > 0:
		if users == nil {
			if r.remote == nil {
				r.remote = map[string]map[string]int{}
			}
			users = map[string]int{}
			r.remote[server] = users
		}
		users[user] = n
	case users != nil:
		delete(users, user)
		if len(users) == 0 {
			delete(r.remote, server)
		}
	}
	r.remoteN += n - old
}

// remoteUsersLocked returns the users online in r on other servers.
func (r *room) remoteUsersLocked() map[string]bool {
	out := map[string]bool{}
	for _, users := range r.remote {
		for u := range users {
			out[u] = true
		}
	}
	return out
}

// onlineCountLocked is how many sessions are online in r in the pool.
func (r *room) onlineCountLocked() int { return len(r.online) + r.remoteN }

// wentOnlineLocked counts a session that entered r and, in a pool, tells
// the other servers; r.mu is held.
func (h *Hub) wentOnlineLocked(r *room, s *session) {
	if h.pool == nil {
		return
	}
	if r.local == nil {
		r.local = map[string]int{}
	}
	r.local[s.user]++
	h.pool.Publish(store.Presence{Room: r.id, User: s.user, Sessions: r.local[s.user]}, true)
}

// leftLocked counts a session that left r and, in a pool, tells the other
// servers; r.mu is held.
func (h *Hub) leftLocked(r *room, s *session) {
	if h.pool == nil {
		return
	}
	n := r.local[s.user] - 1
	if n > 0 {
		r.local[s.user] = n
	} else {
		n = 0
		delete(r.local, s.user)
	}
	h.pool.Publish(store.Presence{Room: r.id, User: s.user, Sessions: n}, false)
}

// LocalOnline returns what this server has online, for
// Pool implementations that write it again whole.
func (h *Hub) LocalOnline() []store.Presence {
	h.mu.RLock()
	rooms := slices.Collect(maps.Values(h.rooms))
	h.mu.RUnlock()
	var out []store.Presence
	for _, r := range rooms {
		r.mu.Lock()
		for u, n := range r.local {
			out = append(out, store.Presence{Room: r.id, User: u, Sessions: n})
		}
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b store.Presence) int {
		if c := strings.Compare(a.Room, b.Room); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
	return out
}
