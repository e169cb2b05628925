package adminclient_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
	"github.com/gcload/gcload/xccos"
)

const domain = "admin.test"

func user(n string) string { return "sip:" + n + "@" + domain }

// TestRoundTrip: every call of the client against a real admin API on
// loopback, each answer checked against what the server then holds (read
// back through the client and, where it shows, through a signed-in
// user): the client's requests and the server's answers are the same
// wire types, so they agree.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithDomain(domain))
	c := adminclient.New(srv.AdminURL(), refservertest.AdminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateRoom(ctx, adminapi.NewRoom{
		ID: "eng", Name: "Engineering", Description: "the builders", Topic: "builds", Category: "teams",
		Privacy: adminapi.Secret, Type: adminapi.Auditorium,
		Members: []string{user("alice"), user("bob")}, Managers: []string{user("alice")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != "eng" || created.Name != "Engineering" || created.Description != "the builders" || created.Topic != "builds" ||
		created.Category != "teams" || created.Privacy != adminapi.Secret || created.Type != adminapi.Auditorium || created.Disabled ||
		!slices.Equal(created.Members, []string{user("alice"), user("bob")}) || !slices.Equal(created.Managers, []string{user("alice")}) ||
		created.Created.IsZero() {
		t.Fatalf("created %+v", created)
	}
	got, err := c.Room(ctx, "eng")
	if err != nil || !equalRooms(got, created) {
		t.Fatalf("Room: %+v, %v; created %+v", got, err, created)
	}
	// defaults, and a room created disabled
	plain, err := c.CreateRoom(ctx, adminapi.NewRoom{ID: "plain", Name: "Plain", Disabled: true})
	if err != nil || plain.Privacy != adminapi.Closed || plain.Type != adminapi.Normal || !plain.Disabled || plain.Members == nil {
		t.Fatalf("plain: %+v, %v", plain, err)
	}
	rooms, err := c.Rooms(ctx)
	if err != nil || len(rooms) != 2 || rooms[0].ID != "eng" || rooms[1].ID != "plain" {
		t.Fatalf("Rooms: %+v, %v", rooms, err)
	}

	topic, members := "releases", []string{user("carol")}
	up, err := c.UpdateRoom(ctx, "eng", adminapi.RoomPatch{Topic: &topic, Members: &members})
	if err != nil || up.Topic != "releases" || !slices.Equal(up.Members, members) || up.Name != "Engineering" || up.Description != "the builders" {
		t.Fatalf("UpdateRoom: %+v, %v", up, err)
	}
	for _, tc := range []struct {
		role  adminapi.Role
		users []string
		list  func(adminapi.Room) []string
	}{
		{adminapi.Members, []string{user("alice"), user("dave")}, func(r adminapi.Room) []string { return r.Members }},
		{adminapi.Managers, []string{user("dave")}, func(r adminapi.Room) []string { return r.Managers }},
		{adminapi.Presenters, []string{user("alice")}, func(r adminapi.Room) []string { return r.Presenters }},
		{adminapi.Presenters, nil, func(r adminapi.Room) []string { return r.Presenters }},
	} {
		r, err := c.SetRole(ctx, "eng", tc.role, tc.users)
		if err != nil || len(tc.list(r)) != len(tc.users) || !slices.Equal(tc.list(r), tc.users) && tc.users != nil {
			t.Fatalf("SetRole %s %v: %+v, %v", tc.role, tc.users, r, err)
		}
	}
	if r, err := c.SetMembers(ctx, "plain", []string{user("erin")}); err != nil || !slices.Equal(r.Members, []string{user("erin")}) {
		t.Fatalf("SetMembers: %+v, %v", r, err)
	}
	if r, err := c.Enable(ctx, "plain"); err != nil || r.Disabled {
		t.Fatalf("Enable: %+v, %v", r, err)
	}

	// a user online in the room, and an invitation
	cl := sipclienttest.Connect(t, srv.TCPAddr(), user("alice"), sipclient.FlowClient)
	if _, err := cl.Join(ctx, xccos.ChanURI(domain, "eng")); err != nil {
		t.Fatal(err)
	}
	online, err := c.Online(ctx, "eng")
	if err != nil || !slices.Equal(online, []string{user("alice")}) {
		t.Fatalf("Online: %v, %v", online, err)
	}
	inv, err := c.Invite(ctx, "plain", user("alice"), user("erin"))
	if err != nil || inv.ID == 0 || inv.Room != "plain" || inv.User != user("alice") || inv.By != user("erin") || inv.Created.IsZero() {
		t.Fatalf("Invite: %+v, %v", inv, err)
	}
	invs, err := cl.Invitations(ctx)
	if err != nil || len(invs) != 1 || invs[0].ChanURI != xccos.ChanURI(domain, "plain") || invs[0].Author != user("erin") {
		t.Fatalf("the user's invitations after Invite: %+v, %v", invs, err)
	}

	// the compliance archive: alice's join, then a post, read in pages
	// of one from before them
	head, err := c.ArchiveHead(ctx)
	if err != nil || head == "" {
		t.Fatalf("ArchiveHead: %q, %v", head, err)
	}
	normal := adminapi.Normal // so that alice may post
	if _, err := c.UpdateRoom(ctx, "eng", adminapi.RoomPatch{Type: &normal}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Post(ctx, xccos.ChanURI(domain, "eng"), "archived"); err != nil {
		t.Fatal(err)
	}
	var recs []adminapi.ArchiveRecord
	for after := ""; ; {
		page, err := c.Archive(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) == 0 {
			if page.Next != after && after != "" {
				t.Fatalf("an empty page moved the cursor from %q to %q", after, page.Next)
			}
			break
		}
		recs = append(recs, page.Records...)
		after = page.Next
	}
	if len(recs) != 2 || recs[0].Kind != adminapi.KindJoin || recs[0].User != user("alice") || recs[0].Room != "eng" || recs[0].Cursor != head ||
		recs[1].Kind != adminapi.KindChat || recs[1].Text != "archived" || recs[1].Seq != 1 || recs[1].Time.IsZero() {
		t.Fatalf("archive %+v (head %q)", recs, head)
	}
	if after, err := c.Archive(ctx, head, 0); err != nil || len(after.Records) != 1 || after.Next != recs[1].Cursor {
		t.Fatalf("Archive after the head: %+v, %v", after, err)
	}

	// disabling takes the user out of the room
	if r, err := c.Disable(ctx, "eng"); err != nil || !r.Disabled {
		t.Fatalf("Disable: %+v, %v", r, err)
	}
	if online, err := c.Online(ctx, "eng"); err != nil || len(online) != 0 {
		t.Fatalf("Online after Disable: %v, %v", online, err)
	}

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	direct := srv.Stats()
	if st.Registered != 1 || st.Channel.Sessions != 1 || st.Channel.SessionsOpened != direct.Channel.SessionsOpened ||
		st.Lookup.Lookups != direct.Lookup.Lookups || st.Lookup.Lookups == 0 || st.Connections != direct.Conns || st.SIP.MessagesIn == 0 {
		t.Fatalf("Stats through the API %+v, the server's own %+v", st, direct)
	}
}

func equalRooms(a, b adminapi.Room) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description && a.Topic == b.Topic && a.Category == b.Category &&
		a.Privacy == b.Privacy && a.Type == b.Type && a.Disabled == b.Disabled && slices.Equal(a.Members, b.Members) &&
		slices.Equal(a.Managers, b.Managers) && slices.Equal(a.Presenters, b.Presenters) && a.LastSeq == b.LastSeq && a.Created.Equal(b.Created)
}

// TestErrors: the server's refusals come back as *StatusError with the
// server's words, matching the sentinel of their status.
func TestErrors(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithRooms(refservertest.Room("eng")))
	c := adminclient.New(srv.AdminURL(), refservertest.AdminToken)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
		want error
		code int
		text string
	}{
		{"a room that exists", func() error { _, err := c.CreateRoom(ctx, adminapi.NewRoom{ID: "eng", Name: "again"}); return err }, adminclient.ErrExists, 409, "exists"},
		{"no such room", func() error { _, err := c.Room(ctx, "nope"); return err }, adminclient.ErrNotFound, 404, "no such room"},
		{"disable no such room", func() error { _, err := c.Disable(ctx, "nope"); return err }, adminclient.ErrNotFound, 404, ""},
		{"a bad privacy", func() error {
			_, err := c.CreateRoom(ctx, adminapi.NewRoom{ID: "x", Name: "x", Privacy: "public"})
			return err
		}, adminclient.ErrBadRequest, 400, `privacy "public"`},
		{"a bad user", func() error { _, err := c.SetMembers(ctx, "eng", []string{"alice"}); return err }, adminclient.ErrBadRequest, 400, `user "alice"`},
		{"a bad archive cursor", func() error { _, err := c.Archive(ctx, "12", 0); return err }, adminclient.ErrBadRequest, 400, `after: archive cursor "12"`},
		{"an archive page too large", func() error { _, err := c.Archive(ctx, "", adminapi.MaxArchiveRead+1); return err }, adminclient.ErrBadRequest, 400, "limit"},
		{"a wrong token", func() error { _, err := adminclient.New(srv.AdminURL(), "wrong").Stats(ctx); return err }, adminclient.ErrUnauthorized, 401, adminclient.TokenEnv},
	} {
		err := tc.call()
		var se *adminclient.StatusError
		if !errors.As(err, &se) || se.Code != tc.code || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %d (%v) saying %q", tc.name, err, tc.code, tc.want, tc.text)
		}
		if errors.Is(err, adminclient.ErrRefused) {
			t.Errorf("%s: %v matches ErrRefused too", tc.name, err)
		}
	}
	// nothing listening
	dead := adminclient.New("http://127.0.0.1:1", "x")
	if err := dead.Health(ctx); err == nil || errors.As(err, new(*adminclient.StatusError)) {
		t.Fatalf("a closed port: %v", err)
	}
}

