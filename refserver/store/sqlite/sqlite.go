// Package sqlite is the reference server's embedded store: SQLite in WAL
// mode with synchronous=FULL, so a committed transaction survives a crash
// or a power cut, and group commit, so that every post queued while one
// transaction commits shares the next transaction and its single flush.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/store"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Defaults of Options.
const (
	// DefaultMaxBatch bounds the posts committed in one transaction.
	DefaultMaxBatch = 512
	// DefaultQueueLen bounds the posts waiting for a commit; Append
	// refuses more with store.ErrBusy.
	DefaultQueueLen = 4096
)

// Options of a Store; zero values take the defaults.
type Options struct {
	MaxBatch, QueueLen int
	// BeforeCommit, when set, is called by the writer before every
	// commit of appended messages (tests stall it to play a slow disk).
	BeforeCommit func()
}

const schema = `
CREATE TABLE IF NOT EXISTS rooms (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	topic TEXT NOT NULL DEFAULT '',
	category TEXT NOT NULL DEFAULT '',
	privacy TEXT NOT NULL,
	type TEXT NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS room_roles (
	room_id TEXT NOT NULL REFERENCES rooms(id),
	user TEXT NOT NULL,
	role TEXT NOT NULL,
	PRIMARY KEY (room_id, role, user)
);
CREATE TABLE IF NOT EXISTS messages (
	room_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	author TEXT NOT NULL,
	ts INTEGER NOT NULL,
	text TEXT NOT NULL,
	story INTEGER NOT NULL DEFAULT 0,
	file_id TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_author ON messages(author, ts);
CREATE TABLE IF NOT EXISTS invitations (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	room_id TEXT NOT NULL,
	user TEXT NOT NULL,
	by_user TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS invitations_user ON invitations(user);
CREATE TABLE IF NOT EXISTS files (
	id TEXT PRIMARY KEY,
	room_id TEXT NOT NULL,
	uploader TEXT NOT NULL,
	name TEXT NOT NULL,
	size INTEGER NOT NULL,
	sha256 TEXT NOT NULL,
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_room ON files(room_id);
CREATE TABLE IF NOT EXISTS archive (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	room_id TEXT NOT NULL,
	user TEXT NOT NULL,
	ts INTEGER NOT NULL,
	seq INTEGER NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS export_cursors (
	name TEXT PRIMARY KEY,
	tx INTEGER NOT NULL,
	id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS categories (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	parent TEXT NOT NULL DEFAULT '',
	override INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS category_roles (
	category_id TEXT NOT NULL REFERENCES categories(id),
	user TEXT NOT NULL,
	role TEXT NOT NULL,
	PRIMARY KEY (category_id, role, user)
);
`

// The schema migrates itself: its tables are created IF NOT EXISTS, so a
// database made by an older gcload gains the tables added since (the
// archive, files, categories) when it is opened; a column added to an
// existing table is added by a step of its own (addFileColumn).

// addFileColumn gives a database made before file posts its
// messages.file_id column.
const addFileColumn = `ALTER TABLE messages ADD COLUMN file_id TEXT NOT NULL DEFAULT ''`

// Store is the SQLite store.
type Store struct {
	db       *sql.DB
	queue    chan pending
	maxBatch int
	before   func()
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool

	appended, commits, failed atomic.Uint64
}

// pending is a post (ev nil) or archive records to commit.
type pending struct {
	m    store.Message
	ev   []store.Event
	done func(error)
}

