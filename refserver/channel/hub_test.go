package channel_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/internal/fronttest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

const domain = "hub.test"

func user(name string) string { return "sip:" + name + "@" + domain }

func room(id string) string { return xccos.ChanURI(domain, id) }

// hubService puts a hub behind the test front.
type hubService struct{ *channel.Hub }

func (h hubService) Owns(target string) bool { return h.IsService(target) }

// env is a hub on a real SQLite store in the test's folder, behind a SIP
// front on a loopback port.
type env struct {
	hub  *channel.Hub
	st   store.Store
	addr string
	path string
}

// start opens the store at path (a new one in the test's folder when ""),
// puts rooms in it and starts a hub on it, which loads them; cfg, when
// set, changes the hub's Config. Everything is closed when the test ends.
func start(t *testing.T, path string, cfg func(*channel.Config), rooms ...store.Room) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gc.db")
	}
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return startOn(t, st, path, cfg, rooms...)
}

func startOn(t *testing.T, st store.Store, path string, cfg func(*channel.Config), rooms ...store.Room) *env {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	for _, r := range rooms {
		r.Defaults()
		if r.Members == nil {
			r.Members = []string{}
		}
		if err := st.PutRoom(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Disabled {
			if err := st.SetDisabled(ctx, r.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := fronttest.New(t)
	c := channel.Config{Domain: domain, ServiceURIs: []string{"sip:gcs1@" + domain}, Store: st, Endpoint: f.Endpoint}
	if cfg != nil {
		cfg(&c)
	}
	hub, err := channel.New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	return &env{hub: hub, st: st, addr: f.Serve(hubService{hub}), path: path}
}

// connect signs a user in at the front and opens a channel session.
func (e *env) connect(t *testing.T, u string) *sipclient.Client {
	t.Helper()
	c, err := sipclient.New(sipclient.Config{User: u, Server: e.addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	if err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.OpenChannel(ctx, "sip:gcs1@"+domain); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the client's next event of kind, failing the test after
// 5 s without one.
func next(t *testing.T, c *sipclient.Client, kind sipclient.EventKind) sipclient.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-c.Events():
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("%s: no %s event within 5s", c.User(), kind)
		}
	}
}

func closedRoom(id string, members ...string) store.Room {
	return store.Room{ID: id, Name: "Room " + id, Privacy: store.Closed, Members: members}
}

// TestAdmin: the hub's room operations, each refused for the reason it
// names or applied to the rooms it serves and to the store (a hub started
// afresh on the same database serves the same rooms).
func TestAdmin(t *testing.T) {
	t.Parallel()
	e := start(t, "", nil, closedRoom("eng", user("alice")))
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"create", func() error {
			_, err := e.hub.CreateRoom(ctx, store.Room{ID: "ops", Name: "Ops", Members: []string{user("bob")}})
			return err
		}, nil},
		{"create a room that exists", func() error { _, err := e.hub.CreateRoom(ctx, store.Room{ID: "eng", Name: "again"}); return err }, channel.ErrExists},
		{"create with a bad id", func() error { _, err := e.hub.CreateRoom(ctx, store.Room{ID: "a b", Name: "x"}); return err }, channel.ErrInvalid},
		{"create with a bad privacy", func() error {
			_, err := e.hub.CreateRoom(ctx, store.Room{ID: "x", Name: "x", Privacy: "public"})
			return err
		}, channel.ErrInvalid},
		{"create with a control character", func() error {
			_, err := e.hub.CreateRoom(ctx, store.Room{ID: "x", Name: "x\x01"})
			return err
		}, channel.ErrInvalid},
		{"update", func() error {
			_, err := e.hub.UpdateRoom(ctx, store.Room{ID: "eng", Name: "Engineering", Topic: "builds"})
			return err
		}, nil},
		{"update no such room", func() error { _, err := e.hub.UpdateRoom(ctx, store.Room{ID: "nope", Name: "x"}); return err }, channel.ErrNotFound},
		{"set members", func() error { return e.hub.SetRole(ctx, "eng", store.Member, []string{user("alice"), user("carol")}) }, nil},
		{"set managers", func() error { return e.hub.SetRole(ctx, "eng", store.Manager, []string{user("carol")}) }, nil},
		{"set a bad user", func() error { return e.hub.SetRole(ctx, "eng", store.Member, []string{"carol"}) }, channel.ErrInvalid},
		{"set members of no such room", func() error { return e.hub.SetRole(ctx, "nope", store.Member, nil) }, channel.ErrNotFound},
		{"disable", func() error { return e.hub.SetDisabled(ctx, "ops", true) }, nil},
		{"disable no such room", func() error { return e.hub.SetDisabled(ctx, "nope", true) }, channel.ErrNotFound},
		{"invite", func() error { _, err := e.hub.Invite(ctx, "eng", user("dave"), user("alice")); return err }, nil},
		{"invite to no such room", func() error { _, err := e.hub.Invite(ctx, "nope", user("dave"), ""); return err }, channel.ErrNotFound},
		{"invite a bad user", func() error { _, err := e.hub.Invite(ctx, "eng", "dave", ""); return err }, channel.ErrInvalid},
	} {
		err := tc.op()
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	eng, err := e.hub.Room("eng")
	if err != nil || eng.Name != "Engineering" || eng.Topic != "builds" || !slices.Equal(eng.Members, []string{user("alice"), user("carol")}) ||
		!slices.Equal(eng.Managers, []string{user("carol")}) || eng.Disabled {
		t.Fatalf("eng: %+v, %v", eng, err)
	}
	if _, err := e.hub.Room("nope"); !errors.Is(err, channel.ErrNotFound) {
		t.Fatalf("Room(nope): %v", err)
	}
	before := e.hub.Rooms()
	if len(before) != 2 || before[0].ID != "eng" || before[1].ID != "ops" || !before[1].Disabled {
		t.Fatalf("Rooms: %+v", before)
	}
	// a hub started afresh on the same database
	e.hub.Close()
	e.st.Close()
	again := start(t, e.path, nil)
	after := again.hub.Rooms()
	if len(after) != len(before) {
		t.Fatalf("after a restart %d rooms, before %d", len(after), len(before))
	}
	for i := range after {
		a, b := after[i], before[i]
		if a.ID != b.ID || a.Name != b.Name || a.Topic != b.Topic || a.Disabled != b.Disabled || !slices.Equal(a.Members, b.Members) || !slices.Equal(a.Managers, b.Managers) {
			t.Errorf("after a restart %+v, before %+v", a, b)
		}
	}
	invs, err := again.st.Invitations(ctx)
	if err != nil || len(invs) != 1 || invs[0].User != user("dave") || invs[0].RoomID != "eng" {
		t.Fatalf("invitations after a restart: %+v, %v", invs, err)
	}
}

// TestCommands: who may join, post and read which room, and the reply
// code of each refusal, through a real client's commands.
func TestCommands(t *testing.T) {
	t.Parallel()
	e := start(t, "", nil,
		closedRoom("closed", user("alice")),
		store.Room{ID: "open", Name: "Open", Privacy: store.Open},
		store.Room{ID: "secret", Name: "Secret", Privacy: store.Secret, Members: []string{user("alice")}},
		store.Room{ID: "off", Name: "Off", Members: []string{user("alice"), user("bob")}, Disabled: true},
		store.Room{ID: "stage", Name: "Stage", Type: store.Auditorium, Members: []string{user("alice"), user("bob")}, Presenters: []string{user("alice")}},
	)
	alice, bob := e.connect(t, user("alice")), e.connect(t, user("bob"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := map[string]*sipclient.Client{"alice": alice, "bob": bob}
	for _, tc := range []struct {
		who, what, room string
		code            int // 0: accepted
	}{
		{"alice", "join", "closed", 0},
		{"bob", "join", "closed", channel.CodeForbidden},
		{"bob", "join", "secret", channel.CodeNotFound}, // hidden from non-members
		{"alice", "join", "secret", 0},
		{"bob", "join", "open", 0},
		{"alice", "join", "off", channel.CodeDisabled},
		{"alice", "join", "nope", channel.CodeNotFound},
		{"bob", "join", "stage", 0},
		{"alice", "join", "stage", 0},
		{"alice", "post", "closed", 0},
		{"bob", "post", "closed", channel.CodeForbidden},
		{"bob", "post", "stage", channel.CodeForbidden}, // only presenters post in an auditorium
		{"alice", "post", "stage", 0},
		{"alice", "post", "open", channel.CodeForbidden}, // not joined
		{"bob", "post", "off", channel.CodeDisabled},
		{"alice", "history", "closed", 0},
		{"bob", "history", "closed", channel.CodeForbidden},
		{"bob", "history", "off", channel.CodeDisabled},
		{"bob", "history", "secret", channel.CodeNotFound},
	} {
		c := clients[tc.who]
		var code int
		switch tc.what {
		case "join":
			_, err := c.Join(ctx, room(tc.room))
			code = replyCode(t, err)
		case "history":
			_, err := c.History(ctx, room(tc.room), 10)
			code = replyCode(t, err)
		case "post":
			envid, err := c.Post(ctx, room(tc.room), tc.who+" in "+tc.room)
			if err != nil {
				t.Fatalf("%s post %s: %v", tc.who, tc.room, err)
			}
			if tc.code != 0 {
				ev := next(t, c, sipclient.Rejected)
				if ev.EnvID != envid {
					t.Fatalf("%s post %s: rejection names envid %d, the post was %d", tc.who, tc.room, ev.EnvID, envid)
				}
				code = ev.Code
			} else if ev := next(t, c, sipclient.Delivery); ev.Chat.Text != tc.who+" in "+tc.room || ev.Chat.Author != c.User() {
				t.Fatalf("%s post %s: echo %+v", tc.who, tc.room, ev.Chat)
			}
		}
		if code != tc.code {
			t.Errorf("%s %s %s: code %d, want %d", tc.who, tc.what, tc.room, code, tc.code)
		}
	}
}

func replyCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var re *sipclient.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("not a reply: %v", err)
	}
	return re.Code
}

// TestFanOutHistoryAndSearch: posts reach every member online once, the
// author included, in posting order; history returns them oldest first
// and search newest first, from the store.
func TestFanOutHistoryAndSearch(t *testing.T) {
	t.Parallel()
	members := []string{user("alice"), user("bob"), user("carol")}
	e := start(t, "", nil, closedRoom("eng", members...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cs []*sipclient.Client
	for _, u := range members {
		c := e.connect(t, u)
		if _, err := c.Join(ctx, room("eng")); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var sent []string
	for i := range 6 {
		text := "post " + string(rune('a'+i)) + " keyword"
		if _, err := cs[i%3].Post(ctx, room("eng"), text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	for _, c := range cs {
		for i, want := range sent {
			ev := next(t, c, sipclient.Delivery)
			if ev.Chat.Text != want || ev.Chat.Author != members[i%3] {
				t.Fatalf("%s: delivery %d %q by %s, want %q by %s", c.User(), i, ev.Chat.Text, ev.Chat.Author, want, members[i%3])
			}
		}
	}
	hist, err := cs[1].History(ctx, room("eng"), 4)
	if err != nil || len(hist) != 4 || hist[0].Text != sent[2] || hist[3].Text != sent[5] {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	found, err := cs[2].SearchMessages(ctx, xccos.MsgQuery{Keyword: "keyword", Author: members[0]})
	if err != nil || len(found) != 2 || found[0].Text != sent[3] || found[1].Text != sent[0] {
		t.Fatalf("search: %+v, %v", found, err)
	}
	if st := e.hub.Stats(); st.Posts != 6 || st.Deliveries != 18 || st.Sessions != 3 {
		t.Fatalf("stats %+v, want 6 posts, 18 deliveries, 3 sessions", st)
	}
}

// TestOnlineAndEviction: Online lists who joined, in join order; taking a
// member out (SetRole) or disabling the room sends them ntc:part and takes
// them off the list; a closed connection ends its sessions.
func TestOnlineAndEviction(t *testing.T) {
	t.Parallel()
	members := []string{user("alice"), user("bob"), user("carol")}
	e := start(t, "", nil, closedRoom("eng", members...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cs []*sipclient.Client
	for _, u := range members {
		c := e.connect(t, u)
		if _, err := c.Join(ctx, room("eng")); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if on, err := e.hub.Online("eng"); err != nil || !slices.Equal(on, members) {
		t.Fatalf("online %v, %v", on, err)
	}
	if err := e.hub.SetRole(ctx, "eng", store.Member, members[:2]); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, cs[2], sipclient.Parted); ev.User != members[2] {
		t.Fatalf("carol was told %+v", ev)
	}
	if ev := next(t, cs[0], sipclient.Parted); ev.User != members[2] {
		t.Fatalf("alice was told %+v", ev)
	}
	if on, _ := e.hub.Online("eng"); !slices.Equal(on, members[:2]) {
		t.Fatalf("online after carol was taken out: %v", on)
	}
	// bob's connection goes away
	if err := cs[1].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, cs[0], sipclient.Parted); ev.User != members[1] {
		t.Fatalf("alice was told %+v", ev)
	}
	if on, _ := e.hub.Online("eng"); !slices.Equal(on, members[:1]) {
		t.Fatalf("online after bob's connection closed: %v", on)
	}
	if err := e.hub.SetDisabled(ctx, "eng", true); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, cs[0], sipclient.Parted); ev.User != members[0] {
		t.Fatalf("alice was told %+v", ev)
	}
	if on, _ := e.hub.Online("eng"); len(on) != 0 {
		t.Fatalf("online in a disabled room: %v", on)
	}
}

// slowStore is the real store whose History blocks until its context
// ends: a query the hub cannot finish (a database that hangs), which a
// real store cannot be made to be on demand.
type slowStore struct {
	store.Store
	entered chan struct{}
	ended   chan error
}

func (s *slowStore) History(ctx context.Context, id string, n int) ([]store.Message, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	s.ended <- ctx.Err()
	return nil, ctx.Err()
}

// TestCloseCancelsQueries: Close cancels a client's storage query in
// progress (its context is the hub's) and returns without waiting out the
// query's 30 s bound.
func TestCloseCancelsQueries(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowStore{Store: st, entered: make(chan struct{}, 1), ended: make(chan error, 1)}
	e := startOn(t, slow, "", nil, closedRoom("eng", user("alice")))
	c := e.connect(t, user("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, room("eng")); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.History(ctx, room("eng"), 5) }() // its answer never comes; the client's Close ends it
	select {
	case <-slow.entered:
	case <-ctx.Done():
		t.Fatal("the history query never reached the store")
	}
	closed := make(chan struct{})
	go func() { e.hub.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for the query after 10s (its bound is 30s)")
	}
	if err := <-slow.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the query ended with %v, want context.Canceled", err)
	}
}

// TestSessionLimit: one user's sessions on one connection are bounded;
// the refused INVITE says why.
func TestSessionLimit(t *testing.T) {
	t.Parallel()
	e := start(t, "", func(c *channel.Config) { c.MaxSessionsPerUser = 2 })
	c := e.connect(t, user("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.OpenChannel(ctx, "sip:gcs1@"+domain); err != nil {
		t.Fatal(err)
	}
	err := c.OpenChannel(ctx, "sip:gcs1@"+domain)
	var se *sipclient.StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("a third session: %v, want 403", err)
	}
	if st := e.hub.Stats(); st.Limited != 1 || st.SessionsOpened != 2 {
		t.Fatalf("stats %+v", st)
	}
}
