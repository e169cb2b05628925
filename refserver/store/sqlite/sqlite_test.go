package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/storetest"
)

func TestStore(t *testing.T) {
	var last string
	open := func(t *testing.T) store.Store {
		last = filepath.Join(t.TempDir(), "gc.db")
		s, err := Open(last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	reopen := func(t *testing.T) store.Store {
		s, err := Open(last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, open, reopen)
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Fatal("opened a database in a missing directory")
	}
}

// BenchmarkAppend: group commit with 1 to 256 posters waiting for their
// acknowledgements (docs/performance.md).
func BenchmarkAppend(b *testing.B) {
	for _, inflight := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "gc.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchAppend(b, s, inflight)
		})
	}
}

// TestAppendNeverBlocks: with commits stalled, Append refuses with
// store.ErrBusy once its queue is full instead of waiting (its caller holds
// a room's lock that the acknowledgements need).
func TestAppendNeverBlocks(t *testing.T) {
	storetest.RunBusy(t, func(t *testing.T, queue int) (store.Store, func()) {
		gate := make(chan struct{})
		s, err := OpenWith(filepath.Join(t.TempDir(), "gc.db"), Options{QueueLen: queue, BeforeCommit: func() { <-gate }})
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		release := func() { once.Do(func() { close(gate) }) }
		t.Cleanup(func() { release(); s.Close() })
		return s, release
	})
}

// TestPathIsAFileName: the database path is a file name, never a URI
// query: "x?_pragma=synchronous(OFF)" creates a file of that name and the
// database still commits with synchronous=FULL.
func TestPathIsAFileName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"x?_pragma=synchronous(OFF)", "y#frag", "z%3F_pragma=synchronous(OFF)"} {
		path := filepath.Join(dir, name)
		s, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var mode int
		if err := s.db.QueryRow("PRAGMA synchronous").Scan(&mode); err != nil || mode != 2 {
			t.Fatalf("%s: synchronous %d %v, want 2 (FULL)", name, mode, err)
		}
		s.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: no file of that name: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == "x" || e.Name() == "y" || e.Name() == "z" {
			t.Fatalf("a file %q was created: the name was cut at its query", e.Name())
		}
	}
	// "//" at the start would be a URI authority
	if s, err := Open("/" + filepath.Join(dir, "slashes.db")); err != nil {
		t.Fatalf("path starting with //: %v", err)
	} else {
		s.Close()
	}
}

// TestOpenOldDatabase: a database made before file posts (messages
// without file_id, no files table), with or without the compliance
// archive, opens, keeps its messages and archive records and takes file
// posts (archived as CHAT and FILEUPLOAD records).
func TestOpenOldDatabase(t *testing.T) {
	before := []string{
		`CREATE TABLE rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', topic TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', privacy TEXT NOT NULL, type TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL)`,
		`CREATE TABLE messages (room_id TEXT NOT NULL, seq INTEGER NOT NULL, author TEXT NOT NULL, ts INTEGER NOT NULL, text TEXT NOT NULL, story INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room_id, seq)) WITHOUT ROWID`,
		`INSERT INTO rooms (id, name, privacy, type, created) VALUES ('r', 'R', 'closed', 'normal', 0)`,
		`INSERT INTO messages (room_id, seq, author, ts, text) VALUES ('r', 1, 'sip:a@d', 0, 'old')`,
	}
	withArchive := append(append([]string{}, before...),
		`CREATE TABLE archive (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, room_id TEXT NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE export_cursors (name TEXT PRIMARY KEY, tx INTEGER NOT NULL, id INTEGER NOT NULL)`,
		`INSERT INTO archive (kind, room_id, user, ts, seq) VALUES ('CHAT', 'r', 'sip:a@d', 0, 1)`,
	)
	for _, c := range []struct {
		name     string
		schema   []string
		archived []string // the archive's texts after the file post
	}{
		{"before files and archive", before, []string{"n", "upload n"}},
		{"archive without files", withArchive, []string{"old", "n", "upload n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			db, err := sql.Open("sqlite", fileURI(path))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range c.schema {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.AddFile(ctx, store.File{ID: "f", RoomID: "r", Uploader: "sip:a@d", Name: "n", SHA256: "00"}); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			if err := s.Append(store.Message{RoomID: "r", Seq: 2, Author: "sip:a@d", TS: time.Now(), Text: "n", File: "f"}, func(err error) { done <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			h, err := s.History(ctx, "r", 10)
			if err != nil || len(h) != 2 || h[0].Text != "old" || h[0].File != "" || h[1].File != "f" {
				t.Fatalf("history: %+v %v", h, err)
			}
			ev, _, err := s.ReadArchive(ctx, store.ArchiveQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, e := range ev {
				switch e.Kind {
				case store.EventChat:
					texts = append(texts, e.Text)
				case store.EventFileUpload:
					texts = append(texts, "upload "+e.Detail)
				}
			}
			if fmt.Sprint(texts) != fmt.Sprint(c.archived) {
				t.Fatalf("archived posts %q, want %q (%+v)", texts, c.archived, ev)
			}
		})
	}
}

// TestSlowCallbackDoesNotHoldCommits: while one committed post's callback
// is still running (a slow fan-out), the writer keeps committing what is
// queued behind it; the later callbacks wait and then run in commit order,
// each after its own commit.
func TestSlowCallbackDoesNotHoldCommits(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.PutRoom(ctx, store.Room{ID: "r", Name: "r", Privacy: store.Open, Type: store.Normal}); err != nil {
		t.Fatal(err)
	}
	msg := func(seq uint64) store.Message {
		return store.Message{RoomID: "r", Seq: seq, Author: "sip:a@example.com", TS: time.Now(), Text: "x"}
	}
	gate, entered := make(chan struct{}), make(chan struct{})
	var release sync.Once
	defer release.Do(func() { close(gate) }) // before Close, which waits for the callbacks
	var mu sync.Mutex
	var order []uint64
	ack := func(seq uint64) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("seq %d: %v", seq, err)
			}
			if seq == 1 {
				close(entered)
				<-gate
			}
			mu.Lock()
			order = append(order, seq)
			mu.Unlock()
		}
	}
	if err := s.Append(msg(1), ack(1)); err != nil {
		t.Fatal(err)
	}
	<-entered // post 1 committed; its callback holds the acker
	before := s.Stats().Commits
	const n = 3
	for seq := uint64(2); seq < 2+n; seq++ {
		if err := s.Append(msg(seq), ack(seq)); err != nil {
			t.Fatal(err)
		}
		// each is committed while the first callback still runs
		for deadline := time.Now().Add(10 * time.Second); s.Stats().Appended < seq; {
			if time.Now().After(deadline) {
				t.Fatalf("post %d not committed while an earlier callback ran (stats %+v)", seq, s.Stats())
			}
			time.Sleep(time.Millisecond)
		}
	}
	if c := s.Stats().Commits; c < before+1 {
		t.Fatalf("commits %d -> %d while a callback ran", before, c)
	}
	mu.Lock()
	if len(order) != 0 {
		t.Errorf("callbacks %v ran before the first one returned", order)
	}
	mu.Unlock()
	release.Do(func() { close(gate) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		got := append([]uint64(nil), order...)
		mu.Unlock()
		if len(got) == n+1 {
			for i, seq := range got {
				if seq != uint64(i+1) {
					t.Fatalf("callbacks in order %v, want commit order", got)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks %v after release", got)
		}
	}
}
