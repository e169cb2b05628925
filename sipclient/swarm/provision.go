package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipclient"
)

// StoreRooms returns the plan's rooms as a reference server stores them, with
// their members, for provisioning.
func (p *Plan) StoreRooms(privacy string) []store.Room {
	out := make([]store.Room, len(p.Rooms))
	for i, r := range p.Rooms {
		ms := make([]string, len(r.Members))
		for k, u := range r.Members {
			ms[k] = p.Users[u]
		}
		out[i] = store.Room{
			ID: r.ID, Name: "gcload " + r.ID, Topic: "load room " + r.ID + " of scenario " + p.Spec.Name,
			Privacy: store.Privacy(privacy), Members: ms, Managers: []string{}, Presenters: []string{},
		}
	}
	return out
}

// Provision creates the plan's rooms on a reference server through its
// admin API, or updates their members when they exist.
func Provision(ctx context.Context, adminURL string, p *Plan, privacy string) error {
	for _, r := range p.StoreRooms(privacy) {
		body, _ := json.Marshal(map[string]any{"id": r.ID, "name": r.Name, "topic": r.Topic, "privacy": string(r.Privacy), "members": r.Members})
		code, msg, err := adminclient.Call(ctx, http.MethodPost, adminURL, "/api/rooms", body)
		if err != nil {
			return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
		}
		switch code {
		case http.StatusCreated:
			continue
		case http.StatusConflict:
			body, _ := json.Marshal(map[string]any{"users": r.Members})
			code, msg, err = adminclient.Call(ctx, http.MethodPut, adminURL, "/api/rooms/"+r.ID+"/members", body)
			if err != nil {
				return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("swarm: provision room %s: set members answered %d: %s", r.ID, code, bytes.TrimSpace(msg))
			}
			if _, _, err := adminclient.Call(ctx, http.MethodPost, adminURL, "/api/rooms/"+r.ID+"/enable", nil); err != nil {
				return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
			}
		default:
			return fmt.Errorf("swarm: provision room %s: create answered %d: %s", r.ID, code, bytes.TrimSpace(msg))
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
func ProvisionAccounts(ctx context.Context, adminURL string, creds []accounts.Credential) error {
	type spec struct {
		URI      string `json:"uri"`
		User     string `json:"user,omitempty"`
		Password string `json:"password"`
	}
	for start := 0; start < len(creds); start += accountsBatch {
		batch := creds[start:min(start+accountsBatch, len(creds))]
		specs := make([]spec, len(batch))
		for i, c := range batch {
			specs[i] = spec{c.URI, c.User, c.Password}
		}
		body, _ := json.Marshal(map[string]any{"accounts": specs})
		code, msg, err := adminclient.Call(ctx, http.MethodPost, adminURL, "/api/accounts", body)
		if err != nil {
			return fmt.Errorf("swarm: provision accounts: %w", err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("swarm: provision accounts %d to %d: answered %d: %s", start, start+len(batch)-1, code, bytes.TrimSpace(msg))
		}
	}
	return nil
}
