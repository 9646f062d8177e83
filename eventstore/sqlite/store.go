// Package sqlite is the event log on a single SQLite file.
//
// Ordering guarantee a follower relies on: SQLite admits one write transaction at a time
// and every Append takes the write lock before it reads the stream version or assigns a
// position, so transactions commit in the order their positions were assigned. A reader
// that has seen position N can therefore never later find a newly committed event at a
// position <= N; ReadAll(after = last seen) never skips a late-committing writer.
//
// This holds because the file has a single writer lock, not because of anything in Go:
// it breaks if events are ever written through a second log (a copy of the file, an
// attached database) that assigns positions independently.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/domain"
)

// dsnParams configure every pooled connection, not just the first:
//   - WAL lets ReadAll run while an Append is committing.
//   - synchronous=FULL fsyncs the WAL on every commit; with NORMAL a power cut can lose
//     acknowledged appends, which would let an acknowledged inbound message vanish.
//   - busy_timeout makes a writer from another handle or process wait for the lock
//     instead of failing at once.
//   - _txlock=immediate issues BEGIN IMMEDIATE: a transaction takes the write lock
//     before its first read. With the default deferred BEGIN, two transactions that
//     both read and then write deadlock on the upgrade and one gets SQLITE_BUSY at once,
//     busy_timeout notwithstanding.
//   - _stmt_cache_size lets the driver reuse the compiled form of our few fixed queries
//     per connection, which saves recompiling SQL on every call without the code having
//     to manage *sql.Stmt lifetimes across the pool.
//   - _secure_delete=on zeroes the space a deleted or moved row leaves: an erased
//     person's data key (eventstore/datakeys) and projection rows must not survive in
//     free pages. It must hold on every connection from the start, since a page split
//     made without it can leave a copy of a cell behind (docs/privacy.md, Checkpoint).
const dsnParams = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_stmt_cache_size=32&_secure_delete=on"

// Store is the SQLite event log. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
	// queue feeds the one writer goroutine (see Append). SQLite would serialize
	// appenders anyway, but its busy handler polls with sleeps of up to 100 ms, and
	// one transaction per batch shares the fsync that bounds durable appends.
	queue                  chan *appendReq
	stopWriter, writerDone chan struct{}
	closeOnce              sync.Once
	tail                   tail        // the newest events read, for the next follower (tail.go)
	runs                   *streamRuns // recent streams' events, for their next read (streams.go)
	metrics                *writerMetrics
	// commits counts the writer's commits, so that the WAL's background checkpoint
	// (wal.go) runs only after some; walDone closes when it has stopped.
	commits  atomic.Uint64
	walEvery time.Duration
	walDone  chan struct{}
	wal      *walMetrics
}

var _ domain.EventStore = (*Store)(nil)

// Option configures a Store at Open.
type Option func(*Store)

// WithNow sets the clock that stamps RecordedAt (default time.Now), so tests and replays
// record deterministic times.
func WithNow(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// Open opens (creating if needed) the SQLite file at path and applies the event log's
// migrations. The parent directory is created if missing.
//
// path must be a file: an in-memory database is refused, because every pooled connection
// would get its own empty database.
func Open(path string, opts ...Option) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open event store: path %q: want a plain file path such as data/switchboard.db", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("open event store %s: create directory: %w", path, err)
	}
	db, err := sql.Open(driverName, "file:"+uriEscaper.Replace(abs)+"?"+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	// Keep connections open for concurrent readers and writers: a new SQLite
	// connection re-runs the pragmas and re-reads the schema, and database/sql would
	// otherwise close all but two idle ones after every burst.
	db.SetMaxIdleConns(8)

	s := &Store{db: db, now: time.Now, queue: make(chan *appendReq, maxBatch),
		stopWriter: make(chan struct{}), writerDone: make(chan struct{}), metrics: newWriterMetrics(),
		walEvery: defaultWALCheckpointEvery, walDone: make(chan struct{}), wal: newWALMetrics()}
	for _, opt := range opts {
		opt(s)
	}
	count, err := openWriteCount(abs)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	s.runs = newStreamRuns(count)
	if err := s.init(); err != nil {
		_ = count.unmap()
		_ = db.Close()
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	go s.write()
	if s.walEvery > 0 {
		go s.checkpointWAL()
	} else {
		close(s.walDone)
	}
	return s, nil
}

// uriEscaper escapes the characters that would end the path part of a SQLite file: URI.
var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func (s *Store) init() error {
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	// SQLite silently keeps the rollback journal where WAL is impossible (some network
	// filesystems); readers would then block appends, so refuse rather than degrade.
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal: is the file on a filesystem without shared-memory support?", mode)
	}
	for _, set := range []struct{ name, dir string }{
		{EventsMigrationSet, "migrations"},
		{CheckpointsMigrationSet, "migrations/checkpoints"},
	} {
		sub, err := fs.Sub(migrationFiles, set.dir)
		if err != nil {
			return err
		}
		if err := ApplyMigrations(s.db, set.name, sub); err != nil {
			return err
		}
	}
	return nil
}

// DB is the store's handle, for projections that keep their tables in the same file.
// Their transactions also take the write lock at BEGIN (see dsnParams), and hold up
// appends for as long as they run: keep them short.
func (s *Store) DB() *sql.DB { return s.db }

// bulkCacheKiB is the page cache of a BulkConn: room for the B-tree pages a rebuild of
// a million events keeps returning to (the audit's per-subject timelines).
const bulkCacheKiB = 256 << 10

