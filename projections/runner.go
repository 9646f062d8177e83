// Package projections keeps the read side of switchboard: the identifier→contact cache,
// the audit trail (per message, sender and contact), unlinked conversations, ambiguous
// resolutions and dead letters. Projections follow the log with the same follower as the
// reactors (eventstore/follow) and keep their checkpoints in the same checkpoints table,
// each saved in the same transaction as its rows, so after a crash a projection resumes
// exactly where its rows end, and each can be rebuilt from position zero to the same
// rows live processing built. Their tables are created by the embedded, versioned
// migrations under migrations/ (set "projections").
package projections

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/follow"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationSet is the name the read side's migrations are recorded under.
const MigrationSet = "projections"

// Migrations are the read side's migrations, NNNN_description.sql at the root.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Tables are the read side's tables. They hold the living's values in the clear, so an
// erasure rewrites rows in each of them, and a store that keeps the old row versions in
// its files rewrites them after (postgres.Store.Compact).
func Tables() []string {
	return []string{"contact_keys", "audit_messages", "audit_events", "audit_links", "audit_entries", "unlinked_conversations",
		"ambiguous_resolutions", "dead_letters", "corrections", "audit_sender_keys"}
}

// checkpointName keys a projection in the checkpoints table it shares with the
// reactors; the prefix keeps a projection and a reactor of the same name apart.
func checkpointName(projection string) string { return "projection:" + projection }

// readSideLock names the transaction lock every projection's apply takes on a shared
// database.
const readSideLock = "projections"

// Projection applies events to its own tables inside the runner's transaction.
type Projection interface {
	Name() string
	// Tables are emptied by a rebuild.
	Tables() []string
	Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error
}

// BatchProjection is a Projection that applies a batch's events at once, to carry what
// one event wrote to the next inside the batch's transaction instead of reading it
// back. ApplyBatch must leave the rows that Apply of each event in turn leaves.
type BatchProjection interface {
	Projection
	ApplyBatch(ctx context.Context, tx *sql.Tx, evs []domain.RecordedEvent) error
}

// ContinuingProjection is a BatchProjection that remembers what its batches wrote for
// the batches after them, as long as they continue one another: ApplyBatchAfter is told
// the checkpoint its events come after (-1 when that is not known), and Committed the
// checkpoint of each batch whose transaction committed. ApplyBatchAfter must leave the
// rows that ApplyBatch leaves.
type ContinuingProjection interface {
	BatchProjection
	ApplyBatchAfter(ctx context.Context, tx *sql.Tx, from int64, evs []domain.RecordedEvent) error
	Committed(through int64)
}

// committed tells p, when it remembers across batches, that its batch up to through
// has committed.
func committed(p Projection, through int64) {
	if c, ok := p.(ContinuingProjection); ok {
		c.Committed(through)
	}
}

