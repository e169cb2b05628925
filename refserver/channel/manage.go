package channel

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/xccos"
)

// roomUpdate handles cmd:chanupd [extension, docs/protocol.md]: a manager
// of a room changes its topic (chanib@topic), its privacy (prop
// urn:gcload:prop:privacy) and its members (props urn:gcload:prop:addmembers
// and urn:gcload:prop:removemembers, comma-separated sip: URIs). Anyone else
// is refused 403 and nothing changes. A user made a member gets an
// invitation to the room (listed by cmd:getinv until they join it); a
// member taken out who is online leaves the room. The reply carries the
// room as it now is.
func (h *Hub) roomUpdate(s *session, envid uint64, d *xccos.Data) {
	const name = "chanupd"
	if len(d.Channels) == 0 {
		s.reply(name, envid, CodeBadRequest, "no chanib naming the room to change", nil)
		return
	}
	c := d.Channels[0]
	r := h.roomByURI(c.URI)
	if r == nil {
		s.reply(name, envid, CodeNotFound, "no room "+c.URI+" on this server", nil)
		return
	}
	var privacy store.Privacy
	var add, remove []string
	for _, p := range c.Props {
		switch p.ID {
		case xccos.PropPrivacy:
			privacy = store.Privacy(strings.ToLower(strings.TrimSpace(p.Value)))
			if !privacy.Valid() {
				s.reply(name, envid, CodeBadRequest, fmt.Sprintf("prop %s %q: want open, closed or secret", p.ID, p.Value), nil)
				return
			}
		case xccos.PropAddMembers, xccos.PropRemoveMembers:
			var list []string
			for _, u := range strings.Split(p.Value, ",") {
				if u = strings.TrimSpace(u); u == "" {
					continue
				}
				if !store.ValidUser(u) {
					s.reply(name, envid, CodeBadRequest, fmt.Sprintf("prop %s: user %q: want sip:user@domain", p.ID, u), nil)
					return
				}
				list = append(list, u)
			}
			if p.ID == xccos.PropAddMembers {
				add = append(add, list...)
			} else {
				remove = append(remove, list...)
			}
		default:
			s.reply(name, envid, CodeBadRequest, fmt.Sprintf("prop %q: cmd:chanupd changes %s, %s and %s", p.ID, xccos.PropPrivacy, xccos.PropAddMembers, xccos.PropRemoveMembers), nil)
			return
		}
	}
	if c.Topic == "" && privacy == "" && len(add) == 0 && len(remove) == 0 {
		s.reply(name, envid, CodeBadRequest, "nothing to change: give a topic, a privacy or members to add or remove", nil)
		return
	}
	if at, ch := xccos.InvalidChar(c.Topic); at >= 0 {
		s.reply(name, envid, CodeBadRequest, fmt.Sprintf("topic: %U at byte %d is not a character XCCOS can carry", ch, at), nil)
		return
	}
	h.query(s, name, envid, func() {
		ctx, cancel := h.writeContext(10 * time.Second)
		defer cancel()
		r.mu.Lock()
		code, text := 0, ""
		switch {
		case r.hiddenFrom(s.user):
			code, text = CodeNotFound, "no room "+c.URI+" on this server"
		case r.info.Disabled:
			code, text = CodeDisabled, "room "+c.URI+" is disabled"
		case r.roles[s.user]&roleManager == 0 && !h.cfg.Faults.Has(fault.LetAnyoneManage):
			code, text = CodeForbidden, s.user+" is not a manager of "+c.URI
		}
		if code != 0 {
			r.mu.Unlock()
			s.reply(name, envid, code, text, nil)
			return
		}
		cur := r.info
		cur.Members, cur.Managers, cur.Presenters = r.roleList(store.Member), r.roleList(store.Manager), r.roleList(store.Presenter)
		if c.Topic != "" {
			cur.Topic = c.Topic
		}
		if privacy != "" {
			cur.Privacy = privacy
		}
		var added []string
		for _, u := range add {
			if !slices.Contains(cur.Members, u) {
				cur.Members = append(cur.Members, u)
				if !slices.Contains(added, u) {
					added = append(added, u)
				}
			}
		}
		cur.Members = slices.DeleteFunc(cur.Members, func(u string) bool { return slices.Contains(remove, u) })
		added = slices.DeleteFunc(added, func(u string) bool { return slices.Contains(remove, u) })
		if err := h.st.PutRoom(ctx, cur); err != nil {
			r.mu.Unlock()
			s.reply(name, envid, CodeServer, "the room could not be changed: "+err.Error(), nil)
			return
		}
		h.setInfoLocked(r, cur)
		evicted := r.evictUnreadable()
		for _, e := range evicted {
			h.leftLocked(r, e)
		}
		out := xccos.ChanIB{URI: r.uri, Name: r.info.Name, Description: r.info.Description, Topic: r.info.Topic,
			Props: []xccos.KV{{ID: xccos.PropPrivacy, Value: string(r.info.Privacy)}}}
		r.mu.Unlock()
		h.evicted(r, evicted)
		if !h.cfg.Faults.Has(fault.NoInvitation) {
			for _, u := range added {
				inv, err := h.st.AddInvitation(ctx, store.Invitation{RoomID: r.id, User: u, By: s.user, Created: h.cfg.Now().UTC()})
				if err != nil {
					s.reply(name, envid, CodeServer, "the room was changed, but the invitation of "+u+" could not be stored: "+err.Error(), nil)
					return
				}
				h.noteInvitations([]store.Invitation{inv})
			}
		}
		s.reply(name, envid, CodeOK, "", &xccos.Data{Channels: []xccos.ChanIB{out}})
	})
}
