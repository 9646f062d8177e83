package follow_test

import (
	"context"
	"testing"
	"time"

	"switchboard/eventstore/follow"
)

// Checkpoints that save through the store's writer wait in its queue, behind a lock
// another connection holds, instead of contending for SQLite's write lock themselves;
// the position is stored once Save returns.
func TestCheckpointsSaveThroughTheWriter(t *testing.T) {
	st := openStore(t)
	plain, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	cps := plain.Through(st)
	ctx := context.Background()
	// Keep the writer busy on a held lock, so that what comes next queues.
	hold, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- cps.Save(ctx, "first", 1) }()
	waitWaiting(t, st, 0)
	time.Sleep(20 * time.Millisecond)
	saved := make(chan error, 1)
	go func() { saved <- cps.Save(ctx, "resolver", 7) }()
	waitWaiting(t, st, 1) // queued for the writer, not busy-waiting on the lock
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chan error{first, saved} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := plain.Load(ctx, "resolver"); err != nil || pos != 7 {
		t.Errorf("checkpoint after Save: %d, %v; want 7", pos, err)
	}
}

func waitWaiting(t *testing.T, st interface{ Waiting() int }, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait for the writer, want %d", st.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
