package check

import (
	"context"
	"fmt"
	"time"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/adminclient"
)

// provision creates the suite's rooms through a reference server's admin
// API: a chat room for the first three users, a closed room the fourth is
// not a member of, a disabled room, a room the first user manages with
// the second as a member, and categories: one allowing the fourth user
// (to read and to create rooms), one below it that inherits that, with a
// room, and one below it that overrides it, with a room. Room IDs carry the run ID, so
// runs never share rooms.
func (s *suite) provision(ctx context.Context) error {
	id := "gcconform-" + s.runID
	users := s.t.Users
	rooms := []struct {
		id       string
		members  []string
		field    *string
		disable  bool
		managers []string
	}{
		{id + "-chat", users[:3], &s.t.Rooms.Chat, false, nil},
		{id + "-closed", users[:1], &s.t.Rooms.Closed, false, nil},
		{id + "-disabled", users[:1], &s.t.Rooms.Disabled, true, nil},
		{id + "-managed", users[:2], &s.t.Rooms.Managed, false, users[:1]},
	}
	// categories: top allows the fourth user to read and create; sub
	// inherits it, own overrides it; a room in each of sub and own, where
	// the fourth user holds no role
	cats := []struct {
		id, parent string
		override   bool
		users      []string
	}{
		{id + "-top", "", false, users[3:4]},
		{id + "-sub", id + "-top", false, nil},
		{id + "-own", id + "-top", true, nil},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*s.o.Timeout*time.Duration(len(rooms)+len(cats)+2))
	defer cancel()
	admin := adminclient.New(s.t.Admin, s.t.AdminToken)
	for _, c := range cats {
		if _, err := admin.PutCategory(ctx, c.id, adminapi.NewCategory{Name: "gcload conformance " + c.id, Parent: c.parent, Override: c.override, Members: c.users, Creators: c.users}); err != nil {
			return fmt.Errorf("conformance: create category %s through the admin API: %w", c.id, err)
		}
	}
	s.t.Rooms.CreateCategory = id + "-sub"
	for _, r := range []struct {
		id, category string
		field        *string
	}{{id + "-inherited", id + "-sub", &s.t.Rooms.Inherited}, {id + "-overridden", id + "-own", &s.t.Rooms.Overridden}} {
		if _, err := admin.CreateRoom(ctx, adminapi.NewRoom{ID: r.id, Name: "gcload conformance " + r.id, Category: r.category, Privacy: adminapi.Closed, Members: users[:1]}); err != nil {
			return fmt.Errorf("conformance: create room %s through the admin API: %w", r.id, err)
		}
		*r.field = r.id
	}
	for _, r := range rooms {
		if _, err := admin.CreateRoom(ctx, adminapi.NewRoom{ID: r.id, Name: "gcload conformance " + r.id, Privacy: adminapi.Closed, Members: r.members, Managers: r.managers}); err != nil {
			return fmt.Errorf("conformance: create room %s through the admin API: %w", r.id, err)
		}
		if r.disable {
			if _, err := admin.Disable(ctx, r.id); err != nil {
				return fmt.Errorf("conformance: disable room %s through the admin API: %w", r.id, err)
			}
		}
		*r.field = r.id
	}
	return nil
}
