package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// provision creates the suite's rooms through a reference server's admin
// API: a chat room for the first three users, a closed room the fourth is
// not a member of, and a disabled room. Room IDs carry the run ID, so
// runs never share rooms.
func (s *suite) provision(ctx context.Context) error {
	base := strings.TrimSuffix(s.t.Admin, "/")
	id := "gcconform-" + s.runID
	users := s.t.Users
	rooms := []struct {
		id      string
		members []string
		field   *string
		disable bool
	}{
		{id + "-chat", users[:3], &s.t.Rooms.Chat, false},
		{id + "-closed", users[:1], &s.t.Rooms.Closed, false},
		{id + "-disabled", users[:1], &s.t.Rooms.Disabled, true},
	}
	for _, r := range rooms {
		body, _ := json.Marshal(map[string]any{"id": r.id, "name": "gcload conformance " + r.id, "privacy": "closed", "members": r.members})
		if err := adminDo(ctx, http.MethodPost, base+"/api/rooms", body); err != nil {
			return fmt.Errorf("conformance: create room %s through the admin API: %w", r.id, err)
		}
		if r.disable {
			if err := adminDo(ctx, http.MethodPost, base+"/api/rooms/"+r.id+"/disable", nil); err != nil {
				return fmt.Errorf("conformance: disable room %s through the admin API: %w", r.id, err)
			}
		}
		*r.field = r.id
	}
	return nil
}

func adminDo(ctx context.Context, method, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, res.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
