package swarm

import (
	"context"
	"errors"
	"fmt"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/adminclient"
)

// AdminRooms returns the plan's rooms with their members as the admin API
// creates them (adminapi.NewRoom), for provisioning a server through its
// API (Provision) or an embedded one at start (embedded.Options.Rooms).
func (p *Plan) AdminRooms(privacy string) []adminapi.NewRoom {
	out := make([]adminapi.NewRoom, len(p.Rooms))
	for i, r := range p.Rooms {
		ms := make([]string, len(r.Members))
		for k, u := range r.Members {
			ms[k] = p.Users[u]
		}
		out[i] = adminapi.NewRoom{
			ID: r.ID, Name: "gcload " + r.ID, Topic: "load room " + r.ID + " of scenario " + p.Spec.Name,
			Privacy: privacy, Members: ms, Managers: []string{}, Presenters: []string{},
		}
	}
	return out
}

// Provision creates the plan's rooms on a reference server through its
// admin API, or, for those that exist, sets their members and enables
// them.
func Provision(ctx context.Context, admin *adminclient.Client, p *Plan, privacy string) error {
	for _, r := range p.AdminRooms(privacy) {
		_, err := admin.CreateRoom(ctx, r)
		if errors.Is(err, adminclient.ErrExists) {
			if _, err = admin.SetMembers(ctx, r.ID, r.Members); err == nil {
				_, err = admin.Enable(ctx, r.ID)
			}
		}
		if err != nil {
			return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
		}
	}
	return nil
}
