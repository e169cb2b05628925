package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/store"
)

func TestParseWakeFrom(t *testing.T) {
	w, ok := parseWake("room1 42 127.0.0.1:5061")
	if !ok || w != (Wake{Room: "room1", Seq: 42, From: "127.0.0.1:5061"}) {
		t.Fatalf("parseWake with a server: %+v %v", w, ok)
	}
	for _, in := range []string{"room1 42 ", "room1 42 a b", "room1 42 \x01"} {
		if _, ok := parseWake(in); ok {
			t.Errorf("parseWake(%q) accepted", in)
		}
	}
}

func TestParseEvent(t *testing.T) {
	good := map[string]Event{
		"r a r1":                         {Kind: EventRoom, Server: "a", Room: "r1"},
		"r - r1":                         {Kind: EventRoom, Room: "r1"},
		"i a sip:u@d":                    {Kind: EventInvitations, Server: "a", User: "sip:u@d"},
		"c a cat1":                       {Kind: EventCategories, Server: "a", Room: "cat1"},
		"j a r1 sip:u@d 2 k":             {Kind: EventJoin, Server: "a", Room: "r1", User: "sip:u@d", N: 2},
		"p 10.0.0.1:5061 r1 sip:u@d 0 z": {Kind: EventPart, Server: "10.0.0.1:5061", Room: "r1", User: "sip:u@d"},
		"s a 5":                          {Kind: EventOnline, Server: "a"},
		"x a":                            {Kind: EventGone, Server: "a"},
	}
	for in, want := range good {
		if got, ok := parseEvent(in); !ok || got != want {
			t.Errorf("parseEvent(%q) = %+v %v, want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "r", "q a r1", "r a", "r a bad/room", "i a notauser", "j a r1 sip:u@d", "j a r1 sip:u@d -1 k",
		"j - r1 sip:u@d 1 k", "x -", "x a b", "s a", "rr a r1", "c a", "c a bad/cat"} {
		if e, ok := parseEvent(in); ok {
			t.Errorf("parseEvent(%q) accepted: %+v", in, e)
		}
	}
}

// TestPoolEvents: two servers on one database. Presence changes, room
// changes, invitations and a server leaving or expiring reach the other
// server's subscription as events, in commit order, with the online table
// agreeing; own commits carry the server's ID.
func TestPoolEvents(t *testing.T) {
	a, url := openDB(t, WithServerID("srv-a"))
	ctx := ctxT(t)
	b, err := Open(ctx, url, WithServerID("srv-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Open(ctx, url, WithServerID("bad id")); err == nil {
		t.Fatal("a server id with a space was accepted")
	}
	wakes := make(chan Wake, 1000)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Subscribe(sctx, func(w Wake) { wakes <- w }) }()
	defer func() { cancel(); <-done }()
	next := func() Wake {
		t.Helper()
		select {
		case w := <-wakes:
			return w
		case <-time.After(20 * time.Second):
			t.Fatal("no notification in 20 s")
			return Wake{}
		}
	}
	if w := next(); !w.Resync {
		t.Fatalf("first wake %+v", w)
	}
	// a room made on b
	if err := b.PutRoom(ctx, store.Room{ID: "r1", Name: "one", Members: []string{"sip:u@d"}}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event != (Event{Kind: EventRoom, Server: "srv-b", Room: "r1"}) {
		t.Fatalf("after PutRoom: %+v", w)
	}
	r, err := a.Room(ctx, "r1")
	if err != nil || r.Name != "one" || fmt.Sprint(r.Members) != "[sip:u@d]" {
		t.Fatalf("Room: %+v %v", r, err)
	}
	if _, err := a.Room(ctx, "nope"); err == nil {
		t.Fatal("Room of a missing room")
	}
	if err := b.SetRole(ctx, "r1", store.Manager, []string{"sip:m@d"}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event.Kind != EventRoom || w.Event.Room != "r1" {
		t.Fatalf("after SetRole: %+v", w)
	}
	if err := b.SetDisabled(ctx, "r1", true); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event.Kind != EventRoom || w.Event.Room != "r1" {
		t.Fatalf("after SetDisabled: %+v", w)
	}
	if err := b.SetDisabled(ctx, "nope", true); err == nil {
		t.Fatal("disabled a missing room")
	}
	// a post of b names b
	if _, err := appendWait(b, store.Message{RoomID: "r1", Author: "sip:u@d", TS: time.Now(), Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w != (Wake{Room: "r1", Seq: 1, From: "srv-b"}) {
		t.Fatalf("post wake %+v", w)
	}
	// invitations
	inv, err := b.AddInvitation(ctx, store.Invitation{RoomID: "r1", User: "sip:v@d", By: "sip:u@d"})
	if err != nil || inv.ID == 0 {
		t.Fatalf("AddInvitation: %+v %v", inv, err)
	}
	if w := next(); w.Event != (Event{Kind: EventInvitations, Server: "srv-b", User: "sip:v@d"}) {
		t.Fatalf("after AddInvitation: %+v", w)
	}
	if invs, err := a.UserInvitations(ctx, "sip:v@d"); err != nil || len(invs) != 1 || invs[0].ID != inv.ID {
		t.Fatalf("UserInvitations: %+v %v", invs, err)
	}
	if err := b.DeleteInvitations(ctx, "sip:v@d", "r1"); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event.Kind != EventInvitations {
		t.Fatalf("after DeleteInvitations: %+v", w)
	}
	// presence: the same change twice in one transaction is two events
	err = b.PublishPresence(ctx, []Presence{
		{Room: "r1", User: "sip:u@d", Sessions: 1}, {Room: "r1", User: "sip:u@d", Sessions: 0},
		{Room: "r1", User: "sip:u@d", Sessions: 1}, {Room: "r1", User: "sip:w@d", Sessions: 2},
	}, []bool{true, false, true, true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 4 {
		e := next().Event
		got = append(got, fmt.Sprintf("%c %s %s %d", e.Kind, e.Server, e.User, e.N))
	}
	if fmt.Sprint(got) != "[j srv-b sip:u@d 1 p srv-b sip:u@d 0 j srv-b sip:u@d 1 j srv-b sip:w@d 2]" {
		t.Fatalf("presence events %v", got)
	}
	on, err := a.Online(ctx, "")
	if err != nil || fmt.Sprint(on) != "[{r1 sip:u@d 1 srv-b} {r1 sip:w@d 2 srv-b}]" {
		t.Fatalf("online %v %v", on, err)
	}
	if err := a.PublishPresence(ctx, []Presence{{Room: "r1", User: "sip:x@d", Sessions: 1}}, []bool{true}); err != nil {
		t.Fatal(err)
	}
	next()
	if err := b.ReplaceOnline(ctx, []Presence{{Room: "r1", User: "sip:z@d", Sessions: 3}}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event.Kind != EventOnline || w.Event.Server != "srv-b" {
		t.Fatalf("after ReplaceOnline: %+v", w)
	}
	if on, _ := a.Online(ctx, "srv-b"); fmt.Sprint(on) != "[{r1 sip:z@d 3 srv-b}]" {
		t.Fatalf("b's rows after ReplaceOnline: %v", on)
	}
	// b expires: its rows go, and a hears of it
	for _, srv := range []Server{{ID: "srv-a"}, {ID: "srv-b"}} {
		if err := a.Register(ctx, srv); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, url, `UPDATE servers SET heartbeat = now() - interval '1 hour' WHERE id = 'srv-b'`)
	if gone, err := a.ExpireServers(ctx, time.Minute); err != nil || fmt.Sprint(gone) != "[srv-b]" {
		t.Fatalf("expired %v %v", gone, err)
	}
	if w := next(); w.Event != (Event{Kind: EventGone, Server: "srv-b"}) {
		t.Fatalf("after expiry: %+v", w)
	}
	if on, _ := a.Online(ctx, ""); fmt.Sprint(on) != "[{r1 sip:x@d 1 srv-a}]" {
		t.Fatalf("rows after b expired: %v", on)
	}
	// a leaves cleanly: the same
	if err := a.Deregister(ctx, "srv-a"); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Event != (Event{Kind: EventGone, Server: "srv-a"}) {
		t.Fatalf("after deregister: %+v", w)
	}
	if on, _ := a.Online(ctx, ""); len(on) != 0 {
		t.Fatalf("rows after a left: %v", on)
	}
	// without a server id there is no presence to publish
	c, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PublishPresence(ctx, []Presence{{Room: "r1", User: "sip:u@d", Sessions: 1}}, []bool{true}); err == nil {
		t.Fatal("published presence without a server id")
	}
}

// TestCarryPosts: with SetCarryPosts, each committed post reaches the
// other servers' subscriptions with its content, exactly as stored (a
// text with new lines and spaces included); one too large for a
// notification is announced without it; without SetCarryPosts, one short
// notification per room and commit.
func TestCarryPosts(t *testing.T) {
	a, url := openDB(t, WithServerID("srv-a"))
	ctx := ctxT(t)
	b, err := Open(ctx, url, WithServerID("srv-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.PutRoom(ctx, store.Room{ID: "r", Name: "r"}); err != nil {
		t.Fatal(err)
	}
	wakes := make(chan Wake, 100)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Subscribe(sctx, func(w Wake) { wakes <- w }) }()
	defer func() { cancel(); <-done }()
	next := func() Wake {
		t.Helper()
		for {
			select {
			case w := <-wakes:
				if w.Resync || w.Event.Kind != 0 {
					continue
				}
				return w
			case <-time.After(20 * time.Second):
				t.Fatal("no notification in 20 s")
			}
		}
	}
	// the subscription listens once it says resync
	select {
	case w := <-wakes:
		if !w.Resync {
			t.Fatalf("first wake %+v", w)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no resync in 20 s")
	}
	b.SetCarryPosts(true)
	ts := time.Unix(1700000000, 123456789).UTC()
	text := "two words\nand a second line  with spaces "
	if _, err := appendWait(b, store.Message{RoomID: "r", Author: "sip:u@d", TS: ts, Text: text, Story: true}); err != nil {
		t.Fatal(err)
	}
	w := next()
	if w.Msg == nil || *w.Msg != (store.Message{RoomID: "r", Seq: 1, Author: "sip:u@d", TS: ts, Text: text, Story: true}) || w.From != "srv-b" {
		t.Fatalf("carried post: %+v %+v", w, w.Msg)
	}
	big := strings.Repeat("é", 4000) // 8,000 bytes
	if _, err := appendWait(b, store.Message{RoomID: "r", Author: "sip:u@d", TS: ts, Text: big}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Msg != nil || w.Seq != 2 {
		t.Fatalf("a post too large for a notification: %+v", w)
	}
	b.SetCarryPosts(false)
	if _, err := appendWait(b, store.Message{RoomID: "r", Author: "sip:u@d", TS: ts, Text: "short"}); err != nil {
		t.Fatal(err)
	}
	if w := next(); w.Msg != nil || w.Seq != 3 || w.From != "srv-b" {
		t.Fatalf("without carrying: %+v", w)
	}
	for _, bad := range []string{"r 1 a\n", "r 1 a\nx 0 sip:u@d\nt", "r 1 a\n1 2 sip:u@d\nt", "r 1 a\n1 0 nobody\nt", "r 1 a\n1 0 sip:u@d"} {
		if _, ok := parseWake(bad); ok {
			t.Errorf("parseWake(%q) accepted", bad)
		}
	}
}
