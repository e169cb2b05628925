// Package postgres is the reference server's store on PostgreSQL, for
// several servers sharing one database (a pool) or a database the operator
// already runs. It keeps the promise of store/sqlite: a post is
// acknowledged only after the transaction that holds it committed
// (synchronous_commit as the server is configured: on by default, which
// waits for the WAL flush), and posts queued while one transaction commits
// share the next one (group commit: one writer goroutine, one transaction
// and one flush per batch).
//
// Each room's sequence numbers are assigned at commit, under a lock of the
// room's row taken in room order (so two servers' batches never deadlock),
// either checked (Append: the caller's number must be above the room's
// last) or given by the store (AppendSeq with Seq 0). A room's posts
// therefore become visible in sequence order, with no gap a reader could
// skip: what a reader sees of a room is always a prefix of its history.
// Every commit notifies (NOTIFY) each of its rooms with the room's new last
// sequence number; Subscribe and ReadSince let other servers of a pool
// catch up from the table (see pool.go).
//
// The schema is versioned: Open applies the migrations the database lacks,
// each in its own transaction, recorded in schema_migrations, and refuses a
// database whose schema is newer than the code.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults.
const (
	// DefaultMaxBatch bounds the posts committed in one transaction.
	DefaultMaxBatch = 512
	// DefaultCommitTimeout bounds one batch's transaction; its posts fail
	// (and are not acknowledged) when the database does not answer in time.
	DefaultCommitTimeout = 30 * time.Second
	// MinConns is the least number of connections of the store's pool
	// (the writer holds one while it commits; readers share the rest).
	MinConns = 8
)

// NotifyChannel is the channel every commit of posts notifies, with the
// payload "ROOM SEQ" (the room's new last sequence number) per room, or
// "ROOM SEQ SERVER" when the store has a server ID (WithServerID); with
// SetCarryPosts, one notification per post carries the post itself (see
// Wake.Msg).
const NotifyChannel = "gcload_posts"

// Option configures a Store.
type Option func(*Store)

// WithMaxBatch bounds the posts committed in one transaction.
func WithMaxBatch(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxBatch = n
		}
	}
}

// WithCommitTimeout bounds one batch's transaction.
func WithCommitTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.commitTimeout = d
		}
	}
}

// WithOnCommit calls fn after each committed batch with its number of posts
// and the time from the transaction's start to its commit. fn runs on the
// writer goroutine and must be quick.
func WithOnCommit(fn func(posts int, took time.Duration)) Option {
	return func(s *Store) { s.onCommit = fn }
}

// DefaultQueueLen bounds the posts waiting for a commit; Append refuses
// more with store.ErrBusy.
const DefaultQueueLen = 4096

// WithQueueLen bounds the posts waiting for a commit (default
// DefaultQueueLen).
func WithQueueLen(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.queueLen = n
		}
	}
}

// WithBeforeCommit calls fn on the writer before every commit of appended
// posts (tests stall it to play a slow database).
func WithBeforeCommit(fn func()) Option { return func(s *Store) { s.before = fn } }

// WithServerID names the server using the store in a pool: its commits'
// notifications carry the ID (Wake.From), so that the server can tell its
// own posts from the others'; so do the events it sends (Event.Server).
// An ID is 1 to 128 printable characters without spaces.
func WithServerID(id string) Option { return func(s *Store) { s.serverID = id } }

// WithLogger logs what the store does in the background (reconnections of
// Subscribe, failed heartbeats of RunMembership).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Store is the PostgreSQL store.
type Store struct {
	pool          *pgxpool.Pool
	name          string // the database URL without its password, for errors
	queue         chan pending
	queueLen      int
	before        func()
	maxBatch      int
	commitTimeout time.Duration
	onCommit      func(int, time.Duration)
	log           *slog.Logger
	serverID      string // "" outside a pool
	eventSeq      atomic.Uint64
	carry         atomic.Bool // notifications carry each post (SetCarryPosts)
	done          chan struct{}
	closeMu       sync.RWMutex
	closed        bool
	stopped       context.Context // canceled by Close: ends Subscribe and RunMembership
	stop          context.CancelFunc
	active        sync.WaitGroup // Subscribe and RunMembership calls

	appended, commits, failed atomic.Uint64
}

