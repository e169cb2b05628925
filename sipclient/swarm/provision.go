package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/store"
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
