package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/appendcheck"
)

// maxRowsPerInsert keeps one INSERT under SQLite's limit of 32766 bound parameters
// (10 per row).
const maxRowsPerInsert = 1000

// maxBatch bounds how many appends share one transaction, so one commit never holds the
// write lock for long.
const maxBatch = 256

// ErrClosed is returned by an Append made after Close.
var ErrClosed = errors.New("event store is closed")

// Append writes events to stream at versions current+1.., if the stream is at the
// expected version, atomically: all or none.
//
// Appends are group-committed: one writer goroutine takes every append waiting when it
// becomes free and commits them in one transaction, each inside a savepoint of its own,
// so a wrong expected version or a clashing id fails that append alone. An append that
// finds the writer idle is committed at once (no waiting for company), so a lone append
// costs what it did before; under load the fsync is shared. Append returns only after
// its transaction has committed.
//
// A retried append whose acknowledgement was lost is recognised by its event ids: when
// every id is already stored in this stream, as one run of consecutive versions in the
// same order, Append writes nothing and returns the original result with AlreadyStored
// set, even if expected is stale by now. NextVersion is then the version of the last of
// those events, not the stream's current version. Ids that are only partly stored, stored
// in another order, or stored in another stream are an error: that is not a retry but two
// different appends reusing ids.
//
// Invalid input (empty stream or id, duplicate id, empty type, schema version < 1, zero
// OccurredAt, payload that is not JSON) is an error and nothing is written.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	if err := appendcheck.Validate(stream, expected, events); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	res, err := s.enqueue(ctx, &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan appendOutcome, 1)})
	if err != nil {
		var wrong *domain.WrongExpectedVersionError
		if errors.As(err, &wrong) {
			return domain.AppendResult{}, err // its message already names the stream
		}
		return domain.AppendResult{}, fmt.Errorf("append stream %q: %w", stream, err)
	}
	return res, nil
}

// AppendNaming is Append to a stream whose stored name name decides inside the append's
// own transaction (eventstore/sealed names streams that would hold an identifier): the
// name's row and the events commit together or not at all. stream is only what errors
// of invalid input say; name returns the stream the events go to. An error from name
// fails this append alone.
func (s *Store) AppendNaming(ctx context.Context, name func(ctx context.Context, tx *sql.Tx) (string, error), expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	if err := appendcheck.Validate("unnamed", expected, events); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append: %w", err)
	}
	res, err := s.enqueue(ctx, &appendReq{ctx: ctx, name: name, expected: expected, events: events, done: make(chan appendOutcome, 1)})
	if err != nil {
		var wrong *domain.WrongExpectedVersionError
		if errors.As(err, &wrong) {
			return domain.AppendResult{}, err
		}
		return domain.AppendResult{}, fmt.Errorf("append: %w", err)
	}
	return res, nil
}

// Write runs fn inside the writer's transaction, in a savepoint of its own, like an
// append: projections and checkpoints that live in the store's file write through it
// rather than in transactions of their own, which would compete with the writer for
// SQLite's one write lock — with busy_timeout's sleeps of 1 to 100 ms, the tail of every
// append behind them — and each pay an fsync of their own. Write returns once the
// transaction holding fn's writes has committed (fn's writes are durable then), or with
// fn's error, in which case its writes are undone and the batch's other writes stay.
//
// fn runs on the writer goroutine with the batch's context, not the caller's: it must
// use tx only, return promptly (every append of the batch waits for it), and not call
// the store (Append, Write) itself, which would wait for the writer it runs on. fn may
// run at most once; it is not run when ctx ends before the writer takes it.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if fn == nil {
		return errors.New("write: fn is nil")
	}
	_, err := s.enqueue(ctx, &appendReq{ctx: ctx, write: fn, done: make(chan appendOutcome, 1)})
	return err
}

// Waiting is how many appends and writes wait for the writer to take them: a gauge of
// the commit queue, and what tests watch to line a batch up behind a held lock.
func (s *Store) Waiting() int { return len(s.queue) }

