package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaNewer is returned by Open for a database migrated by a newer
// gcload than this one.
var ErrSchemaNewer = errors.New("database schema is newer than this gcload")

// migration is one step of the schema. Steps are never edited once
// released: a change is a new step.
type migration struct {
	version int
	name    string
	sql     string
}

// Times are Unix nanoseconds (bigint), as in the SQLite store: a post's
// time reads back exactly as it was delivered. messages.room_id has no
// foreign key: the writer checks the room under the lock of its row (rooms
// are never deleted), and a per-row trigger would cost about 6 µs a post.
// Migration 2's servers table and 3's online table are for pools (pool.go).
// Migration 4's archive keys its records by (the writing transaction's
// xid, id): readers take only records of transactions older than every one
// in progress, in that order (store.Cursor). Migration 5 is file posts:
// the files table (a file's metadata) and messages.file_id. Migration 6 is
// the category hierarchy (rooms.category names a category's id).
var migrations = []migration{
	{1, "rooms, roles, messages, invitations", `
CREATE TABLE rooms (
	id text PRIMARY KEY,
	name text NOT NULL,
	description text NOT NULL DEFAULT '',
	topic text NOT NULL DEFAULT '',
	category text NOT NULL DEFAULT '',
	privacy text NOT NULL,
	type text NOT NULL,
	disabled boolean NOT NULL DEFAULT false,
	created_ns bigint NOT NULL,
	last_seq bigint NOT NULL DEFAULT 0
);
CREATE TABLE room_roles (
	room_id text NOT NULL REFERENCES rooms (id),
	user_uri text NOT NULL,
	role text NOT NULL,
	PRIMARY KEY (room_id, role, user_uri)
);
CREATE TABLE messages (
	room_id text NOT NULL,
	seq bigint NOT NULL,
	author text NOT NULL,
	ts_ns bigint NOT NULL,
	text text NOT NULL,
	story boolean NOT NULL DEFAULT false,
	PRIMARY KEY (room_id, seq)
);
CREATE INDEX messages_author ON messages (author, ts_ns);
CREATE TABLE invitations (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	room_id text NOT NULL,
	user_uri text NOT NULL,
	by_user text NOT NULL DEFAULT '',
	created_ns bigint NOT NULL
);
CREATE INDEX invitations_user ON invitations (user_uri);
`},
	{2, "servers of a pool", `
CREATE TABLE servers (
	id text PRIMARY KEY,
	addr text NOT NULL,
	uris text[] NOT NULL DEFAULT '{}',
	load bigint NOT NULL DEFAULT 0,
	started timestamptz NOT NULL DEFAULT now(),
	heartbeat timestamptz NOT NULL DEFAULT now()
);
`},
	{3, "who is online where in a pool", `
CREATE TABLE online (
	server_id text NOT NULL,
	room_id text NOT NULL,
	user_uri text NOT NULL,
	sessions integer NOT NULL CHECK (sessions > 0),
	PRIMARY KEY (server_id, room_id, user_uri)
);
`},
	{4, "compliance archive", `
CREATE TABLE archive (
	id bigint GENERATED ALWAYS AS IDENTITY,
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	kind text NOT NULL,
	room_id text NOT NULL,
	user_uri text NOT NULL,
	ts_ns bigint NOT NULL,
	seq bigint NOT NULL DEFAULT 0,
	detail text NOT NULL DEFAULT '',
	PRIMARY KEY (xid, id)
);
CREATE TABLE export_cursors (
	name text PRIMARY KEY,
	xid xid8 NOT NULL,
	id bigint NOT NULL
);
`},
	{5, "file posts: files, messages.file_id", `
ALTER TABLE messages ADD COLUMN file_id text NOT NULL DEFAULT '';
CREATE TABLE files (
	id text PRIMARY KEY,
	room_id text NOT NULL,
	uploader text NOT NULL,
	name text NOT NULL,
	size bigint NOT NULL,
	sha256 text NOT NULL,
	created_ns bigint NOT NULL
);
CREATE INDEX files_room ON files (room_id);
`},
	{6, "categories: the hierarchy and its members and creators", `
CREATE TABLE categories (
	id text PRIMARY KEY,
	name text NOT NULL,
	parent text NOT NULL DEFAULT '',
	override boolean NOT NULL DEFAULT false,
	created_ns bigint NOT NULL
);
CREATE TABLE category_roles (
	category_id text NOT NULL REFERENCES categories (id),
	user_uri text NOT NULL,
	role text NOT NULL,
	PRIMARY KEY (category_id, role, user_uri)
);
`},
}

// SchemaVersion is the schema version this code migrates to.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrationLock is the advisory lock key that serializes the migrations of
// servers starting at once on one database.
const migrationLock = 0x67636c6f6164 // "gcload"

// migrate applies the migrations the database lacks.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateTo(ctx, pool, SchemaVersion())
}

// migrateTo applies the migrations the database lacks up to version upTo,
// each in its own transaction, under an advisory lock.

func migrateTo(ctx context.Context, pool *pgxpool.Pool, upTo int) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)) }()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var cur int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if cur > SchemaVersion() {
		return fmt.Errorf("schema version %d, this gcload knows up to %d: %w", cur, SchemaVersion(), ErrSchemaNewer)
	}
	for _, m := range migrations {
		if m.version <= cur || m.version > upTo {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
