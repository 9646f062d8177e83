// Package projections keeps the read side of switchboard: the identifier→contact cache,
// the audit trail (per message, sender and contact), unlinked conversations, ambiguous
// resolutions and dead letters. Each projection stores its checkpoint in the same
// transaction as its rows, so after a crash it resumes exactly where its rows end, and
// each can be rebuilt from position zero to the same rows live processing built.
package projections

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"switchboard/domain"
)

//go:embed schema.sql
var schema string

// Projection applies events to its own tables inside the runner's transaction.
type Projection interface {
	Name() string
	// Tables are emptied by a rebuild.
	Tables() []string
	Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error
}

// Runner keeps projections caught up with the log.
type Runner struct {
	db          *sql.DB
	store       domain.EventStore
	projections []Projection
	log         *slog.Logger
	batch       int

	mu        sync.Mutex
	positions map[string]int64
}

// NewRunner creates the projection tables if needed. db is the database the
// projections live in (the store's own file on SQLite).
func NewRunner(db *sql.DB, store domain.EventStore, logger *slog.Logger, ps ...Projection) (*Runner, error) {
	if db == nil || store == nil {
		return nil, errors.New("projections: database and store are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := db.Exec(schema); err != nil {
		return nil, fmt.Errorf("projections: create tables: %w", err)
	}
	if len(ps) == 0 {
		ps = All()
	}
	r := &Runner{db: db, store: store, projections: ps, log: logger, batch: 500, positions: map[string]int64{}}
	for _, p := range ps {
		pos, err := r.loadPosition(context.Background(), p.Name())
		if err != nil {
			return nil, err
		}
		r.positions[p.Name()] = pos
	}
	return r, nil
}

// All returns every projection switchboard keeps.
func All() []Projection {
	return []Projection{ContactKeys{}, Audit{}, Unlinked{}, Ambiguous{}, DeadLetters{}, Corrections{}}
}

// Names lists the projections' names.
func (r *Runner) Names() []string {
	out := make([]string, len(r.projections))
	for i, p := range r.projections {
		out[i] = p.Name()
	}
	return out
}

// Positions returns each projection's checkpoint.
func (r *Runner) Positions() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.positions))
	for k, v := range r.positions {
		out[k] = v
	}
	return out
}

// CatchUp applies everything the log holds now; it returns the position reached.
func (r *Runner) CatchUp(ctx context.Context) (int64, error) {
	last, err := r.store.LastPosition(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range r.projections {
		if err := r.catchUp(ctx, p, last, nil); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// Run catches up whenever woken, and at least every poll interval, until ctx ends.
func (r *Runner) Run(ctx context.Context, wake <-chan struct{}, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := r.CatchUp(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error("projection catch-up failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
	}
}

// Progress is told how far a rebuild got.
type Progress func(projection string, done, total int64)

// Rebuild empties the named projections (all when names is empty) and applies the log
// again from position zero. The service must not run its own runner on the same
// tables meanwhile.
func (r *Runner) Rebuild(ctx context.Context, names []string, progress Progress) error {
	selected, err := r.pick(names)
	if err != nil {
		return err
	}
	last, err := r.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	for _, p := range selected {
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, t := range p.Tables() {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("rebuild %s: empty %s: %w", p.Name(), t, err)
			}
		}
		if err := savePosition(ctx, tx, p.Name(), 0); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		r.setPosition(p.Name(), 0)
		if err := r.catchUp(ctx, p, last, progress); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) pick(names []string) ([]Projection, error) {
	if len(names) == 0 {
		return r.projections, nil
	}
	var out []Projection
	for _, n := range names {
		found := false
		for _, p := range r.projections {
			if p.Name() == n {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no projection named %q; projections are %v", n, r.Names())
		}
	}
	return out, nil
}

func (r *Runner) catchUp(ctx context.Context, p Projection, until int64, progress Progress) error {
	pos := r.position(p.Name())
	for pos < until {
		evs, err := r.store.ReadAll(ctx, pos, r.batch)
		if err != nil {
			return fmt.Errorf("projection %s: read after %d: %w", p.Name(), pos, err)
		}
		if len(evs) == 0 {
			return nil
		}
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := p.Apply(ctx, tx, e); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("projection %s: apply %s at %d: %w", p.Name(), e.Type, e.Position, err)
			}
		}
		next := evs[len(evs)-1].Position
		if err := savePosition(ctx, tx, p.Name(), next); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("projection %s: commit at %d: %w", p.Name(), next, err)
		}
		pos = next
		r.setPosition(p.Name(), pos)
		if progress != nil {
			progress(p.Name(), pos, until)
		}
	}
	return nil
}

func (r *Runner) position(name string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.positions[name]
}

func (r *Runner) setPosition(name string, pos int64) {
	r.mu.Lock()
	r.positions[name] = pos
	r.mu.Unlock()
}

func (r *Runner) loadPosition(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := r.db.QueryRowContext(ctx, `SELECT position FROM projection_checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint of %s: %w", name, err)
	}
	return pos, nil
}

func savePosition(ctx context.Context, tx *sql.Tx, name string, pos int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, pos)
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", name, err)
	}
	return nil
}
