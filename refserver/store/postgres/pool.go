package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/jackc/pgx/v5"
)

// What several servers sharing one database (a pool) use: each server
// registers itself and heart-beats (RunMembership, Servers); a post
// committed by one server wakes the others (Subscribe), who read what they
// have not delivered yet from the table (ReadSince). The committed rows are
// the truth: a lost notification only delays a reader until the next one,
// or until a Resync after a reconnection.

// Wake tells a subscriber that a room's posts are committed up to Seq.
type Wake struct {
	Room string
	Seq  uint64
	// Resync: notifications may have been missed (the subscription just
	// started or reconnected): catch up every room from the table (LastSeqs).
	// Room and Seq are empty.
	Resync bool
}

// Subscribe calls fn with a Wake for every committed batch's rooms, from
// every server on the database, in commit order, on the caller's goroutine,
// until ctx ends or the store closes; then it returns nil. It holds its own
// connection (not one of the pool's), LISTENing on NotifyChannel; whenever
// the LISTEN starts (first, and after a lost connection, retried with a
// backoff up to 2 s), fn gets a Wake with Resync set, after the LISTEN took
// effect: a post committed after that is notified, one committed before is
// in the table.
func (s *Store) Subscribe(ctx context.Context, fn func(Wake)) error {
	ctx, end, err := s.background(ctx)
	if err != nil {
		return err
	}
	defer end()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, fn, func() { backoff = 50 * time.Millisecond })
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("postgres: subscription lost, reconnecting", "db", s.name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (s *Store) listen(ctx context.Context, fn func(Wake), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	listening()
	fn(Wake{Resync: true})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		w, ok := parseWake(n.Payload)
		if !ok {
			s.log.Warn("postgres: notification with a bad payload, resyncing", "channel", n.Channel, "payload", n.Payload)
			w = Wake{Resync: true}
		}
		fn(w)
	}
}

// parseWake parses "ROOM SEQ".
func parseWake(p string) (Wake, bool) {
	i := strings.LastIndexByte(p, ' ')
	if i <= 0 {
		return Wake{}, false
	}
	seq, err := strconv.ParseUint(p[i+1:], 10, 64)
	if err != nil || !store.ValidID(p[:i]) {
		return Wake{}, false
	}
	return Wake{Room: p[:i], Seq: seq}, true
}

// ReadSince returns up to limit posts of a room with a sequence number
// above after, oldest first (limit <= 0: all of them).
func (s *Store) ReadSince(ctx context.Context, roomID string, after uint64, limit int) ([]store.Message, error) {
	var lim any = limit
	if limit <= 0 {
		lim = nil
	}
	rows, err := s.pool.Query(ctx, `SELECT room_id, seq, author, ts_ns, text, story, file_id FROM messages WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		roomID, int64(after), lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: read %q since %d: %w", roomID, after, err)
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: read %q since %d: %w", roomID, after, err)
	}
	return out, nil
}

// LastSeqs returns every room's last committed sequence number.
func (s *Store) LastSeqs(ctx context.Context) (map[string]uint64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, last_seq FROM rooms`)
	if err != nil {
		return nil, fmt.Errorf("postgres: last sequence numbers: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, fmt.Errorf("postgres: last sequence numbers: %w", err)
		}
		out[id] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: last sequence numbers: %w", err)
	}
	return out, nil
}

// Server is one server of a pool, as it registered itself. Times are the
// database's clock, so servers' clocks need not agree.
type Server struct {
	ID   string   `json:"id"`   // unique in the pool, chosen by the server
	Addr string   `json:"addr"` // where clients reach it (HOST:PORT)
	URIs []string `json:"uris"` // its channel services
	Load int64    `json:"load"` // what the server counts as its load (sessions, say)
	// Started is when it registered, Heartbeat its last heartbeat.
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}

