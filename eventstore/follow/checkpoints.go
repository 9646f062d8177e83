package follow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQLCheckpoints keeps every follower's checkpoint — reactors' and projections' — in the
// checkpoints table of the store's database, which the store's migrations create
// (eventstore/sqlite/migrations/0002_checkpoints.sql).
type SQLCheckpoints struct {
	db *sql.DB
	w  TxWriter // nil: Save writes in a transaction of its own
}

// TxWriter runs fn in a write transaction it shares with the log's appends and commits
// before returning (sqlite.Store.Write: the group commit's queue); fn's error is
// Write's, and fn's writes are undone with it.
type TxWriter interface {
	Write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
}

// Through returns checkpoints that save through w, the store's writer, instead of
// competing with it for the database's write lock. w must write to the same database.
func (c *SQLCheckpoints) Through(w TxWriter) *SQLCheckpoints {
	return &SQLCheckpoints{db: c.db, w: w}
}

// NewSQLCheckpoints checks that db has the checkpoints table: a database the event
// store has not migrated is refused here rather than at the first save.
func NewSQLCheckpoints(db *sql.DB) (*SQLCheckpoints, error) {
	if db == nil {
		return nil, errors.New("checkpoints: database is nil")
	}
	if _, err := db.Exec(`SELECT name, position FROM checkpoints LIMIT 0`); err != nil {
		return nil, fmt.Errorf("checkpoints: %w; open the database through the event store (sqlite.Open), whose migrations create the table", err)
	}
	return &SQLCheckpoints{db: db}, nil
}

// Load returns the checkpoint of name, 0 when it has none.
func (c *SQLCheckpoints) Load(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := c.db.QueryRowContext(ctx, `SELECT position FROM checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// LoadTx returns the checkpoint of name as tx sees it, 0 when it has none: a follower
// that shares its rows and checkpoint with other processes reads where they got inside
// the transaction that moves it.
func (c *SQLCheckpoints) LoadTx(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var pos int64
	err := tx.QueryRowContext(ctx, `SELECT position FROM checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// Save stores the checkpoint of name.
func (c *SQLCheckpoints) Save(ctx context.Context, name string, position int64) error {
	if c.w != nil {
		if err := c.w.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, saveCheckpoint, name, position)
			return err
		}); err != nil {
			return fmt.Errorf("save checkpoint %s: %w", name, err)
		}
		return nil
	}
	if _, err := c.db.ExecContext(ctx, saveCheckpoint, name, position); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// SaveTx stores the checkpoint of name inside tx, so a follower whose writes live in
// the same database (a projection) moves its checkpoint atomically with its rows.
func (c *SQLCheckpoints) SaveTx(ctx context.Context, tx *sql.Tx, name string, position int64) error {
	if _, err := tx.ExecContext(ctx, saveCheckpoint, name, position); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// All returns every checkpoint by name.
func (c *SQLCheckpoints) All(ctx context.Context) (map[string]int64, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name, position FROM checkpoints`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		out[name] = pos
	}
	return out, rows.Err()
}

const saveCheckpoint = `INSERT INTO checkpoints (name, position) VALUES ($1, $2)
	ON CONFLICT (name) DO UPDATE SET position = excluded.position`
