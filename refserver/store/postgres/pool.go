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
// or until a Resync after a reconnection. Who is online in which room on
// which server is kept in the online table (PublishPresence,
// ReplaceOnline, Online), and every change of it, of a room or of a user's
// invitations is an Event on EventChannel, sent in the transaction that
// made it.

// EventChannel is the channel of a pool's events other than posts (see
// Event).
const EventChannel = "gcload_events"

// EventKind says what an Event is about.
type EventKind byte

// Event kinds, the first word of the payload.
const (
	// EventJoin and EventPart: User's sessions online in Room on Server
	// are now N (after one joined or left).
	EventJoin EventKind = 'j'
	EventPart EventKind = 'p'
	// EventOnline: Server replaced its rows of the online table (read
	// them again with Online).
	EventOnline EventKind = 's'
	// EventGone: Server left the pool (it stopped, or it was expired);
	// its rows of the online table are gone.
	EventGone EventKind = 'x'
	// EventRoom: Room's settings, roles or disabled flag changed (or it
	// was created).
	EventRoom EventKind = 'r'
	// EventInvitations: User's invitations changed.
	EventInvitations EventKind = 'i'
	// EventCategories: a category was created or changed (read them all
	// again: a change passes down to every category and room below).
	EventCategories EventKind = 'c'
)

// Event is a change one server of a pool tells the others about. Server
// is the server that made it ("" when the store had no server ID).
type Event struct {
	Kind       EventKind
	Server     string
	Room, User string
	N          int
}

// Wake tells a subscriber that a room's posts are committed up to Seq, or
// carries an Event.
type Wake struct {
	Room string
	Seq  uint64
	// Msg, when not nil, is the post numbered Seq itself (its committer
	// carried it: SetCarryPosts), so that the subscriber need not read it
	// from the table.
	Msg *store.Message
	// From is the server whose commit it was ("" when its store had no
	// server ID).
	From string
	// Resync: notifications may have been missed (the subscription just
	// started or reconnected): catch up every room from the table (LastSeqs)
	// and the online table (Online). The other fields are empty.
	Resync bool
	// Event, when its Kind is not 0, is an event of EventChannel (Room,
	// Seq and From are empty).
	Event Event
}

// ValidServerID reports whether id can name a server of a pool: 1 to 128
// printable ASCII characters, no space, not "-" (which names no server in
// notifications).
func ValidServerID(id string) bool {
	if len(id) == 0 || len(id) > 128 || id == "-" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// maxPayload bounds a notification carrying a post: PostgreSQL refuses
// payloads of 8,000 bytes or more. A larger post is announced without its
// content, and read from the table.
const maxPayload = 7900

// SetCarryPosts says whether the commits' notifications carry each post
// (one notification per post, with its author, time and text), for other
// servers to deliver without reading it back; a server alone in its pool
// need not (one short notification per room and commit).
func (s *Store) SetCarryPosts(on bool) { s.carry.Store(on) }

// postPayload is the notification of one post: "ROOM SEQ SERVER" (or
// "ROOM SEQ -"), then, when it fits, "\nTS_NS STORY AUTHOR\nTEXT". A file
// post is never carried (the payload has no place for its file): the
// other servers read it from the table, file and all.
func (s *Store) postPayload(room string, seq uint64, author string, ts int64, story bool, text string, file bool) string {
	from := s.serverID
	if from == "" {
		from = "-"
	}
	head := room + " " + strconv.FormatUint(seq, 10) + " " + from
	st := "0"
	if story {
		st = "1"
	}
	body := "\n" + strconv.FormatInt(ts, 10) + " " + st + " " + author + "\n" + text
	if file || len(head)+len(body) >= maxPayload {
		return head
	}
	return head + body
}

// fromSuffix is what the commit's notifications add after "ROOM SEQ".
func (s *Store) fromSuffix() string {
	if s.serverID == "" {
		return ""
	}
	return " " + s.serverID
}

// eventPrefix is the start of an event's payload, up to its arguments:
// "KIND SERVER ".
func (s *Store) eventPrefix(k EventKind) string {
	srv := s.serverID
	if srv == "" {
		srv = "-"
	}
	return string(k) + " " + srv + " "
}

// notifyRoom sends EventRoom for a room in transaction tx.
func (s *Store) notifyRoom(ctx context.Context, tx pgx.Tx, roomID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, EventChannel, s.eventPrefix(EventRoom)+roomID)
	return err
}

