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
	t.Run("RoomsUpdate", func(t *testing.T) { testRoomsUpdate(t, open(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("Files", func(t *testing.T) { testFiles(t, open(t)) })
	t.Run("Categories", func(t *testing.T) { testCategories(t, open, reopen) })
	t.Run("SearchLiteralAndLimits", func(t *testing.T) { testSearchLimits(t, open(t)) })
	t.Run("GroupCommitConcurrent", func(t *testing.T) { testGroupCommit(t, open(t)) })
	t.Run("Archive", func(t *testing.T) { testArchive(t, open(t)) })
	t.Run("ArchiveConcurrent", func(t *testing.T) { testArchiveConcurrent(t, open(t)) })
	t.Run("CloseCommitsQueued", func(t *testing.T) { testCloseCommitsQueued(t, open, reopen) })
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

// Stalled opens a store, under test, whose commits of appended messages
// wait until release is called, and which queues at most queue messages
// meanwhile.
type Stalled func(t *testing.T, queue int) (s store.Store, release func())

// RunBusy checks that Append never blocks: with commits stalled it refuses
// what its queue cannot hold with store.ErrBusy, at once and without
// calling done; once commits go on, every message it took is made durable,
// in order, and none it refused is stored. After Close it refuses with
// store.ErrClosed.
func RunBusy(t *testing.T, open Stalled) {
	const queue = 8
	s, release := open(t, queue)
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	var mu sync.Mutex
	var acked []uint64
	doneCalls := map[uint64]int{}
	var took []uint64
	busy := 0
	// the writer may hold some appends out of the queue, in the batch it
	// stalls on: a store that never refuses fails within 100 queues
	for seq := uint64(1); seq <= 100*queue; seq++ {
		m := store.Message{RoomID: "r", Seq: seq, Author: "sip:a@d", TS: time.Now(), Text: fmt.Sprintf("message %d", seq)}
		ret := make(chan error, 1)
		go func() {
			ret <- s.Append(m, func(err error) {
				mu.Lock()
				doneCalls[m.Seq]++
				if err == nil {
					acked = append(acked, m.Seq)
				}
				mu.Unlock()
			})
		}()
		select {
		case err := <-ret:
			switch {
			case err == nil:
				took = append(took, seq)
			case errors.Is(err, store.ErrBusy):
				busy++
			default:
				t.Fatalf("append #%d: %v", seq, err)
			}
		case <-time.After(10 * time.Second):
			release()
			t.Fatalf("append #%d blocked with commits stalled (it must return ErrBusy)", seq)
		}
		if busy > 0 {
			break
		}
	}
	if busy == 0 || len(took) < queue {
		release()
		t.Fatalf("took %d appends with commits stalled, refused %d; want about the queue of %d, then ErrBusy", len(took), busy, queue)
	}
	mu.Lock()
	early := len(doneCalls)
	mu.Unlock()
	if early != 0 {
		release()
		t.Fatalf("%d appends acknowledged while commits were stalled", early)
	}
	release()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == len(took) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d taken appends acknowledged after the stall ended", n, len(took))
		}
	}
	mu.Lock()
	for i, seq := range acked {
		if seq != took[i] || doneCalls[seq] != 1 {
			t.Fatalf("acknowledgements %v (done calls %v), want %v once each", acked, doneCalls, took)
		}
	}
	mu.Unlock()
	h, err := s.History(ctx, "r", 100)
	must(t, err)
	if len(h) != len(took) || h[len(h)-1].Seq != took[len(took)-1] {
		t.Fatalf("history holds %d messages, want the %d taken", len(h), len(took))
	}
	must(t, s.Close())
	if err := s.Append(store.Message{RoomID: "r", Seq: 999, Author: "sip:a@d", TS: time.Now(), Text: "late"}, func(error) { t.Error("done called for a refused append") }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustAppend appends m, waiting (up to 30 s) while the store is busy.
func mustAppend(t *testing.T, s store.Store, m store.Message, done func(error)) {
	t.Helper()
	if err := appendRetry(s, m, done); err != nil {
		t.Fatal(err)
	}
}

// appendRetry appends m, trying again (for up to 30 s) while the store is
// busy; done is called only when it returns nil.
func appendRetry(s store.Store, m store.Message, done func(error)) error {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		err := s.Append(m, done)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrBusy) || time.Now().After(deadline) {
			return fmt.Errorf("append %s #%d: %w", m.RoomID, m.Seq, err)
		}
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
		mustAppend(t, s, store.Message{RoomID: room, Seq: seq, Author: "sip:a@d", TS: time.Now(), Text: fmt.Sprintf("message %d", i)}, func(err error) {
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
	mustAppend(t, s, store.Message{RoomID: "r2", Seq: 3, Author: "sip:a@d", TS: time.Now(), Text: "dup"}, func(err error) { errc <- err })
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
		mustAppend(t, s, m, func(err error) { must(t, err); wg.Done() })
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

// testRoomsUpdate: an update replaces the roles (duplicates ignored) and
// keeps the creation time and the history; rooms come in byte order of ID.
func testRoomsUpdate(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	created := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	must(t, s.PutRoom(ctx, store.Room{ID: "a", Name: "A", Created: created,
		Members: []string{"sip:x@d", "sip:y@d", "sip:x@d"}, Managers: []string{"sip:m@d"}}))
	must(t, s.PutRoom(ctx, store.Room{ID: "B", Name: "Bee"}))
	must(t, s.PutRoom(ctx, store.Room{ID: "a.b", Name: "AB", Type: store.Auditorium, Privacy: store.Secret}))
	appendN(t, s, "a", 1, 7)
	must(t, s.PutRoom(ctx, store.Room{ID: "a", Name: "A2", Description: "d", Category: "c", Created: created.Add(time.Hour),
		Members: []string{"sip:z@d"}}))
	must(t, s.SetRole(ctx, "a", store.Presenter, []string{"sip:p@d", "sip:p@d", "sip:o@d"}))
	rooms, err := s.Rooms(ctx)
	must(t, err)
	var ids []string
	for _, r := range rooms {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[B a a.b]" {
		t.Fatalf("rooms in order %v, want [B a a.b] (bytes)", ids)
	}
	a := rooms[1]
	if a.Name != "A2" || a.Description != "d" || a.Category != "c" || !a.Created.Equal(created) || a.LastSeq != 7 {
		t.Errorf("updated room: %+v (created %v, want %v kept)", a, a.Created, created)
	}
	if fmt.Sprint(a.Members, a.Managers, a.Presenters) != "[sip:z@d] [] [sip:o@d sip:p@d]" {
		t.Errorf("roles after update: members %v managers %v presenters %v", a.Members, a.Managers, a.Presenters)
	}
	if r := rooms[2]; r.Type != store.Auditorium || r.Privacy != store.Secret || r.LastSeq != 0 || r.Members == nil {
		t.Errorf("room a.b: %+v", r)
	}
	h, err := s.History(ctx, "a", 100)
	must(t, err)
	if len(h) != 7 {
		t.Errorf("an update lost history: %d messages", len(h))
	}
}

// testRoundTrip: a stored post reads back exactly (time to the
// nanosecond, story flag, any text).
func testRoundTrip(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	want := []store.Message{
		{RoomID: "r", Seq: 1, Author: "sip:a@d", TS: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Text: "déjà vu ✓ <b>&amp;</b>\nsecond line\ttab", Story: true},
		{RoomID: "r", Seq: 2, Author: "sip:b@d", TS: time.Date(2026, 1, 2, 3, 4, 5, 123456790, time.UTC), Text: "'quoted' \"double\" \\ back"},
		{RoomID: "r", Seq: 3, Author: "sip:b@d", TS: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Text: "report.pdf", File: "f-1"},
	}
	var wg sync.WaitGroup
	for _, m := range want {
		wg.Add(1)
		mustAppend(t, s, m, func(err error) { must(t, err); wg.Done() })
	}
	wg.Wait()
	got, err := s.History(ctx, "r", 10)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d messages", len(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.RoomID != w.RoomID || g.Seq != w.Seq || g.Author != w.Author || !g.TS.Equal(w.TS) || g.Text != w.Text || g.Story != w.Story || g.File != w.File {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// testSearchLimits: the keyword is a literal (no pattern characters), the
// default limit is 100, History's limit is exact.
func testSearchLimits(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	appendN(t, s, "r", 1, 150) // "message 1" ... "message 150"
	texts := map[uint64]string{151: "50% done", 152: "a_b", 153: "axb"}
	var wg sync.WaitGroup
	for seq := uint64(151); seq <= 153; seq++ {
		wg.Add(1)
		mustAppend(t, s, store.Message{RoomID: "r", Seq: seq, Author: "sip:a@d", TS: time.Now(), Text: texts[seq]}, func(err error) { must(t, err); wg.Done() })
	}
	wg.Wait()
	for _, c := range []struct {
		kw   string
		want int
	}{{"50%", 1}, {"a_b", 1}, {"%", 1}, {"_", 1}, {"MESSAGE 15", 2}} {
		got, err := s.Search(ctx, store.Query{RoomIDs: []string{"r"}, Keyword: c.kw})
		must(t, err)
		if len(got) != c.want {
			t.Errorf("keyword %q: %d results, want %d (a literal substring)", c.kw, len(got), c.want)
		}
	}
	all, err := s.Search(ctx, store.Query{RoomIDs: []string{"r"}})
	must(t, err)
	if len(all) != 100 {
		t.Errorf("search without a limit: %d results, want the default 100", len(all))
	}
	if h, err := s.History(ctx, "r", 0); err != nil || len(h) != 0 {
		t.Errorf("history of the last 0: %d messages, %v", len(h), err)
	}
	if h, err := s.History(ctx, "nope", 10); err != nil || len(h) != 0 {
		t.Errorf("history of a missing room: %d messages, %v", len(h), err)
	}
	if h, err := s.History(ctx, "r", 1000); err != nil || len(h) != 153 || h[0].Seq != 1 {
		t.Errorf("history beyond the room's size: %d messages, %v", len(h), err)
	}
}

// testGroupCommit: posts appended concurrently to several rooms (one
// goroutine per room, as the hub appends under each room's lock) are
// acknowledged in each room's order, stored in that order, and share
// commits (posts per commit well above 1).
func testGroupCommit(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	const rooms, per = 4, 500
	for r := 0; r < rooms; r++ {
		must(t, s.PutRoom(ctx, store.Room{ID: fmt.Sprintf("g%d", r), Name: "G"}))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acks := make([][]uint64, rooms)
	var errs []error
	wg.Add(rooms * per)
	for r := 0; r < rooms; r++ {
		go func() {
			for i := 1; i <= per; i++ {
				seq := uint64(i)
				err := appendRetry(s, store.Message{RoomID: fmt.Sprintf("g%d", r), Seq: seq, Author: "sip:a@d", TS: time.Now(), Text: fmt.Sprintf("g%d %d", r, i)}, func(err error) {
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					acks[r] = append(acks[r], seq)
					mu.Unlock()
					wg.Done()
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					acks[r] = append(acks[r], seq)
					mu.Unlock()
					wg.Done()
				}
			}
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := 0
		for _, a := range acks {
			n += len(a)
		}
		mu.Unlock()
		if n == rooms*per {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d posts acknowledged in a minute", n, rooms*per)
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	for r, a := range acks {
		for i, seq := range a {
			if seq != uint64(i+1) {
				t.Fatalf("room g%d: acknowledgement %d is seq %d (out of order)", r, i, seq)
			}
		}
		h, err := s.History(ctx, fmt.Sprintf("g%d", r), per+1)
		must(t, err)
		if len(h) != per {
			t.Fatalf("room g%d: %d stored", r, len(h))
		}
		for i, m := range h {
			if m.Seq != uint64(i+1) || m.Text != fmt.Sprintf("g%d %d", r, i+1) {
				t.Fatalf("room g%d: stored %d is %d %q", r, i, m.Seq, m.Text)
			}
		}
	}
	st := s.Stats()
	if st.Appended != rooms*per || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Commits == 0 || st.Commits*2 > st.Appended {
		t.Fatalf("%d posts in %d commits: group commit should put several posts in a commit", st.Appended, st.Commits)
	}
	t.Logf("%d posts in %d commits (%.1f per commit)", st.Appended, st.Commits, float64(st.Appended)/float64(st.Commits))
}

// testCloseCommitsQueued: Close commits what is queued and acknowledges
// it; the posts are there after a reopen; an append after Close fails with
// store.ErrClosed.
func testCloseCommitsQueued(t *testing.T, open, reopen Opener) {
	s := open(t)
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	const n = 500
	var mu sync.Mutex
	acked, failed := 0, 0
	for i := 1; i <= n; i++ {
		mustAppend(t, s, store.Message{RoomID: "r", Seq: uint64(i), Author: "sip:a@d", TS: time.Now(), Text: "queued"}, func(err error) {
			mu.Lock()
			if err != nil {
				failed++
			} else {
				acked++
			}
			mu.Unlock()
		})
	}
	must(t, s.Close())
	mu.Lock()
	if acked != n || failed != 0 {
		t.Fatalf("after Close: %d acknowledged, %d failed of %d queued", acked, failed, n)
	}
	mu.Unlock()
	if err := s.Append(store.Message{RoomID: "r", Seq: n + 1, Author: "sip:a@d", TS: time.Now(), Text: "late"}, func(error) {
		t.Error("done called for an append refused after Close")
	}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after Close: %v, want store.ErrClosed", err)
	}
	s2 := reopen(t)
	defer s2.Close()
	h, err := s2.History(ctx, "r", 2*n)
	must(t, err)
	if len(h) != n || h[n-1].Seq != n {
		t.Fatalf("after reopen: %d messages", len(h))
	}
}

// testFiles: file metadata reads back as written, an id is stored once,
// a missing id is ErrNotFound, files are counted per room, and a file
// post found by search names its file.
func testFiles(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	f := store.File{ID: "f-1", RoomID: "r", Uploader: "sip:a@d", Name: "déjà vu.txt", Size: 1 << 40, SHA256: "ab01", Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	must(t, s.AddFile(ctx, f))
	must(t, s.AddFile(ctx, store.File{ID: "f-2", RoomID: "r", Uploader: "sip:a@d", Name: "b", SHA256: "00"}))
	must(t, s.AddFile(ctx, store.File{ID: "f-3", RoomID: "other", Uploader: "sip:a@d", Name: "c", SHA256: "00"}))
	if err := s.AddFile(ctx, store.File{ID: "f-1", RoomID: "r", Uploader: "sip:b@d", Name: "again"}); err == nil {
		t.Fatal("a second file with id f-1 was stored")
	}
	got, err := s.File(ctx, "f-1")
	must(t, err)
	if got != f {
		t.Fatalf("file:\n got %+v\nwant %+v", got, f)
	}
	if _, err := s.File(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing file: %v, want ErrNotFound", err)
	}
	for room, want := range map[string]int{"r": 2, "other": 1, "none": 0} {
		n, err := s.CountFiles(ctx, room)
		must(t, err)
		if n != want {
			t.Errorf("files of %q: %d, want %d", room, n, want)
		}
	}
	done := make(chan error, 1)
	mustAppend(t, s, store.Message{RoomID: "r", Seq: 1, Author: "sip:a@d", TS: time.Now().UTC(), Text: f.Name, File: f.ID}, func(err error) { done <- err })
	must(t, <-done)
	found, err := s.Search(ctx, store.Query{RoomIDs: []string{"r"}, Keyword: "vu.txt"})
	must(t, err)
	if len(found) != 1 || found[0].File != "f-1" {
		t.Fatalf("search for the file post: %+v", found)
	}
}

// testCategories: categories are stored with their parent, override flag,
// members and creators, replaced whole by PutCategory, and read back after
// a close.
func testCategories(t *testing.T, open, reopen Opener) {
	s := open(t)
	ctx := context.Background()
	cats, err := s.Categories(ctx)
	must(t, err)
	if len(cats) != 0 {
		t.Fatalf("a new store has categories: %+v", cats)
	}
	must(t, s.PutCategory(ctx, store.Category{ID: "top", Name: "Top", Members: []string{"sip:b@d", "sip:a@d"}, Creators: []string{"sip:a@d"}}))
	must(t, s.PutCategory(ctx, store.Category{ID: "sub", Name: "Sub", Parent: "top", Override: true, Members: []string{"sip:c@d"}}))
	if err := s.PutCategory(ctx, store.Category{ID: "bad id", Name: "x"}); err == nil {
		t.Fatal("a category with a bad id was stored")
	}
	// replaced whole: the members not listed are gone
	must(t, s.PutCategory(ctx, store.Category{ID: "top", Name: "Top 2", Members: []string{"sip:a@d"}, Creators: []string{"sip:a@d", "sip:e@d"}}))
	must(t, s.Close())
	s = reopen(t)
	defer s.Close()
	cats, err = s.Categories(ctx)
	must(t, err)
	got := fmt.Sprintf("%d", len(cats))
	for _, c := range cats {
		got += fmt.Sprintf(" %s/%s/%s/%v/%v/%v/%v", c.ID, c.Name, c.Parent, c.Override, c.Members, c.Creators, c.Created.IsZero())
	}
	want := "2 sub/Sub/top/true/[sip:c@d]/[]/false top/Top 2//false/[sip:a@d]/[sip:a@d sip:e@d]/false"
	if got != want {
		t.Fatalf("categories read back:\n got %s\nwant %s", got, want)
	}
}
