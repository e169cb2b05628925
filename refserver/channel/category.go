package channel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/xccos"
)

// Categories (docs/protocol.md, "Categories"): rooms live in a hierarchy
// of categories; a category allows members and creators, and passes them
// down to the categories below it unless one of those overrides them. A
// user a room's category allows reads the room as its members do (join,
// history, posts, file tokens, search); a user a category allows to
// create rooms may create rooms in it with cmd:chancreate [extension] and
// becomes their manager.

// ErrNoCategory: no category of that ID.
var ErrNoCategory = errors.New("channel: no such category")

// setCategories replaces the hierarchy and the rights it gives (the rooms
// take them in applyCategories).
func (h *Hub) setCategories(cats []store.Category) {
	if err := store.CheckCategories(cats); err != nil {
		// two servers of a pool changed categories at once: the rights
		// are still computed (Inherit stops at a cycle or a missing parent)
		h.log.Warn("channel: the category hierarchy is not sound", "err", err)
	}
	calc := cats
	if h.cfg.Faults.Has(fault.IgnoreCategoryOverride) {
		calc = slices.Clone(cats)
		for i := range calc {
			calc[i].Override = false
		}
	}
	rights := store.Inherit(calc)
	h.catMu.Lock()
	h.cats, h.rights = cats, rights
	h.catMu.Unlock()
}

// rightsOf returns the rights a category gives (ok false when it is not a
// defined category). The maps are shared: never changed once made.
func (h *Hub) rightsOf(category string) (store.Rights, bool) {
	h.catMu.RLock()
	defer h.catMu.RUnlock()
	r, ok := h.rights[category]
	return r, ok
}

// inheritedFor returns the users a room of category reads as members.
func (h *Hub) inheritedFor(category string) map[string]bool {
	if category == "" || h.cfg.Faults.Has(fault.IgnoreCategoryMembers) {
		return nil
	}
	r, _ := h.rightsOf(category)
	return r.Members
}

// newRoom makes a room in memory with the hub's faults and categories.
func (h *Hub) newRoom(info store.Room) *room {
	r := newRoom(h.cfg.Domain, info)
	r.letAll = h.cfg.Faults.Has(fault.LetNonMembersIn)
	r.inherited = h.inheritedFor(info.Category)
	return r
}

// setInfoLocked sets a room's settings and roles, and the rights its
// category gives; r.mu is held.
func (h *Hub) setInfoLocked(r *room, info store.Room) {
	r.setInfo(info)
	r.inherited = h.inheritedFor(info.Category)
}

// applyCategories gives every room the rights of its category as they now
// are: sessions of users who may no longer read a room leave it.
func (h *Hub) applyCategories() {
	h.mu.RLock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.RUnlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.inherited = h.inheritedFor(r.info.Category)
		evicted := r.evictUnreadable()
		for _, s := range evicted {
			h.leftLocked(r, s)
		}
		r.mu.Unlock()
		h.evicted(r, evicted)
	}
}

// Categories returns every category, sorted by ID.
func (h *Hub) Categories() []store.Category {
	h.catMu.RLock()
	defer h.catMu.RUnlock()
	out := make([]store.Category, len(h.cats))
	for i, c := range h.cats {
		c.Members, c.Creators = slices.Clone(c.Members), slices.Clone(c.Creators)
		out[i] = c
	}
	return out
}

// Category returns one category and the rights it gives after inheritance.
func (h *Hub) Category(id string) (store.Category, store.Rights, error) {
	for _, c := range h.Categories() {
		if c.ID == id {
			r, _ := h.rightsOf(id)
			return c, r, nil
		}
	}
	return store.Category{}, store.Rights{}, fmt.Errorf("%w: %q", ErrNoCategory, id)
}