// Register adds a server to the pool, or renews its row (a restarted
// server keeps its ID), with a heartbeat now.
func (s *Store) Register(ctx context.Context, srv Server) error {
	if srv.ID == "" {
		return errors.New("postgres: register: empty server id")
	}
	if srv.URIs == nil {
		srv.URIs = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO servers (id, addr, uris, load) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, uris = excluded.uris, load = excluded.load, started = now(), heartbeat = now()`,
		srv.ID, srv.Addr, srv.URIs, srv.Load)
	if err != nil {
		return fmt.Errorf("postgres: register server %q: %w", srv.ID, err)
	}
	return nil
}

// Heartbeat renews a server's heartbeat and load. It fails with
// store.ErrNotFound when the server's row is gone (another server expired
// it): the server must Register again.
func (s *Store) Heartbeat(ctx context.Context, id string, load int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE servers SET heartbeat = now(), load = $2 WHERE id = $1`, id, load)
	if err != nil {
		return fmt.Errorf("postgres: heartbeat of %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: heartbeat of %q: server %w", id, store.ErrNotFound)
	}
	return nil
}

// Servers returns the live servers (a heartbeat within ttl), by ID.
func (s *Store) Servers(ctx context.Context, ttl time.Duration) ([]Server, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, addr, uris, load, started, heartbeat FROM servers
		WHERE heartbeat >= now() - $1::bigint * interval '1 microsecond' ORDER BY id COLLATE "C"`, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: servers: %w", err)
	}
	defer rows.Close()
	var out []Server
	for rows.Next() {
		var srv Server
		if err := rows.Scan(&srv.ID, &srv.Addr, &srv.URIs, &srv.Load, &srv.Started, &srv.Heartbeat); err != nil {
			return nil, fmt.Errorf("postgres: servers: %w", err)
		}
		srv.Started, srv.Heartbeat = srv.Started.UTC(), srv.Heartbeat.UTC()
		out = append(out, srv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: servers: %w", err)
	}
	return out, nil
}

// ExpireServers removes the servers whose last heartbeat is older than ttl
// and returns their IDs.
func (s *Store) ExpireServers(ctx context.Context, ttl time.Duration) ([]string, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM servers WHERE heartbeat < now() - $1::bigint * interval '1 microsecond' RETURNING id`, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: expire servers: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: expire servers: %w", err)
	}
	return ids, nil
}

// Deregister removes a server from the pool (a clean shutdown).
func (s *Store) Deregister(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM servers WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: deregister server %q: %w", id, err)
	}
	return nil
}

// RunMembership keeps srv in the pool until ctx ends or the store closes:
// it registers srv, heart-beats every interval with load() (nil: srv.Load),
// registers again when its row was expired, and deregisters at the end. A
// failed heartbeat (the database unreachable) is logged and retried at the
// next tick. It returns the first Register's error, else nil at the end.
func (s *Store) RunMembership(ctx context.Context, srv Server, every time.Duration, load func() int64) error {
	ctx, end, err := s.background(ctx)
	if err != nil {
		return err
	}
	defer end()
	if load == nil {
		load = func() int64 { return srv.Load }
	}
	srv.Load = load()
	if err := s.Register(ctx, srv); err != nil {
		return err
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer dcancel()
			if err := s.Deregister(dctx, srv.ID); err != nil {
				s.log.Warn("postgres: deregister", "server", srv.ID, "err", err)
			}
			return nil
		case <-t.C:
		}
		l := load()
		err := s.Heartbeat(ctx, srv.ID, l)
		if errors.Is(err, store.ErrNotFound) {
			srv.Load = l
			err = s.Register(ctx, srv)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("postgres: heartbeat failed", "server", srv.ID, "err", err)
		}
	}
}

// background derives the context of a long-running call (Subscribe,
// RunMembership) that Close ends and waits for, before it closes the
// connections; end must be called when the call returns.
func (s *Store) background(ctx context.Context) (context.Context, func(), error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, nil, store.ErrClosed
	}
	s.active.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.stopped, cancel)
	return ctx, func() { stop(); cancel(); s.active.Done() }, nil
}
