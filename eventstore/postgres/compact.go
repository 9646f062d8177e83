package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// compactLockTimeout bounds each table's wait for its lock: VACUUM FULL asks for an
// exclusive one, and while it waits in line every later statement on that table waits
// behind it. A table it could not lock is reported, and the caller tries again.
const compactLockTimeout = "2s"

// Compact rewrites tables into new files, so that what an erasure deleted or overwrote
// in them leaves the server's files (SPEC §3 rule 17). PostgreSQL keeps a deleted or
// updated row's old version in the table's file, and in its indexes', until the space
// is reused: measured, the erased person's number, names, email, texts and message ids
// were all still there after `switchboard erase`, most of them after a plain VACUUM
// too, and none after VACUUM FULL (TestErasureOnPostgresLeavesNothingInTheTableFiles).
//
// The caller names the tables (the data keys' and the read side's): the schema may be
// shared with tables that are not switchboard's, and the log needs none, as an erasure
// leaves its rows as they are and what they hold of a person is sealed. Each table is
// locked for the time of its rewrite: appends of new messages wait for the name
// table's, the read side for its own (docs/privacy.md, §5).
func (s *Store) Compact(ctx context.Context, tables ...string) error {
	return s.CompactEach(ctx, tables, nil)
}

// Compacted hears of each table Compact rewrote (err nil) or gave up on, the i-th of n,
// and how long it took: on a large store the rewrite runs for tens of seconds.
type Compacted func(table string, i, n int, took time.Duration, err error)

// CompactEach is Compact, telling done (when not nil) of each table as it is done.
func (s *Store) CompactEach(ctx context.Context, tables []string, done Compacted) error {
	if len(tables) == 0 {
		return errors.New("compact tables: no table named")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("compact tables: %w", err)
	}
	defer conn.Release()
	// A session setting on a pooled connection: reset before the connection goes back.
	if _, err := conn.Exec(ctx, `SET lock_timeout = '`+compactLockTimeout+`'`); err != nil {
		return fmt.Errorf("compact tables: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `RESET lock_timeout`) }()
	var failed []string
	var first error
	for i, t := range tables {
		// One statement per table: a table whose lock is not granted in time fails
		// alone, and the others are rewritten all the same.
		began := time.Now()
		_, err := conn.Exec(ctx, `VACUUM FULL `+pgx.Identifier{t}.Sanitize())
		if done != nil {
			done(t, i+1, len(tables), time.Since(began), err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("compact tables: %w", ctx.Err())
			}
			failed = append(failed, t)
			if first == nil {
				first = err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("compact tables: %s not rewritten, their old row versions stay in the files until a later try: %w", strings.Join(failed, ", "), first)
	}
	return nil
}