type pending struct {
	m    store.Message
	ev   []store.Event       // Record's (m is then unused)
	done func(error)         // Append's and Record's
	seq  func(uint64, error) // AppendSeq's
}

// IsURL reports whether s is a PostgreSQL connection URL (postgres:// or
// postgresql://); anything else given to --db is an SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns a connection URL without its password (in the user info
// or the query), to print or log.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pgx's pool_max_conns and PostgreSQL's search_path are
// honoured, with at least MinConns connections), applies the schema's
// missing migrations and starts the writer.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	name := dsn
	if IsURL(dsn) {
		name = Redact(dsn)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", name, err)
	}
	cfg.MaxConns = max(cfg.MaxConns, MinConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", name, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", name, err)
	}
	s := &Store{pool: pool, name: name, maxBatch: DefaultMaxBatch, queueLen: DefaultQueueLen, commitTimeout: DefaultCommitTimeout,
		log: slog.New(slog.DiscardHandler), done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.serverID != "" && !ValidServerID(s.serverID) {
		pool.Close()
		return nil, fmt.Errorf("postgres: server id %q: want 1 to 128 printable characters without spaces", s.serverID)
	}
	// the durability promise rests on the server's settings: say so when
	// it cannot hold
	var syncCommit, fsync string
	if err := pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&syncCommit, &fsync); err == nil &&
		(syncCommit == "off" || fsync == "off") {
		s.log.Warn("postgres: a crash of the database server may lose acknowledged posts", "db", name, "synchronous_commit", syncCommit, "fsync", fsync)
	}
	s.queue = make(chan pending, s.queueLen)
	s.stopped, s.stop = context.WithCancel(context.Background())
	go s.writer()
	return s, nil
}

// Rooms implements store.Store.
func (s *Store) Rooms(ctx context.Context) ([]store.Room, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, description, topic, category, privacy, type, disabled, created_ns, last_seq
		FROM rooms ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: rooms: %w", err)
	}
	var out []store.Room
	idx := map[string]int{}
	for rows.Next() {
		var r store.Room
		var created, last int64
		var privacy, typ string
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.Topic, &r.Category, &privacy, &typ, &r.Disabled, &created, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: rooms: %w", err)
		}
		r.Privacy, r.Type = store.Privacy(privacy), store.RoomType(typ)
		r.Created, r.LastSeq = time.Unix(0, created).UTC(), uint64(last)
		r.Members, r.Managers, r.Presenters = []string{}, []string{}, []string{}
		idx[r.ID] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: rooms: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT room_id, user_uri, role FROM room_roles ORDER BY room_id COLLATE "C", role COLLATE "C", user_uri COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, user, role string
		if err := rows.Scan(&id, &user, &role); err != nil {
			return nil, fmt.Errorf("postgres: roles: %w", err)
		}
		i, ok := idx[id]
		if !ok {
			continue // a room created since the first query
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: roles: %w", err)
	}
	return out, nil
}

// PutRoom implements store.Store.
func (s *Store) PutRoom(ctx context.Context, r store.Room) error {
	r.Defaults()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("postgres: room %q: %w", r.ID, err)
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO rooms (id, name, description, topic, category, privacy, type, disabled, created_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, topic = excluded.topic,
			category = excluded.category, privacy = excluded.privacy, type = excluded.type`,
			r.ID, r.Name, r.Description, r.Topic, r.Category, string(r.Privacy), string(r.Type), r.Disabled, r.Created.UnixNano())
		if err != nil {
			return err
		}
		for _, role := range []store.Role{store.Member, store.Manager, store.Presenter} {
			users := r.Members
			switch role {
			case store.Manager:
				users = r.Managers
			case store.Presenter:
				users = r.Presenters
			}
			if err := setRole(ctx, tx, r.ID, role, users); err != nil {
				return err
			}
		}
		return s.notifyRoom(ctx, tx, r.ID)
	})
	if err != nil {
		return fmt.Errorf("postgres: put room %q: %w", r.ID, err)
	}
	return nil
}

func setRole(ctx context.Context, tx pgx.Tx, roomID string, role store.Role, users []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM room_roles WHERE room_id = $1 AND role = $2`, roomID, string(role)); err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO room_roles (room_id, user_uri, role) SELECT $1, u, $2 FROM unnest($3::text[]) AS u
		ON CONFLICT DO NOTHING`, roomID, string(role), users)
	return err
}

// SetRole implements store.Store.
func (s *Store) SetRole(ctx context.Context, roomID string, role store.Role, users []string) error {
	for _, u := range users {
		if !store.ValidUser(u) {
			return fmt.Errorf("postgres: set %s of %q: user %q: want sip:user@domain", role, roomID, u)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE`, roomID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("room %q: %w", roomID, store.ErrNotFound)
			}
			return err
		}
		if err := setRole(ctx, tx, roomID, role, users); err != nil {
			return err
		}
		return s.notifyRoom(ctx, tx, roomID)
	})
	if err != nil {
		return fmt.Errorf("postgres: set %s of %q: %w", role, roomID, err)
	}
	return nil
}