// Subscribe calls fn with a Wake for every committed batch's rooms, from
// every server on the database, in commit order, and for every Event, on
// the caller's goroutine, until ctx ends or the store closes; then it
// returns nil. It holds its own connection (not one of the pool's),
// LISTENing on NotifyChannel and EventChannel; whenever the LISTEN starts
// (first, and after a lost connection, retried with a backoff up to 2 s),
// fn gets a Wake with Resync set, after the LISTEN took effect: a post or
// change committed after that is notified, one committed before is in the
// tables. A notification whose payload cannot be read is a Resync too.
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
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()+"; LISTEN "+pgx.Identifier{EventChannel}.Sanitize()); err != nil {
		return err
	}
	listening()
	fn(Wake{Resync: true})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var w Wake
		ok := false
		if n.Channel == EventChannel {
			w.Event, ok = parseEvent(n.Payload)
		} else {
			w, ok = parseWake(n.Payload)
		}
		if !ok {
			s.log.Warn("postgres: notification with a bad payload, resyncing", "channel", n.Channel, "payload", n.Payload)
			w = Wake{Resync: true}
		}
		fn(w)
	}
}

// parseWake parses "ROOM SEQ", "ROOM SEQ SERVER" (SERVER "-" for none),
// or the latter followed by a post: "\nTS_NS STORY AUTHOR\nTEXT".
func parseWake(p string) (Wake, bool) {
	head, post, carried := strings.Cut(p, "\n")
	f := strings.Split(head, " ")
	if len(f) != 2 && len(f) != 3 {
		return Wake{}, false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || !store.ValidID(f[0]) {
		return Wake{}, false
	}
	w := Wake{Room: f[0], Seq: seq}
	if len(f) == 3 && f[2] != "-" {
		if !ValidServerID(f[2]) {
			return Wake{}, false
		}
		w.From = f[2]
	}
	if !carried {
		return w, true
	}
	meta, text, ok := strings.Cut(post, "\n")
	m := strings.SplitN(meta, " ", 3)
	if !ok || len(m) != 3 || (m[1] != "0" && m[1] != "1") || !store.ValidUser(m[2]) {
		return Wake{}, false
	}
	ts, err := strconv.ParseInt(m[0], 10, 64)
	if err != nil {
		return Wake{}, false
	}
	w.Msg = &store.Message{RoomID: w.Room, Seq: seq, Author: m[2], TS: time.Unix(0, ts).UTC(), Text: text, Story: m[1] == "1"}
	return w, true
}

// parseEvent parses an EventChannel payload: "KIND SERVER ARGS...", where
// SERVER is "-" for none and ARGS are: ROOM (r), CATEGORY (c, in Room), USER (i), ROOM USER N
// NONCE (j, p), NONCE (s), nothing (x). The nonce keeps two equal events
// of one transaction apart (PostgreSQL delivers one of identical
// notifications).
func parseEvent(p string) (Event, bool) {
	f := strings.Split(p, " ")
	if len(f) < 2 || len(f[0]) != 1 || (f[1] != "-" && !ValidServerID(f[1])) {
		return Event{}, false
	}
	e := Event{Kind: EventKind(f[0][0])}
	if f[1] != "-" {
		e.Server = f[1]
	}
	args := f[2:]
	switch e.Kind {
	case EventRoom:
		if len(args) != 1 || !store.ValidID(args[0]) {
			return Event{}, false
		}
		e.Room = args[0]
	case EventCategories:
		if len(args) != 1 || !store.ValidID(args[0]) {
			return Event{}, false
		}
		e.Room = args[0] // the category's id
	case EventInvitations:
		if len(args) != 1 || !store.ValidUser(args[0]) {
			return Event{}, false
		}
		e.User = args[0]
	case EventJoin, EventPart:
		if len(args) != 4 || !store.ValidID(args[0]) || !store.ValidUser(args[1]) || e.Server == "" {
			return Event{}, false
		}
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 0 {
			return Event{}, false
		}
		e.Room, e.User, e.N = args[0], args[1], n
	case EventOnline:
		if len(args) != 1 || e.Server == "" {
			return Event{}, false
		}
	case EventGone:
		if len(args) != 0 || e.Server == "" {
			return Event{}, false
		}
	default:
		return Event{}, false
	}
	return e, true
}

// Presence is store.Presence: a user's sessions online in a room on one
// server.
type Presence = store.Presence

// PublishPresence records, in one transaction, the changes of this
// server's online users (in order: the last change of a room and user
// counts) in the online table, and sends an EventJoin (Sessions went up or
// stayed) or EventPart (went down) for each, in order. join[i] says which
// one change i was. It needs a server ID (WithServerID).
func (s *Store) PublishPresence(ctx context.Context, changes []Presence, join []bool) error {
	if s.serverID == "" {
		return errors.New("postgres: publish presence: the store has no server id")
	}
	if len(changes) == 0 {
		return nil
	}
	type key struct{ room, user string }
	last := make(map[key]int, len(changes))
	order := make([]key, 0, len(changes))
	payloads := make([]string, 0, len(changes))
	for i, c := range changes {
		if !store.ValidID(c.Room) || !store.ValidUser(c.User) || c.Sessions < 0 {
			return fmt.Errorf("postgres: publish presence: bad change %+v", c)
		}
		k := key{c.Room, c.User}
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = c.Sessions
		kind := EventPart
		if join[i] {
			kind = EventJoin
		}
		payloads = append(payloads, s.eventPrefix(kind)+c.Room+" "+c.User+" "+strconv.Itoa(c.Sessions)+" "+strconv.FormatUint(s.eventSeq.Add(1), 36))
	}
	var upRooms, upUsers, delRooms, delUsers []string
	var upN []int32
	for _, k := range order {
		if n := last[k]; n > 0 {
			upRooms, upUsers, upN = append(upRooms, k.room), append(upUsers, k.user), append(upN, int32(n))
		} else {
			delRooms, delUsers = append(delRooms, k.room), append(delUsers, k.user)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(upRooms) > 0 {
			b.Queue(`INSERT INTO online (server_id, room_id, user_uri, sessions) SELECT $1, r, u, n FROM unnest($2::text[], $3::text[], $4::int[]) AS v(r, u, n)
				ON CONFLICT (server_id, room_id, user_uri) DO UPDATE SET sessions = excluded.sessions`, s.serverID, upRooms, upUsers, upN)
		}
		if len(delRooms) > 0 {
			b.Queue(`DELETE FROM online o USING unnest($2::text[], $3::text[]) AS v(r, u) WHERE o.server_id = $1 AND o.room_id = v.r AND o.user_uri = v.u`,
				s.serverID, delRooms, delUsers)
		}
		b.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, EventChannel, payloads)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: publish presence: %w", err)
	}
	return nil
}

// ReplaceOnline replaces every row of this server in the online table by
// all (after a restart, or when changes were lost) and sends one
// EventOnline, in one transaction.
func (s *Store) ReplaceOnline(ctx context.Context, all []Presence) error {
	if s.serverID == "" {
		return errors.New("postgres: replace online: the store has no server id")
	}
	var rooms, users []string
	var ns []int32
	for _, p := range all {
		if p.Sessions <= 0 {
			continue
		}
		if !store.ValidID(p.Room) || !store.ValidUser(p.User) {
			return fmt.Errorf("postgres: replace online: bad presence %+v", p)
		}
		rooms, users, ns = append(rooms, p.Room), append(users, p.User), append(ns, int32(p.Sessions))
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM online WHERE server_id = $1`, s.serverID)
		if len(rooms) > 0 {
			b.Queue(`INSERT INTO online (server_id, room_id, user_uri, sessions) SELECT $1, r, u, n FROM unnest($2::text[], $3::text[], $4::int[]) AS v(r, u, n)
				ON CONFLICT (server_id, room_id, user_uri) DO UPDATE SET sessions = excluded.sessions`, s.serverID, rooms, users, ns)
		}
		b.Queue(`SELECT pg_notify($1, $2)`, EventChannel, s.eventPrefix(EventOnline)+strconv.FormatUint(s.eventSeq.Add(1), 36))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: replace online: %w", err)
	}
	return nil
}

// Online returns the online table's rows of server (every server's when
// server is ""), by server, room and user.
func (s *Store) Online(ctx context.Context, server string) ([]Presence, error) {
	rows, err := s.pool.Query(ctx, `SELECT server_id, room_id, user_uri, sessions FROM online WHERE $1 = '' OR server_id = $1
		ORDER BY server_id COLLATE "C", room_id COLLATE "C", user_uri COLLATE "C"`, server)
	if err != nil {
		return nil, fmt.Errorf("postgres: online: %w", err)
	}
	defer rows.Close()
	var out []Presence
	for rows.Next() {
		var p Presence
		var n int32
		if err := rows.Scan(&p.Server, &p.Room, &p.User, &n); err != nil {
			return nil, fmt.Errorf("postgres: online: %w", err)
		}
		p.Sessions = int(n)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: online: %w", err)
	}
	return out, nil
}

// Room returns one room with its roles (store.ErrNotFound when there is
// none).
func (s *Store) Room(ctx context.Context, id string) (store.Room, error) {
	var r store.Room
	var created, last int64
	var privacy, typ string
	err := s.pool.QueryRow(ctx, `SELECT id, name, description, topic, category, privacy, type, disabled, created_ns, last_seq FROM rooms WHERE id = $1`, id).
		Scan(&r.ID, &r.Name, &r.Description, &r.Topic, &r.Category, &privacy, &typ, &r.Disabled, &created, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("postgres: room %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: room %q: %w", id, err)
	}
	r.Privacy, r.Type = store.Privacy(privacy), store.RoomType(typ)
	r.Created, r.LastSeq = time.Unix(0, created).UTC(), uint64(last)
	r.Members, r.Managers, r.Presenters = []string{}, []string{}, []string{}
	rows, err := s.pool.Query(ctx, `SELECT user_uri, role FROM room_roles WHERE room_id = $1 ORDER BY role COLLATE "C", user_uri COLLATE "C"`, id)
	if err != nil {
		return r, fmt.Errorf("postgres: roles of %q: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var user, role string
		if err := rows.Scan(&user, &role); err != nil {
			return r, fmt.Errorf("postgres: roles of %q: %w", id, err)
		}
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
		return r, fmt.Errorf("postgres: roles of %q: %w", id, err)
	}
	return r, nil
}

// UserInvitations lists a user's outstanding invitations, in order of ID.
func (s *Store) UserInvitations(ctx context.Context, user string) ([]store.Invitation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, room_id, user_uri, by_user, created_ns FROM invitations WHERE user_uri = $1 ORDER BY id`, user)
	if err != nil {
		return nil, fmt.Errorf("postgres: invitations of %s: %w", user, err)
	}
	defer rows.Close()
	var out []store.Invitation
	for rows.Next() {
		var inv store.Invitation
		var created int64
		if err := rows.Scan(&inv.ID, &inv.RoomID, &inv.User, &inv.By, &created); err != nil {
			return nil, fmt.Errorf("postgres: invitations of %s: %w", user, err)
		}
		inv.Created = time.Unix(0, created).UTC()
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: invitations of %s: %w", user, err)
	}
	return out, nil
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
// and their rows of the online table, sends an EventGone for each, and
// returns their IDs.
func (s *Store) ExpireServers(ctx context.Context, ttl time.Duration) ([]string, error) {
	// one statement, one round trip: every server calls it at each heartbeat
	rows, err := s.pool.Query(ctx, `WITH gone AS (DELETE FROM servers WHERE heartbeat < now() - $1::bigint * interval '1 microsecond' RETURNING id),
		o AS (DELETE FROM online WHERE server_id IN (SELECT id FROM gone))
		SELECT id, pg_notify($2, 'x ' || id) FROM gone ORDER BY id COLLATE "C"`, ttl.Microseconds(), EventChannel)
	if err != nil {
		return nil, fmt.Errorf("postgres: expire servers: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id string
		err := r.Scan(&id, nil)
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: expire servers: %w", err)
	}
	return ids, nil
}

// Deregister removes a server and its rows of the online table from the
// pool (a clean shutdown) and sends an EventGone.
func (s *Store) Deregister(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM online WHERE server_id = $1`, id)
		b.Queue(`DELETE FROM servers WHERE id = $1`, id)
		b.Queue(`SELECT pg_notify($1, 'x ' || $2::text)`, EventChannel, id)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: deregister server %q: %w", id, err)
	}
	return nil
}

// RunMembership keeps srv in the pool until ctx ends or the store closes:
// it registers srv, heart-beats every interval with load() (nil: srv.Load),
// registers again when its row was expired, and deregisters at the end. A
// failed heartbeat (the database unreachable) is logged and retried at the
// next tick. registered (when not nil) is called after every Register that
// followed an expiry: the others dropped the server's rows of the online
// table, which it must then write again (ReplaceOnline). It returns the
// first Register's error, else nil at the end.
func (s *Store) RunMembership(ctx context.Context, srv Server, every time.Duration, load func() int64, registered func()) error {
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
			if err = s.Register(ctx, srv); err == nil && registered != nil {
				registered()
			}
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
