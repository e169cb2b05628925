package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/refserver/admin"
	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipnet"
	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine of the API's server or the
// hub outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "admin-test-token-0123456789"

// serve runs the API over a real hub on a real SQLite store in the test's
// folder, on a loopback port; stats is what GET /api/stats serves.
func serve(t *testing.T, stats func() any) (*httptest.Server, *channel.Hub) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ep := sipnet.NewEndpoint(sipnet.Options{Handler: func(tx *sipnet.ServerTx) { _ = tx.Respond(404, "Not Found") }})
	t.Cleanup(func() { ep.Close() })
	hub, err := channel.New(t.Context(), channel.Config{Domain: "admin.test", ServiceURIs: []string{"sip:gcs1@admin.test"}, Store: st, Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = admin.Handler(hub, stats, admin.Options{Token: token, Addr: srv.Listener.Addr().String(), TokenHint: "see the test"})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, hub
}

type call struct {
	name         string
	method, path string
	body         string // sent as application/json when not empty
	code         int
	has          []string // in the answer's body
}

func do(t *testing.T, srv *httptest.Server, c call) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.method, srv.URL+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestRoutes: each endpoint in turn on one server, in an order that
// builds on the previous calls: its status and what its answer says
// (docs/admin-api.md's table).
func TestRoutes(t *testing.T) {
	t.Parallel()
	srv, hub := serve(t, func() any { return map[string]int{"registered": 3} })
	for _, c := range []call{
		{"health", "GET", "/healthz", "", 200, []string{`"status": "ok"`}},
		{"stats", "GET", "/api/stats", "", 200, []string{`"registered": 3`}},
		{"no rooms", "GET", "/api/rooms", "", 200, []string{"[]"}},
		{"create", "POST", "/api/rooms", `{"id":"eng","name":"Engineering","members":["sip:alice@admin.test"],"privacy":"secret"}`, 201,
			[]string{`"id": "eng"`, `"privacy": "secret"`, `"type": "normal"`, `"members": [`, `"managers": []`}},
		{"create disabled", "POST", "/api/rooms", `{"id":"old","name":"Old","disabled":true}`, 201, []string{`"disabled": true`, `"members": []`}},
		{"create again", "POST", "/api/rooms", `{"id":"eng","name":"x"}`, 409, []string{`"error"`, "exists"}},
		{"create without a name", "POST", "/api/rooms", `{"id":"x"}`, 400, []string{"name is empty"}},
		{"create with an unknown field", "POST", "/api/rooms", `{"id":"x","name":"x","owner":"me"}`, 400, []string{`unknown field \"owner\"`}},
		{"create with two values", "POST", "/api/rooms", `{"id":"x","name":"x"} {}`, 400, []string{"more than one JSON value"}},
		{"create with bad JSON", "POST", "/api/rooms", `{"id":`, 400, []string{"body"}},
		{"get", "GET", "/api/rooms/eng", "", 200, []string{`"name": "Engineering"`, `"last_seq": 0`, `"created": "`}},
		{"get no such room", "GET", "/api/rooms/nope", "", 404, []string{"no such room"}},
		{"list", "GET", "/api/rooms", "", 200, []string{`"id": "eng"`, `"id": "old"`}},
		{"patch", "PATCH", "/api/rooms/eng", `{"topic":"builds","managers":["sip:bob@admin.test"]}`, 200,
			[]string{`"topic": "builds"`, `"name": "Engineering"`, `"managers": [`, "sip:bob@admin.test", "sip:alice@admin.test"}},
		{"patch the disabled flag", "PATCH", "/api/rooms/eng", `{"disabled":true}`, 400, []string{`field \"disabled\" cannot be changed here`, "/disable"}},
		{"patch a field with the wrong type", "PATCH", "/api/rooms/eng", `{"topic":7}`, 400, []string{`field \"topic\"`}},
		{"patch no such room", "PATCH", "/api/rooms/nope", `{"topic":"x"}`, 404, nil},
		{"set members (wrapped)", "PUT", "/api/rooms/eng/members", `{"users":["sip:carol@admin.test"]}`, 200, []string{"sip:carol@admin.test"}},
		{"set presenters (bare array)", "PUT", "/api/rooms/eng/presenters", `["sip:dave@admin.test"]`, 200, []string{`"presenters": [`, "sip:dave@admin.test"}},
		{"set members to none", "PUT", "/api/rooms/eng/members", `{"users":null}`, 200, []string{`"members": []`}},
		{"set an unknown list", "PUT", "/api/rooms/eng/owners", `[]`, 404, []string{"no such list owners"}},
		{"set a bad user", "PUT", "/api/rooms/eng/members", `["carol"]`, 400, []string{`user \"carol\"`}},
		{"set with an unknown field", "PUT", "/api/rooms/eng/members", `{"people":[]}`, 400, []string{"people"}},
		{"delete", "DELETE", "/api/rooms/eng", "", 405, []string{"never deleted"}},
		{"online", "GET", "/api/rooms/eng/online", "", 200, []string{`"users": []`}},
		{"online in no such room", "GET", "/api/rooms/nope/online", "", 404, nil},
		{"invite", "POST", "/api/rooms/eng/invitations", `{"user":"sip:erin@admin.test","by":"sip:bob@admin.test"}`, 201,
			[]string{`"room": "eng"`, `"user": "sip:erin@admin.test"`, `"by": "sip:bob@admin.test"`, `"id": 1`}},
		{"invite a bad user", "POST", "/api/rooms/eng/invitations", `{"user":"erin"}`, 400, nil},
		{"invite to no such room", "POST", "/api/rooms/nope/invitations", `{"user":"sip:erin@admin.test"}`, 404, nil},
		{"disable", "POST", "/api/rooms/eng/disable", "", 200, []string{`"disabled": true`}},
		{"enable", "POST", "/api/rooms/old/enable", "", 200, []string{`"disabled": false`}},
		{"disable no such room", "POST", "/api/rooms/nope/disable", "", 404, nil},
	} {
		code, hdr, body := do(t, srv, c)
		if code != c.code {
			t.Errorf("%s: %s %s answered %d, want %d: %s", c.name, c.method, c.path, code, c.code, body)
			continue
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s: the answer lacks %q:\n%s", c.name, s, body)
			}
		}
		if code >= 400 {
			var e adminapi.Error
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("%s: a %d without an error body: %s", c.name, code, body)
			}
		}
		if c.name == "create" && hdr.Get("Location") != "/api/rooms/eng" {
			t.Errorf("create: Location %q", hdr.Get("Location"))
		}
	}
	// what the hub holds after it all
	eng, err := hub.Room("eng")
	if err != nil || !eng.Disabled || eng.Topic != "builds" || len(eng.Members) != 0 || len(eng.Presenters) != 1 || eng.Privacy != store.Secret {
		t.Fatalf("eng: %+v, %v", eng, err)
	}
	if old, _ := hub.Room("old"); old.Disabled {
		t.Fatalf("old is still disabled")
	}
}

// TestAnswersAreTheWireTypes: every room answer decodes strictly into
// adminapi.Room (no field the client would drop).
func TestAnswersAreTheWireTypes(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, nil)
	_, _, body := do(t, srv, call{method: "POST", path: "/api/rooms", body: `{"id":"eng","name":"Engineering","description":"d","category":"c","type":"auditorium"}`})
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var r adminapi.Room
	if err := dec.Decode(&r); err != nil || r.Type != adminapi.Auditorium || r.Description != "d" || r.Category != "c" {
		t.Fatalf("%+v, %v:\n%s", r, err, body)
	}
	if code, _, body := do(t, srv, call{method: "GET", path: "/api/stats"}); code != 200 || strings.TrimSpace(body) != "{}" {
		t.Fatalf("stats without a source: %d %s", code, body)
	}
}
