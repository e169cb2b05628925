package channel

import (
	"slices"
	"sort"
	"strconv"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/xccos"
)

type roleSet uint8

const (
	roleMember roleSet = 1 << iota
	roleManager
	rolePresenter
)

func roleBit(r store.Role) roleSet {
	switch r {
	case store.Manager:
		return roleManager
	case store.Presenter:
		return rolePresenter
	}
	return roleMember
}

// room is a room in memory: its settings, roles and the sessions online
// in it. mu orders every change to the online list and every fan-out, so
// members see joins, parts and posts in one order.
type room struct {
	id, uri string

	mu      mutex
	info    store.Room // roles are kept in roles, not here
	roles   map[string]roleSet
	online  []*session
	nextSeq uint64 // last sequence number handed out (in a pool: delivered here)
	// letAll: the let-non-members-in fault is on
	letAll bool
	// inherited are the users the room's category allows (its members,
	// after inheritance down the hierarchy): they read the room as its
	// members do. nil when the category is not a defined one. Set with
	// the hub's categories (Hub.setInfoLocked, Hub.applyCategories).
	inherited map[string]bool
	// pending are the join and part notices gathered for
	// Config.NoticeDelay (notices.go); armed: their flush is scheduled
	pending []pendingNotice
	armed   bool

	// in a pool (pool.go): want is the last sequence number known to be
	// committed, fetching says a reader is at work, ahead holds this
	// server's committed posts that wait for earlier ones; remote counts
	// the sessions online on the other servers (server -> user ->
	// sessions; remoteN in all), local this server's by user
	want     uint64
	fetching bool
	ahead    map[uint64]heldPost
	remote   map[string]map[string]int
	remoteN  int
	local    map[string]int
}

func newRoom(domain string, r store.Room) *room {
	rm := &room{id: r.ID, uri: xccos.ChanURI(domain, r.ID)}
	rm.setInfo(r)
	rm.nextSeq = r.LastSeq
	return rm
}

func (r *room) setInfo(info store.Room) {
	r.roles = map[string]roleSet{}
	for _, role := range []store.Role{store.Member, store.Manager, store.Presenter} {
		var list []string
		switch role {
		case store.Member:
			list = info.Members
		case store.Manager:
			list = info.Managers
		case store.Presenter:
			list = info.Presenters
		}
		for _, u := range list {
			r.roles[u] |= roleBit(role)
		}
	}
	info.Members, info.Managers, info.Presenters = nil, nil, nil
	r.info = info
}

func (r *room) setRole(role store.Role, users []string) {
	bit := roleBit(role)
	for u, set := range r.roles {
		if set&bit != 0 {
			if set &^= bit; set == 0 {
				delete(r.roles, u)
			} else {
				r.roles[u] = set
			}
		}
	}
	for _, u := range users {
		r.roles[u] |= bit
	}
}

func (r *room) roleList(role store.Role) []string {
	bit := roleBit(role)
	out := []string{}
	for u, set := range r.roles {
		if set&bit != 0 {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// snapshot returns the room as the admin API shows it.
func (r *room) snapshot() store.Room {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.info
	s.Members, s.Managers, s.Presenters = r.roleList(store.Member), r.roleList(store.Manager), r.roleList(store.Presenter)
	s.LastSeq = r.nextSeq
	return s
}

// canFind: secret rooms are found only by those who hold a role.
func (r *room) canFind(user string) bool {
	if r.info.Disabled {
		return false
	}
	return r.info.Privacy != store.Secret || r.holds(user)
}

// holds reports whether user holds a role in the room, or is allowed in it
// by its category.
func (r *room) holds(user string) bool { return r.roles[user] != 0 || r.inherited[user] }

// hiddenFrom reports whether r must look to user like a room that does not
// exist (404, the same words): a secret room in which user holds no role.
// No reply may tell such a user that the room exists.
func (r *room) hiddenFrom(user string) bool {
	return r.info.Privacy == store.Secret && !r.holds(user) && !r.letAll
}

// canRead: open rooms are read by anyone; closed and secret ones by those
// who hold a role or whom the room's category allows.
func (r *room) canRead(user string) bool {
	return r.info.Privacy == store.Open || r.holds(user) || r.letAll
}

// canPost: in an auditorium only presenters and managers post.
func (r *room) canPost(user string) bool {
	if !r.canRead(user) {
		return false
	}
	if r.info.Type == store.Auditorium {
		return r.roles[user]&(rolePresenter|roleManager) != 0
	}
	return true
}

func (r *room) isOnline(s *session) bool { return slices.Contains(r.online, s) }

func (r *room) removeOnline(s *session) bool {
	i := slices.Index(r.online, s)
	if i < 0 {
		return false
	}
	r.online = slices.Delete(r.online, i, i+1)
	return true
}

// evictUnreadable removes the online sessions whose user lost access.
func (r *room) evictUnreadable() []*session {
	var gone []*session
	kept := r.online[:0]
	for _, s := range r.online {
		if r.canRead(s.user) {
			kept = append(kept, s)
		} else {
			gone = append(gone, s)
		}
	}
	clear(r.online[len(kept):])
	r.online = kept
	return gone
}

// listedUser is a user a join reply lists, with its uib id.
type listedUser struct {
	user string
	id   int
}

// chanib describes the room for a join reply: name, topic, description and
// the affiliations (member / manager keys) of the listed users, each key's
// ids in increasing order.
func (r *room) chanib(listed []listedUser) xccos.ChanIB {
	c := xccos.ChanIB{URI: r.uri, Name: r.info.Name, Description: r.info.Description, Topic: r.info.Topic}
	var members, managers []int
	for _, l := range listed {
		if r.roles[l.user]&roleManager != 0 {
			managers = append(managers, l.id)
		} else {
			members = append(members, l.id)
		}
	}
	if len(members) > 0 {
		c.Affiliations = append(c.Affiliations, xccos.AIB{Key: xccos.AffMember, Value: joinIDs(members)})
	}
	if len(managers) > 0 {
		c.Affiliations = append(c.Affiliations, xccos.AIB{Key: xccos.AffManager, Value: joinIDs(managers)})
	}
	return c
}

// joinIDs sorts ids and writes them comma-separated.
func joinIDs(ids []int) string {
	slices.Sort(ids)
	b := make([]byte, 0, 4*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}
