package follow_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/domain"
	"switchboard/eventstore/follow"
	"switchboard/eventstore/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func appendN(t *testing.T, st domain.EventStore, stream string, n int) {
	t.Helper()
	for i := range n {
		e, err := domain.NewEvent(uuid.Must(uuid.NewV7()).String(), "Tick", map[string]int{"i": i}, time.Now(), "c")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(context.Background(), stream, domain.AnyVersion, e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReactorRetriesAndNeverSkips: a failing handler is retried until it succeeds, the
// checkpoint never moves past an event not handled, each partition keeps log order, and
// a restarted reactor resumes from its checkpoint.
func TestReactorRetriesAndNeverSkips(t *testing.T) {
	st := openStore(t)
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "a", 5)
	appendN(t, st, "b", 5)

	var mu sync.Mutex
	seen := map[string][]int64{}
	failures := map[int64]int{3: 2, 7: 1} // position → failures before success
	newReactor := func() *follow.Reactor {
		return &follow.Reactor{Name: "test", Store: st, Checkpoints: cps, BatchSize: 4,
			Accept:     func(domain.RecordedEvent) bool { return true },
			Partition:  func(e domain.RecordedEvent) string { return e.StreamID },
			MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			Handle: func(_ context.Context, e domain.RecordedEvent, attempt int) error {
				mu.Lock()
				defer mu.Unlock()
				if failures[e.Position] >= attempt {
					return errors.New("transient")
				}
				seen[e.StreamID] = append(seen[e.StreamID], e.Position)
				return nil
			}}
	}
	r := newReactor()
	for {
		n, err := r.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if r.Position() != 10 {
		t.Fatalf("position %d, want 10", r.Position())
	}
	for stream, ps := range seen {
		if len(ps) != 5 {
			t.Errorf("stream %s handled %d events, want 5: %v", stream, len(ps), ps)
		}
		for i := 1; i < len(ps); i++ {
			if ps[i] <= ps[i-1] {
				t.Errorf("stream %s out of order: %v", stream, ps)
			}
		}
	}
	if got, _ := cps.Load(context.Background(), "test"); got != 10 {
		t.Errorf("checkpoint %d, want 10", got)
	}

	// A new reactor resumes after the checkpoint: only new events are handled.
	appendN(t, st, "a", 2)
	seen = map[string][]int64{}
	r2 := newReactor()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r2.PollEvery = 5 * time.Millisecond
	go func() { done <- r2.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for r2.Position() != 12 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen["a"]) != "[11 12]" || len(seen["b"]) != 0 {
		t.Errorf("after restart handled %v, want only positions 11 and 12", seen)
	}
}

// TestReactorStopsRetryingWhenCancelled: a handler that never succeeds does not move
// the checkpoint, and cancellation ends the retries.
func TestReactorStopsRetryingWhenCancelled(t *testing.T) {
	st := openStore(t)
	cps, _ := follow.NewSQLCheckpoints(st.DB())
	appendN(t, st, "a", 1)
	r := &follow.Reactor{Name: "stuck", Store: st, Checkpoints: cps, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		Accept: func(domain.RecordedEvent) bool { return true },
		Handle: func(context.Context, domain.RecordedEvent, int) error { return errors.New("down") }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Step(ctx); err == nil {
		t.Fatal("a step whose handler never succeeds must fail")
	}
	if got, _ := cps.Load(context.Background(), "stuck"); got != 0 || r.Position() != 0 {
		t.Errorf("checkpoint moved to %d (position %d) past an unhandled event", got, r.Position())
	}
}

// TestReactorGroupHoldsAtMostItsShare: partitions of one group that never finish hold
// at most MaxPerGroup workers, and another group's partitions still run.
func TestReactorGroupHoldsAtMostItsShare(t *testing.T) {
	st := openStore(t)
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		appendN(t, st, fmt.Sprintf("stuck/%d", i), 1)
	}
	for i := range 3 {
		appendN(t, st, fmt.Sprintf("fine/%d", i), 2)
	}
	var mu sync.Mutex
	running, most, fine := 0, 0, 0
	r := &follow.Reactor{Name: "groups", Store: st, Checkpoints: cps, MaxParallel: 4, MaxPerGroup: 2, PollEvery: 5 * time.Millisecond,
		Accept:    func(domain.RecordedEvent) bool { return true },
		Partition: func(e domain.RecordedEvent) string { return e.StreamID },
		Group:     func(p string) string { g, _, _ := strings.Cut(p, "/"); return g },
		Handle: func(ctx context.Context, e domain.RecordedEvent, _ int) error {
			if strings.HasPrefix(e.StreamID, "fine/") {
				mu.Lock()
				fine++
				mu.Unlock()
				return nil
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			<-ctx.Done() // a HubSpot that never answers
			mu.Lock()
			running--
			mu.Unlock()
			return ctx.Err()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := fine
		mu.Unlock()
		if n == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fine != 6 {
		t.Errorf("the other group handled %d of its 6 events while the first was stuck", fine)
	}
	if most > 2 {
		t.Errorf("the stuck group held %d workers at once, want at most MaxPerGroup = 2", most)
	}
}

// TestReactorStuckGroupBacklogDoesNotStopReading: a stuck group's backlog larger than
// the read-ahead does not keep the reactor from reading, and handling, what another
// group has behind it in the log.
func TestReactorStuckGroupBacklogDoesNotStopReading(t *testing.T) {
	st := openStore(t)
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "stuck/0", 30) // 30 events, far more than 4 batches of 2
	appendN(t, st, "fine/0", 3)
	var mu sync.Mutex
	fine := 0
	r := &follow.Reactor{Name: "backlog", Store: st, Checkpoints: cps, BatchSize: 2, MaxParallel: 4, MaxPerGroup: 1, PollEvery: 5 * time.Millisecond,
		Accept:    func(domain.RecordedEvent) bool { return true },
		Partition: func(e domain.RecordedEvent) string { return e.StreamID },
		Group:     func(p string) string { g, _, _ := strings.Cut(p, "/"); return g },
		Handle: func(ctx context.Context, e domain.RecordedEvent, _ int) error {
			if strings.HasPrefix(e.StreamID, "stuck/") {
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			fine++
			mu.Unlock()
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := fine
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fine != 3 {
		t.Errorf("the other group handled %d of its 3 events behind the stuck group's backlog", fine)
	}
	if got, _ := cps.Load(context.Background(), "backlog"); got != 0 {
		t.Errorf("checkpoint %d moved past the stuck group's first event", got)
	}
}

// A batch's partitions are computed side by side: the publisher's reads the message's
// stream, and one read at a time on the follower's goroutine bounded the reactor.
func TestReactorComputesPartitionsSideBySide(t *testing.T) {
	st := openStore(t)
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "a", 4)
	var mu sync.Mutex
	running, most := 0, 0
	r := &follow.Reactor{Name: "side-by-side", Store: st, Checkpoints: cps,
		Accept: func(domain.RecordedEvent) bool { return true },
		Partition: func(e domain.RecordedEvent) string {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			// Long enough for the others to start, were they allowed to.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				done := most > 1
				mu.Unlock()
				if done {
					break
				}
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			running--
			mu.Unlock()
			return e.StreamID
		},
		Handle: func(context.Context, domain.RecordedEvent, int) error { return nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if most < 2 {
		t.Errorf("at most %d partitions computed at once, want several", most)
	}
}

// The oldest-pending gauge says how long the oldest event taken and not handled has
// waited since it was recorded: it grows while a handler is stuck, and is 0 once the
// reactor has caught up.
func TestOldestPendingGaugeAgesWhileAHandlerIsStuck(t *testing.T) {
	recorded := time.Now().Add(-time.Minute)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"), sqlite.WithNow(func() time.Time { return recorded }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "a", 3)
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	r := &follow.Reactor{Name: "publisher", Store: st, Checkpoints: cps, Metrics: follow.NewMetrics(reg), PollEvery: 10 * time.Millisecond,
		Accept:    func(domain.RecordedEvent) bool { return true },
		Partition: func(e domain.RecordedEvent) string { return e.StreamID },
		Handle: func(ctx context.Context, e domain.RecordedEvent, _ int) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	gauge := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "switchboard_reactor_oldest_pending_seconds" {
				for _, m := range f.GetMetric() {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	waitUntil := func(what string, ok func(float64) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(gauge()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the gauge reads %.1f s", what, gauge())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitUntil("a stuck handler's event, recorded a minute ago", func(v float64) bool { return v >= 60 })
	first := gauge()
	time.Sleep(300 * time.Millisecond)
	if later := gauge(); later <= first {
		t.Errorf("the gauge did not grow while the handler was stuck: %.2f s, then %.2f s", first, later)
	}
	close(release)
	waitUntil("caught up", func(v float64) bool { return v == 0 })
}