// appendReq is one Append waiting for the writer. state moves once, from queued to
// either taken (the writer owns it and will answer on done) or abandoned (its caller
// gave up before the writer took it, and it is never written).
type appendReq struct {
	ctx      context.Context
	stream   string
	name     func(ctx context.Context, tx *sql.Tx) (string, error) // AppendNaming's
	write    func(ctx context.Context, tx *sql.Tx) error           // Write's: no events
	expected domain.ExpectedVersion
	events   []domain.EventData
	state    atomic.Int32
	done     chan appendOutcome
	queued   time.Time // when enqueue began to wait: the writer's wait metric
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

type appendOutcome struct {
	res    domain.AppendResult
	err    error
	stream string // where the events went (AppendNaming's name decides it)
}

func (s *Store) enqueue(ctx context.Context, r *appendReq) (domain.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return domain.AppendResult{}, err
	}
	r.queued = time.Now()
	select {
	case s.queue <- r:
	case <-ctx.Done():
		return domain.AppendResult{}, fmt.Errorf("wait for the writer: %w", ctx.Err())
	case <-s.writerDone:
		return domain.AppendResult{}, ErrClosed
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return domain.AppendResult{}, fmt.Errorf("wait for the writer: %w", ctx.Err())
		}
	case <-s.writerDone:
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return domain.AppendResult{}, ErrClosed
		}
	}
	// The writer took it: its transaction decides, and it answers shortly.
	out := <-r.done
	return out.res, out.err
}

// write is the writer goroutine: it commits whatever is queued, batch after batch, until
// Close, then finishes what is still queued.
func (s *Store) write() {
	defer close(s.writerDone)
	batch := make([]*appendReq, 0, maxBatch)
	for {
		select {
		case r := <-s.queue:
			batch = append(batch[:0], r)
		case <-s.stopWriter:
			for {
				select {
				case r := <-s.queue:
					s.commit([]*appendReq{r})
				default:
					return
				}
			}
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.commit(batch)
	}
}

// commit writes a batch in one transaction and answers every append in it.
func (s *Store) commit(batch []*appendReq) {
	taken := batch[:0:0]
	start := time.Now()
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // abandoned by its caller
		}
		s.metrics.wait.Observe(start.Sub(r.queued).Seconds())
		if err := r.ctx.Err(); err != nil {
			r.done <- appendOutcome{err: err}
			continue
		}
		taken = append(taken, r)
	}
	if len(taken) == 0 {
		return
	}
	outcomes := make([]appendOutcome, len(taken))
	fail := func(err error) {
		for _, r := range taken {
			r.done <- appendOutcome{err: err}
		}
	}
	// The transaction belongs to the whole batch: no one caller's context may cut it.
	ctx := context.Background()
	// BEGIN IMMEDIATE (see dsnParams): the write lock is held from here to commit, so
	// versions read below cannot go stale before the inserts, and positions are
	// assigned in commit order.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	defer func() { _ = tx.Rollback() }()
	found := s.runs.begin()
	recorded := s.now().UTC()
	recordedAt := recorded.Format(time.RFC3339Nano)
	times := commitTimes{requests: len(taken)}
	for i, r := range taken {
		began := time.Now()
		if outcomes[i], err = appendInSavepoint(ctx, tx, s.runs, recordedAt, r); err != nil {
			s.runs.end(found, false, nil)
			fail(err)
			return
		}
		if took := time.Since(began); r.write != nil {
			times.writes, times.hadWrites = times.writes+took, true
		} else {
			times.appends, times.hadAppends = times.appends+took, true
		}
	}
	committing := time.Now()
	s.runs.beforeCommit(appendedStreams(taken, outcomes))
	err = tx.Commit()
	times.commit = time.Since(committing)
	// What the batch stored, as reads will return it, for the streams' runs and the
	// log's tail: in position order, since the appends ran in the batch's order.
	var stored []storedAppend
	if err == nil {
		stored = storedAppends(taken, outcomes, recorded)
		// Before any caller hears of the commit, so that the followers it wakes read
		// its events from memory; and while the count still shows this transaction as
		// the writer's own (tail.go).
		s.extendTail(stored, found+1)
	}
	s.runs.end(found, err == nil, func() {
		for _, a := range stored {
			s.runs.extend(a.stream, a.after, a.events, true)
		}
	})
	s.metrics.observe(times)
	if err != nil {
		// Nothing of the batch is stored, and a wrong version one append saw may have
		// come from another append of the batch: every caller retries.
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	s.commits.Add(1)
	for i, r := range taken {
		r.done <- outcomes[i]
	}
}

