package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"switchboard/adapters/config"
	"switchboard/domain"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/follow"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/sealed"
	"switchboard/projections"
)

// sealedLog is the event log as every command uses it: personal values sealed on
// append and opened on read (eventstore/sealed, issue 12), over the store that also
// keeps the projections' tables and the data keys.
type sealedLog struct {
	logStore
	sealed *sealed.Store
	keys   *datakeys.Keeper
	// compacted, when set, hears of each table Checkpoint rewrites on PostgreSQL: the
	// commands an operator waits on show it (reportCompaction).
	compacted postgres.Compacted
}

func (s *sealedLog) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	return s.sealed.Append(ctx, stream, expected, events...)
}

func (s *sealedLog) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	return s.sealed.ReadStream(ctx, stream, afterVersion)
}

func (s *sealedLog) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error) {
	return s.sealed.ReadAll(ctx, afterPosition, limit)
}

// sealLog opens the data keys in st and wraps it. A configuration that names
// secret_key_env without its value set is refused here rather than letting a new
// store record that its keys are unwrapped.
func sealLog(cfg *config.Config, st logStore) (*sealedLog, error) {
	if cfg.SecretKeyEnv != "" && cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: %s: secret_key_env names %s, which is not set: the data keys of personal values are wrapped with it", config.ErrInvalid, cfg.Path, cfg.SecretKeyEnv)
	}
	keys, err := datakeys.Open(context.Background(), st, cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if err := checkStreamNames(cfg, st, keys); err != nil {
		return nil, err
	}
	return wrapSealed(cfg, st, keys)
}

func wrapSealed(cfg *config.Config, st logStore, keys *datakeys.Keeper) (*sealedLog, error) {
	s, err := sealed.NewStore(st, keys, cfg.Catalog())
	if err != nil {
		return nil, err
	}
	return &sealedLog{logStore: st, sealed: s, keys: keys}, nil
}

// errStoreBeforeHiddenNames is returned for a store whose log was written before
// streams were stored under random names: its stream names hold phone numbers, user
// ids and message ids in the clear, which no erasure can reach (issue 12).
var errStoreBeforeHiddenNames = errors.New("the store was written before switchboard stored streams under random names")

