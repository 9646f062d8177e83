package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"switchboard/eventstore/migration"
)

//go:embed migrations/*.sql migrations/checkpoints/*.sql
var migrationFiles embed.FS

// The migration sets Open applies. Every table of the database file is created by a
// set of embedded, versioned migrations: the event log's own ("events"), the followers'
// checkpoints ("checkpoints", the one table reactors and projections share) and the
// projections' read side, which projections.NewRunner applies as its own set.
const (
	EventsMigrationSet      = "events"
	CheckpointsMigrationSet = "checkpoints"
)

// ApplyMigrations applies the *.sql files at the root of fsys that schema_migrations does
// not yet record for set, in version order, each in its own transaction together with its
// record, so a crash leaves every migration either fully applied or not at all.
//
// File names are NNNN_description.sql; the number is the version within the set and must
// be unique. Sets are independent (the event log uses "events"; a projection picks its
// own name), so packages can share one database file without coordinating numbers.
//
// Once recorded, a migration is never run again: change the schema with a new file, never
// by editing an applied one. ApplyMigrations refuses to run when the database holds a
// version of set that fsys does not have, because that means an older binary is opening a
// file a newer one has migrated.
//
// db should come from Open (Store.DB): its transactions take the write lock at BEGIN, so
// two processes migrating the same file queue instead of failing on a lock upgrade.
func ApplyMigrations(db *sql.DB, set string, fsys fs.FS) error {
	if set == "" {
		return errors.New("apply migrations: set name is empty; want a name such as \"events\"")
	}
	ctx := context.Background()
	migs, err := migration.Read(fsys)
	if err != nil {
		return fmt.Errorf("apply migrations %q: %w", set, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL,
		PRIMARY KEY (set_name, version)
	)`); err != nil {
		return fmt.Errorf("apply migrations %q: create schema_migrations: %w", set, err)
	}

	applied, err := appliedVersions(ctx, db, set)
	if err != nil {
		return fmt.Errorf("apply migrations %q: %w", set, err)
	}
	if v, unknown := migration.Unknown(migs, applied); unknown {
		return fmt.Errorf("apply migrations %q: database has version %d, which this binary does not know: it was migrated by a newer build", set, v)
	}

	for _, m := range migs {
		if err := applyOne(ctx, db, set, m); err != nil {
			return fmt.Errorf("apply migrations %q: %s: %w", set, m.Name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, db *sql.DB, set string) ([]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations WHERE set_name = ? ORDER BY version`, set)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return vs, nil
}

// applyOne re-checks schema_migrations inside the write transaction: two processes opening
// the same new file both see the migration as pending, and only the first may run it.
func applyOne(ctx context.Context, db *sql.DB, set string, m migration.Migration) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE set_name = ? AND version = ?`, set, m.Version).Scan(&n); err != nil {
		return fmt.Errorf("check schema_migrations: %w", err)
	}
	if n > 0 {
		return tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		set, m.Version, m.Name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("record in schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
