package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/eventstore/migration"
)

//go:embed migrations/*.sql migrations/checkpoints/*.sql
var migrationFiles embed.FS

// The store's own migration sets, as in the SQLite store: the event log ("events") and
// the checkpoints every follower shares ("checkpoints").
const (
	EventsMigrationSet      = "events"
	CheckpointsMigrationSet = "checkpoints"
)

// migrateLockKey is the session advisory lock two nodes starting at once queue on, so
// only one of them runs a migration and the other finds it applied.
const migrateLockKey = 0x5377_6d69 // "Swmi"

// ApplyMigrations applies the *.sql files at the root of fsys that schema_migrations does
// not yet record for set, in version order, each in one transaction with its record.
// Sets are independent, as in the SQLite store: the event log uses "events", a
// projection its own name. It refuses a database holding a version of set that fsys
// does not know (a newer build migrated it).
func ApplyMigrations(ctx context.Context, pool *pgxpool.Pool, set string, fsys fs.FS) error {
	if set == "" {
		return errors.New("apply migrations: set name is empty; want a name such as \"events\"")
	}
	migs, err := migration.Read(fsys)
	if err != nil {
		return fmt.Errorf("apply migrations %q: %w", set, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations %q: %w", set, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("apply migrations %q: take the migration lock: %w", set, err)
	}
	defer func() {
		// A session lock outlives a failed statement; release it on a fresh context so a
		// canceled start does not leave the next node waiting for this connection's end.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   text        NOT NULL,
		version    integer     NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (set_name, version)
	)`); err != nil {
		return fmt.Errorf("apply migrations %q: create schema_migrations: %w", set, err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations WHERE set_name = $1 ORDER BY version`, set)
	if err != nil {
		return fmt.Errorf("apply migrations %q: read schema_migrations: %w", set, err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("apply migrations %q: read schema_migrations: %w", set, err)
	}
	if v, unknown := migration.Unknown(migs, applied); unknown {
		return fmt.Errorf("apply migrations %q: database has version %d, which this binary does not know: it was migrated by a newer build", set, v)
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range migs {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("run: %w", err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (set_name, version, name) VALUES ($1, $2, $3)`, set, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migrations %q: %s: %w", set, m.Name, err)
		}
	}
	return nil
}