// SetDisabled implements store.Store.
func (s *Store) SetDisabled(ctx context.Context, roomID string, disabled bool) error {
	tag, err := s.pool.Exec(ctx, `WITH u AS (UPDATE rooms SET disabled = $1 WHERE id = $2 RETURNING id)
		SELECT pg_notify($3, $4 || u.id) FROM u`, disabled, roomID, EventChannel, s.eventPrefix(EventRoom))
	if err != nil {
		return fmt.Errorf("postgres: disable %q: %w", roomID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: room %q: %w", roomID, store.ErrNotFound)
	}
	return nil
}

// Append implements store.Store: m.Seq must be above the room's last
// sequence number when the batch commits (gaps are allowed, as after a
// failed post), or the post fails alone; a post to a missing room fails
// with store.ErrNotFound. The other posts of the batch are not affected.
func (s *Store) Append(m store.Message, done func(err error)) error {
	return s.enqueue(pending{m: m, done: done})
}

// AppendSeq is Append for a pool of servers posting to the same rooms: with
// m.Seq 0 the store assigns the room's next sequence number at commit (the
// rooms' rows are locked, so every server's posts to a room are numbered in
// one order, without gaps); done receives the number. A non-zero m.Seq is
// checked as Append does. Like Append it never blocks: it returns
// store.ErrBusy or store.ErrClosed, without calling done, when the post
// cannot be queued now.
func (s *Store) AppendSeq(m store.Message, done func(seq uint64, err error)) error {
	return s.enqueue(pending{m: m, seq: done})
}

// Record implements store.Archive: the records share the group commit of
// the posts.
func (s *Store) Record(events []store.Event, done func(error)) error {
	if err := store.CheckEvents(events); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return s.enqueue(pending{ev: events, done: done})
}

func (p *pending) finish(seq uint64, err error) {
	if p.seq != nil {
		p.seq(seq, err)
	} else {
		p.done(err)
	}
}

func (s *Store) enqueue(p pending) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	select {
	case s.queue <- p:
		return nil
	default:
		return fmt.Errorf("%w: %d posts wait for a commit", store.ErrBusy, cap(s.queue))
	}
}

// writer is the group-commit loop: it takes every queued post (up to
// maxBatch), commits them in one transaction, then acknowledges them in
// order.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]pending, 0, s.maxBatch)
	res := make([]result, 0, s.maxBatch)
	for {
		p, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], p)
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
		res = s.commit(batch, res[:0])
		for i := range batch {
			batch[i].finish(res[i].seq, res[i].err)
			batch[i] = pending{}
		}
	}
}

type result struct {
	seq uint64
	err error
}

