// Package storetest is a conformance suite for store.Store implementations:
// every implementation (SQLite, PostgreSQL) runs the same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/store"
)

// Opener opens the store under test. reopen is called with the same
// arguments to check durability across a close.
type Opener func(t *testing.T) store.Store

// Run runs the suite. open must return a fresh, empty store each time it is
// called with a new test; reopen must open the store that open last returned
// again, after it was closed.
func Run(t *testing.T, open Opener, reopen Opener) {
	t.Run("Rooms", func(t *testing.T) { testRooms(t, open(t)) })
	t.Run("AppendHistoryOrder", func(t *testing.T) { testAppend(t, open(t)) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open(t)) })
	t.Run("Invitations", func(t *testing.T) { testInvitations(t, open(t)) })
	t.Run("DurableAcrossClose", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R", Members: []string{"sip:a@d"}}))
		appendN(t, s, "r", 1, 50)
		must(t, s.Close())
		s2 := reopen(t)
		defer s2.Close()
		h, err := s2.History(ctx, "r", 100)
		must(t, err)
		if len(h) != 50 || h[49].Seq != 50 {
			t.Fatalf("after reopen: %d messages", len(h))
		}
		rooms, err := s2.Rooms(ctx)
		must(t, err)
		if len(rooms) != 1 || rooms[0].LastSeq != 50 || len(rooms[0].Members) != 1 {
			t.Fatalf("after reopen: rooms %+v", rooms)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// appendN appends seqs [from, to] to room and waits for every ack.
func appendN(t *testing.T, s store.Store, room string, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var order []uint64
	for i := from; i <= to; i++ {
		wg.Add(1)
		seq := uint64(i)
		s.Append(store.Message{RoomID: room, Seq: seq, Author: "sip:a@d", TS: time.Now(), Text: fmt.Sprintf("message %d", i)}, func(err error) {
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			}
			order = append(order, seq)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	for i, seq := range order {
		if seq != uint64(from+i) {
			t.Fatalf("acks out of order: %v", order)
		}
	}
}

func testRooms(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "b", Name: "Bee", Privacy: store.Open, Members: []string{"sip:x@d", "sip:y@d"}, Managers: []string{"sip:x@d"}}))
	must(t, s.PutRoom(ctx, store.Room{ID: "a", Name: "Ay", Disabled: true}))
	if err := s.PutRoom(ctx, store.Room{ID: "bad id!", Name: "x"}); err == nil {
		t.Fatal("invalid id accepted")
	}
	// update keeps the disabled flag
	must(t, s.PutRoom(ctx, store.Room{ID: "a", Name: "Ay two", Topic: "t"}))
	must(t, s.SetRole(ctx, "a", store.Presenter, []string{"sip:p@d"}))
	if err := s.SetRole(ctx, "nope", store.Member, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetRole on a missing room: %v", err)
	}
	if err := s.SetDisabled(ctx, "nope", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetDisabled on a missing room: %v", err)
	}
	must(t, s.SetDisabled(ctx, "b", true))
	must(t, s.SetDisabled(ctx, "b", false))
	rooms, err := s.Rooms(ctx)
	must(t, err)
	if len(rooms) != 2 {
		t.Fatalf("got %d rooms", len(rooms))
	}
	a, b := rooms[0], rooms[1]
	if a.ID != "a" || a.Name != "Ay two" || a.Topic != "t" || !a.Disabled || a.Privacy != store.Closed || a.Type != store.Normal || len(a.Presenters) != 1 {
		t.Fatalf("room a: %+v", a)
	}
	if b.ID != "b" || b.Disabled || b.Privacy != store.Open || len(b.Members) != 2 || len(b.Managers) != 1 {
		t.Fatalf("room b: %+v", b)
	}
}

func testAppend(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r1", Name: "R1"}))
	must(t, s.PutRoom(ctx, store.Room{ID: "r2", Name: "R2"}))
	appendN(t, s, "r1", 1, 300)
	appendN(t, s, "r2", 1, 10)
	h, err := s.History(ctx, "r1", 25)
	must(t, err)
	if len(h) != 25 || h[0].Seq != 276 || h[24].Seq != 300 || h[24].Text != "message 300" {
		t.Fatalf("history: %d messages, first %d", len(h), h[0].Seq)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Seq != h[i-1].Seq+1 {
			t.Fatalf("history out of order at %d", i)
		}
	}
	// a duplicate sequence number fails, and is reported to its caller
	errc := make(chan error, 1)
	s.Append(store.Message{RoomID: "r2", Seq: 3, Author: "sip:a@d", TS: time.Now(), Text: "dup"}, func(err error) { errc <- err })
	if err := <-errc; err == nil {
		t.Fatal("duplicate seq accepted")
	}
	if st := s.Stats(); st.Appended != 310 || st.Commits == 0 || st.Commits > 310 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func testSearch(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	must(t, s.PutRoom(ctx, store.Room{ID: "q", Name: "Q"}))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := []store.Message{
		{RoomID: "r", Seq: 1, Author: "sip:a@d", TS: t0, Text: "Deploy the build"},
		{RoomID: "r", Seq: 2, Author: "sip:b@d", TS: t0.Add(time.Hour), Text: "build failed"},
		{RoomID: "q", Seq: 1, Author: "sip:a@d", TS: t0.Add(2 * time.Hour), Text: "BUILD green"},
	}
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		s.Append(m, func(err error) { must(t, err); wg.Done() })
	}
	wg.Wait()
	cases := []struct {
		name string
		q    store.Query
		want int
	}{
		{"keyword any case", store.Query{RoomIDs: []string{"r", "q"}, Keyword: "build"}, 3},
		{"rooms restrict", store.Query{RoomIDs: []string{"r"}, Keyword: "build"}, 2},
		{"author", store.Query{RoomIDs: []string{"r", "q"}, Author: "sip:a@d"}, 2},
		{"from", store.Query{RoomIDs: []string{"r", "q"}, From: t0.Add(30 * time.Minute)}, 2},
		{"to", store.Query{RoomIDs: []string{"r", "q"}, To: t0.Add(30 * time.Minute)}, 1},
		{"limit", store.Query{RoomIDs: []string{"r", "q"}, Limit: 1}, 1},
		{"no rooms", store.Query{Keyword: "build"}, 0},
	}
	for _, c := range cases {
		got, err := s.Search(ctx, c.q)
		must(t, err)
		if len(got) != c.want {
			t.Errorf("%s: got %d, want %d", c.name, len(got), c.want)
		}
	}
	got, _ := s.Search(ctx, store.Query{RoomIDs: []string{"r", "q"}})
	if got[0].Text != "BUILD green" {
		t.Errorf("search not newest first: %+v", got)
	}
}

func testInvitations(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	inv, err := s.AddInvitation(ctx, store.Invitation{RoomID: "r", User: "sip:u@d", By: "sip:m@d"})
	must(t, err)
	if inv.ID == 0 {
		t.Fatal("no id")
	}
	list, err := s.Invitations(ctx)
	must(t, err)
	if len(list) != 1 || list[0].By != "sip:m@d" || list[0].User != "sip:u@d" || list[0].RoomID != "r" || list[0].ID != inv.ID {
		t.Fatalf("invitations %+v", list)
	}
	second, err := s.AddInvitation(ctx, store.Invitation{RoomID: "r", User: "sip:v@d"})
	must(t, err)
	all, err := s.Invitations(ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != inv.ID || all[1].ID != second.ID {
		t.Fatalf("every invitation, in order of ID: %+v", all)
	}
	must(t, s.DeleteInvitations(ctx, "sip:u@d", "r"))
	list, err = s.Invitations(ctx)
	must(t, err)
	if len(list) != 1 || list[0].User != "sip:v@d" {
		t.Fatalf("after deleting u's: %+v", list)
	}
}