// BulkConn is a connection for a long run of large write transactions (a rebuild of the
// projections): its page cache holds 256 MiB instead of SQLite's 2 MiB, so the pages
// such a transaction keeps touching stay in memory instead of being spilled to the WAL
// and read back; on a million-event store that made a rebuild 30 % faster. done puts
// the cache back and returns the connection to the pool.
func (s *Store) BulkConn(ctx context.Context) (conn *sql.Conn, done func(), err error) {
	conn, err = s.db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("bulk connection: %w", err)
	}
	var old int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&old); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("bulk connection: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, -bulkCacheKiB)); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("bulk connection: %w", err)
	}
	return conn, func() {
		// A connection whose cache cannot be put back is not returned to the pool.
		if _, err := conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA cache_size = %d`, old)); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, nil
}

// IndexStatement is the statement that created the index name, as the schema keeps it,
// or "" when the file has no such index: a rebuild drops an index it would otherwise
// update for every row and creates it again from this (projections.Runner.Rebuild).
func (s *Store) IndexStatement(ctx context.Context, tx *sql.Tx, name string) (string, error) {
	var stmt sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&stmt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("index %s: %w", name, err)
	}
	return stmt.String, nil
}

// Migrate applies a set of versioned migrations (a projection's) to the store's file,
// the way the store applies its own (ApplyMigrations).
func (s *Store) Migrate(_ context.Context, set string, fsys fs.FS) error {
	return ApplyMigrations(s.db, set, fsys)
}

// Close commits the appends already queued, stops the writer and closes the database
// handle; later Appends fail with ErrClosed, and DB() is unusable afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stopWriter) })
	<-s.writerDone
	<-s.walDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close event store: %w", err)
	}
	if err := s.runs.close(); err != nil {
		return fmt.Errorf("close event store: %w", err)
	}
	return nil
}

// LastPosition is the highest committed position, 0 when the log is empty.
func (s *Store) LastPosition(ctx context.Context) (int64, error) {
	var p int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&p); err != nil {
		return 0, fmt.Errorf("last position: %w", err)
	}
	return p, nil
}

const selectEvents = `SELECT position, event_id, stream_id, version, type, schema_version,
	occurred_at, recorded_at, COALESCE(correlation_id, ''), COALESCE(causation_id, ''), payload
	FROM events `

// ReadStream returns the stream's events with version > afterVersion, oldest first; an
// unknown stream reads as empty. It holds every commit that finished before it began,
// another process's included.
//
// A recent stream is read from memory alone while no other store has committed to the
// file since; otherwise what its run holds is taken from memory and only the events
// past it are read (streams.go).
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	run, whole, stamp := s.runs.lookup(stream)
	if whole {
		s.metrics.readsFromMemory.Inc()
		if afterVersion >= int64(len(run)) {
			return nil, nil
		}
		s.metrics.fromMemory.Add(float64(int64(len(run)) - afterVersion))
		return run[afterVersion:], nil
	}
	from := max(afterVersion, int64(len(run)))
	events, err := s.readStreamFile(ctx, stream, from)
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	s.metrics.readsFromFile.Inc()
	s.runs.keepRead(stamp, stream, from, events)
	s.metrics.fromFile.Add(float64(len(events)))
	if afterVersion >= from {
		return events, nil
	}
	s.metrics.fromMemory.Add(float64(from - afterVersion))
	return append(run[afterVersion:], events...), nil
}

// readStreamFile is what SQLite holds of the stream after afterVersion.
func (s *Store) readStreamFile(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	rows, err := s.db.QueryContext(ctx, selectEvents+`WHERE stream_id = ? AND version > ? ORDER BY version`, stream, afterVersion)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows, 0)
}

// ReadAll returns up to limit events with position > afterPosition in position order.
// Positions increase but are not promised to be contiguous (other backends skip numbers):
// page with afterPosition = the last position returned, never by counting.
func (s *Store) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read all after %d: limit is %d; want a positive page size", afterPosition, limit)
	}
	// The count before anything else: a commit that finished before this read began
	// raised it already (tail.go).
	c := s.runs.counts()
	cached, through, ok, whole := s.tail.read(afterPosition, limit, c)
	if ok && (len(cached) == limit || whole) {
		s.metrics.readAllFromMemory.Inc()
		return cached, nil
	}
	s.metrics.readAllFromFile.Inc()
	from := afterPosition
	if ok {
		from = through
	}
	want := limit - len(cached)
	rows, err := s.db.QueryContext(ctx, selectEvents+`WHERE position > ? ORDER BY position LIMIT ?`, from, want)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	events, err := scanEvents(rows, min(want, 1024))
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	s.tail.add(from, events, c, len(events) < want)
	if len(cached) == 0 {
		return events, nil
	}
	return append(cached, events...), nil
}

func scanEvents(rows *sql.Rows, sizeHint int) ([]domain.RecordedEvent, error) {
	defer rows.Close()
	events := make([]domain.RecordedEvent, 0, sizeHint)
	for rows.Next() {
		var (
			e                  domain.RecordedEvent
			occurred, recorded string
			payload            []byte
		)
		if err := rows.Scan(&e.Position, &e.ID, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion,
			&occurred, &recorded, &e.CorrelationID, &e.CausationID, &payload); err != nil {
			return nil, err
		}
		// Scanned into a plain []byte, which database/sql copies; scanning straight into
		// json.RawMessage goes through reflection, which is not documented to copy. Its
		// capacity ends with it: readers given the same event (tail.go) share the bytes,
		// and an append to one must not write into another's.
		e.Payload = payload[:len(payload):len(payload)]
		var err error
		if e.OccurredAt, err = time.Parse(time.RFC3339Nano, occurred); err != nil {
			return nil, fmt.Errorf("position %d: occurred_at: %w", e.Position, err)
		}
		if e.RecordedAt, err = time.Parse(time.RFC3339Nano, recorded); err != nil {
			return nil, fmt.Errorf("position %d: recorded_at: %w", e.Position, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}