// applyEventsAfter applies evs, which come after p's checkpoint from, to p inside tx.
func applyEventsAfter(ctx context.Context, tx *sql.Tx, p Projection, from int64, evs []domain.RecordedEvent) error {
	if c, ok := p.(ContinuingProjection); ok {
		if err := c.ApplyBatchAfter(ctx, tx, from, evs); err != nil {
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
		return nil
	}
	return applyEvents(ctx, tx, p, evs)
}

// applyEvents applies evs, in order, to p inside tx.
func applyEvents(ctx context.Context, tx *sql.Tx, p Projection, evs []domain.RecordedEvent) error {
	if b, ok := p.(BatchProjection); ok {
		if err := b.ApplyBatch(ctx, tx, evs); err != nil {
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
		return nil
	}
	for _, e := range evs {
		if err := p.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("projection %s: apply %s at %d: %w", p.Name(), e.Type, e.Position, err)
		}
	}
	return nil
}

// ReadIndexed is a Projection some of whose indexes serve only the read side's queries
// and erasures, never its Apply of any other event. A rebuild drops them before it
// writes and creates each once, at its end or before the first erasure it applies:
// an index built from its rows at once costs less than one kept current row by row
// (docs/performance.md, "Rebuild: the audit's batches and its indexes").
type ReadIndexed interface {
	Projection
	ReadIndexes() []string
}

// Runner keeps projections caught up with the log.
type Runner struct {
	db          *sql.DB
	store       domain.EventStore
	projections []Projection
	log         *slog.Logger
	batch       int
	// rebuildBatch is RebuildBatch but in tests.
	rebuildBatch int
	checkpoints  *follow.SQLCheckpoints
	// lock serializes a projection's transactions across processes (nil: the database
	// does it, as SQLite's write lock does).
	lock func(ctx context.Context, tx *sql.Tx, name string) error
	// bulk gives a rebuild its connection (nil: any of the pool's).
	bulk func(ctx context.Context) (*sql.Conn, func(), error)

	// flush, where the database keeps older images of rewritten rows in its files (the
	// SQLite WAL, PostgreSQL's dead row versions), writes them out (sqlite.Store's
	// Checkpoint; the sealed log's, which rewrites PostgreSQL's tables with
	// postgres.Store.Compact); nil elsewhere.
	flush func(ctx context.Context) error
	// writer, where the store has one (sqlite.Store), takes the live batches' writes
	// into its group commit; nil: each batch has a transaction of its own.
	writer follow.TxWriter
	// indexStatement, where the database tells how an index was created (sqlite.Store),
	// lets a rebuild drop the ReadIndexed projections' indexes while it writes; nil:
	// a rebuild keeps them.
	indexStatement func(ctx context.Context, tx *sql.Tx, name string) (string, error)

	mu        sync.Mutex
	positions map[string]int64
	// flushPending: a flush after an erasure failed, and is tried again after the next
	// batch.
	flushPending bool
}

// Database is where the read side lives: the event store's own database (sqlite.Store,
// postgres.Store), whose migrations made the checkpoints table. The projections' SQL is
// written for both.
type Database interface {
	DB() *sql.DB
	// Migrate applies a set of versioned migrations the way the store applies its own.
	Migrate(ctx context.Context, set string, fsys fs.FS) error
}

// flushingDatabase is a Database whose files keep what a transaction overwrote until it
// is flushed: SQLite's WAL holds the page images from before a scrub (measured: X's
// phone, names and texts are in the -wal file after the scrub, gone after a
// TRUNCATE checkpoint; TestErasureScrubsProjectionsLikeARebuild), and PostgreSQL's
// tables the old row versions (gone after VACUUM FULL;
// TestErasureOnPostgresLeavesNothingInTheTableFiles).
type flushingDatabase interface {
	Checkpoint(ctx context.Context) error
}

// sharedDatabase is a Database several processes write at once (PostgreSQL under
// several nodes): each projection's transactions take its lock, so they run one at a
// time across processes.
type sharedDatabase interface {
	LockTx(ctx context.Context, tx *sql.Tx, name string) error
}

// indexDatabase is a Database that tells the statement that created an index
// (sqlite.Store), so that a rebuild can drop the index and create it again. A wrapper
// of a store that does not (cmd/switchboard's sealed log over PostgreSQL) answers
// errors.ErrUnsupported, and its rebuild keeps the indexes.
type indexDatabase interface {
	IndexStatement(ctx context.Context, tx *sql.Tx, name string) (string, error)
}

// bulkDatabase is a Database with a connection fit for a rebuild's large transactions
// (sqlite.Store: a larger page cache); conn nil means it has none.
type bulkDatabase interface {
	BulkConn(ctx context.Context) (conn *sql.Conn, done func(), err error)
}

// NewRunner applies the read side's migrations to database and keeps projections there.
func NewRunner(database Database, store domain.EventStore, logger *slog.Logger, ps ...Projection) (*Runner, error) {
	if database == nil || store == nil {
		return nil, errors.New("projections: database and store are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := database.Migrate(context.Background(), MigrationSet, Migrations()); err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	db := database.DB()
	cps, err := follow.NewSQLCheckpoints(db)
	if err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	if len(ps) == 0 {
		ps = All()
	}
	r := &Runner{db: db, store: store, projections: ps, log: logger, batch: 500, rebuildBatch: RebuildBatch, checkpoints: cps, positions: map[string]int64{}}
	if shared, ok := database.(sharedDatabase); ok {
		r.lock = shared.LockTx
	}
	if f, ok := database.(flushingDatabase); ok {
		r.flush = f.Checkpoint
	}
	if bulk, ok := database.(bulkDatabase); ok {
		r.bulk = bulk.BulkConn
	}
	if w, ok := database.(follow.TxWriter); ok {
		r.writer = w
	}
	if idx, ok := database.(indexDatabase); ok {
		r.indexStatement = idx.IndexStatement
		// A rebuild that stopped before its end left its indexes dropped.
		if err := r.restoreIndexes(context.Background(), r.db.BeginTx); err != nil {
			return nil, fmt.Errorf("projections: %w", err)
		}
	}
	for _, p := range ps {
		pos, err := cps.Load(context.Background(), checkpointName(p.Name()))
		if err != nil {
			return nil, fmt.Errorf("projections: %w", err)
		}
		r.positions[p.Name()] = pos
	}
	return r, nil
}

// All returns every projection switchboard keeps.
func All() []Projection {
	return []Projection{ContactKeys{}, NewAudit(), Unlinked{}, Ambiguous{}, DeadLetters{}, Corrections{}}
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
	if _, err := r.follower(nil).Step(ctx, r.sink(r.projections)); err != nil {
		return 0, err
	}
	return last, nil
}

// Run follows the log, woken by wake and at least every poll interval, until ctx ends.
// A failed batch is logged and applied again next round.
func (r *Runner) Run(ctx context.Context, wake <-chan struct{}, poll time.Duration) error {
	f := r.follower(wake)
	f.PollEvery = poll
	return f.Run(ctx, r.sink(r.projections))
}

func (r *Runner) follower(wake <-chan struct{}) *follow.Follower {
	return &follow.Follower{Name: "projections", Store: r.store, Wake: wake, BatchSize: r.batch, Logger: r.log}
}

func (r *Runner) sink(ps []Projection) *sink {
	return &sink{r: r, projections: ps}
}

// Progress is told how far a rebuild got: the events applied so far, the position
// reached, and the log's last position when the rebuild began.
type Progress func(events, position, last int64)

// RebuildBatch is how many events a rebuild reads at once and applies to every selected
// projection in one transaction: large enough that a commit's fsync and the read's
// round trip vanish against the rows written, small enough that an append waiting for
// SQLite's write lock waits tens of milliseconds, not seconds.
const RebuildBatch = 5000

// Rebuild empties the named projections (all when names is empty) and applies the log
// again from position zero, in one pass over the log that feeds every selected
// projection: each batch of events is applied to all of them, with their checkpoints,
// in one transaction, in the order live processing applies them. The service must not
// run its own runner on the same tables meanwhile.
func (r *Runner) Rebuild(ctx context.Context, names []string, progress Progress) error {
	selected, err := r.pick(names)
	if err != nil {
		return err
	}
	last, err := r.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	begin := r.db.BeginTx
	if r.bulk != nil {
		conn, done, err := r.bulk(ctx)
		if err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		if conn != nil {
			defer done()
			begin = conn.BeginTx
		}
	}
	var deferred []string
	if r.indexStatement != nil {
		for _, p := range selected {
			if ri, ok := p.(ReadIndexed); ok {
				deferred = append(deferred, ri.ReadIndexes()...)
			}
		}
	}
	dropped, err := r.empty(ctx, begin, selected, deferred)
	if err != nil {
		return err
	}
	indexed := !dropped
	restore := func() error {
		if indexed {
			return nil
		}
		indexed = true
		return r.restoreIndexes(context.WithoutCancel(ctx), begin)
	}
	// However the rebuild ends, its indexes come back; a process that dies first leaves
	// them to the next runner on the database (NewRunner).
	defer func() {
		if err := restore(); err != nil {
			r.log.Error("projections: creating the indexes a rebuild dropped failed; the next runner on the database creates them", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	pages := r.readAhead(ctx)
	defer func() {
		// The reader is done with the store before Rebuild returns.
		cancel()
		for range pages {
		}
	}()
	var events, pos int64
	for page := range pages {
		if page.err != nil {
			return fmt.Errorf("rebuild: %w", page.err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// An erasure's scrub finds the subject's rows through those indexes.
		if !indexed && slices.ContainsFunc(page.evs, func(e domain.RecordedEvent) bool { return e.Type == domain.EventSubjectErased }) {
			if err := restore(); err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
		}
		if err := r.applyAll(ctx, begin, selected, pos, page.evs); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		pos = page.evs[len(page.evs)-1].Position
		events += int64(len(page.evs))
		if progress != nil {
			progress(events, pos, last)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := restore(); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	// The emptied rows may be a person's from before their erasure was scrubbed (rows
	// written before subject ids were kept): out of the files too.
	r.flushAfterErasure(ctx, true)
	return nil
}

type page struct {
	evs []domain.RecordedEvent
	err error
}

// readAhead reads the log from the start, a page ahead of the rebuild's writes: reading
// (and, through the sealing log, opening every sealed value) then runs beside applying
// the page before, on the second core, instead of in turn with it. The channel closes
// after the last page or the first error; ending ctx stops the reader.
func (r *Runner) readAhead(ctx context.Context) <-chan page {
	out := make(chan page, 1)
	go func() {
		defer close(out)
		var after int64
		for {
			evs, err := r.store.ReadAll(ctx, after, r.rebuildBatch)
			if err != nil {
				select {
				case out <- page{err: err}:
				case <-ctx.Done():
				}
				return
			}
			if len(evs) == 0 {
				return
			}
			select {
			case out <- page{evs: evs}:
			case <-ctx.Done():
				return
			}
			if len(evs) < r.rebuildBatch {
				return
			}
			after = evs[len(evs)-1].Position
		}
	}()
	return out
}

// beginFunc begins a transaction on the pool or on one connection.
type beginFunc func(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)

// beginLocked begins a rebuild's transaction holding the read side's lock, where the
// store has one.
func (r *Runner) beginLocked(ctx context.Context, begin beginFunc) (*sql.Tx, error) {
	tx, err := begin(ctx, nil)
	if err != nil || r.lock == nil {
		return tx, err
	}
	if err := r.lock(ctx, tx, readSideLock); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// empty deletes the projections' rows and sets their checkpoints to zero, together.
func (r *Runner) empty(ctx context.Context, begin beginFunc, ps []Projection, dropIndexes []string) (dropped bool, err error) {
	tx, err := r.beginLocked(ctx, begin)
	if err != nil {
		return false, fmt.Errorf("rebuild: %w", err)
	}
	// Dropped first, the indexes are not updated for the rows deleted either.
	for _, name := range dropIndexes {
		stmt, err := r.indexStatement(ctx, tx, name)
		if errors.Is(err, errors.ErrUnsupported) {
			break
		}
		dropped = true
		if err == nil && stmt == "" {
			err = fmt.Errorf("the database has no index %s, which a projection names as its own: its migrations and ReadIndexes disagree", name)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO rebuild_deferred_indexes (name, statement) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, stmt)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `DROP INDEX `+name)
		}
		if err != nil {
			_ = tx.Rollback()
			return false, fmt.Errorf("rebuild: drop index %s: %w", name, err)
		}
	}
	for _, p := range ps {
		for _, t := range p.Tables() {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				_ = tx.Rollback()
				return false, fmt.Errorf("rebuild %s: empty %s: %w", p.Name(), t, err)
			}
		}
		if err := r.checkpoints.SaveTx(ctx, tx, checkpointName(p.Name()), 0); err != nil {
			_ = tx.Rollback()
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("rebuild: empty the projections: %w", err)
	}
	for _, p := range ps {
		r.setPosition(p.Name(), 0)
	}
	return dropped, nil
}

// restoreIndexes creates the indexes a rebuild dropped (rebuild_deferred_indexes).
func (r *Runner) restoreIndexes(ctx context.Context, begin beginFunc) error {
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rebuild_deferred_indexes`).Scan(&n); err != nil || n == 0 {
		return err
	}
	tx, err := begin(ctx, nil)
	if err != nil {
		return fmt.Errorf("create the indexes a rebuild dropped: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	type index struct{ name, stmt string }
	dropped, err := query(ctx, tx, func(rows *sql.Rows) (index, error) {
		var i index
		return i, rows.Scan(&i.name, &i.stmt)
	}, `SELECT name, statement FROM rebuild_deferred_indexes ORDER BY name`)
	if err != nil {
		return fmt.Errorf("create the indexes a rebuild dropped: %w", err)
	}
	for _, i := range dropped {
		have, err := r.indexStatement(ctx, tx, i.name)
		if err == nil && have == "" {
			_, err = tx.ExecContext(ctx, i.stmt)
		}
		if err != nil {
			return fmt.Errorf("create index %s again: %w", i.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rebuild_deferred_indexes`); err != nil {
		return fmt.Errorf("create the indexes a rebuild dropped: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create the indexes a rebuild dropped: %w", err)
	}
	return nil
}

// applyAll applies one batch of a rebuild, the events after from, to every projection
// and moves their checkpoints, in one transaction. A checkpoint that is not at from
// any more was moved by another process applying the same projection, which the
// rebuild would then apply twice: that is refused rather than merged.
func (r *Runner) applyAll(ctx context.Context, begin beginFunc, ps []Projection, from int64, evs []domain.RecordedEvent) error {
	next := evs[len(evs)-1].Position
	// A batch runs to its end once begun: with a context that can be canceled, the
	// SQLite driver runs every statement on a goroutine of its own to be able to
	// interrupt it, which cost the rebuild more than the statements. A canceled
	// rebuild stops after the batch in hand (Rebuild checks between batches).
	ctx = context.WithoutCancel(ctx)
	tx, err := r.beginLocked(ctx, begin)
	if err != nil {
		return err
	}
	for _, p := range ps {
		shared, err := r.checkpoints.LoadTx(ctx, tx, checkpointName(p.Name()))
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
		if shared != from {
			_ = tx.Rollback()
			return fmt.Errorf("projection %s: its checkpoint moved to %d while the rebuild stood at %d: is the service running on the same database?", p.Name(), shared, from)
		}
		if err := applyEventsAfter(ctx, tx, p, from, evs); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := r.checkpoints.SaveTx(ctx, tx, checkpointName(p.Name()), next); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit at %d: %w", next, err)
	}
	for _, p := range ps {
		r.setPosition(p.Name(), next)
		committed(p, next)
	}
	return nil
}

// flushAfterErasure flushes the database's files when erased is true or an earlier
// flush failed, so that the rows a scrub overwrote leave the files as they left the
// tables (SPEC §3 rule 17: not in the store's files). A failure (readers holding the WAL
// past sqlite's patience) is logged and tried again after the next batch: the scrubbed
// rows are committed, and stopping the read side would not hide the old images sooner.
func (r *Runner) flushAfterErasure(ctx context.Context, erased bool) {
	if r.flush == nil {
		return
	}
	r.mu.Lock()
	pending := r.flushPending
	r.mu.Unlock()
	if !erased && !pending {
		return
	}
	err := r.flush(ctx)
	r.mu.Lock()
	r.flushPending = err != nil
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("projections: flushing the database files after an erasure failed; will retry after the next batch", "err", err)
	}
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

// sink applies the log to projections for a follower. Each batch is applied to each
// projection in a transaction that also moves the projection's checkpoint, and only the
// events after that projection's own position are applied, so projections that stand
// at different positions (after a rebuild of one) share one follower.
type sink struct {
	r           *Runner
	projections []Projection
}

// Start is the position of the projection furthest behind.
func (s *sink) Start(context.Context) (int64, error) {
	start := int64(-1)
	for _, p := range s.projections {
		if pos := s.r.position(p.Name()); start < 0 || pos < start {
			start = pos
		}
	}
	return max(start, 0), nil
}

func (s *sink) Room() bool { return true }

func (s *sink) Take(ctx context.Context, evs []domain.RecordedEvent) error {
	if s.r.writer != nil {
		// In slices: every append committed beside a slice waits for it to be applied.
		for start := 0; start < len(evs); start += queuedSlice {
			if err := s.applyQueued(ctx, evs[start:min(start+queuedSlice, len(evs))]); err != nil {
				return err
			}
		}
	} else {
		for _, p := range s.projections {
			if err := s.apply(ctx, p, evs); err != nil {
				return err
			}
		}
	}
	erased := false
	for _, e := range evs {
		erased = erased || e.Type == domain.EventSubjectErased
	}
	s.r.flushAfterErasure(ctx, erased)
	return nil
}

func (s *sink) apply(ctx context.Context, p Projection, evs []domain.RecordedEvent) error {
	pos := s.r.position(p.Name())
	if evs[len(evs)-1].Position <= pos {
		return nil
	}
	var reached int64
	var wrote bool
	err := s.r.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		reached, wrote, err = s.applyTx(ctx, tx, p, pos, evs)
		return err
	})
	if err != nil {
		return err
	}
	s.reached(p, reached)
	if wrote {
		committed(p, reached)
	}
	return nil
}

// applyTx applies to p, inside tx, the events of evs after pos and moves its
// checkpoint to the batch's last position, which it returns with wrote true; or, when
// another process has moved the projection past the batch already, writes nothing and
// returns where the projection stands.
func (s *sink) applyTx(ctx context.Context, tx *sql.Tx, p Projection, pos int64, evs []domain.RecordedEvent) (reached int64, wrote bool, err error) {
	next := evs[len(evs)-1].Position
	// Another process (a node, `audit` beside the service) may have moved the shared
	// rows and checkpoint past this runner's position: under the projection's lock,
	// apply only what it has not, so rows never go back to an older state.
	if s.r.lock != nil {
		// One lock for the whole read side, not one per projection: projections share
		// tables (corrections and contact_keys both write contact_keys, the audit's
		// hooks write for the others), and two nodes applying different projections
		// to the same rows deadlocked (cmd/nodes, seed 15 after the erasure merge).
		if err := s.r.lock(ctx, tx, readSideLock); err != nil {
			return 0, false, fmt.Errorf("projection %s: %w", p.Name(), err)
		}
	}
	shared, err := s.r.checkpoints.LoadTx(ctx, tx, checkpointName(p.Name()))
	if err != nil {
		return 0, false, fmt.Errorf("projection %s: %w", p.Name(), err)
	}
	if shared > pos {
		pos = shared
		if next <= pos {
			return pos, false, nil // nothing written: the transaction only read
		}
	}
	// The rows continue the checkpoint that the transaction reads; a checkpoint behind
	// this runner's (a rebuild emptied the tables meanwhile) continues nothing known.
	from := pos
	if shared != pos {
		from = -1
	}
	first := 0
	for first < len(evs) && evs[first].Position <= pos {
		first++
	}
	if err := applyEventsAfter(ctx, tx, p, from, evs[first:]); err != nil {
		return 0, false, err
	}
	if err := s.r.checkpoints.SaveTx(ctx, tx, checkpointName(p.Name()), next); err != nil {
		return 0, false, fmt.Errorf("projection %s: %w", p.Name(), err)
	}
	return next, true, nil
}

// queuedSlice bounds the events one queued write applies to the projections.
const queuedSlice = 64

// applyQueued applies a batch to every projection in one write of the store's writer:
// one wait for the group commit per batch instead of one per projection. A projection
// that fails undoes the whole batch, which the follower reads again, as it would after
// a failure of its own transaction.
func (s *sink) applyQueued(ctx context.Context, evs []domain.RecordedEvent) error {
	last := evs[len(evs)-1].Position
	from := make([]int64, len(s.projections))
	reached := make([]int64, len(s.projections))
	wrote := make([]bool, len(s.projections))
	for i, p := range s.projections {
		from[i] = s.r.position(p.Name())
	}
	err := s.r.writer.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, p := range s.projections {
			reached[i], wrote[i] = from[i], false
			if last <= from[i] {
				continue
			}
			var err error
			if reached[i], wrote[i], err = s.applyTx(ctx, tx, p, from[i], evs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, p := range s.projections {
		if reached[i] > from[i] {
			s.reached(p, reached[i])
		}
		if wrote[i] {
			committed(p, reached[i])
		}
	}
	return nil
}

func (s *sink) reached(p Projection, pos int64) { s.r.setPosition(p.Name(), pos) }

// write runs fn in a transaction that commits before write returns: the store's
// writer's when it has one (sqlite.Store: a projection's batch then group-commits with
// the appends instead of contending with them for the write lock), else one of its own.
func (r *Runner) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if r.writer != nil {
		return r.writer.Write(ctx, fn)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: commit: %w", err)
	}
	return nil
}

// Checkpoint has nothing to do: Take saved each checkpoint with its rows.
func (s *sink) Checkpoint(context.Context, int64) error { return nil }
func (s *sink) Idle() bool                              { return true }
func (s *sink) Progress() <-chan struct{}               { return nil }
func (s *sink) Settle()                                 {}

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