// PutCategory creates a category or replaces one (its name, parent,
// override flag, members and creators): the hierarchy with it must be
// sound (parents exist, no cycle, at most store.MaxCategoryDepth deep).
// The rooms below it take the new rights at once; sessions of users who
// may no longer read a room leave it.
func (h *Hub) PutCategory(ctx context.Context, c store.Category) (store.Category, error) {
	if err := c.Validate(); err != nil {
		return store.Category{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	h.catWrite.Lock()
	defer h.catWrite.Unlock()
	// the store's list: in a pool, another server's changes count
	cats, err := h.st.Categories(ctx)
	if err != nil {
		return store.Category{}, err
	}
	if c.Members == nil {
		c.Members = []string{}
	}
	if c.Creators == nil {
		c.Creators = []string{}
	}
	c.Created = h.cfg.Now().UTC()
	i := slices.IndexFunc(cats, func(o store.Category) bool { return o.ID == c.ID })
	if i >= 0 {
		c.Created = cats[i].Created
		cats[i] = c
	} else {
		cats = append(cats, c)
		slices.SortFunc(cats, func(a, b store.Category) int { return strings.Compare(a.ID, b.ID) })
	}
	if err := store.CheckCategories(cats); err != nil {
		return store.Category{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := h.st.PutCategory(ctx, c); err != nil {
		return store.Category{}, err
	}
	h.setCategories(cats)
	h.applyCategories()
	return c, nil
}

// CategoriesChanged reads the categories again (another server of a pool
// changed one) and applies them to the rooms.
func (h *Hub) CategoriesChanged(ctx context.Context) error {
	cats, err := h.st.Categories(ctx)
	if err != nil {
		return err
	}
	h.catWrite.Lock()
	defer h.catWrite.Unlock()
	h.setCategories(cats)
	h.applyCategories()
	return nil
}

// roomCreate handles cmd:chancreate [extension, docs/protocol.md]: a user
// the category allows to create rooms creates one in it. The chanib names
// the new room (uri ma-chan://DOMAIN/ID, name, description, topic) and its
// props the category (urn:gcload:prop:category, required), the privacy and
// members to add. The creator becomes the room's manager and a member; the
// members added get invitations. Anyone else is refused 403 and nothing is
// created; an unknown category is 404, a room ID in use 409.
func (h *Hub) roomCreate(s *session, envid uint64, d *xccos.Data) {
	const name = "chancreate"
	if len(d.Channels) == 0 {
		s.reply(name, envid, CodeBadRequest, "no chanib describing the room to create", nil)
		return
	}
	c := d.Channels[0]
	dom, id, ok := xccos.SplitChanURI(c.URI)
	if !ok || !strings.EqualFold(dom, h.cfg.Domain) {
		s.reply(name, envid, CodeBadRequest, fmt.Sprintf("chanib uri %q: want ma-chan://%s/ID", c.URI, h.cfg.Domain), nil)
		return
	}
	spec := store.Room{ID: id, Name: c.Name, Description: c.Description, Topic: c.Topic,
		Members: []string{s.user}, Managers: []string{s.user}, Presenters: []string{}}
	for _, p := range c.Props {
		switch p.ID {
		case xccos.PropCategory:
			spec.Category = strings.TrimSpace(p.Value)
		case xccos.PropPrivacy:
			spec.Privacy = store.Privacy(strings.ToLower(strings.TrimSpace(p.Value)))
		case xccos.PropAddMembers:
			for _, u := range strings.Split(p.Value, ",") {
				if u = strings.TrimSpace(u); u != "" && !slices.Contains(spec.Members, u) {
					spec.Members = append(spec.Members, u)
				}
			}
		default:
			s.reply(name, envid, CodeBadRequest, fmt.Sprintf("prop %q: cmd:chancreate takes %s, %s and %s", p.ID, xccos.PropCategory, xccos.PropPrivacy, xccos.PropAddMembers), nil)
			return
		}
	}
	if spec.Category == "" {
		s.reply(name, envid, CodeBadRequest, "no category: give prop "+xccos.PropCategory, nil)
		return
	}
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		s.reply(name, envid, CodeBadRequest, "room "+c.URI+": "+strings.ReplaceAll(err.Error(), "\n", "; "), nil)
		return
	}
	rights, ok := h.rightsOf(spec.Category)
	switch {
	case !ok:
		s.reply(name, envid, CodeNotFound, "no category "+spec.Category+" on this server", nil)
		return
	case !rights.Creators[s.user] && !h.cfg.Faults.Has(fault.LetAnyoneCreate):
		s.reply(name, envid, CodeForbidden, s.user+" may not create rooms in category "+spec.Category, nil)
		return
	}
	h.query(s, name, envid, func() {
		ctx, cancel := h.writeContext(10 * time.Second)
		defer cancel()
		got, err := h.CreateRoom(ctx, spec)
		switch {
		case errors.Is(err, ErrExists):
			s.reply(name, envid, CodeDisabled, "room "+c.URI+" exists", nil)
			return
		case err != nil:
			s.reply(name, envid, CodeServer, "the room could not be created: "+err.Error(), nil)
			return
		}
		for _, u := range got.Members {
			if u == s.user {
				continue
			}
			inv, err := h.st.AddInvitation(ctx, store.Invitation{RoomID: got.ID, User: u, By: s.user, Created: h.cfg.Now().UTC()})
			if err != nil {
				s.reply(name, envid, CodeServer, "the room was created, but the invitation of "+u+" could not be stored: "+err.Error(), nil)
				return
			}
			h.noteInvitations([]store.Invitation{inv})
		}
		out := xccos.ChanIB{URI: xccos.ChanURI(h.cfg.Domain, got.ID), Name: got.Name, Description: got.Description, Topic: got.Topic,
			Props: []xccos.KV{{ID: xccos.PropPrivacy, Value: string(got.Privacy)}, {ID: xccos.PropCategory, Value: got.Category}}}
		s.reply(name, envid, CodeOK, "", &xccos.Data{Channels: []xccos.ChanIB{out}})
	})
}
