package follow_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/follow"
)

// clock is a shared fake clock for leases.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func held(t *testing.T, l *follow.SQLLeases) map[int]bool {
	t.Helper()
	h, err := l.Hold(context.Background(), "resolver")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Two nodes end up with half the buckets each, never the same one; when one stops
// renewing, the other takes its buckets once the leases lapse.
func TestLeasesShareBucketsAndMoveWhenANodeDies(t *testing.T) {
	st := openStore(t)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, err := follow.NewSQLLeases(st.DB(), "a", 15*time.Second, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := follow.NewSQLLeases(st.DB(), "b", 15*time.Second, c.Now)

	if got := held(t, a); len(got) != follow.Buckets {
		t.Fatalf("a alone holds %d buckets, want all %d", len(got), follow.Buckets)
	}
	// b joins: it takes nothing while a's leases are live; a gives back its surplus at
	// its next renewal, and b takes it.
	if got := held(t, b); len(got) != 0 {
		t.Fatalf("b took %v while a held every bucket", got)
	}
	ha := held(t, a)
	hb := held(t, b)
	if len(ha) != follow.Buckets/2 || len(hb) != follow.Buckets/2 {
		t.Fatalf("a holds %d and b %d buckets, want %d each", len(ha), len(hb), follow.Buckets/2)
	}
	for k := range ha {
		if hb[k] {
			t.Fatalf("bucket %d is held by both nodes", k)
		}
	}

	// b dies (stops renewing). Before the lease time a keeps its half; after it, all.
	c.Add(10 * time.Second)
	if got := held(t, a); len(got) != follow.Buckets/2 {
		t.Fatalf("a took %d buckets while b's leases were live", len(got))
	}
	c.Add(6 * time.Second)
	if got := held(t, a); len(got) != follow.Buckets {
		t.Fatalf("after b's leases lapsed a holds %d buckets, want all", len(got))
	}
}

// A node that leaves gracefully hands its buckets over at once.
func TestLeaveHandsBucketsOverAtOnce(t *testing.T) {
	st := openStore(t)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, _ := follow.NewSQLLeases(st.DB(), "a", 15*time.Second, c.Now)
	b, _ := follow.NewSQLLeases(st.DB(), "b", 15*time.Second, c.Now)
	held(t, a)
	held(t, b)
	held(t, a)
	held(t, b)
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := held(t, a); len(got) != follow.Buckets {
		t.Fatalf("after b left a holds %d buckets, want all", len(got))
	}
}

// Two reactors on two nodes share the log's events: each event is handled once, by the
// node that holds its bucket, and each partition in log order.
func TestReactorsOnTwoNodesHandleEachEventOnce(t *testing.T) {
	st := openStore(t)
	cps, err := follow.NewSQLCheckpoints(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	for p := range 40 {
		appendN(t, st, fmt.Sprintf("p%d", p), 5)
	}
	var mu sync.Mutex
	handled := map[int64]int{}
	order := map[string][]int64{}
	by := map[string]*atomic.Int64{"a": {}, "b": {}}
	newReactor := func(node string) *follow.Reactor {
		l, err := follow.NewSQLLeases(st.DB(), node, 3*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &follow.Reactor{Name: "test", Store: st, Checkpoints: cps, BatchSize: 16, Leases: l,
			PollEvery: 5 * time.Millisecond,
			Accept:    func(domain.RecordedEvent) bool { return true },
			Partition: func(e domain.RecordedEvent) string { return e.StreamID },
			Handle: func(_ context.Context, e domain.RecordedEvent, _ int) error {
				mu.Lock()
				defer mu.Unlock()
				handled[e.Position]++
				order[e.StreamID] = append(order[e.StreamID], e.Position)
				by[node].Add(1)
				return nil
			}}
	}
	// Both nodes join before either works, so the shares are settled from the start.
	la, _ := follow.NewSQLLeases(st.DB(), "a", 3*time.Second, nil)
	lb, _ := follow.NewSQLLeases(st.DB(), "b", 3*time.Second, nil)
	held(t, la)
	held(t, lb)
	held(t, la)
	held(t, lb)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, node := range []string{"a", "b"} {
		r := newReactor(node)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 200 {
		t.Fatalf("%d of 200 events handled", len(handled))
	}
	for p, n := range handled {
		if n != 1 {
			t.Errorf("event %d handled %d times", p, n)
		}
	}
	for stream, ps := range order {
		for i := 1; i < len(ps); i++ {
			if ps[i] <= ps[i-1] {
				t.Errorf("partition %s out of order: %v", stream, ps)
			}
		}
	}
	if by["a"].Load() == 0 || by["b"].Load() == 0 {
		t.Errorf("one node did all the work: a %d, b %d", by["a"].Load(), by["b"].Load())
	}
}

// A node dies mid-stream: once its leases lapse, the other node takes its buckets and
// handles their events from those buckets' checkpoints; nothing is left unhandled.
func TestBucketsOfADeadNodeAreTakenOver(t *testing.T) {
	st := openStore(t)
	cps, _ := follow.NewSQLCheckpoints(st.DB())
	var mu sync.Mutex
	handled := map[int64]int{}
	start := func(ctx context.Context, node string) chan struct{} {
		l, _ := follow.NewSQLLeases(st.DB(), node, 600*time.Millisecond, nil)
		r := &follow.Reactor{Name: "test", Store: st, Checkpoints: cps, BatchSize: 16, Leases: l, PollEvery: 5 * time.Millisecond,
			Accept:    func(domain.RecordedEvent) bool { return true },
			Partition: func(e domain.RecordedEvent) string { return e.StreamID },
			Handle: func(_ context.Context, e domain.RecordedEvent, _ int) error {
				mu.Lock()
				handled[e.Position]++
				mu.Unlock()
				return nil
			}}
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(ctx) }()
		return done
	}
	for p := range 20 {
		appendN(t, st, fmt.Sprintf("p%d", p), 2)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	defer stopA()
	ctxB, stopB := context.WithCancel(context.Background())
	doneA, doneB := start(ctxA, "a"), start(ctxB, "b")
	waitHandled := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := len(handled)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d events handled", got, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHandled(40)
	stopB() // b dies: no Leave, its leases lapse
	<-doneB
	for p := range 20 {
		appendN(t, st, fmt.Sprintf("p%d", p), 2)
	}
	waitHandled(80)
	stopA()
	<-doneA
}