// Open opens (creating if needed) the database at path, with the default
// options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if needed) the database at path. path is a file
// name, never a URI or its query: "x?_pragma=synchronous(OFF)" names a
// file of that name and changes no setting.
func OpenWith(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	dsn := fileURI(path) + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: journal mode is %q, want wal", path, mode)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: create schema in %s: %w", path, err)
	}
	var hasFile int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'file_id'`).Scan(&hasFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: schema of %s: %w", path, err)
	}
	if hasFile == 0 {
		if _, err := db.ExecContext(ctx, addFileColumn); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: add messages.file_id in %s: %w", path, err)
		}
	}
	var syncMode int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil || syncMode != 2 {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: synchronous is %d (%v), want 2 (FULL)", path, syncMode, err)
	}
	s := &Store{db: db, queue: make(chan pending, o.QueueLen), maxBatch: o.MaxBatch, before: o.BeforeCommit, done: make(chan struct{})}
	go s.writer()
	return s, nil
}

// fileURI makes an SQLite URI of a file name: the characters a URI gives
// a meaning to ('?' starts the query, '#' the fragment, '%' an escape) are
// escaped, so that no part of the name is read as settings.
func fileURI(path string) string {
	p := filepath.Clean(path) // also "//x" (an authority in a URI) to "/x"
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '?', '#', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Rooms implements store.Store.
func (s *Store) Rooms(ctx context.Context) ([]store.Room, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.name, r.description, r.topic, r.category, r.privacy, r.type, r.disabled, r.created,
		COALESCE((SELECT MAX(seq) FROM messages m WHERE m.room_id = r.id), 0) FROM rooms r ORDER BY r.id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rooms: %w", err)
	}
	defer rows.Close()
	var out []store.Room
	idx := map[string]int{}
	for rows.Next() {
		var r store.Room
		var created int64
		var disabled int
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.Topic, &r.Category, &r.Privacy, &r.Type, &disabled, &created, &r.LastSeq); err != nil {
			return nil, fmt.Errorf("sqlite: rooms: %w", err)
		}
		r.Disabled = disabled != 0
		r.Created = time.Unix(0, created).UTC()
		r.Members, r.Managers, r.Presenters = []string{}, []string{}, []string{}
		idx[r.ID] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: rooms: %w", err)
	}
	roles, err := s.db.QueryContext(ctx, `SELECT room_id, user, role FROM room_roles ORDER BY room_id, role, user`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: roles: %w", err)
	}
	defer roles.Close()
	for roles.Next() {
		var id, user, role string
		if err := roles.Scan(&id, &user, &role); err != nil {
			return nil, fmt.Errorf("sqlite: roles: %w", err)
		}
		i, ok := idx[id]
		if !ok {
			continue
		}
		r := &out[i]
		switch store.Role(role) {
		case store.Member:
			r.Members = append(r.Members, user)
		case store.Manager:
			r.Managers = append(r.Managers, user)
		case store.Presenter:
			r.Presenters = append(r.Presenters, user)
		}
	}
	return out, roles.Err()
}

// PutRoom implements store.Store.
func (s *Store) PutRoom(ctx context.Context, r store.Room) error {
	r.Defaults()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sqlite: room %q: %w", r.ID, err)
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: put room %q: %w", r.ID, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO rooms (id, name, description, topic, category, privacy, type, disabled, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET name=excluded.name, description=excluded.description, topic=excluded.topic,
		category=excluded.category, privacy=excluded.privacy, type=excluded.type`,
		r.ID, r.Name, r.Description, r.Topic, r.Category, string(r.Privacy), string(r.Type), boolInt(r.Disabled), r.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: put room %q: %w", r.ID, err)
	}
	for role, users := range map[store.Role][]string{store.Member: r.Members, store.Manager: r.Managers, store.Presenter: r.Presenters} {
		if err := setRole(ctx, tx, r.ID, role, users); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: put room %q: %w", r.ID, err)
	}
	return nil
}

