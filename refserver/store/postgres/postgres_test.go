package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openDB opens a store on a fresh database and closes it when t ends.
func openDB(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	s, err := Open(ctxT(t), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

func TestStore(t *testing.T) {
	c := pgtest.Shared(t)
	var last string
	open := func(t *testing.T) store.Store {
		last = c.NewDatabase(t)
		s, err := Open(ctxT(t), last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	reopen := func(t *testing.T) store.Store {
		s, err := Open(ctxT(t), last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, open, reopen)
}

// TestAppendNeverBlocks: with commits stalled, Append refuses with
// store.ErrBusy once its queue is full instead of waiting (its caller holds
// a room's lock that the acknowledgements need).
func TestAppendNeverBlocks(t *testing.T) {
	storetest.RunBusy(t, func(t *testing.T, queue int) (store.Store, func()) {
		gate := make(chan struct{})
		var once sync.Once
		release := func() { once.Do(func() { close(gate) }) }
		s, _ := openDB(t, WithQueueLen(queue), WithBeforeCommit(func() { <-gate }))
		t.Cleanup(release) // runs before openDB's Close
		return s, release
	})
}

func TestOpenErrors(t *testing.T) {
	c := pgtest.Shared(t)
	ctx := ctxT(t)
	url := strings.Replace(c.URL("nope"), "gcload@", "gcload:secret@", 1)
	_, err := Open(ctx, url)
	if err == nil {
		t.Fatal("opened a missing database")
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("the error should name the database and not show the password: %v", err)
	}
	if _, err := Open(ctx, "postgres://gcload@127.0.0.1:1/x?connect_timeout=2"); err == nil {
		t.Fatal("connected to a closed port")
	}
}

func TestURL(t *testing.T) {
	for s, want := range map[string]bool{"postgres://h/db": true, "postgresql://u@h/db": true, "gc.db": false, "/var/lib/postgres.db": false, "file:x": false} {
		if IsURL(s) != want {
			t.Errorf("IsURL(%q) = %v", s, !want)
		}
	}
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db":                "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db?password=pw&sslmode=no": "postgres://u@h/db?password=xxxxx&sslmode=no",
		"postgres://h/db":                          "postgres://h/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func applied(t *testing.T, url string) []int {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func exec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.Shared(t).NewDatabase(t)
	// a database at version 1 (an older gcload) is brought up to date,
	// keeping its data
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := applied(t, url); fmt.Sprint(got) != fmt.Sprint([]int{1, 2, 3, 4, 5, 6}) || SchemaVersion() != 6 {
		t.Fatalf("migrations applied %v, schema version %d", got, SchemaVersion())
	}
	exec(t, url, `DROP TABLE servers, online, archive, export_cursors, files, category_roles, categories; ALTER TABLE messages DROP COLUMN file_id; DELETE FROM schema_migrations WHERE version >= 2`)
	exec(t, url, `INSERT INTO rooms (id, name, privacy, type, created_ns) VALUES ('kept', 'K', 'closed', 'normal', 0)`)
	exec(t, url, `INSERT INTO messages (room_id, seq, author, ts_ns, text) VALUES ('kept', 1, 'sip:a@d', 0, 'old')`)
	s, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	rooms, err := s.Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].ID != "kept" {
		t.Fatalf("rooms after migrating 1 -> 6: %+v %v", rooms, err)
	}
	if _, err := s.Servers(ctx, time.Minute); err != nil {
		t.Fatalf("migration 2 not applied: %v", err)
	}
	if _, err := s.Online(ctx, ""); err != nil {
		t.Fatalf("migration 3 not applied: %v", err)
	}
	if _, _, err := s.ReadArchive(ctx, store.ArchiveQuery{}); err != nil {
		t.Fatalf("migration 4 not applied: %v", err)
	}
	h, err := s.History(ctx, "kept", 10)
	if err != nil || len(h) != 1 || h[0].Text != "old" || h[0].File != "" {
		t.Fatalf("history after migrating 1 -> 6: %+v %v", h, err)
	}
	if n, err := s.CountFiles(ctx, "kept"); err != nil || n != 0 {
		t.Fatalf("migration 5 not applied: %d files, %v", n, err)
	}
	if cats, err := s.Categories(ctx); err != nil || len(cats) != 0 {
		t.Fatalf("migration 6 not applied: %+v, %v", cats, err)
	}
	if rooms[0].Category != "" {
		t.Fatalf("room kept after migrating: category %q", rooms[0].Category)
	}
	s.Close()
	if got := applied(t, url); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("migrations recorded %v", got)
	}
	// a database migrated by a newer gcload is refused, untouched
	exec(t, url, `INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')`)
	_, err = Open(ctx, url)
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("a newer schema: %v", err)
	}
	// a failing migration is rolled back whole and not recorded
	url2 := pgtest.Shared(t).NewDatabase(t)
	exec(t, url2, `CREATE TABLE servers (x int)`) // migration 2 will collide
	_, err = Open(ctx, url2)
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("a failing migration: %v", err)
	}
	if got := applied(t, url2); fmt.Sprint(got) != "[1]" {
		t.Fatalf("after a failed migration 2: recorded %v, want [1]", got)
	}
}

// TestMigrateFromArchive: a database at version 4 (the compliance
// archive, before file posts) with a post and its archive record is
// brought to version 5 keeping both, and then takes file posts.
func TestMigrateFromArchive(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.Shared(t).NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	err = migrateTo(ctx, pool, 4)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := applied(t, url); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("migrated to 4: recorded %v", got)
	}
	exec(t, url, `INSERT INTO rooms (id, name, privacy, type, created_ns, last_seq) VALUES ('kept', 'K', 'open', 'normal', 0, 1)`)
	exec(t, url, `INSERT INTO messages (room_id, seq, author, ts_ns, text) VALUES ('kept', 1, 'sip:a@d', 0, 'old')`)
	exec(t, url, `INSERT INTO archive (kind, room_id, user_uri, ts_ns, seq) VALUES ('CHAT', 'kept', 'sip:a@d', 0, 1)`)
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := applied(t, url); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("migrations recorded %v", got)
	}
	if err := s.AddFile(ctx, store.File{ID: "f", RoomID: "kept", Uploader: "sip:a@d", Name: "n", SHA256: "00", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := appendWait(s, store.Message{RoomID: "kept", Author: "sip:a@d", TS: time.Now(), Text: "n", File: "f"}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "kept", 10)
	if err != nil || len(h) != 2 || h[0].Text != "old" || h[0].File != "" || h[1].File != "f" {
		t.Fatalf("history after migrating 4 -> 5: %+v %v", h, err)
	}
	if n, err := s.CountFiles(ctx, "kept"); err != nil || n != 1 {
		t.Fatalf("files after migrating 4 -> 5: %d, %v", n, err)
	}
	ev, _, err := s.ReadArchive(ctx, store.ArchiveQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		got = append(got, fmt.Sprintf("%s %d %q %q", e.Kind, e.Seq, e.Text, e.Detail))
	}
	// the file post's upload in its transaction, after its CHAT
	if want := `[CHAT 1 "old" "" CHAT 2 "n" "" FILEUPLOAD 2 "" "n"]`; fmt.Sprint(got) != want {
		t.Fatalf("archive %s, want %s", got, want)
	}
}

// TestMigrateConcurrently: servers starting at once on an empty database
// all open it (the advisory lock serializes the migrations).
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := applied(t, url); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("migrations recorded %v", got)
	}
}