// checkStreamNames refuses a store written before stream names were hidden, naming the
// one-off command that copies it into the new form, and marks a new store as written
// in it from its first event.
func checkStreamNames(cfg *config.Config, st logStore, keys *datakeys.Keeper) error {
	ctx := context.Background()
	hidden, err := keys.HiddenStreamNames(ctx)
	if err != nil || hidden {
		return err
	}
	last, err := st.LastPosition(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if last > 0 {
		return fmt.Errorf("%w: %s: its streams are named by phone numbers, user ids and message ids, which an erasure cannot reach (docs/privacy.md §5a). "+
			"Stop the service, point a second configuration at a new, empty store, and run `switchboard copy-store --upgrade --from %s --to NEW.yaml` once: "+
			"it copies every event into the new form and rebuilds the projections; then serve from NEW.yaml and delete the old store's files",
			errStoreBeforeHiddenNames, cfg.Path, cfg.Path)
	}
	return keys.MarkHiddenStreamNames(ctx)
}

// forgetErasures is the reactor that makes an erasure recorded by another process
// (switchboard erase, another node) take effect in this one: it drops the subject's
// key and everything opened with it from this process's memory. It reads the plain
// log, since SubjectErased names the subject in the clear and nothing else is needed.
func (s *sealedLog) forgetErasures(checkpoints follow.Checkpoints, pollEvery time.Duration, logger *slog.Logger, metrics *follow.Metrics) *follow.Reactor {
	return &follow.Reactor{Name: "forget-erased", Store: s.logStore, Checkpoints: checkpoints,
		Accept: func(e domain.RecordedEvent) bool { return e.Type == domain.EventSubjectErased },
		Handle: func(_ context.Context, e domain.RecordedEvent, _ int) error {
			var p domain.SubjectErased
			if err := domain.Decode(e, &p); err != nil {
				return err
			}
			s.keys.Forget(p.SubjectID)
			return nil
		},
		PollEvery: pollEvery, Logger: logger, Metrics: metrics}
}

// LockTx passes the store's read-side lock through (postgres.Store has one): without
// it, projections.NewRunner sees no shared database behind the sealed log, and nodes
// applying the projections to one PostgreSQL deadlock. A store without one (SQLite,
// one process) needs none.
func (s *sealedLog) LockTx(ctx context.Context, tx *sql.Tx, name string) error {
	if l, ok := s.logStore.(interface {
		LockTx(ctx context.Context, tx *sql.Tx, name string) error
	}); ok {
		return l.LockTx(ctx, tx, name)
	}
	return nil
}

// BulkConn passes the store's connection for a rebuild's large transactions through
// (sqlite.Store has one): without it a rebuild through the sealed log runs on SQLite's
// small default page cache. conn is nil for a store without one.
func (s *sealedLog) BulkConn(ctx context.Context) (conn *sql.Conn, done func(), err error) {
	if b, ok := s.logStore.(interface {
		BulkConn(ctx context.Context) (*sql.Conn, func(), error)
	}); ok {
		return b.BulkConn(ctx)
	}
	return nil, nil, nil
}

// IndexStatement passes the store's index statements through (sqlite.Store tells
// them), so that a rebuild through the sealed log can drop the audit's read indexes
// while it writes; errors.ErrUnsupported for a store that does not, whose rebuild
// keeps its indexes.
func (s *sealedLog) IndexStatement(ctx context.Context, tx *sql.Tx, name string) (string, error) {
	if i, ok := s.logStore.(interface {
		IndexStatement(ctx context.Context, tx *sql.Tx, name string) (string, error)
	}); ok {
		return i.IndexStatement(ctx, tx, name)
	}
	return "", errors.ErrUnsupported
}

// Checkpoint flushes what an erasure deleted or scrubbed out of the store's files
// (sqlite.Store truncates its WAL; postgres.Store rewrites the data keys' and the read
// side's tables): without it, the projections runner of serve finds no way to, and the
// old images stay there until SQLite's own checkpoint, or until PostgreSQL reuses the
// space.
func (s *sealedLog) Checkpoint(ctx context.Context) error {
	switch c := s.logStore.(type) {
	case interface {
		Checkpoint(ctx context.Context) error
	}:
		return c.Checkpoint(ctx)
	case interface {
		CompactEach(ctx context.Context, tables []string, done postgres.Compacted) error
	}:
		return c.CompactEach(ctx, append(datakeys.Tables(), projections.Tables()...), s.compacted)
	}
	return nil
}

// reportCompaction has st's flush tell w of each table it rewrites, a line per table
// (after ending bar's line, when there is a bar), so that the rewrite that ends a
// rebuild, a copy or an erasure on PostgreSQL does not look like a hang.
func reportCompaction(st logStore, w io.Writer, bar *progressBar) {
	s, ok := st.(*sealedLog)
	if !ok {
		return
	}
	s.compacted = func(table string, i, n int, took time.Duration, err error) {
		if i == 1 {
			if bar != nil {
				bar.finish()
				bar.current = ""
			}
			fmt.Fprintf(w, "rewriting %d tables so that erased row versions leave PostgreSQL's files\n", n)
		}
		if err != nil {
			fmt.Fprintf(w, "  %2d/%d %s: not rewritten (%v); a later flush tries again\n", i, n, table, err)
			return
		}
		fmt.Fprintf(w, "  %2d/%d %s rewritten in %s\n", i, n, table, took.Round(time.Millisecond))
	}
}

// Write passes the store's commit queue through (sqlite.Store has one), so that the
// projections and the followers' checkpoints write in the group commit instead of
// beside it. A store without one (PostgreSQL) gets a transaction of its own, as before.
func (s *sealedLog) Write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if w, ok := s.logStore.(follow.TxWriter); ok {
		return w.Write(ctx, fn)
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