func setRole(ctx context.Context, tx *sql.Tx, roomID string, role store.Role, users []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM room_roles WHERE room_id = ? AND role = ?`, roomID, string(role)); err != nil {
		return fmt.Errorf("sqlite: set %s of %q: %w", role, roomID, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO room_roles (room_id, user, role) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: set %s of %q: %w", role, roomID, err)
	}
	defer stmt.Close()
	for _, u := range users {
		if _, err := stmt.ExecContext(ctx, roomID, u, string(role)); err != nil {
			return fmt.Errorf("sqlite: set %s of %q: %w", role, roomID, err)
		}
	}
	return nil
}

// SetRole implements store.Store.
func (s *Store) SetRole(ctx context.Context, roomID string, role store.Role, users []string) error {
	for _, u := range users {
		if !store.ValidUser(u) {
			return fmt.Errorf("sqlite: set %s of %q: user %q: want sip:user@domain", role, roomID, u)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: set %s of %q: %w", role, roomID, err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE id = ?`, roomID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: room %q: %w", roomID, store.ErrNotFound)
		}
		return fmt.Errorf("sqlite: set %s of %q: %w", role, roomID, err)
	}
	if err := setRole(ctx, tx, roomID, role, users); err != nil {
		return err
	}
	return tx.Commit()
}

