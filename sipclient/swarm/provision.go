package swarm

import (
	"context"
	"errors"
	"fmt"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipclient"
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
		managers := []string{}
		if p.Spec.HasManage() && len(ms) > 0 {
			managers = ms[:1] // the manager of the membership changes (KindManage)
		}
		out[i] = adminapi.NewRoom{
			ID: r.ID, Name: "gcload " + r.ID, Topic: "load room " + r.ID + " of scenario " + p.Spec.Name,
			Privacy: privacy, Members: ms, Managers: managers, Presenters: []string{},
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
			if _, err = admin.SetMembers(ctx, r.ID, r.Members); err == nil && len(r.Managers) > 0 {
				_, err = admin.SetRole(ctx, r.ID, adminapi.Managers, r.Managers)
			}
			if err == nil {
				_, err = admin.Enable(ctx, r.ID)
			}
		}
		if err != nil {
			return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
		}
	}
	return nil
}

// Credentials returns the sign-in of every user of the plan (from an
// accounts file or patterns); nil when there are none.
func (p *Plan) Credentials(setup *sipclient.Credentials) ([]accounts.Credential, error) {
	if !setup.HasCredentials() {
		return nil, nil
	}
	out := make([]accounts.Credential, len(p.Users))
	for i, u := range p.Users {
		c, _, err := setup.Credential(u)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// accountsBatch is how many accounts one request of ProvisionAccounts
// carries.
const accountsBatch = 5000

// ProvisionAccounts adds (or replaces) accounts on a reference server
// through its admin API (POST /api/accounts), in batches. The passwords
// go to the server, which keeps only their hashes; they are never
// logged.
func ProvisionAccounts(ctx context.Context, admin *adminclient.Client, creds []accounts.Credential) error {
	for start := 0; start < len(creds); start += accountsBatch {
		batch := creds[start:min(start+accountsBatch, len(creds))]
		accts := make([]adminapi.NewAccount, len(batch))
		for i, c := range batch {
			accts[i] = adminapi.NewAccount{URI: c.URI, User: c.User, Password: c.Password}
		}
		if _, err := admin.AddAccounts(ctx, accts); err != nil {
			return fmt.Errorf("swarm: provision accounts %d to %d: %w", start, start+len(batch)-1, err)
		}
	}
	return nil
}
