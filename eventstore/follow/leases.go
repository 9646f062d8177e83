package follow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// Buckets is how many buckets a reactor's partitions hash into when nodes share the work:
// the unit a node leases, checkpoints and hands over.
const Buckets = 16

// Bucket is the bucket of a partition.
func Bucket(partition string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(partition))
	return int(h.Sum32() % Buckets)
}

// Leases decide which buckets of a reactor this node works. A reactor with Leases
// handles only the events of its buckets, each bucket with a checkpoint of its own, so a
// bucket that moves to another node resumes where its last owner got.
type Leases interface {
	// Hold renews this node's leases of reactor's buckets, takes free or lapsed ones up
	// to the node's fair share, gives back those over it, and returns what it holds.
	Hold(ctx context.Context, reactor string) (map[int]bool, error)
	// Renew is how often Hold must run for the leases to stay held.
	Renew() time.Duration
}

// SQLLeases keeps leases in the store's database (the nodes and partition_leases tables
// of the checkpoints migrations), which every node shares.
type SQLLeases struct {
	db   *sql.DB
	node string
	ttl  time.Duration
	now  func() time.Time
}

// NewSQLLeases leases for node (a name unique to this process) for ttl at a time; now
// nil is the wall clock.
func NewSQLLeases(db *sql.DB, node string, ttl time.Duration, now func() time.Time) (*SQLLeases, error) {
	if db == nil || node == "" || ttl <= 0 {
		return nil, errors.New("leases: database, node name and a positive lease time are required")
	}
	if now == nil {
		now = time.Now
	}
	if _, err := db.Exec(`SELECT name FROM nodes LIMIT 0`); err != nil {
		return nil, fmt.Errorf("leases: %w; open the database through the event store, whose migrations create the table", err)
	}
	return &SQLLeases{db: db, node: node, ttl: ttl, now: now}, nil
}

// Node is the name this node leases under.
func (l *SQLLeases) Node() string { return l.node }

// Renew is a third of the lease time: two renewals may fail before a lease lapses.
func (l *SQLLeases) Renew() time.Duration { return l.ttl / 3 }

// Hold runs in one transaction, so two nodes taking buckets at once each get their own.
func (l *SQLLeases) Hold(ctx context.Context, reactor string) (map[int]bool, error) {
	now := l.now().UnixMilli()
	until := now + l.ttl.Milliseconds()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("leases of %s: %w", reactor, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (name, expires_at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at`, l.node, until); err != nil {
		return nil, fmt.Errorf("leases of %s: heartbeat: %w", reactor, err)
	}
	var live int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE expires_at > $1`, now).Scan(&live); err != nil {
		return nil, fmt.Errorf("leases of %s: count nodes: %w", reactor, err)
	}
	share := (Buckets + max(live, 1) - 1) / max(live, 1)
	if _, err := tx.ExecContext(ctx, `UPDATE partition_leases SET expires_at = $1 WHERE reactor = $2 AND owner = $3 AND expires_at > $4`,
		until, reactor, l.node, now); err != nil {
		return nil, fmt.Errorf("leases of %s: renew: %w", reactor, err)
	}
	held, err := l.held(ctx, tx, reactor, now)
	if err != nil {
		return nil, err
	}
	// Over the share (a node joined): give back the highest buckets for it to take.
	for len(held) > share {
		b := held[len(held)-1]
		if _, err := tx.ExecContext(ctx, `UPDATE partition_leases SET expires_at = 0 WHERE reactor = $1 AND bucket = $2 AND owner = $3`,
			reactor, b, l.node); err != nil {
			return nil, fmt.Errorf("leases of %s: give back bucket %d: %w", reactor, b, err)
		}
		held = held[:len(held)-1]
	}
	mine := make(map[int]bool, share)
	for _, b := range held {
		mine[b] = true
	}
	for b := 0; b < Buckets && len(mine) < share; b++ {
		if mine[b] {
			continue
		}
		// Take the bucket only if nobody holds it now: the conditional update touches
		// no row while another node's lease is live.
		res, err := tx.ExecContext(ctx, `INSERT INTO partition_leases (reactor, bucket, owner, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (reactor, bucket) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE partition_leases.expires_at <= $5`, reactor, b, l.node, until, now)
		if err != nil {
			return nil, fmt.Errorf("leases of %s: take bucket %d: %w", reactor, b, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			mine[b] = true
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("leases of %s: commit: %w", reactor, err)
	}
	return mine, nil
}

func (l *SQLLeases) held(ctx context.Context, tx *sql.Tx, reactor string, now int64) ([]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT bucket FROM partition_leases WHERE reactor = $1 AND owner = $2 AND expires_at > $3`,
		reactor, l.node, now)
	if err != nil {
		return nil, fmt.Errorf("leases of %s: read: %w", reactor, err)
	}
	defer rows.Close()
	var held []int
	for rows.Next() {
		var b int
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("leases of %s: read: %w", reactor, err)
		}
		held = append(held, b)
	}
	sort.Ints(held)
	return held, rows.Err()
}

// Leave gives back every lease of this node and its heartbeat, so the others take its
// buckets at once rather than after the lease time (a graceful shutdown).
func (l *SQLLeases) Leave(ctx context.Context) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE partition_leases SET expires_at = 0 WHERE owner = $1`, l.node); err != nil {
		return fmt.Errorf("leases: leave: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM nodes WHERE name = $1`, l.node); err != nil {
		return fmt.Errorf("leases: leave: %w", err)
	}
	return nil
}