// SetDisabled implements store.Store.
func (s *Store) SetDisabled(ctx context.Context, roomID string, disabled bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE rooms SET disabled = ? WHERE id = ?`, boolInt(disabled), roomID)
	if err != nil {
		return fmt.Errorf("sqlite: disable %q: %w", roomID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: room %q: %w", roomID, store.ErrNotFound)
	}
	return nil
}

// Append implements store.Store: it never waits for room in the queue.
func (s *Store) Append(m store.Message, done func(error)) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	select {
	case s.queue <- pending{m: m, done: done}:
		return nil
	default:
		return fmt.Errorf("%w: %d posts wait for a commit", store.ErrBusy, cap(s.queue))
	}
}

// Record implements store.Archive: the records share the group commit of
// the posts.
func (s *Store) Record(events []store.Event, done func(error)) error {
	if err := store.CheckEvents(events); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	select {
	case s.queue <- pending{ev: events, done: done}:
		return nil
	default:
		return fmt.Errorf("%w: %d posts wait for a commit", store.ErrBusy, cap(s.queue))
	}
}

// ackDepth is how many committed batches may wait for their callbacks
// while the writer commits the next ones.
const ackDepth = 4

// committed is a batch whose transaction ended (err nil: durable), for
// the acker to acknowledge.
type committed struct {
	batch []pending
	err   error
}

// writer is the group-commit loop: it takes every queued message (up to
// maxBatch) and commits them in one transaction. The callbacks of a
// committed batch (a post's fan-out, a join's reply and its notices) run
// on the acker goroutine, in commit order, while the writer commits the
// next batch: a slow fan-out no longer holds the next commit (and its
// flush) back, so records and posts do not pile up in the queue behind it.
func (s *Store) writer() {
	acks := make(chan committed, ackDepth)
	free := make(chan []pending, ackDepth+2)
	for range ackDepth + 2 {
		free <- make([]pending, 0, s.maxBatch)
	}
	ackerDone := make(chan struct{})
	go s.acker(acks, free, ackerDone)
	defer func() {
		close(acks)
		<-ackerDone
		close(s.done)
	}()
	for {
		p, ok := <-s.queue
		if !ok {
			return
		}
		batch := append((<-free)[:0], p)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case p, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		if s.before != nil {
			s.before()
		}
		err := s.commit(batch)
		posts := uint64(0)
		for i := range batch {
			if batch[i].ev == nil {
				posts++
			}
		}
		if err != nil {
			s.failed.Add(posts)
		} else {
			s.appended.Add(posts)
			s.commits.Add(1)
		}
		acks <- committed{batch: batch, err: err}
	}
}

// acker calls the callbacks of committed batches in order, then gives
// each batch's slice back to the writer.
func (s *Store) acker(acks <-chan committed, free chan<- []pending, done chan<- struct{}) {
	defer close(done)
	for c := range acks {
		for i := range c.batch {
			c.batch[i].done(c.err)
			c.batch[i] = pending{}
		}
		free <- c.batch[:0]
	}
}

func (s *Store) commit(batch []pending) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO messages (room_id, seq, author, ts, text, story, file_id) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	defer stmt.Close()
	arch, err := tx.PrepareContext(ctx, `INSERT INTO archive (kind, room_id, user, ts, seq, detail) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	defer arch.Close()
	for _, p := range batch {
		if p.ev != nil {
			for _, e := range p.ev {
				if _, err := arch.ExecContext(ctx, string(e.Kind), e.RoomID, e.User, e.TS.UnixNano(), int64(e.Seq), e.Detail); err != nil {
					return fmt.Errorf("sqlite: archive %s of %s in %q: %w", e.Kind, e.User, e.RoomID, err)
				}
			}
			continue
		}
		m := p.m
		if _, err := stmt.ExecContext(ctx, m.RoomID, int64(m.Seq), m.Author, m.TS.UnixNano(), m.Text, boolInt(m.Story), m.File); err != nil {
			return fmt.Errorf("sqlite: append to %q seq %d: %w", m.RoomID, m.Seq, err)
		}
		if m.SkipArchive {
			continue
		}
		if _, err := arch.ExecContext(ctx, string(store.EventChat), m.RoomID, m.Author, m.TS.UnixNano(), int64(m.Seq), ""); err != nil {
			return fmt.Errorf("sqlite: archive post %d of %q: %w", m.Seq, m.RoomID, err)
		}
		if m.File == "" || m.SkipUploadArchive {
			continue
		}
		// a file post: its upload, in the same transaction
		if _, err := arch.ExecContext(ctx, string(store.EventFileUpload), m.RoomID, m.Author, m.TS.UnixNano(), int64(m.Seq), m.Text); err != nil {
			return fmt.Errorf("sqlite: archive the upload of post %d of %q: %w", m.Seq, m.RoomID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, roomID string, last int) ([]store.Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room_id, seq, author, ts, text, story, file_id FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?`, roomID, last)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history of %q: %w", roomID, err)
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history of %q: %w", roomID, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Search implements store.Store.
func (s *Store) Search(ctx context.Context, q store.Query) ([]store.Message, error) {
	if len(q.RoomIDs) == 0 {
		return nil, nil
	}
	var where []string
	var args []any
	ph := strings.Repeat("?,", len(q.RoomIDs))
	where = append(where, "room_id IN ("+ph[:len(ph)-1]+")")
	for _, id := range q.RoomIDs {
		args = append(args, id)
	}
	if q.Author != "" {
		where = append(where, "author = ?")
		args = append(args, q.Author)
	}
	if q.Keyword != "" {
		where = append(where, "instr(lower(text), lower(?)) > 0")
		args = append(args, q.Keyword)
	}
	if !q.From.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where = append(where, "ts <= ?")
		args = append(args, q.To.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT room_id, seq, author, ts, text, story, file_id FROM messages WHERE `+strings.Join(where, " AND ")+` ORDER BY ts DESC, seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	return scanMessages(rows)
}

func scanMessages(rows *sql.Rows) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var seq, ts int64
		var story int
		if err := rows.Scan(&m.RoomID, &seq, &m.Author, &ts, &m.Text, &story, &m.File); err != nil {
			return nil, err
		}
		m.Seq, m.TS, m.Story = uint64(seq), time.Unix(0, ts).UTC(), story != 0
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddFile implements store.Store.
func (s *Store) AddFile(ctx context.Context, f store.File) error {
	if f.Created.IsZero() {
		f.Created = time.Now().UTC()
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO files (id, room_id, uploader, name, size, sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.RoomID, f.Uploader, f.Name, f.Size, f.SHA256, f.Created.UnixNano()); err != nil {
		return fmt.Errorf("sqlite: add file %q to %q: %w", f.ID, f.RoomID, err)
	}
	return nil
}

// File implements store.Store.
func (s *Store) File(ctx context.Context, id string) (store.File, error) {
	f := store.File{ID: id}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT room_id, uploader, name, size, sha256, created FROM files WHERE id = ?`, id).
		Scan(&f.RoomID, &f.Uploader, &f.Name, &f.Size, &f.SHA256, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("sqlite: file %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("sqlite: file %q: %w", id, err)
	}
	f.Created = time.Unix(0, created).UTC()
	return f, nil
}

// CountFiles implements store.Store.
func (s *Store) CountFiles(ctx context.Context, roomID string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM files WHERE room_id = ?`, roomID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: files of %q: %w", roomID, err)
	}
	return n, nil
}

// AddInvitation implements store.Store.
func (s *Store) AddInvitation(ctx context.Context, inv store.Invitation) (store.Invitation, error) {
	if inv.Created.IsZero() {
		inv.Created = time.Now().UTC()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO invitations (room_id, user, by_user, created) VALUES (?, ?, ?, ?)`, inv.RoomID, inv.User, inv.By, inv.Created.UnixNano())
	if err != nil {
		return inv, fmt.Errorf("sqlite: invite %s to %q: %w", inv.User, inv.RoomID, err)
	}
	inv.ID, _ = res.LastInsertId()
	return inv, nil
}

// Invitations implements store.Store.
func (s *Store) Invitations(ctx context.Context) ([]store.Invitation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, room_id, user, by_user, created FROM invitations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: invitations: %w", err)
	}
	defer rows.Close()
	var out []store.Invitation
	for rows.Next() {
		var inv store.Invitation
		var created int64
		if err := rows.Scan(&inv.ID, &inv.RoomID, &inv.User, &inv.By, &created); err != nil {
			return nil, fmt.Errorf("sqlite: invitations: %w", err)
		}
		inv.Created = time.Unix(0, created).UTC()
		out = append(out, inv)
	}
	return out, rows.Err()
}

// DeleteInvitations implements store.Store.
func (s *Store) DeleteInvitations(ctx context.Context, user, roomID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM invitations WHERE user = ? AND room_id = ?`, user, roomID); err != nil {
		return fmt.Errorf("sqlite: delete invitations of %s to %q: %w", user, roomID, err)
	}
	return nil
}

// ReadArchive implements store.Archive. SQLite's one writer commits
// records in ID order, so every committed record is settled.
func (s *Store) ReadArchive(ctx context.Context, q store.ArchiveQuery) ([]store.Event, store.Cursor, error) {
	limit := q.Limit
	if limit <= 0 || limit > store.MaxArchiveRead {
		limit = store.MaxArchiveRead
	}
	where, args := "a.id > ?", []any{q.After.ID}
	if !q.Since.IsZero() {
		where += " AND a.ts >= ?"
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where += " AND a.ts < ?"
		args = append(args, q.Until.UnixNano())
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.kind, a.room_id, a.user, a.ts, a.seq, a.detail, COALESCE(m.text, '')
		FROM archive a LEFT JOIN messages m ON a.kind = 'CHAT' AND m.room_id = a.room_id AND m.seq = a.seq
		WHERE `+where+` ORDER BY a.id LIMIT ?`, args...)
	if err != nil {
		return nil, q.After, fmt.Errorf("sqlite: read archive: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	next := q.After
	for rows.Next() {
		var e store.Event
		var kind string
		var ts, seq int64
		if err := rows.Scan(&e.Cursor.ID, &kind, &e.RoomID, &e.User, &ts, &seq, &e.Detail, &e.Text); err != nil {
			return nil, q.After, fmt.Errorf("sqlite: read archive: %w", err)
		}
		e.Kind, e.TS, e.Seq = store.EventKind(kind), time.Unix(0, ts).UTC(), uint64(seq)
		out = append(out, e)
		next = e.Cursor
	}
	if err := rows.Err(); err != nil {
		return nil, q.After, fmt.Errorf("sqlite: read archive: %w", err)
	}
	return out, next, nil
}

// ArchiveHead implements store.Archive.
func (s *Store) ArchiveHead(ctx context.Context) (store.Cursor, error) {
	var c store.Cursor
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM archive`).Scan(&c.ID); err != nil {
		return c, fmt.Errorf("sqlite: archive head: %w", err)
	}
	return c, nil
}

// ExportCursor implements store.Archive.
func (s *Store) ExportCursor(ctx context.Context, name string) (store.Cursor, error) {
	var c store.Cursor
	var tx int64
	err := s.db.QueryRowContext(ctx, `SELECT tx, id FROM export_cursors WHERE name = ?`, name).Scan(&tx, &c.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: export cursor %q: %w", name, err)
	}
	c.TX = uint64(tx)
	return c, nil
}

// SetExportCursor implements store.Archive.
func (s *Store) SetExportCursor(ctx context.Context, name string, c store.Cursor) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO export_cursors (name, tx, id) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET tx = excluded.tx, id = excluded.id`, name, int64(c.TX), c.ID); err != nil {
		return fmt.Errorf("sqlite: set export cursor %q: %w", name, err)
	}
	return nil
}

// Stats implements store.Store.
func (s *Store) Stats() store.Stats {
	return store.Stats{Appended: s.appended.Load(), Commits: s.commits.Load(), Failed: s.failed.Load()}
}

// Close implements store.Store: queued appends are committed first.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.closeMu.Unlock()
	<-s.done
	return s.db.Close()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var _ store.Store = (*Store)(nil)

// Category roles in category_roles.
const (
	catMember  = "member"
	catCreator = "creator"
)

// Categories implements store.Store.
func (s *Store) Categories(ctx context.Context) ([]store.Category, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, parent, override, created FROM categories ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: categories: %w", err)
	}
	defer rows.Close()
	out := []store.Category{}
	idx := map[string]int{}
	for rows.Next() {
		var c store.Category
		var override int
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Parent, &override, &created); err != nil {
			return nil, fmt.Errorf("sqlite: categories: %w", err)
		}
		c.Override, c.Created = override != 0, time.Unix(0, created).UTC()
		c.Members, c.Creators = []string{}, []string{}
		idx[c.ID] = len(out)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: categories: %w", err)
	}
	roles, err := s.db.QueryContext(ctx, `SELECT category_id, user, role FROM category_roles ORDER BY category_id, role, user`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: category roles: %w", err)
	}
	defer roles.Close()
	for roles.Next() {
		var id, user, role string
		if err := roles.Scan(&id, &user, &role); err != nil {
			return nil, fmt.Errorf("sqlite: category roles: %w", err)
		}
		i, ok := idx[id]
		if !ok {
			continue
		}
		if role == catCreator {
			out[i].Creators = append(out[i].Creators, user)
		} else {
			out[i].Members = append(out[i].Members, user)
		}
	}
	return out, roles.Err()
}

// PutCategory implements store.Store.
func (s *Store) PutCategory(ctx context.Context, c store.Category) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("sqlite: category %q: %w", c.ID, err)
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: put category %q: %w", c.ID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO categories (id, name, parent, override, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET name=excluded.name, parent=excluded.parent, override=excluded.override`,
		c.ID, c.Name, c.Parent, boolInt(c.Override), c.Created.UnixNano()); err != nil {
		return fmt.Errorf("sqlite: put category %q: %w", c.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM category_roles WHERE category_id = ?`, c.ID); err != nil {
		return fmt.Errorf("sqlite: put category %q: %w", c.ID, err)
	}
	for role, users := range map[string][]string{catMember: c.Members, catCreator: c.Creators} {
		for _, u := range users {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO category_roles (category_id, user, role) VALUES (?, ?, ?)`, c.ID, u, role); err != nil {
				return fmt.Errorf("sqlite: put category %q: %w", c.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: put category %q: %w", c.ID, err)
	}
	return nil
}
