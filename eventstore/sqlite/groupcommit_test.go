package sqlite_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// Appends that wait while the writer is busy commit together in one transaction, and
// each learns its own result: a wrong expected version or a clashing id fails that append
// alone, a retry is recognised, and the others are stored.
func TestGroupCommitGivesEachAppendItsOwnResult(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	ticks := 0
	s := MustOpenStore(t, sqlite.WithNow(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		ticks++
		return base.Add(time.Duration(ticks) * time.Second)
	}))
	ctx := context.Background()
	seed := newEvent(t, "Seeded", `{}`)
	if _, err := s.Append(ctx, "taken", domain.NoStream, seed); err != nil {
		t.Fatal(err)
	}

	// Hold SQLite's write lock from another connection: the writer takes the next
	// append and waits on the lock, and everything sent meanwhile queues behind it.
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res domain.AppendResult
		err error
	}
	appendAsync := func(stream string, expected domain.ExpectedVersion, evs ...domain.EventData) chan result {
		c := make(chan result, 1)
		go func() {
			res, err := s.Append(ctx, stream, expected, evs...)
			c <- result{res, err}
		}()
		return c
	}
	waitQueue := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for sqlite.QueueLen(s) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d appends queued, want %d", sqlite.QueueLen(s), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	first := appendAsync("first", domain.NoStream, newEvent(t, "First", `{}`))
	waitQueue(0) // the writer has it, and is waiting for the lock
	time.Sleep(20 * time.Millisecond)
	a1, a2 := newEvent(t, "A", `{"n":1}`), newEvent(t, "A", `{"n":2}`)
	good1 := appendAsync("a", domain.NoStream, a1, a2)
	good2 := appendAsync("b", domain.NoStream, newEvent(t, "B", `{}`))
	wrong := appendAsync("taken", domain.NoStream, newEvent(t, "Late", `{}`))
	retry := appendAsync("taken", domain.NoStream, seed)
	clash := appendAsync("c", domain.NoStream, seed)
	waitQueue(5)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}

	if r := <-first; r.err != nil {
		t.Fatalf("first append: %v", r.err)
	}
	g1, g2 := <-good1, <-good2
	if g1.err != nil || g2.err != nil {
		t.Fatalf("good appends failed: %v, %v", g1.err, g2.err)
	}
	if g1.res.NextVersion != 2 || g1.res.LastPosition-g1.res.FirstPosition != 1 || g2.res.NextVersion != 1 {
		t.Errorf("good appends' results %+v, %+v", g1.res, g2.res)
	}
	if r := <-wrong; !errors.Is(r.err, domain.ErrWrongExpectedVersion) {
		t.Errorf("append at a stale version: %v, want a wrong expected version", r.err)
	}
	if r := <-retry; r.err != nil || !r.res.AlreadyStored {
		t.Errorf("retried append: %+v, %v; want AlreadyStored", r.res, r.err)
	}
	if r := <-clash; r.err == nil || errors.Is(r.err, domain.ErrWrongExpectedVersion) {
		t.Errorf("id reused in another stream: %v, want a clash error", r.err)
	}

	var recorded []time.Time
	for _, stream := range []string{"first", "a", "b"} {
		evs, err := s.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			recorded = append(recorded, e.RecordedAt)
		}
	}
	if len(recorded) != 4 {
		t.Fatalf("stored %d events of the good appends, want 4", len(recorded))
	}
	// One transaction stamps one recorded_at: the three that queued together share it.
	if !recorded[1].Equal(recorded[2]) || !recorded[1].Equal(recorded[3]) || recorded[0].Equal(recorded[1]) {
		t.Errorf("recorded_at %v: want the queued appends in one transaction after the first", recorded)
	}
	if evs, _ := s.ReadStream(ctx, "taken", 0); len(evs) != 1 {
		t.Errorf("stream taken holds %d events, want only the seed", len(evs))
	}
	if evs, _ := s.ReadStream(ctx, "c", 0); len(evs) != 0 {
		t.Errorf("the clashing append wrote %d events", len(evs))
	}
}

// An append whose caller gives up while it waits for the writer is never written.
func TestAbandonedAppendIsNotWritten(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	hold, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := s.Append(ctx, "first", domain.NoStream, newEvent(t, "First", `{}`))
		done <- err
	}()
	for sqlite.QueueLen(s) != 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := s.Append(cctx, "abandoned", domain.NoStream, newEvent(t, "Gone", `{}`))
		done <- err
	}()
	for sqlite.QueueLen(s) != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned append: %v, want context.Canceled", err)
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Let the writer reach the abandoned append before looking.
	if _, err := s.Append(ctx, "after", domain.NoStream, newEvent(t, "After", `{}`)); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.ReadStream(ctx, "abandoned", 0); len(evs) != 0 {
		t.Errorf("an abandoned append was written: %d events", len(evs))
	}
}

// After Close, Append fails with ErrClosed rather than hanging.
func TestAppendAfterClose(t *testing.T) {
	s, err := sqlite.Open(t.TempDir() + "/events.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "x", domain.NoStream, newEvent(t, "X", `{}`)); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}