// commit stores a batch in one transaction and returns each post's
// sequence number or error, in batch order.
func (s *Store) commit(batch []pending, res []result) []result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.commitTimeout)
	defer cancel()
	res = res[:len(batch)]
	fail := func(err error) []result {
		for i := range res {
			if res[i].err == nil {
				res[i] = result{err: err}
			}
		}
		s.failed.Add(uint64(len(res)))
		return res
	}
	for i := range res {
		res[i] = result{}
	}
	rooms := make([]string, 0, 8)
	for _, p := range batch {
		if p.ev == nil {
			rooms = append(rooms, p.m.RoomID)
		}
	}
	slices.Sort(rooms)
	rooms = slices.Compact(rooms)

	// two round trips: BEGIN and the lock of the rooms' rows, then the
	// rows, the rooms' last numbers, the notifications and COMMIT
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fail(fmt.Errorf("postgres: append: %w", err))
	}
	defer conn.Release() // the pool drops a connection left in a transaction
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer rcancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()
	// lock the rooms' rows in one order (no deadlock between servers)
	lock := &pgx.Batch{}
	lock.Queue("BEGIN")
	lock.Queue(`SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE`, rooms)
	last := make(map[string]uint64, len(rooms))
	if err := lockRooms(conn.SendBatch(ctx, lock), last); err != nil {
		return fail(fmt.Errorf("postgres: append: lock rooms: %w", err))
	}
	n := 0
	var (
		roomIDs, authors, texts, files []string
		seqs, tss                      []int64
		stories                        []bool
	)
	var a archiveRows
	bad, events := 0, 0
	for i, p := range batch {
		if p.ev != nil {
			for _, e := range p.ev {
				a.add(e.Kind, e.RoomID, e.User, e.TS, e.Seq, e.Detail)
			}
			events++
			continue
		}
		m := p.m
		prev, ok := last[m.RoomID]
		switch {
		case !ok:
			res[i].err = fmt.Errorf("postgres: append to %q: room %w", m.RoomID, store.ErrNotFound)
		case m.Seq != 0 && m.Seq <= prev:
			res[i].err = fmt.Errorf("postgres: append to %q seq %d: the room's last is %d (duplicate or out of order)", m.RoomID, m.Seq, prev)
		default:
			seq := prev + 1
			if m.Seq != 0 {
				seq = m.Seq
			}
			last[m.RoomID] = seq
			res[i].seq = seq
			roomIDs, seqs, authors = append(roomIDs, m.RoomID), append(seqs, int64(seq)), append(authors, m.Author)
			tss, texts, stories = append(tss, m.TS.UnixNano()), append(texts, m.Text), append(stories, m.Story)
			files = append(files, m.File)
			if !m.SkipArchive {
				a.add(store.EventChat, m.RoomID, m.Author, m.TS, seq, "")
				if m.File != "" && !m.SkipUploadArchive {
					// a file post: its upload, in the same transaction
					a.add(store.EventFileUpload, m.RoomID, m.Author, m.TS, seq, m.Text)
				}
			}
			n++
			continue
		}
		bad++
	}
	s.failed.Add(uint64(bad))
	if n == 0 && events == 0 {
		return res
	}
	touched, tops := make([]string, 0, len(last)), make([]int64, 0, len(last))
	for _, id := range rooms {
		if seq, ok := last[id]; ok {
			touched, tops = append(touched, id), append(tops, int64(seq))
		}
	}
	b := &pgx.Batch{}
	if n > 0 {
		b.Queue(`INSERT INTO messages (room_id, seq, author, ts_ns, text, story, file_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[])`,
			roomIDs, seqs, authors, tss, texts, stories, files)
	}
	if len(a.kinds) > 0 {
		b.Queue(`INSERT INTO archive (kind, room_id, user_uri, ts_ns, seq, detail)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])`,
			a.kinds, a.rooms, a.users, a.tss, a.seqs, a.details)
	}
	if n > 0 {
		b.Queue(`UPDATE rooms SET last_seq = v.seq FROM unnest($1::text[], $2::bigint[]) AS v(id, seq) WHERE rooms.id = v.id AND rooms.last_seq < v.seq`, touched, tops)
		if s.carry.Load() {
			// each post with its content: the other servers deliver it
			// without reading it back
			payloads := make([]string, 0, n)
			for i := range roomIDs {
				payloads = append(payloads, s.postPayload(roomIDs[i], uint64(seqs[i]), authors[i], tss[i], stories[i], texts[i], files[i] != ""))
			}
			b.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, NotifyChannel, payloads)
		} else {
			b.Queue(`SELECT pg_notify($1, v.id || ' ' || v.seq || $4) FROM unnest($2::text[], $3::bigint[]) AS v(id, seq)`, NotifyChannel, touched, tops, s.fromSuffix())
		}
	}
	b.Queue("COMMIT")
	if err := execAll(conn.SendBatch(ctx, b), b.Len()); err != nil {
		s.failed.Add(uint64(n))
		return failOK(res, fmt.Errorf("postgres: append: %w", err))
	}
	s.appended.Add(uint64(n))
	s.commits.Add(1)
	if s.onCommit != nil {
		s.onCommit(n, time.Since(start))
	}
	return res
}