// TestAccounts: accounts added through the client are listed back
// (addresses and logins, never passwords); a batch with a bad account is
// refused whole, naming the account by its index and never its password.
func TestAccounts(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithAuth(refserver.AuthNTLM))
	c := adminclient.New(srv.AdminURL(), refservertest.AdminToken)
	ctx := t.Context()
	added, err := c.AddAccounts(ctx, []adminapi.NewAccount{
		{URI: user("alice"), Password: "alice-secret"},
		{URI: user("bob"), User: `ADMIN\bob`, Password: "bob-secret"},
	})
	if err != nil || added != (adminapi.AccountsAdded{Added: 2, Accounts: 2}) {
		t.Fatalf("AddAccounts: %+v, %v", added, err)
	}
	list, err := c.Accounts(ctx)
	want := []adminapi.Account{{URI: user("alice")}, {URI: user("bob"), User: `ADMIN\bob`}}
	if err != nil || !slices.Equal(list, want) {
		t.Fatalf("Accounts: %+v, %v; want %+v", list, err, want)
	}
	_, err = c.AddAccounts(ctx, []adminapi.NewAccount{{URI: user("carol"), Password: "carol-secret"}, {URI: "carol", Password: "other-secret"}})
	if !errors.Is(err, adminclient.ErrBadRequest) || !strings.Contains(err.Error(), "accounts[1]") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("a bad account: %v, want 400 naming accounts[1] and no password", err)
	}
	if list, err := c.Accounts(ctx); err != nil || len(list) != 2 {
		t.Fatalf("after a refused batch: %+v, %v; want the 2 accounts before it", list, err)
	}
}
