package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// MustOpenStore opens a store on a new file in the test's temporary directory and closes
// it when the test ends.
func MustOpenStore(tb testing.TB, opts ...sqlite.Option) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "events.db"), opts...)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return s
}

func newEvent(tb testing.TB, typ string, payload string) domain.EventData {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return domain.EventData{
		ID: id.String(), Type: typ, SchemaVersion: 1,
		OccurredAt: time.Now().UTC(), CorrelationID: "corr", Payload: json.RawMessage(payload),
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first := newEvent(t, "SenderIdentified", `{"n":1}`)
	res1, err := s.Append(ctx, "conv", domain.NoStream, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.ReadStream(ctx, "conv", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != first.ID || got[0].Position != res1.LastPosition {
		t.Fatalf("after reopen ReadStream = %+v, want the event appended before closing", got)
	}
	res2, err := s.Append(ctx, "conv", 1, newEvent(t, "ContactMatched", `{"n":2}`))
	if err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	if res2.NextVersion != 2 || res2.FirstPosition <= res1.LastPosition {
		t.Errorf("append after reopen = %+v, want version 2 at a position after %d", res2, res1.LastPosition)
	}
	// A retry that lost its acknowledgement before a restart is still recognised.
	if res, err := s.Append(ctx, "conv", domain.NoStream, first); err != nil || !res.AlreadyStored {
		t.Errorf("retry after reopen = %+v, %v; want AlreadyStored", res, err)
	}
	var applied int
	if err := s.DB().QueryRow(`SELECT count(*) FROM schema_migrations WHERE set_name = ?`, sqlite.EventsMigrationSet).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("schema_migrations holds %d rows for the events set, want 1: reopening must not re-run migrations", applied)
	}
}

// TestConnectionSettings checks the pragmas on several pooled connections at once: they
// come from the DSN, and a setting applied to one connection only would pass a
// single-connection check.
func TestConnectionSettings(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	const conns = 3
	var held []interface{ Close() error }
	for i := range conns {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"synchronous":  "2", // FULL
			"busy_timeout": "10000",
			"foreign_keys": "1",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
	for _, c := range held {
		_ = c.Close()
	}
}

func TestOpenCreatesParentDirectoryAndEscapesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%d", "nested", "events.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer s.Close()
	if _, err := s.Append(context.Background(), "s", domain.NoStream, newEvent(t, "T", `{}`)); err != nil {
		t.Fatal(err)
	}
	var file string
	if err := s.DB().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		t.Fatal(err)
	}
	if file != path {
		t.Errorf("database file is %q, want %q", file, path)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := sqlite.Open(path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestRecordedAtComesFromClock(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	s := MustOpenStore(t, sqlite.WithNow(func() time.Time { return at.In(time.FixedZone("X", 3600)) }))
	ctx := context.Background()
	if _, err := s.Append(ctx, "s", domain.NoStream, newEvent(t, "T", `{}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].RecordedAt.Equal(at) || got[0].RecordedAt.Location() != time.UTC {
		t.Errorf("RecordedAt = %s, want %s in UTC", got[0].RecordedAt, at)
	}
}

// TestPayloadIsQueryableJSON guards the TEXT column type: stored as a BLOB, the payload
// would be read as JSONB by SQLite's json functions and audit queries would fail.
func TestPayloadIsQueryableJSON(t *testing.T) {
	s := MustOpenStore(t)
	ev := newEvent(t, "SenderIdentified", `{"identifier":{"raw":"+52 1 55 1234 5678"}}`)
	if _, err := s.Append(context.Background(), "s", domain.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	var raw string
	err := s.DB().QueryRow(`SELECT json_extract(payload, '$.identifier.raw') FROM events WHERE correlation_id = ?`, "corr").Scan(&raw)
	if err != nil || raw != "+52 1 55 1234 5678" {
		t.Errorf("json_extract = %q, %v; want the stored identifier", raw, err)
	}
}

// TestLargeAppend crosses the per-statement row limit, which splits one append into
// several INSERTs and several id lookups inside the same transaction.
func TestLargeAppend(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	evs := make([]domain.EventData, 2500)
	for i := range evs {
		evs[i] = newEvent(t, "Bulk", `{}`)
	}
	res, err := s.Append(ctx, "bulk", domain.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "bulk", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.NextVersion != 2500 || len(got) != 2500 || got[0].Position != res.FirstPosition || got[2499].Position != res.LastPosition {
		t.Fatalf("result %+v, read %d events", res, len(got))
	}
	for i, e := range got {
		if e.ID != evs[i].ID || e.Version != int64(i+1) {
			t.Fatalf("event %d: id %s version %d, want %s version %d", i, e.ID, e.Version, evs[i].ID, i+1)
		}
	}
	again, err := s.Append(ctx, "bulk", domain.NoStream, evs...)
	if want := (domain.AppendResult{NextVersion: 2500, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, AlreadyStored: true}); err != nil || again != want {
		t.Errorf("retry = %+v, %v; want %+v", again, err, want)
	}
	if _, err := s.Append(ctx, "bulk", domain.AnyVersion, append(evs[1:], newEvent(t, "New", `{}`))...); err == nil {
		t.Error("a batch of 2499 stored ids and a new one was accepted")
	}
}

func TestApplyMigrations(t *testing.T) {
	s := MustOpenStore(t)
	db := s.DB()
	v1 := fstest.MapFS{
		"0001_create.sql": {Data: []byte(`CREATE TABLE proj (k TEXT PRIMARY KEY, v TEXT);`)},
		"0002_index.sql":  {Data: []byte(`CREATE INDEX proj_v ON proj (v); INSERT INTO proj VALUES ('a', 'b');`)},
		"README.md":       {Data: []byte(`not a migration`)},
	}
	if err := sqlite.ApplyMigrations(db, "proj", v1); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if err := sqlite.ApplyMigrations(db, "proj", v1); err != nil {
		t.Fatalf("second apply must be a no-op: %v", err)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM proj`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("proj holds %d rows (%v), want 1: a migration ran twice or not at all", rows, err)
	}

	v2 := fstest.MapFS{
		"0001_create.sql": v1["0001_create.sql"],
		"0002_index.sql":  v1["0002_index.sql"],
		"0003_broken.sql": {Data: []byte(`CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);`)},
	}
	err := sqlite.ApplyMigrations(db, "proj", v2)
	if err == nil || !strings.Contains(err.Error(), "0003_broken.sql") {
		t.Fatalf("broken migration: err = %v, want an error naming the file", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the failed migration left table half behind (%d, %v): it must roll back whole", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE set_name = 'proj'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("schema_migrations records %d proj migrations (%v), want 2", n, err)
	}

	older := fstest.MapFS{"0001_create.sql": v1["0001_create.sql"]}
	if err := sqlite.ApplyMigrations(db, "proj", older); err == nil {
		t.Error("a binary that lacks applied migration 0002 was allowed to run")
	}

	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"create.sql": {Data: []byte(`SELECT 1;`)}},
		"zero":           {"0000_x.sql": {Data: []byte(`SELECT 1;`)}},
		"duplicate":      {"0001_a.sql": {Data: []byte(`SELECT 1;`)}, "1_b.sql": {Data: []byte(`SELECT 1;`)}},
		"no migrations":  {},
		"only non-*.sql": {"0001_a.txt": {Data: []byte(`SELECT 1;`)}},
	} {
		if err := sqlite.ApplyMigrations(db, "bad-"+name, fsys); err == nil {
			t.Errorf("%s: ApplyMigrations succeeded, want an error", name)
		}
	}
	if err := sqlite.ApplyMigrations(db, "", v1); err == nil {
		t.Error("empty set name accepted")
	}
}

// benchPayload is ~300 bytes, the size of a SenderIdentified event.
var benchPayload = json.RawMessage(`{"channel":"whatsapp","channel_account":"+15550001111","identifier":{"raw":"+52 1 55 1234 5678","normalized":"+525512345678","kind":"phone"},"settings":{"create_contacts":true,"match_properties":["phone","mobilephone","hs_whatsapp_phone_number"]},"message_id":"wamid.HBgLMTU1NTAwMDExMTEVAgASGBQzQUI="}`)

func benchEvents(b *testing.B, n int) []domain.EventData {
	b.Helper()
	evs := make([]domain.EventData, n)
	for i := range evs {
		evs[i] = newEvent(b, "SenderIdentified", string(benchPayload))
	}
	return evs
}

func reportEventsPerSec(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawInsertOneEvent is the ceiling BenchmarkAppendOneEvent is measured against:
// one plain INSERT per durable transaction on the same file, settings and table, with
// none of Append's version check, validation or queuing.
func BenchmarkRawInsertOneEvent(b *testing.B) {
	s := MustOpenStore(b)
	evs := benchEvents(b, b.N)
	ctx := context.Background()
	recorded := time.Now().UTC().Format(time.RFC3339Nano)
	b.ResetTimer()
	for i := range b.N {
		e := evs[i]
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (event_id, stream_id, version, type, schema_version,
			occurred_at, recorded_at, correlation_id, causation_id, payload) VALUES (?,?,?,?,?,?,?,?,?,?)`,
			e.ID, e.ID, 1, e.Type, 1, recorded, recorded, e.CorrelationID, nil, string(e.Payload)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSec(b, 1)
}

func BenchmarkAppendOneEvent(b *testing.B) {
	s := MustOpenStore(b)
	evs := benchEvents(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		// A new stream per event, as for the claim of an inbound message.
		if _, err := s.Append(ctx, evs[i].ID, domain.NoStream, evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSec(b, 1)
}

// BenchmarkAppendCommand appends what one inbound message produces: four events in one
// append to a new stream.
func BenchmarkAppendCommand(b *testing.B) {
	s := MustOpenStore(b)
	evs := benchEvents(b, 4*b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		cmd := evs[4*i : 4*i+4]
		if _, err := s.Append(ctx, cmd[0].ID, domain.NoStream, cmd...); err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSec(b, 4)
}

// BenchmarkReadAll reads pages of 1000 events, as a projection rebuild does.
func BenchmarkReadAll(b *testing.B) {
	const logSize, page = 20000, 1000
	s := MustOpenStore(b)
	ctx := context.Background()
	evs := benchEvents(b, logSize)
	for i := 0; i < logSize; i += 500 {
		if _, err := s.Append(ctx, fmt.Sprintf("stream-%d", i), domain.NoStream, evs[i:i+500]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var after int64
	for range b.N {
		got, err := s.ReadAll(ctx, after, page)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != page {
			b.Fatalf("ReadAll(%d, %d) returned %d events", after, page, len(got))
		}
		after = got[len(got)-1].Position % logSize // wrap around to the start
	}
	reportEventsPerSec(b, page)
}

// BenchmarkRawGroupCommit is the ceiling for grouped appends: 100 four-event commands per
// durable transaction, plain INSERTs with none of Append's checks.
func BenchmarkRawGroupCommit(b *testing.B) {
	const perTx = 100
	s := MustOpenStore(b)
	evs := benchEvents(b, 4*perTx*b.N)
	ctx := context.Background()
	recorded := time.Now().UTC().Format(time.RFC3339Nano)
	b.ResetTimer()
	for i := range b.N {
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for c := range perTx {
			cmd := evs[4*(perTx*i+c) : 4*(perTx*i+c)+4]
			for v, e := range cmd {
				if _, err := tx.ExecContext(ctx, `INSERT INTO events (event_id, stream_id, version, type, schema_version,
					occurred_at, recorded_at, correlation_id, causation_id, payload) VALUES (?,?,?,?,?,?,?,?,?,?)`,
					e.ID, cmd[0].ID, v+1, e.Type, 1, recorded, recorded, e.CorrelationID, nil, string(e.Payload)); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	reportEventsPerSec(b, 4*perTx)
}

// BenchmarkAppendCommandConcurrent is BenchmarkAppendCommand from 128 goroutines, as
// webhooks arrive under load: group commit lets them share commits.
func BenchmarkAppendCommandConcurrent(b *testing.B) {
	s := MustOpenStore(b)
	evs := benchEvents(b, 4*b.N)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(128 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			cmd := evs[4*i : 4*i+4]
			if _, err := s.Append(ctx, cmd[0].ID, domain.NoStream, cmd...); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportEventsPerSec(b, 4)
}

// BenchmarkRawIndexInsertOrder: ten inserts per commit into an index of audit_entries'
// shape that holds 400,000 rows already, under keys in key order and in no order (a
// platform's message ids, an HMAC), on the store's own file and settings. A key in no
// order puts each insert on a page of its own, which the commit writes to the WAL whole:
// what an index under such keys costs each message on the hot path (docs/performance.md,
// "The name row's parts, measured again").
func BenchmarkRawIndexInsertOrder(b *testing.B) {
	const held, perTx = 400_000, 10
	for _, order := range []struct {
		name string
		key  func(i int) string
	}{
		{"in_order", func(i int) string { return fmt.Sprintf("k%012d", i) }},
		{"in_no_order", func(int) string { return "sms/SM" + strings.ReplaceAll(uuid.NewString(), "-", "") }},
	} {
		b.Run(order.name, func(b *testing.B) {
			s := MustOpenStore(b)
			ctx := context.Background()
			db := s.DB()
			if _, err := db.ExecContext(ctx, `CREATE TABLE bench_entries (subject TEXT NOT NULL, subject_key TEXT NOT NULL,
				position BIGINT NOT NULL, PRIMARY KEY (subject, subject_key, position))`); err != nil {
				b.Fatal(err)
			}
			insert := func(tx interface {
				ExecContext(context.Context, string, ...any) (sql.Result, error)
			}, i int) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO bench_entries VALUES ('message', ?, ?) ON CONFLICT DO NOTHING`,
					order.key(i), i); err != nil {
					b.Fatal(err)
				}
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for i := range held {
				insert(tx, i)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			next := held
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for range perTx {
					insert(tx, next)
					next++
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx), "ns/insert")
		})
	}
}
