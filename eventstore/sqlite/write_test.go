package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// Writes queued behind a held lock commit in one transaction with the appends queued
// beside them, and each caller learns its own outcome: a write that fails, or panics,
// is undone alone and fails only its caller.
func TestQueuedWriteFailsOnlyItsCaller(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	saveCheckpoint := func(name string, pos int64) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES (?, ?)`, name, pos)
			return err
		}
	}
	errBroken := errors.New("projection broken")
	writeAsync := func(fn func(context.Context, *sql.Tx) error) chan error {
		c := make(chan error, 1)
		go func() { c <- s.Write(ctx, fn) }()
		return c
	}
	appended := make(chan error, 1)
	// The first goes to the writer, which then waits for the lock; the rest queue.
	first := writeAsync(saveCheckpoint("first", 1))
	waitWaiting(t, s, 0)
	time.Sleep(20 * time.Millisecond)
	good := writeAsync(saveCheckpoint("good", 2))
	failing := writeAsync(func(ctx context.Context, tx *sql.Tx) error {
		if err := saveCheckpoint("failing", 3)(ctx, tx); err != nil {
			return err
		}
		return errBroken
	})
	panicking := writeAsync(func(ctx context.Context, tx *sql.Tx) error {
		if err := saveCheckpoint("panicking", 4)(ctx, tx); err != nil {
			return err
		}
		panic("bug in a projection")
	})
	go func() {
		_, err := s.Append(ctx, "beside", domain.NoStream, newEvent(t, "Beside", `{}`))
		appended <- err
	}()
	waitWaiting(t, s, 4)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}

	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	if err := <-good; err != nil {
		t.Errorf("good write: %v", err)
	}
	if err := <-failing; !errors.Is(err, errBroken) {
		t.Errorf("failing write: %v, want its own error", err)
	}
	if err := <-panicking; err == nil {
		t.Errorf("panicking write succeeded")
	}
	if err := <-appended; err != nil {
		t.Errorf("append beside the writes: %v", err)
	}
	got := checkpointRows(t, s.DB())
	want := map[string]int64{"first": 1, "good": 2}
	if len(got) != len(want) || got["first"] != 1 || got["good"] != 2 {
		t.Errorf("checkpoints %v, want %v: the failed writes' rows undone, the others kept", got, want)
	}
	if evs, _ := s.ReadStream(ctx, "beside", 0); len(evs) != 1 {
		t.Errorf("the append beside the writes stored %d events, want 1", len(evs))
	}
	// The writer survived the panic.
	if err := s.Write(ctx, saveCheckpoint("after", 5)); err != nil {
		t.Fatalf("write after a panicking one: %v", err)
	}
}

// A write has committed when Write returns: a handle of its own on the file, opened
// after the store is closed, sees it.
func TestQueuedWriteIsDurableWhenItReturns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES ('resolver', 42)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(context.Context, *sql.Tx) error { return nil }); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	again, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := checkpointRows(t, again.DB()); got["resolver"] != 42 {
		t.Errorf("checkpoints after reopening %v, want resolver at 42", got)
	}
}

// A write whose caller gives up while it waits is never run.
func TestAbandonedWriteIsNotRun(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.Write(ctx, func(context.Context, *sql.Tx) error { return nil }) }()
	waitWaiting(t, s, 0)
	time.Sleep(20 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	abandoned := make(chan error, 1)
	go func() {
		abandoned <- s.Write(cctx, func(context.Context, *sql.Tx) error { ran <- struct{}{}; return nil })
	}()
	waitWaiting(t, s, 1)
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned write: %v, want context.Canceled", err)
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Error("an abandoned write was run")
	default:
	}
}

func waitWaiting(t *testing.T, s *sqlite.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait for the writer, want %d", s.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func checkpointRows(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT name, position FROM checkpoints`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			t.Fatal(err)
		}
		out[name] = pos
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