// archiveRows are the columns of a batch's archive records.
type archiveRows struct {
	kinds, rooms, users, details []string
	tss, seqs                    []int64
}

func (a *archiveRows) add(kind store.EventKind, room, user string, ts time.Time, seq uint64, detail string) {
	a.kinds, a.rooms, a.users = append(a.kinds, string(kind)), append(a.rooms, room), append(a.users, user)
	a.tss, a.seqs, a.details = append(a.tss, ts.UnixNano()), append(a.seqs, int64(seq)), append(a.details, detail)
}

// lockRooms reads the results of BEGIN and of the rooms' lock.
func lockRooms(br pgx.BatchResults, last map[string]uint64) error {
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return err
		}
		last[id] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return br.Close()
}

// execAll reads the results of a batch's n statements; the first error
// ends it (PostgreSQL skips the rest of the pipeline: no COMMIT).
func execAll(br pgx.BatchResults, n int) error {
	defer br.Close()
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return br.Close()
}

// failOK fails the posts of a batch that had not failed already.
func failOK(res []result, err error) []result {
	for i := range res {
		if res[i].err == nil {
			res[i] = result{err: err}
		}
	}
	return res
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, roomID string, last int) ([]store.Message, error) {
	var limit any = last
	if last < 0 {
		limit = nil // no limit, as SQLite's LIMIT -1
	}
	rows, err := s.pool.Query(ctx, `SELECT room_id, seq, author, ts_ns, text, story, file_id FROM messages WHERE room_id = $1 ORDER BY seq DESC LIMIT $2`, roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: history of %q: %w", roomID, err)
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: history of %q: %w", roomID, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Search implements store.Store. The keyword is a literal substring (no
// pattern characters), compared after lower().
func (s *Store) Search(ctx context.Context, q store.Query) ([]store.Message, error) {
	if len(q.RoomIDs) == 0 {
		return nil, nil
	}
	where := []string{"room_id = ANY($1)"}
	args := []any{q.RoomIDs}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.Author != "" {
		add("author = ?", q.Author)
	}
	if q.Keyword != "" {
		add("strpos(lower(text), lower(?)) > 0", q.Keyword)
	}
	if !q.From.IsZero() {
		add("ts_ns >= ?", q.From.UnixNano())
	}
	if !q.To.IsZero() {
		add("ts_ns <= ?", q.To.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT room_id, seq, author, ts_ns, text, story, file_id FROM messages WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY ts_ns DESC, seq DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	return out, nil
}

func scanMessages(rows pgx.Rows) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var seq, ts int64
		if err := rows.Scan(&m.RoomID, &seq, &m.Author, &ts, &m.Text, &m.Story, &m.File); err != nil {
			return nil, err
		}
		m.Seq, m.TS = uint64(seq), time.Unix(0, ts).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddFile implements store.Store.
func (s *Store) AddFile(ctx context.Context, f store.File) error {
	if f.Created.IsZero() {
		f.Created = time.Now().UTC()
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO files (id, room_id, uploader, name, size, sha256, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.ID, f.RoomID, f.Uploader, f.Name, f.Size, f.SHA256, f.Created.UnixNano()); err != nil {
		return fmt.Errorf("postgres: add file %q to %q: %w", f.ID, f.RoomID, err)
	}
	return nil
}

// File implements store.Store.
func (s *Store) File(ctx context.Context, id string) (store.File, error) {
	f := store.File{ID: id}
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT room_id, uploader, name, size, sha256, created_ns FROM files WHERE id = $1`, id).
		Scan(&f.RoomID, &f.Uploader, &f.Name, &f.Size, &f.SHA256, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, fmt.Errorf("postgres: file %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("postgres: file %q: %w", id, err)
	}
	f.Created = time.Unix(0, created).UTC()
	return f, nil
}

// CountFiles implements store.Store.
func (s *Store) CountFiles(ctx context.Context, roomID string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM files WHERE room_id = $1`, roomID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: files of %q: %w", roomID, err)
	}
	return n, nil
}

// AddInvitation implements store.Store.
func (s *Store) AddInvitation(ctx context.Context, inv store.Invitation) (store.Invitation, error) {
	if inv.Created.IsZero() {
		inv.Created = time.Now().UTC()
	}
	err := s.pool.QueryRow(ctx, `WITH i AS (INSERT INTO invitations (room_id, user_uri, by_user, created_ns) VALUES ($1, $2, $3, $4) RETURNING id, user_uri)
		SELECT i.id, pg_notify($5, $6 || i.user_uri) FROM i`,
		inv.RoomID, inv.User, inv.By, inv.Created.UnixNano(), EventChannel, s.eventPrefix(EventInvitations)).Scan(&inv.ID, nil)
	if err != nil {
		return inv, fmt.Errorf("postgres: invite %s to %q: %w", inv.User, inv.RoomID, err)
	}
	return inv, nil
}

// Invitations implements store.Store.
func (s *Store) Invitations(ctx context.Context) ([]store.Invitation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, room_id, user_uri, by_user, created_ns FROM invitations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: invitations: %w", err)
	}
	defer rows.Close()
	var out []store.Invitation
	for rows.Next() {
		var inv store.Invitation
		var created int64
		if err := rows.Scan(&inv.ID, &inv.RoomID, &inv.User, &inv.By, &created); err != nil {
			return nil, fmt.Errorf("postgres: invitations: %w", err)
		}
		inv.Created = time.Unix(0, created).UTC()
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: invitations: %w", err)
	}
	return out, nil
}

// DeleteInvitations implements store.Store.
func (s *Store) DeleteInvitations(ctx context.Context, user, roomID string) error {
	if _, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM invitations WHERE user_uri = $1 AND room_id = $2 RETURNING 1)
		SELECT pg_notify($3, $4 || $1) WHERE EXISTS (SELECT 1 FROM d)`, user, roomID, EventChannel, s.eventPrefix(EventInvitations)); err != nil {
		return fmt.Errorf("postgres: delete invitations of %s to %q: %w", user, roomID, err)
	}
	return nil
}

// ReadArchive implements store.Archive: records of transactions older
// than every transaction in progress (pg_snapshot_xmin), in (xid, id)
// order, so that a record committed later never falls behind the cursor
// returned, whichever server of a pool wrote it.
func (s *Store) ReadArchive(ctx context.Context, q store.ArchiveQuery) ([]store.Event, store.Cursor, error) {
	limit := q.Limit
	if limit <= 0 || limit > store.MaxArchiveRead {
		limit = store.MaxArchiveRead
	}
	where := []string{"(a.xid, a.id) > ($1::text::xid8, $2)", "a.xid < pg_snapshot_xmin(pg_current_snapshot())"}
	args := []any{strconv.FormatUint(q.After.TX, 10), q.After.ID}
	if !q.Since.IsZero() {
		args = append(args, q.Since.UnixNano())
		where = append(where, fmt.Sprintf("a.ts_ns >= $%d", len(args)))
	}
	if !q.Until.IsZero() {
		args = append(args, q.Until.UnixNano())
		where = append(where, fmt.Sprintf("a.ts_ns < $%d", len(args)))
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT a.xid::text, a.id, a.kind, a.room_id, a.user_uri, a.ts_ns, a.seq, a.detail, COALESCE(m.text, '')
		FROM archive a LEFT JOIN messages m ON a.kind = 'CHAT' AND m.room_id = a.room_id AND m.seq = a.seq
		WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY a.xid, a.id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, q.After, fmt.Errorf("postgres: read archive: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	next := q.After
	for rows.Next() {
		var e store.Event
		var xid, kind string
		var ts, seq int64
		if err := rows.Scan(&xid, &e.Cursor.ID, &kind, &e.RoomID, &e.User, &ts, &seq, &e.Detail, &e.Text); err != nil {
			return nil, q.After, fmt.Errorf("postgres: read archive: %w", err)
		}
		if e.Cursor.TX, err = strconv.ParseUint(xid, 10, 64); err != nil {
			return nil, q.After, fmt.Errorf("postgres: read archive: xid %q: %w", xid, err)
		}
		e.Kind, e.TS, e.Seq = store.EventKind(kind), time.Unix(0, ts).UTC(), uint64(seq)
		out = append(out, e)
		next = e.Cursor
	}
	if err := rows.Err(); err != nil {
		return nil, q.After, fmt.Errorf("postgres: read archive: %w", err)
	}
	return out, next, nil
}

// ArchiveHead implements store.Archive: the newest settled record.
func (s *Store) ArchiveHead(ctx context.Context) (store.Cursor, error) {
	var xid string
	var c store.Cursor
	err := s.pool.QueryRow(ctx, `SELECT xid::text, id FROM archive WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid DESC, id DESC LIMIT 1`).Scan(&xid, &c.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Cursor{}, nil
	}
	if err == nil {
		c.TX, err = strconv.ParseUint(xid, 10, 64)
	}
	if err != nil {
		return store.Cursor{}, fmt.Errorf("postgres: archive head: %w", err)
	}
	return c, nil
}

// ExportCursor implements store.Archive.
func (s *Store) ExportCursor(ctx context.Context, name string) (store.Cursor, error) {
	var xid string
	var c store.Cursor
	err := s.pool.QueryRow(ctx, `SELECT xid::text, id FROM export_cursors WHERE name = $1`, name).Scan(&xid, &c.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Cursor{}, nil
	}
	if err == nil {
		c.TX, err = strconv.ParseUint(xid, 10, 64)
	}
	if err != nil {
		return store.Cursor{}, fmt.Errorf("postgres: export cursor %q: %w", name, err)
	}
	return c, nil
}

// SetExportCursor implements store.Archive.
func (s *Store) SetExportCursor(ctx context.Context, name string, c store.Cursor) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO export_cursors (name, xid, id) VALUES ($1, $2::text::xid8, $3)
		ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, id = excluded.id`, name, strconv.FormatUint(c.TX, 10), c.ID); err != nil {
		return fmt.Errorf("postgres: set export cursor %q: %w", name, err)
	}
	return nil
}

// Stats implements store.Store.
func (s *Store) Stats() store.Stats {
	return store.Stats{Appended: s.appended.Load(), Commits: s.commits.Load(), Failed: s.failed.Load()}
}

// Close implements store.Store: queued appends are committed first; then
// Subscribe and RunMembership calls end (RunMembership deregisters) and
// Close waits for them before it closes the connections.
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
	s.stop()
	s.active.Wait()
	s.pool.Close()
	return nil
}

