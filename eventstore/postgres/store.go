// Package postgres is the event log on PostgreSQL, for several nodes sharing one log. It
// keeps the SQLite store's guarantees and passes the same conformance suite
// (eventstore/eventstoretest): expected-version appends, idempotent event ids, and a
// global order that followers read without ever skipping an event.
//
// # Why followers never skip an event
//
// PostgreSQL hands out identity values when a row is inserted, but transactions commit
// in any order: with two appends in flight, position 11 can be visible before position
// 10 commits, and a follower that stored "last seen = 11" would never read 10. watermill-sql
// and Marten met this and read only below the oldest transaction still in flight
// (pg_snapshot_xmin), which needs a (transaction id, position) checkpoint. This store
// takes the simpler road: every append takes one transaction-scoped advisory lock before
// it inserts, so positions are assigned in the order appends commit, and the lock is
// released only after the commit is visible (PostgreSQL ends a transaction's visibility
// before it releases its locks). A reader that sees position N has seen every position
// below N that will ever exist. The price is that appends are serialized, on every node —
// as they are in SQLite; an append holds the lock for one INSERT and its commit.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"switchboard/domain"
)

// Store is a domain.EventStore on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	// db is the same pool behind database/sql, for the projections and checkpoints,
	// whose SQL is shared with the SQLite store.
	db  *sql.DB
	now func() time.Time
}

var _ domain.EventStore = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithNow sets the clock that stamps recorded_at; tests use it to record deterministic times.
func WithNow(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// Open connects to the database named by dsn (a postgres:// URL or key=value string) and
// applies the event log's migrations; two nodes opening a new database at once queue on
// an advisory lock, and only one runs each migration.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: say only what is wrong.
		return nil, errors.New("open event store: the PostgreSQL DSN does not parse; want postgres://user@host:5432/db?sslmode=disable or key=value pairs")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open event store on PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	s := &Store{pool: pool, db: stdlib.OpenDBFromPool(pool), now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	for _, set := range []struct{ name, dir string }{
		{EventsMigrationSet, "migrations"},
		{CheckpointsMigrationSet, "migrations/checkpoints"},
	} {
		sub, err := fs.Sub(migrationFiles, set.dir)
		if err == nil {
			err = ApplyMigrations(ctx, pool, set.name, sub)
		}
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("open event store on PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
		}
	}
	return s, nil
}

// DB is the store's database behind database/sql, for projections and checkpoints that
// keep their tables beside the log.
func (s *Store) DB() *sql.DB { return s.db }

// Migrate applies a set of versioned migrations (a projection's) to the store's
// database, the way the store applies its own.
func (s *Store) Migrate(ctx context.Context, set string, fsys fs.FS) error {
	return ApplyMigrations(ctx, s.pool, set, fsys)
}

// projectionLockClass keys the projections' transaction locks, apart from the one-key
// locks of appends and migrations (PostgreSQL keeps the two-key space separate).
const projectionLockClass = 0x5377_7072 // "Swpr"

// LockTx takes a transaction-scoped advisory lock named name, held until tx ends. The
// projections take one per projection: several nodes share the read side, and their
// transactions on it must run one at a time, or they deadlock on rows they touch in
// different orders and a lagging node writes older rows over newer ones.
func (s *Store) LockTx(ctx context.Context, tx *sql.Tx, name string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(projectionLockClass), name); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the database handles; Pool() and DB() are unusable afterwards.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	if err != nil {
		return fmt.Errorf("close event store: %w", err)
	}
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	return nil
}

// LastPosition is the highest committed position, 0 when the log is empty.
func (s *Store) LastPosition(ctx context.Context) (int64, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&p); err != nil {
		return 0, fmt.Errorf("last position: %w", err)
	}
	return p, nil
}

const selectEvents = `SELECT position, event_id, stream_id, version, type, schema_version,
	occurred_at, recorded_at, COALESCE(correlation_id, ''), COALESCE(causation_id, ''), payload::text
	FROM events `

// ReadStream returns the stream's events with version > afterVersion, oldest first; an
// unknown stream reads as empty.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, selectEvents+`WHERE stream_id = $1 AND version > $2 ORDER BY version`, stream, afterVersion)
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	return events, nil
}

// ReadAll returns up to limit events with position > afterPosition in position order.
// Positions are not contiguous (a rolled-back append leaves a gap): page with
// afterPosition = the last position returned.
func (s *Store) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read all after %d: limit is %d; want a positive page size", afterPosition, limit)
	}
	rows, err := s.pool.Query(ctx, selectEvents+`WHERE position > $1 ORDER BY position LIMIT $2`, afterPosition, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	return events, nil
}

func scanEvents(rows pgx.Rows) ([]domain.RecordedEvent, error) {
	defer rows.Close()
	var events []domain.RecordedEvent
	for rows.Next() {
		var (
			e       domain.RecordedEvent
			payload string
		)
		if err := rows.Scan(&e.Position, &e.ID, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion,
			&e.OccurredAt, &e.RecordedAt, &e.CorrelationID, &e.CausationID, &payload); err != nil {
			return nil, err
		}
		e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
		e.Payload = []byte(payload)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}
