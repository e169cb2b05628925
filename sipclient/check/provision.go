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
// not a member of, a disabled room, and a room the first user manages with
// the second as a member. Room IDs carry the run ID, so
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
	ctx, cancel := context.WithTimeout(ctx, 2*s.o.Timeout*time.Duration(len(rooms)))
	defer cancel()
	admin := adminclient.New(s.t.Admin, s.t.AdminToken)
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