var _ store.Store = (*Store)(nil)

// Category roles in category_roles.
const (
	catMember  = "member"
	catCreator = "creator"
)

// Categories implements store.Store.
func (s *Store) Categories(ctx context.Context) ([]store.Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, parent, override, created_ns FROM categories ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: categories: %w", err)
	}
	out := []store.Category{}
	idx := map[string]int{}
	for rows.Next() {
		var c store.Category
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Parent, &c.Override, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: categories: %w", err)
		}
		c.Created = time.Unix(0, created).UTC()
		c.Members, c.Creators = []string{}, []string{}
		idx[c.ID] = len(out)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: categories: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT category_id, user_uri, role FROM category_roles
		ORDER BY category_id COLLATE "C", role COLLATE "C", user_uri COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: category roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, user, role string
		if err := rows.Scan(&id, &user, &role); err != nil {
			return nil, fmt.Errorf("postgres: category roles: %w", err)
		}
		i, ok := idx[id]
		if !ok {
			continue // created since the first query
		}
		if role == catCreator {
			out[i].Creators = append(out[i].Creators, user)
		} else {
			out[i].Members = append(out[i].Members, user)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: category roles: %w", err)
	}
	return out, nil
}

// PutCategory implements store.Store. The other servers of a pool are told
// (EventCategories) in the same transaction.
func (s *Store) PutCategory(ctx context.Context, c store.Category) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("postgres: category %q: %w", c.ID, err)
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO categories (id, name, parent, override, created_ns) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent = excluded.parent, override = excluded.override`,
			c.ID, c.Name, c.Parent, c.Override, c.Created.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM category_roles WHERE category_id = $1`, c.ID); err != nil {
			return err
		}
		for role, users := range map[string][]string{catMember: c.Members, catCreator: c.Creators} {
			if len(users) == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO category_roles (category_id, user_uri, role) SELECT $1, u, $2 FROM unnest($3::text[]) AS u
				ON CONFLICT DO NOTHING`, c.ID, role, users); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, EventChannel, s.eventPrefix(EventCategories)+c.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put category %q: %w", c.ID, err)
	}
	return nil
}
