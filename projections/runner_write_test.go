package projections_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// On SQLite a projection's batch is written by the store's writer, in the group commit
// beside the appends, rather than in a transaction of its own that contends with the
// writer for the write lock: behind a held lock it waits in the writer's queue, and its
// checkpoint is saved once the catch-up returns.
func TestProjectionBatchesWriteThroughTheStoreWriter(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	r, err := projections.NewRunner(st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	tick := func() domain.EventData {
		e, err := domain.NewEvent(uuid.Must(uuid.NewV7()).String(), "Tick", map[string]int{}, time.Now(), "c")
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if _, err := st.Append(ctx, "ticks", domain.AnyVersion, tick()); err != nil {
		t.Fatal(err)
	}
	// Keep the writer busy on a held lock with an append, so that what comes next queues.
	hold, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() {
		_, err := st.Append(ctx, "ticks", domain.AnyVersion, tick())
		appended <- err
	}()
	waitWaiting(t, st, 0)
	time.Sleep(20 * time.Millisecond)
	caught := make(chan error, 1)
	go func() {
		_, err := r.CatchUp(ctx)
		caught <- err
	}()
	waitWaiting(t, st, 1) // the first projection's batch, queued for the writer
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if err := <-caught; err != nil {
		t.Fatal(err)
	}
	var pos int64
	if err := st.DB().QueryRow(`SELECT position FROM checkpoints WHERE name = 'projection:audit'`).Scan(&pos); err != nil || pos != 1 {
		t.Errorf("audit's checkpoint after the catch-up: %d, %v; want 1", pos, err)
	}
}

func waitWaiting(t *testing.T, st *sqlite.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait for the writer, want %d", st.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