// stored reports whether the batch's request r, with outcome o, stored events: an append
// that neither failed nor found itself stored already.
func stored(r *appendReq, o appendOutcome) bool {
	return r.write == nil && o.err == nil && !o.res.AlreadyStored
}

// storedAppend is one append of a committed batch: its stream's events after version
// after, as a read returns them.
type storedAppend struct {
	stream string
	after  int64
	events []domain.RecordedEvent
}

func storedAppends(taken []*appendReq, outcomes []appendOutcome, recorded time.Time) []storedAppend {
	var out []storedAppend
	for i, r := range taken {
		if o := outcomes[i]; stored(r, o) {
			after := o.res.NextVersion - int64(len(r.events))
			out = append(out, storedAppend{o.stream, after, appended(o.stream, after, o.res.FirstPosition, recorded, r.events)})
		}
	}
	return out
}

// extendTail offers the log's tail what a commit stored (tail.extend decides); raised is
// the write count the commit's transaction raised the word to.
func (s *Store) extendTail(stored []storedAppend, raised uint64) {
	if len(stored) == 0 {
		// Only writes (the projections', checkpoints): the commit stored no event.
		s.tail.storedNothing(raised, s.runs.counted)
		return
	}
	var events []domain.RecordedEvent
	if len(stored) == 1 {
		events = stored[0].events
	} else {
		n := 0
		for _, a := range stored {
			n += len(a.events)
		}
		events = make([]domain.RecordedEvent, 0, n)
		for _, a := range stored {
			events = append(events, a.events...)
		}
	}
	s.tail.extend(events, raised, s.runs.counted)
}

// appendedStreams are the streams the batch's appends wrote to.
func appendedStreams(taken []*appendReq, outcomes []appendOutcome) map[string]bool {
	streams := make(map[string]bool, len(taken))
	for i, r := range taken {
		if stored(r, outcomes[i]) {
			streams[outcomes[i].stream] = true
		}
	}
	return streams
}

