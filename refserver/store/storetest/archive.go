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

// record records events and waits for their acknowledgement.
func record(t *testing.T, s store.Store, events ...store.Event) {
	t.Helper()
	done := make(chan error, 1)
	must(t, s.Record(events, func(err error) { done <- err }))
	must(t, <-done)
}

// readAll reads the archive after c, a page of limit at a time.
func readAll(t *testing.T, s store.Store, q store.ArchiveQuery) ([]store.Event, store.Cursor) {
	t.Helper()
	var all []store.Event
	for {
		page, next, err := s.ReadArchive(context.Background(), q)
		must(t, err)
		if len(page) == 0 {
			if next != q.After {
				t.Fatalf("an empty page moved the cursor from %v to %v", q.After, next)
			}
			return all, next
		}
		if page[len(page)-1].Cursor != next {
			t.Fatalf("cursor %v is not the last record's %v", next, page[len(page)-1].Cursor)
		}
		all = append(all, page...)
		q.After = next
	}
}

// testArchive: posts write their CHAT records in their own transaction,
// Record writes the others in the same group commit, and the archive reads
// back in commit order, paged by cursor, without a record twice.
func testArchive(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	must(t, s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}))
	head, err := s.ArchiveHead(ctx)
	must(t, err)
	if head != (store.Cursor{}) {
		t.Fatalf("head of an empty archive: %v", head)
	}
	t0 := time.Unix(1_700_000_000, 123456789).UTC()
	record(t, s, store.Event{Kind: store.EventJoin, RoomID: "r", User: "sip:a@d", TS: t0},
		store.Event{Kind: store.EventJoin, RoomID: "r", User: "sip:b@d", TS: t0})
	appendN(t, s, "r", 1, 3)
	done := make(chan error, 1)
	mustAppend(t, s, store.Message{RoomID: "r", Seq: 4, Author: "sip:a@d", TS: time.Now(), Text: "not archived", SkipArchive: true}, func(err error) { done <- err })
	must(t, <-done)
	// a file post with its CHAT record only (the drop-file-records fault)
	mustAppend(t, s, store.Message{RoomID: "r", Seq: 5, Author: "sip:a@d", TS: time.Now(), Text: "f.txt", File: "f1", SkipUploadArchive: true}, func(err error) { done <- err })
	must(t, <-done)
	record(t, s, store.Event{Kind: store.EventBackchat, RoomID: "r", User: "sip:b@d", TS: t0.Add(time.Second), Detail: "3"})
	record(t, s, store.Event{Kind: store.EventFileUpload, RoomID: "r", User: "sip:b@d", TS: t0.Add(2 * time.Second), Detail: "a.txt"},
		store.Event{Kind: store.EventPart, RoomID: "r", User: "sip:a@d", TS: t0.Add(3 * time.Second), Detail: store.PartSessionEnded})

	all, last := readAll(t, s, store.ArchiveQuery{Limit: 2})
	var got []string
	for i, e := range all {
		got = append(got, fmt.Sprintf("%s %s %d %q %q", e.Kind, e.User, e.Seq, e.Text, e.Detail))
		if i > 0 && !all[i-1].Cursor.Less(e.Cursor) {
			t.Errorf("record %d: cursor %v not after %v", i, e.Cursor, all[i-1].Cursor)
		}
	}
	want := []string{
		`JOIN sip:a@d 0 "" ""`, `JOIN sip:b@d 0 "" ""`,
		`CHAT sip:a@d 1 "message 1" ""`, `CHAT sip:a@d 2 "message 2" ""`, `CHAT sip:a@d 3 "message 3" ""`, `CHAT sip:a@d 5 "f.txt" ""`,
		`BACKCHAT sip:b@d 0 "" "3"`, `FILEUPLOAD sip:b@d 0 "" "a.txt"`, `PART sip:a@d 0 "" "session ended"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("archive:\n got %q\nwant %q", got, want)
	}
	if !all[0].TS.Equal(t0) || all[0].RoomID != "r" {
		t.Errorf("first record: %+v, want room r at %v", all[0], t0)
	}
	if head, err := s.ArchiveHead(ctx); err != nil || head != last {
		t.Fatalf("head %v (%v), want the last record's %v", head, err, last)
	}
	// after the last record: nothing; a time range selects by TS
	if more, _ := readAll(t, s, store.ArchiveQuery{After: last}); len(more) != 0 {
		t.Fatalf("%d records after the last", len(more))
	}
	ranged, _ := readAll(t, s, store.ArchiveQuery{Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)})
	if len(ranged) != 2 || ranged[0].Kind != store.EventBackchat || ranged[1].Kind != store.EventFileUpload {
		t.Fatalf("records in [t0+1s, t0+3s): %+v", ranged)
	}
	// refused without a commit
	for _, bad := range [][]store.Event{nil, {{Kind: store.EventChat, RoomID: "r", User: "sip:a@d"}}, {{Kind: "CHAT2", RoomID: "r", User: "sip:a@d"}}} {
		if err := s.Record(bad, func(error) { t.Error("done called for refused records") }); err == nil {
			t.Errorf("Record(%v) accepted", bad)
		}
	}
	// export cursors
	c, err := s.ExportCursor(ctx, "x")
	must(t, err)
	if c != (store.Cursor{}) {
		t.Fatalf("cursor of an exporter that never ran: %v", c)
	}
	must(t, s.SetExportCursor(ctx, "x", all[3].Cursor))
	must(t, s.SetExportCursor(ctx, "x", last))
	if c, err := s.ExportCursor(ctx, "x"); err != nil || c != last {
		t.Fatalf("export cursor %v (%v), want %v", c, err, last)
	}
	for _, in := range []string{"", last.String()} {
		if c, err := store.ParseCursor(in); err != nil || (in != "" && c != last) {
			t.Fatalf("ParseCursor(%q) = %v, %v", in, c, err)
		}
	}
	for _, in := range []string{"1", "a.b", "1.-2", "1.2.3", "-1.2"} {
		if _, err := store.ParseCursor(in); err == nil {
			t.Errorf("ParseCursor(%q) accepted", in)
		}
	}
}

// testArchiveConcurrent: posts and records from many goroutines: every
// acknowledged one is in the archive exactly once, read in pages while
// they are written (a reader following the cursor misses none).
func testArchiveConcurrent(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	const writers, each = 8, 40
	for w := 0; w < writers; w++ {
		must(t, s.PutRoom(ctx, store.Room{ID: fmt.Sprintf("r%d", w), Name: "R"}))
	}
	seen := map[string]int{}
	var cur store.Cursor
	read := func() {
		page, next, err := s.ReadArchive(ctx, store.ArchiveQuery{After: cur, Limit: 7})
		must(t, err)
		for _, e := range page {
			seen[fmt.Sprintf("%s %s %d %s", e.Kind, e.RoomID, e.Seq, e.User)]++
		}
		cur = next
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("r%d", w)
			for i := 1; i <= each; i++ {
				done := make(chan error, 2)
				if err := appendRetry(s, store.Message{RoomID: room, Seq: uint64(i), Author: "sip:a@d", TS: time.Now(), Text: "x"}, func(err error) { done <- err }); err != nil {
					errs <- err
					return
				}
				for s.Record([]store.Event{{Kind: store.EventJoin, RoomID: room, User: fmt.Sprintf("sip:u%d@d", i), TS: time.Now()}}, func(err error) { done <- err }) != nil {
					time.Sleep(time.Millisecond)
				}
				if err := errors.Join(<-done, <-done); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-stop:
		default:
			read()
			if time.Now().After(deadline) {
				t.Fatal("writers did not finish in 30 s")
			}
			continue
		}
		break
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for {
		before := cur
		read()
		if cur == before {
			break
		}
	}
	for w := 0; w < writers; w++ {
		for i := 1; i <= each; i++ {
			for _, k := range []string{fmt.Sprintf("CHAT r%d %d sip:a@d", w, i), fmt.Sprintf("JOIN r%d 0 sip:u%d@d", w, i)} {
				if seen[k] != 1 {
					t.Errorf("%s read %d times, want once", k, seen[k])
				}
			}
		}
	}
	if len(seen) != writers*each*2 {
		t.Errorf("%d distinct records read, want %d", len(seen), writers*each*2)
	}
}
