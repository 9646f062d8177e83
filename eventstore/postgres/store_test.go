package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/domain"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
)

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testEvent(id string) domain.EventData {
	return domain.EventData{ID: id, Type: "Test", SchemaVersion: 1, OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Payload: []byte(`{}`)}
}

// An append that commits late must not be overtaken: while one transaction holds an
// unseen position, a later append waits, so a follower never reads past the gap. The
// slow append is played by hand (lock, insert, wait) as the store's own Append does it.
func TestLateCommitIsNeverSkipped(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	s := open(t, dsn)
	ctx := context.Background()
	slow, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close(ctx)
	tx, err := slow.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(0x5377_6170)); err != nil {
		t.Fatal(err)
	}
	var slowPos int64
	if err := tx.QueryRow(ctx, `INSERT INTO events (event_id, stream_id, version, type, schema_version, occurred_at, recorded_at, payload)
		VALUES ('slow', 'a', 1, 'Test', 1, now(), now(), '{}') RETURNING position`).Scan(&slowPos); err != nil {
		t.Fatal(err)
	}

	done := make(chan domain.AppendResult, 1)
	go func() {
		res, err := s.Append(ctx, "b", domain.NoStream, testEvent("fast"))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// Give the fast append every chance to commit ahead of the slow one.
	time.Sleep(300 * time.Millisecond)
	seen, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Fatalf("a follower saw %d events (first at position %d) while position %d was still in flight: it would skip it", len(seen), seen[0].Position, slowPos)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fast := <-done
	if fast.FirstPosition <= slowPos {
		t.Fatalf("the append that waited got position %d, want after the slow one's %d", fast.FirstPosition, slowPos)
	}
	seen, err = s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].ID != "slow" || seen[1].ID != "fast" {
		t.Fatalf("follower read %v, want slow then fast", seen)
	}
}

// Two nodes starting on a new database at once: both open, each migration runs once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				_ = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s := open(t, dsn)
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations WHERE set_name = 'events'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("schema_migrations records %d runs of the events migrations, want 1", n)
	}
}

// A DSN that does not parse is refused without echoing it (it may hold a password).
func TestOpenRefusesBadDSNWithoutEchoingIt(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret@[::1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open(bad DSN) = %v; want an error that does not quote the password", err)
	}
}