// appendInSavepoint runs one append inside the batch's transaction. The outcome is that
// append's own (a wrong version, a clash); the error is the transaction's, failing the
// batch.
func appendInSavepoint(ctx context.Context, tx *sql.Tx, runs *streamRuns, recordedAt string, r *appendReq) (appendOutcome, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT append`); err != nil {
		return appendOutcome{}, fmt.Errorf("savepoint: %w", err)
	}
	var res domain.AppendResult
	var err error
	stream := r.stream
	if r.write != nil {
		err = runWrite(ctx, tx, r.write)
	} else {
		if r.name != nil {
			stream, err = r.name(ctx, tx)
		}
		if err == nil {
			res, err = appendOne(ctx, tx, stream, r.expected, runs.known(stream), recordedAt, r.events)
		}
	}
	if err != nil {
		// Undo whatever part of this append was written; the others stay.
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO append`); rerr != nil {
			return appendOutcome{}, fmt.Errorf("rollback to savepoint: %w", rerr)
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE append`); rerr != nil {
		return appendOutcome{}, fmt.Errorf("release savepoint: %w", rerr)
	}
	return appendOutcome{res: res, err: err, stream: stream}, nil
}

// runWrite runs a Write's fn; a panic in it fails that caller alone instead of killing
// the writer, which every append of the process depends on.
func runWrite(ctx context.Context, tx *sql.Tx, fn func(ctx context.Context, tx *sql.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write: panic: %v", p)
		}
	}()
	return fn(ctx, tx)
}

// appendOne appends events to stream in the batch's transaction. known is how many
// versions of the stream the store knows to be stored (its run, streams.go). When the
// expected version is within them (NoStream always is), the version is not read
// first: the UNIQUE (stream_id, version) index refuses an insert at expected+1 if the
// stream is past expected, and versions up to known exist, so it cannot be short of
// it. The version is read only when the insert fails.
func appendOne(ctx context.Context, tx *sql.Tx, stream string, expected domain.ExpectedVersion, known int64, recordedAt string, events []domain.EventData) (domain.AppendResult, error) {
	var res domain.AppendResult
	current := int64(expected)
	if expected == domain.AnyVersion || int64(expected) > known {
		var err error
		if current, err = streamVersion(ctx, tx, stream); err != nil {
			return res, err
		}
		if expected != domain.AnyVersion && int64(expected) != current {
			return wrongVersion(ctx, tx, stream, expected, current, events)
		}
	}
	var last int64
	var err error
	for start := 0; start < len(events); start += maxRowsPerInsert {
		chunk := events[start:min(start+maxRowsPerInsert, len(events))]
		if last, err = insert(ctx, tx, stream, current+int64(start), recordedAt, chunk); err != nil {
			// An event id that is already stored, or a version (the UNIQUE indexes
			// caught it); find out whether this is a retry rather than parse the error
			// text. SQLite undid the failed statement only, so the transaction is usable.
			res, found, lookupErr := alreadyStored(ctx, tx, stream, events)
			switch {
			case found: // a retry, or ids that clash: lookupErr says which
				return res, lookupErr
			case lookupErr != nil:
				return res, fmt.Errorf("insert: %w; then %w", err, lookupErr)
			}
			if start == 0 && expected != domain.AnyVersion {
				actual, verr := streamVersion(ctx, tx, stream)
				if verr != nil {
					return res, fmt.Errorf("insert: %w; then %w", err, verr)
				}
				if actual != current {
					return res, &domain.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual}
				}
			}
			return res, fmt.Errorf("insert: %w", err)
		}
	}
	n := int64(len(events))
	// With AUTOINCREMENT and the write lock held, rows inserted by one statement get
	// consecutive positions, so the first is derived from the last.
	return domain.AppendResult{NextVersion: current + n, FirstPosition: last - n + 1, LastPosition: last}, nil
}

// streamVersion is the stream's last version, 0 when it has none.
func streamVersion(ctx context.Context, tx *sql.Tx, stream string) (int64, error) {
	var current int64
	err := tx.QueryRowContext(ctx, `SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1`, stream).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read stream version: %w", err)
	}
	return current, nil
}

// wrongVersion answers an append whose expected version is not the stream's: the
// original result when it is a retry of an append already stored, else the error.
func wrongVersion(ctx context.Context, tx *sql.Tx, stream string, expected domain.ExpectedVersion, actual int64, events []domain.EventData) (domain.AppendResult, error) {
	if res, found, err := alreadyStored(ctx, tx, stream, events); found || err != nil {
		return res, err
	}
	return domain.AppendResult{}, &domain.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual}
}

// insert writes events at versions after+1.. and returns the position of the last one.
func insert(ctx context.Context, tx *sql.Tx, stream string, after int64, recordedAt string, events []domain.EventData) (int64, error) {
	var q strings.Builder
	q.Grow(160 + 24*len(events))
	q.WriteString(`INSERT INTO events (event_id, stream_id, version, type, schema_version,
		occurred_at, recorded_at, correlation_id, causation_id, payload) VALUES `)
	args := make([]any, 0, 10*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(`(?,?,?,?,?,?,?,?,?,?)`)
		args = append(args, e.ID, stream, after+int64(i)+1, e.Type, e.SchemaVersion,
			e.OccurredAt.UTC().Format(time.RFC3339Nano), recordedAt,
			nullIfEmpty(e.CorrelationID), nullIfEmpty(e.CausationID),
			// A string binds as TEXT; []byte would bind as BLOB, which json_* reads as JSONB.
			string(e.Payload))
	}
	r, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return 0, err
	}
	return r.LastInsertId()
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// alreadyStored looks the batch's ids up and lets appendcheck.Retry decide whether this
// is a retry of a committed append.
func alreadyStored(ctx context.Context, tx *sql.Tx, stream string, events []domain.EventData) (domain.AppendResult, bool, error) {
	stored := make(map[string]appendcheck.Place, len(events))
	for start := 0; start < len(events); start += maxRowsPerInsert {
		chunk := events[start:min(start+maxRowsPerInsert, len(events))]
		args := make([]any, len(chunk))
		for i, e := range chunk {
			args[i] = e.ID
		}
		q := `SELECT event_id, stream_id, version, position FROM events WHERE event_id IN (?` +
			strings.Repeat(",?", len(chunk)-1) + `)`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
		}
		for rows.Next() {
			var id string
			var p appendcheck.Place
			if err := rows.Scan(&id, &p.Stream, &p.Version, &p.Position); err != nil {
				rows.Close()
				return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
			}
			stored[id] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return domain.AppendResult{}, false, fmt.Errorf("look up event ids: %w", err)
		}
	}
	return appendcheck.Retry(stream, events, stored)
}
