package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

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
	base := strings.TrimRight(adminURL, "/")
	for _, r := range p.StoreRooms(privacy) {
		body, _ := json.Marshal(map[string]any{"id": r.ID, "name": r.Name, "topic": r.Topic, "privacy": string(r.Privacy), "members": r.Members})
		code, msg, err := do(ctx, http.MethodPost, base+"/api/rooms", body)
		if err != nil {
			return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
		}
		switch code {
		case http.StatusCreated:
			continue
		case http.StatusConflict:
			body, _ := json.Marshal(map[string]any{"users": r.Members})
			code, msg, err = do(ctx, http.MethodPut, base+"/api/rooms/"+r.ID+"/members", body)
			if err != nil {
				return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("swarm: provision room %s: set members answered %d: %s", r.ID, code, msg)
			}
			if _, _, err := do(ctx, http.MethodPost, base+"/api/rooms/"+r.ID+"/enable", nil); err != nil {
				return fmt.Errorf("swarm: provision room %s: %w", r.ID, err)
			}
		default:
			return fmt.Errorf("swarm: provision room %s: create answered %d: %s", r.ID, code, msg)
		}
	}
	return nil
}

func do(ctx context.Context, method, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, strings.TrimSpace(string(b)), nil
}
