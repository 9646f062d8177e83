package follow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQLCheckpoints keeps reactor checkpoints in a table of the store's database.
type SQLCheckpoints struct{ db *sql.DB }

// NewSQLCheckpoints creates the table if needed.
func NewSQLCheckpoints(db *sql.DB) (*SQLCheckpoints, error) {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS reactor_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create reactor_checkpoints: %w", err)
	}
	return &SQLCheckpoints{db: db}, nil
}

// Load returns the checkpoint of name, 0 when it has none.
func (c *SQLCheckpoints) Load(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := c.db.QueryRowContext(ctx, `SELECT position FROM reactor_checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// Save stores the checkpoint of name.
func (c *SQLCheckpoints) Save(ctx context.Context, name string, position int64) error {
	_, err := c.db.ExecContext(ctx, `INSERT INTO reactor_checkpoints (name, position) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, position)
	return err
}
