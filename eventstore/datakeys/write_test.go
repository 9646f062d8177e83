package datakeys

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// On SQLite a new subject's key is written by the store's writer, in the group commit
// with the appends, not in a transaction of its own contending with it for the lock:
// behind a held lock it waits in the writer's queue.
func TestNewSubjectWritesThroughTheStoreWriter(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "sb.db"))
	k := mustOpen(t, st, testSecret)
	hold, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- st.Write(ctx, func(context.Context, *sql.Tx) error { return nil }) }()
	waitWaiting(t, st.Waiting, 0)
	time.Sleep(20 * time.Millisecond)
	created := make(chan error, 1)
	go func() {
		_, err := k.SubjectID(ctx, refX, true)
		created <- err
	}()
	waitWaiting(t, st.Waiting, 1)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chan error{first, created} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	fresh := mustOpen(t, st, testSecret) // no cache: reads the committed index
	x, err := fresh.SubjectID(ctx, refX, false)
	if err != nil || x == "" {
		t.Errorf("subject of X after its creation: %q, %v", x, err)
	}
}

func waitWaiting(t *testing.T, waiting func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests wait for the writer, want %d", waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