func appendWait(s *Store, m store.Message) (uint64, error) {
	type r struct {
		seq uint64
		err error
	}
	c := make(chan r, 1)
	if err := s.AppendSeq(m, func(seq uint64, err error) { c <- r{seq, err} }); err != nil {
		return 0, err
	}
	res := <-c
	return res.seq, res.err
}

// TestBadPostFailsAlone: in a batch, a duplicate, an out-of-order post and
// a post to a missing room fail; the others commit.
func TestBadPostFailsAlone(t *testing.T) {
	s, _ := openDB(t)
	ctx := ctxT(t)
	if err := s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	if _, err := appendWait(s, store.Message{RoomID: "r", Seq: 5, Author: "sip:a@d", TS: time.Now(), Text: "five"}); err != nil {
		t.Fatal(err)
	}
	// queue them while the writer is busy, so they share a batch
	msgs := []store.Message{
		{RoomID: "r", Seq: 6, Text: "ok 6"},
		{RoomID: "r", Seq: 6, Text: "dup 6"},
		{RoomID: "r", Seq: 3, Text: "old 3"},
		{RoomID: "missing", Seq: 1, Text: "no room"},
		{RoomID: "r", Seq: 9, Text: "ok 9 after a gap"},
		{RoomID: "r", Text: "assigned 10"},
	}
	errs := make([]error, len(msgs))
	seqs := make([]uint64, len(msgs))
	var wg sync.WaitGroup
	var order []int
	var mu sync.Mutex
	for i, m := range msgs {
		m.Author, m.TS = "sip:a@d", time.Now()
		wg.Add(1)
		if err := s.AppendSeq(m, func(seq uint64, err error) {
			mu.Lock()
			seqs[i], errs[i] = seq, err
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2 3 4 5]" {
		t.Errorf("acknowledged in order %v", order)
	}
	for i, wantErr := range []bool{false, true, true, true, false, false} {
		if (errs[i] != nil) != wantErr {
			t.Errorf("post %q: err %v", msgs[i].Text, errs[i])
		}
	}
	if !errors.Is(errs[3], store.ErrNotFound) {
		t.Errorf("post to a missing room: %v, want store.ErrNotFound", errs[3])
	}
	if seqs[5] != 10 {
		t.Errorf("assigned seq %d, want 10", seqs[5])
	}
	h, err := s.History(ctx, "r", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range h {
		got = append(got, fmt.Sprintf("%d:%s", m.Seq, m.Text))
	}
	if fmt.Sprint(got) != "[5:five 6:ok 6 9:ok 9 after a gap 10:assigned 10]" {
		t.Errorf("stored %v", got)
	}
	if st := s.Stats(); st.Appended != 4 || st.Failed != 3 {
		t.Errorf("stats %+v", st)
	}
	rooms, _ := s.Rooms(ctx)
	if len(rooms) != 1 || rooms[0].LastSeq != 10 {
		t.Errorf("rooms %+v", rooms)
	}
}

// TestSequenceAcrossServers: two stores (two servers) on one database
// append to the same rooms at once, with sequence numbers assigned at
// commit, taking the rooms in opposite orders: every post gets a distinct
// number, each room is numbered 1..N without a gap, and no batch fails (the
// rooms' rows are locked in one order: no deadlock).
func TestSequenceAcrossServers(t *testing.T) {
	a, url := openDB(t, WithMaxBatch(7)) // many small batches that overlap
	ctx := ctxT(t)
	b, err := Open(ctx, url, WithMaxBatch(7))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rooms := []string{"r1", "r2", "r3"}
	for _, r := range rooms {
		if err := a.PutRoom(ctx, store.Room{ID: r, Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	const per = 300
	var mu sync.Mutex
	got := map[string]map[uint64]string{}
	var errs []error
	var wg sync.WaitGroup
	for si, s := range []*Store{a, b} {
		wg.Add(per * len(rooms))
		go func() {
			for i := 0; i < per; i++ {
				for k := range rooms {
					room := rooms[k]
					if si == 1 {
						room = rooms[len(rooms)-1-k]
					}
					text := fmt.Sprintf("s%d %s %d", si, room, i)
					qerr := s.AppendSeq(store.Message{RoomID: room, Author: "sip:a@d", TS: time.Now(), Text: text}, func(seq uint64, err error) {
						mu.Lock()
						defer mu.Unlock()
						defer wg.Done()
						if err != nil {
							errs = append(errs, err)
							return
						}
						if got[room] == nil {
							got[room] = map[uint64]string{}
						}
						if prev, dup := got[room][seq]; dup {
							errs = append(errs, fmt.Errorf("%s seq %d given to %q and %q", room, seq, prev, text))
						}
						got[room][seq] = text
					})
					if qerr != nil {
						mu.Lock()
						errs = append(errs, qerr)
						mu.Unlock()
						wg.Done()
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		h, err := a.ReadSince(ctx, r, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2*per {
			t.Fatalf("room %s: %d stored, want %d", r, len(h), 2*per)
		}
		last := map[string]int{"s0": -1, "s1": -1}
		for i, m := range h {
			if m.Seq != uint64(i+1) || got[r][m.Seq] != m.Text {
				t.Fatalf("room %s: row %d is seq %d %q (acknowledged as %q)", r, i, m.Seq, m.Text, got[r][m.Seq])
			}
			// each server's posts keep the order it appended them in
			var srv string
			var n int
			fmt.Sscanf(m.Text, "%s %s %d", &srv, new(string), &n)
			if n <= last[srv] {
				t.Fatalf("room %s: %q after %d of the same server", r, m.Text, last[srv])
			}
			last[srv] = n
		}
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("server a: %d posts in %d commits; server b: %d in %d", sa.Appended, sa.Commits, sb.Appended, sb.Commits)
}

// TestSubscribe: a subscriber on one store is woken by the commits of
// another (a second server) with the room and its new last sequence
// number, only once the rows are visible; a lost connection is followed by
// a Resync, and a post committed while it was lost is caught up from the
// table.
func TestSubscribe(t *testing.T) {
	a, url := openDB(t)
	ctx := ctxT(t)
	b, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, r := range []string{"x", "y"} {
		if err := a.PutRoom(ctx, store.Room{ID: r, Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	wakes := make(chan Wake, 1000)
	sctx, cancel := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- a.Subscribe(sctx, func(w Wake) { wakes <- w }) }()
	defer func() { cancel(); <-subDone }()
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
		t.Fatalf("first wake %+v, want a resync", w)
	}
	// posts from server b, one room after the other
	for i := 1; i <= 3; i++ {
		if _, err := appendWait(b, store.Message{RoomID: "x", Author: "sip:a@d", TS: time.Now(), Text: fmt.Sprint("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := appendWait(b, store.Message{RoomID: "y", Author: "sip:a@d", TS: time.Now(), Text: "y1"}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for len(seen) < 4 {
		w := next()
		seen = append(seen, fmt.Sprintf("%s%d", w.Room, w.Seq))
		// the rows a wake announces are committed
		msgs, err := a.ReadSince(ctx, w.Room, w.Seq-1, 0)
		if err != nil || len(msgs) == 0 || msgs[0].Seq != w.Seq {
			t.Fatalf("wake %+v: read %+v %v", w, msgs, err)
		}
	}
	if fmt.Sprint(seen) != "[x1 x2 x3 y1]" {
		t.Fatalf("wakes %v, want [x1 x2 x3 y1] (commit order)", seen)
	}
	// lose the subscriber's connection; post while it reconnects
	exec(t, url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
	if _, err := appendWait(b, store.Message{RoomID: "x", Author: "sip:a@d", TS: time.Now(), Text: "x4"}); err != nil {
		t.Fatal(err)
	}
	for {
		w := next()
		if w.Resync {
			break
		}
		// x4 may have been notified before the connection was lost
		if w.Room != "x" || w.Seq != 4 {
			t.Fatalf("wake %+v before the resync", w)
		}
	}
	last, err := a.LastSeqs(ctx)
	if err != nil || last["x"] != 4 || last["y"] != 1 {
		t.Fatalf("catching up after the resync: %v %v", last, err)
	}
	msgs, err := a.ReadSince(ctx, "x", 3, 0)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "x4" {
		t.Fatalf("x since 3: %+v %v", msgs, err)
	}
	// and notifications flow again
	if _, err := appendWait(b, store.Message{RoomID: "y", Author: "sip:a@d", TS: time.Now(), Text: "y2"}); err != nil {
		t.Fatal(err)
	}
	for {
		w := next()
		if w.Room == "y" && w.Seq == 2 {
			break
		}
		if !(w.Room == "x" && w.Seq == 4) {
			t.Fatalf("unexpected wake %+v", w)
		}
	}
	// a malformed notification is a resync, not a crash
	exec(t, url, `SELECT pg_notify($1, 'garbage')`, NotifyChannel)
	if w := next(); !w.Resync {
		t.Fatalf("malformed payload: %+v", w)
	}
	// Close ends the subscription
	a.Close()
	select {
	case err := <-subDone:
		if err != nil {
			t.Fatal(err)
		}
		subDone <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe did not return after Close")
	}
}

func TestParseWake(t *testing.T) {
	for in, want := range map[string]Wake{"room1 42": {Room: "room1", Seq: 42}, "a.b-c_d 1": {Room: "a.b-c_d", Seq: 1}} {
		if got, ok := parseWake(in); !ok || got != want {
			t.Errorf("parseWake(%q) = %+v %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "room", "room x", " 5", "bad room 5", "room -1"} {
		if _, ok := parseWake(in); ok {
			t.Errorf("parseWake(%q) accepted", in)
		}
	}
}

func TestServers(t *testing.T) {
	s, url := openDB(t)
	ctx := ctxT(t)
	for _, srv := range []Server{
		{ID: "b", Addr: "10.0.0.2:5061", URIs: []string{"sip:gcs1@b"}, Load: 3},
		{ID: "a", Addr: "10.0.0.1:5061", URIs: []string{"sip:gcs1@a", "sip:gcs2@a"}},
		{ID: "c", Addr: "10.0.0.3:5061"},
	} {
		if err := s.Register(ctx, srv); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Register(ctx, Server{Addr: "x"}); err == nil {
		t.Fatal("registered a server without an id")
	}
	live, err := s.Servers(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 3 || live[0].ID != "a" || len(live[0].URIs) != 2 || live[1].Load != 3 || live[2].URIs == nil || live[0].Heartbeat.IsZero() {
		t.Fatalf("servers %+v", live)
	}
	// c stopped heart-beating an hour ago (the database's clock)
	exec(t, url, `UPDATE servers SET heartbeat = now() - interval '1 hour' WHERE id = 'c'`)
	if err := s.Heartbeat(ctx, "b", 7); err != nil {
		t.Fatal(err)
	}
	live, _ = s.Servers(ctx, time.Minute)
	if len(live) != 2 || live[0].ID != "a" || live[1].ID != "b" || live[1].Load != 7 {
		t.Fatalf("live servers %+v, want a and b (load 7)", live)
	}
	gone, err := s.ExpireServers(ctx, time.Minute)
	if err != nil || fmt.Sprint(gone) != "[c]" {
		t.Fatalf("expired %v %v", gone, err)
	}
	if err := s.Heartbeat(ctx, "c", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("heartbeat of an expired server: %v, want store.ErrNotFound", err)
	}
	if err := s.Deregister(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	live, _ = s.Servers(ctx, time.Minute)
	if len(live) != 1 || live[0].ID != "b" {
		t.Fatalf("after deregistering a: %+v", live)
	}
}

// TestRunMembership: a member registers, heart-beats with its load,
// registers again after being expired, and deregisters when it stops.
func TestRunMembership(t *testing.T) {
	s, url := openDB(t)
	ctx := ctxT(t)
	var mu sync.Mutex
	var again atomic.Int32
	load := int64(1)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.RunMembership(mctx, Server{ID: "me", Addr: "127.0.0.1:5061"}, 20*time.Millisecond, func() int64 {
			mu.Lock()
			defer mu.Unlock()
			return load
		}, func() { again.Add(1) })
	}()
	waitFor := func(what string, ok func([]Server) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			live, err := s.Servers(ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if ok(live) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: servers %+v", what, live)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("registered", func(l []Server) bool { return len(l) == 1 && l[0].ID == "me" && l[0].Load == 1 })
	mu.Lock()
	load = 42
	mu.Unlock()
	waitFor("load heart-beaten", func(l []Server) bool { return len(l) == 1 && l[0].Load == 42 })
	exec(t, url, `DELETE FROM servers`) // expired by another server
	waitFor("registered again", func(l []Server) bool { return len(l) == 1 && l[0].ID == "me" })
	for deadline := time.Now().Add(20 * time.Second); again.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("registered again without calling registered")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if live, _ := s.Servers(ctx, time.Hour); len(live) != 0 {
		t.Fatalf("still registered after stopping: %+v", live)
	}
}

// TestPostgresCrash kills the PostgreSQL server itself (SIGKILL to every
// process of its own cluster) while posts are being appended, then
// restarts it: every post the store acknowledged is in the database after
// recovery; the posts in flight failed (reported to their callers, never
// acknowledged), and the store works again once the server is back.
func TestPostgresCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb of a cluster of its own")
	}
	if _, err := pgtest.FindBin(); err != nil {
		t.Skip(err)
	}
	ctx := ctxT(t)
	c, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.CreateDatabase(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
	url := c.URL("crash") + "&connect_timeout=2"
	s, err := Open(ctx, url, WithCommitTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutRoom(ctx, store.Room{ID: "r", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	failed := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() { // one poster per goroutine, waiting for each answer
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("w%d %d", w, i)
				_, err := appendWait(s, store.Message{RoomID: "r", Author: "sip:a@d", TS: time.Now(), Text: text})
				mu.Lock()
				if err == nil {
					acked[text] = true
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d posts acknowledged in 20 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	// posting goes on against the dead server for a moment: all fail
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		f := failed
		mu.Unlock()
		if f >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no post failed while PostgreSQL was down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// the store reconnects by itself: posting succeeds again
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n > before+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("posting did not recover after PostgreSQL restarted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	h, err := s.History(ctx, "r", -1)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for i, m := range h {
		stored[m.Text] = true
		if i > 0 && m.Seq <= h[i-1].Seq {
			t.Fatalf("sequence numbers out of order after recovery: %d after %d", m.Seq, h[i-1].Seq)
		}
	}
	for text := range acked {
		if !stored[text] {
			t.Errorf("acknowledged post %q lost in the crash of PostgreSQL", text)
		}
	}
	t.Logf("%d acknowledged (%d before the crash), %d failed, %d stored", len(acked), before, failed, len(h))
}

// BenchmarkAppend: group commit with 1 to 256 posters waiting for their
// acknowledgements, on the shared throw-away cluster (fsync on); besides
// storetest.BenchAppend's figures, the commit latency (the transaction from
// BEGIN to COMMIT) p50 and p99 (docs/performance.md).
func BenchmarkAppend(b *testing.B) {
	for _, inflight := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			commit := hdrhistogram.New(1, 60_000_000, 3)
			s, _ := openDB(b, WithOnCommit(func(_ int, took time.Duration) { _ = commit.RecordValue(took.Microseconds()) }))
			storetest.BenchAppend(b, s, inflight)
			b.ReportMetric(float64(commit.ValueAtQuantile(50)), "commit-p50-µs")
			b.ReportMetric(float64(commit.ValueAtQuantile(99)), "commit-p99-µs")
		})
	}
}

// TestWarnsWithoutDurability: a database whose commits do not wait for the
// disk (here synchronous_commit=off for the store's sessions) is used, with
// a warning that a crash may lose acknowledged posts.
func TestWarnsWithoutDurability(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	for _, c := range []struct {
		url  string
		warn bool
	}{{url, false}, {url + "&synchronous_commit=off", true}} {
		var log strings.Builder
		s, err := Open(ctxT(t), c.url, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got := strings.Contains(log.String(), "may lose acknowledged posts"); got != c.warn {
			t.Errorf("%s: warned %v, want %v: %q", c.url, got, c.warn, log.String())
		}
	}
}

// TestSearchPath: search_path in the URL keeps the tables in that schema
// (README: a schema other than public).
func TestSearchPath(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	exec(t, url, `CREATE SCHEMA gc`)
	s, err := Open(ctxT(t), url+"&search_path=gc")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoom(ctxT(t), store.Room{ID: "r", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctxT(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var inGC, inPublic int
	if err := conn.QueryRow(ctxT(t), `SELECT count(*) FILTER (WHERE table_schema = 'gc'), count(*) FILTER (WHERE table_schema = 'public')
		FROM information_schema.tables WHERE table_name IN ('rooms', 'messages', 'schema_migrations')`).Scan(&inGC, &inPublic); err != nil {
		t.Fatal(err)
	}
	var rooms int
	if err := conn.QueryRow(ctxT(t), `SELECT count(*) FROM gc.rooms`).Scan(&rooms); err != nil || inGC != 3 || inPublic != 0 || rooms != 1 {
		t.Fatalf("tables in gc %d, in public %d, rooms in gc %d (%v)", inGC, inPublic, rooms, err)
	}
}
