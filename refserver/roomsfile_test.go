package refserver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
)

func TestRoomsFileErrors(t *testing.T) {
	t.Parallel()
	src := `rooms:
  - id: room1
    name: Room One
    privacy: public
    members: [sip:alice@example.com, alice]
  - id: room1
    name: Again
  - name: no id
    colour: blue
other: 1
`
	_, err := refserver.ParseRooms("rooms.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`rooms.yaml:4: rooms[0].privacy: "public": want open, closed or secret`,
		`rooms.yaml:5: rooms[0].members[1]: "alice": want sip:user@domain`,
		`rooms.yaml:6: rooms[1].id: "room1" is also the id of rooms[0]`,
		`rooms.yaml:8: rooms[2].id: missing`,
		`rooms.yaml:9: rooms[2].colour: unknown field`,
		`rooms.yaml:10: other: unknown field`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestRoomsFile: a server started with a rooms file has its rooms; a
// restart with a changed file updates them and keeps their history.
func TestRoomsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "rooms.yaml")
	db := filepath.Join(dir, "gc.db")
	os.WriteFile(file, []byte(`rooms:
  - id: room1
    name: Room One
    topic: first
    members: [sip:alice@example.com]
  - id: lobby
    name: Lobby
    privacy: open
`), 0o644)
	srv := refservertest.Start(t, refserver.WithDB(db), refserver.WithRoomsFile(file))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), "sip:alice@example.com", sipclient.FlowClient)
	res, err := a.Join(ctx, room1, "ma-chan://example.com/lobby")
	if err != nil || len(res.Rooms) != 2 || res.Rooms[0].Topic != "first" {
		t.Fatalf("join: %+v %v", res, err)
	}
	if _, err := a.Post(ctx, room1, "kept across the change"); err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())
	srv.Close()
	os.WriteFile(file, []byte(`rooms:
  - id: room1
    name: Room One
    topic: second
    members: [sip:alice@example.com, sip:bob@example.com]
`), 0o644)
	srv2 := refservertest.Start(t, refserver.WithDB(db), refserver.WithRoomsFile(file))
	b := sipclienttest.Connect(t, srv2.TCPAddr(), "sip:bob@example.com", sipclient.FlowClient)
	res, err = b.Join(ctx, room1)
	if err != nil || res.Rooms[0].Topic != "second" {
		t.Fatalf("after the change: %+v %v", res, err)
	}
	h, err := b.History(ctx, room1, 10)
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %v %v", h, err)
	}
	if _, err := srv2.Hub().Room("lobby"); err != nil {
		t.Fatalf("a room left out of the file is still there: %v", err)
	}
}

// TestUDP: the whole flow over UDP.
func TestUDP(t *testing.T) {
	t.Parallel()
	users := []string{"sip:alice@example.com", "sip:bob@example.com"}
	srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", users...)))
	ctx := ctxT(t)
	var cs []*sipclient.Client
	for i, u := range users {
		c, err := sipclient.New(sipclient.Config{User: u, Server: srv.UDPAddr(), Transport: "udp", Flow: sipclient.Flow(i)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("%s over UDP: %v", u, err)
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if _, err := cs[0].Post(ctx, room1, "over udp"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if e := waitEvent(t, c, sipclient.Delivery); e.Chat.Text != "over udp" {
			t.Fatalf("%s got %q", c.User(), e.Chat.Text)
		}
	}
}

func TestRoomsFileCategoryErrors(t *testing.T) {
	t.Parallel()
	src := `categories:
  - id: top
    name: Top
    members: [carol]
  - id: a
    name: A
    parent: b
  - id: b
    name: B
    parent: a
  - id: c
    name: C
    parent: nowhere
    colour: red
  - id: top
    name: Again
rooms:
  - id: r
    name: R
`
	_, err := refserver.ParseRoomsFile("rooms.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`rooms.yaml:4: categories[0].members[0]: "carol": want sip:user@domain`,
		`rooms.yaml:11: categories[3].parent: "nowhere" is not the id of a category of this file`,
		`rooms.yaml:14: categories[3].colour: unknown field`,
		`rooms.yaml:15: categories[4].id: "top" is also the id of categories[0]`,
		`its own ancestor (a cycle)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestRoomsFileCategories: a server started with a rooms file holding
// categories has them (the admin API shows each one's rights after
// inheritance), and a user allowed by a category joins a room below it in
// which she holds no role.
func TestRoomsFileCategories(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "rooms.yaml")
	os.WriteFile(file, []byte(`categories:
  - id: sub
    name: Sub
    parent: top
    members: [sip:dave@example.com]
  - id: top
    name: Top
    members: [sip:carol@example.com]
    creators: [sip:carol@example.com]
rooms:
  - id: room1
    name: Room One
    category: sub
    members: [sip:alice@example.com]
`), 0o644)
	srv := refservertest.Start(t, refserver.WithRoomsFile(file), refserver.WithAdmin("127.0.0.1:0"))
	ctx := ctxT(t)
	admin := adminclient.New(srv.AdminURL(), srv.AdminToken())
	sub, err := admin.Category(ctx, "sub")
	if err != nil || sub.Parent != "top" || fmt.Sprint(sub.AllowedMembers) != "[sip:carol@example.com sip:dave@example.com]" ||
		fmt.Sprint(sub.AllowedCreators) != "[sip:carol@example.com]" || fmt.Sprint(sub.Members) != "[sip:dave@example.com]" {
		t.Fatalf("GET category sub: %+v, %v", sub, err)
	}
	c := sipclienttest.Connect(t, srv.TCPAddr(), "sip:carol@example.com", sipclient.FlowClient)
	if _, err := c.Join(ctx, room1); err != nil {
		t.Fatalf("carol, allowed by top, joins room1 in sub: %v", err)
	}
	// through the admin API: top no longer allows carol, a new category
	// is made, a bad one refused with the reason
	if _, err := admin.PutCategory(ctx, "top", adminapi.NewCategory{Name: "Top"}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, c, sipclient.Parted); ev.User != "sip:carol@example.com" {
		t.Fatalf("carol was told %+v", ev)
	}
	if got, err := admin.PutCategory(ctx, "extra", adminapi.NewCategory{Name: "Extra", Parent: "sub"}); err != nil || fmt.Sprint(got.AllowedMembers) != "[sip:dave@example.com]" {
		t.Fatalf("PUT a new category: %+v, %v", got, err)
	}
	if _, err := admin.PutCategory(ctx, "top", adminapi.NewCategory{Name: "Top", Parent: "extra"}); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("PUT a cycle: %v", err)
	}
	if _, err := admin.Category(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("GET no category: %v", err)
	}
	if all, err := admin.Categories(ctx); err != nil || len(all) != 3 {
		t.Fatalf("GET categories: %+v, %v", all, err)
	}
}
