package eventstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/follow"
	"switchboard/projections"
)

// fold is an in-memory projection for a follower: every event it is handed, per stream
// and in log order. Start returns where it stands, so repeated Steps continue.
type fold struct {
	mu       sync.Mutex
	pos      int64
	byStream map[string][]string
	order    []string
}

func newFold() *fold { return &fold{byStream: map[string][]string{}} }

func (f *fold) Start(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos, nil
}
func (f *fold) Room() bool { return true }
func (f *fold) Take(_ context.Context, evs []domain.RecordedEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range evs {
		f.byStream[e.StreamID] = append(f.byStream[e.StreamID], fmt.Sprintf("v%d %s %s %s", e.Version, e.ID, e.Type, e.Payload))
		f.order = append(f.order, fmt.Sprintf("%d %s", e.Position, e.ID))
		f.pos = e.Position
	}
	return nil
}
func (f *fold) Checkpoint(context.Context, int64) error { return nil }
func (f *fold) Idle() bool                              { return true }
func (f *fold) Progress() <-chan struct{}               { return nil }
func (f *fold) Settle()                                 {}

func (f *fold) position() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.pos }

func (f *fold) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, o := range f.order {
		b.WriteString(o + "\n")
	}
	return b.String()
}

// memCheckpoints keeps checkpoints in memory, for suites that run on any backend.
type memCheckpoints struct {
	mu  sync.Mutex
	pos map[string]int64
}

func (m *memCheckpoints) Load(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[name], nil
}

func (m *memCheckpoints) Save(_ context.Context, name string, p int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos[name] = p
	return nil
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// appendConcurrently has writers append rounds of events to streams of their own and
// to shared ones, the shared ones at AnyVersion, so commits interleave.
func appendConcurrently(t *testing.T, s domain.EventStore, writers, rounds int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				stream := fmt.Sprintf("own-%d", w)
				if r%3 == 0 {
					stream = fmt.Sprintf("shared-%d", r%2)
				}
				if _, err := s.Append(context.Background(), stream, domain.AnyVersion, event(t, fmt.Sprintf("W%dR%d", w, r)), event(t, "Second")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
}

// testRebuildEqualsLive: what a follower built while the log was being written — live,
// woken by polling, with appends committing concurrently — equals what a new follower
// builds from position zero afterwards; and a partitioned reactor handles every stream's
// events in version order, live as on a rebuild.
func testRebuildEqualsLive(t *testing.T, s domain.EventStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := newFold()
	f := &follow.Follower{Name: "live", Store: s, PollEvery: time.Millisecond, BatchSize: 7}
	reactorSeen := func() (func(domain.RecordedEvent) error, func() string) {
		var mu sync.Mutex
		seen := map[string][]int64{}
		return func(e domain.RecordedEvent) error {
				mu.Lock()
				defer mu.Unlock()
				seen[e.StreamID] = append(seen[e.StreamID], e.Version)
				return nil
			}, func() string {
				mu.Lock()
				defer mu.Unlock()
				return fmt.Sprint(seen)
			}
	}
	cps := &memCheckpoints{pos: map[string]int64{}}
	liveHandle, liveSeen := reactorSeen()
	newReactor := func(name string, handle func(domain.RecordedEvent) error) *follow.Reactor {
		return &follow.Reactor{Name: name, Store: s, Checkpoints: cps, PollEvery: time.Millisecond, BatchSize: 5, MaxParallel: 3,
			Accept:    func(domain.RecordedEvent) bool { return true },
			Partition: func(e domain.RecordedEvent) string { return e.StreamID },
			Handle:    func(_ context.Context, e domain.RecordedEvent, _ int) error { return handle(e) }}
	}
	liveReactor := newReactor("live", liveHandle)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = f.Run(ctx, live) }()
	go func() { defer wg.Done(); _ = liveReactor.Run(ctx) }()

	appendConcurrently(t, s, 4, scale(40, 8))
	last := mustLastPosition(t, s)
	waitUntil(t, "the live follower to reach the end of the log", func() bool { return live.position() == last })
	waitUntil(t, "the live reactor to reach the end of the log", func() bool { return liveReactor.Position() == last })
	cancel()
	wg.Wait()

	rebuilt := newFold()
	if _, err := (&follow.Follower{Name: "rebuild", Store: s, BatchSize: 100}).Step(context.Background(), rebuilt); err != nil {
		t.Fatal(err)
	}
	if live.String() != rebuilt.String() {
		t.Errorf("the live follower saw\n%s\na rebuild sees\n%s", live, rebuilt)
	}
	for stream, evs := range rebuilt.byStream {
		if fmt.Sprint(live.byStream[stream]) != fmt.Sprint(evs) {
			t.Errorf("stream %s: live %v, rebuilt %v", stream, live.byStream[stream], evs)
		}
	}
	rebuildHandle, rebuildSeen := reactorSeen()
	if _, err := newReactor("rebuild", rebuildHandle).Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if liveSeen() != rebuildSeen() {
		t.Errorf("the live reactor handled %s\na rebuilt one %s", liveSeen(), rebuildSeen())
	}
	for stream, vs := range rebuilt.byStream {
		want := make([]int64, len(vs))
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !strings.Contains(liveSeen(), stream+":"+fmt.Sprint(want)) {
			t.Errorf("stream %s: the live reactor did not handle versions %v in order: %s", stream, want, liveSeen())
		}
	}
}

// testCheckpoints: checkpoints start at zero, hold what was saved per name, move back
// (a rebuild resets to zero), survive concurrent saves of other names, and a reactor
// restarted on them resumes after its checkpoint, never from zero and never skipping.
func testCheckpoints(t *testing.T, backend func(t *testing.T) Backend) {
	ctx := context.Background()
	t.Run("SaveLoad", func(t *testing.T) {
		cps := backend(t).Checkpoints
		if p, err := cps.Load(ctx, "never-saved"); err != nil || p != 0 {
			t.Fatalf("Load of an unknown name = %d, %v; want 0, nil", p, err)
		}
		for _, step := range []struct {
			name string
			pos  int64
		}{{"a", 5}, {"b", 9}, {"a", 12}, {"b", 0}} {
			if err := cps.Save(ctx, step.name, step.pos); err != nil {
				t.Fatalf("Save(%s, %d): %v", step.name, step.pos, err)
			}
			if p, err := cps.Load(ctx, step.name); err != nil || p != step.pos {
				t.Fatalf("after Save(%s, %d) Load = %d, %v", step.name, step.pos, p, err)
			}
		}
		if p, _ := cps.Load(ctx, "a"); p != 12 {
			t.Errorf("a = %d after b moved, want 12", p)
		}
	})
	t.Run("ConcurrentNames", func(t *testing.T) {
		cps := backend(t).Checkpoints
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= 20; i++ {
					if err := cps.Save(ctx, fmt.Sprintf("w%d", w), int64(i*(w+1))); err != nil {
						t.Errorf("Save: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for w := range 8 {
			if p, err := cps.Load(ctx, fmt.Sprintf("w%d", w)); err != nil || p != int64(20*(w+1)) {
				t.Errorf("w%d = %d, %v; want %d", w, p, err, 20*(w+1))
			}
		}
	})
	t.Run("ReactorResumes", func(t *testing.T) {
		b := backend(t)
		for i := range 6 {
			mustAppend(t, b.Store, fmt.Sprintf("s%d", i%2), domain.AnyVersion, event(t, "Tick"))
		}
		var mu sync.Mutex
		var handled []int64
		newReactor := func() *follow.Reactor {
			return &follow.Reactor{Name: "resumer", Store: b.Store, Checkpoints: b.Checkpoints, BatchSize: 2,
				Accept:    func(domain.RecordedEvent) bool { return true },
				Partition: func(e domain.RecordedEvent) string { return e.StreamID },
				Handle: func(_ context.Context, e domain.RecordedEvent, _ int) error {
					mu.Lock()
					defer mu.Unlock()
					handled = append(handled, e.Position)
					return nil
				}}
		}
		if _, err := newReactor().Step(ctx); err != nil {
			t.Fatal(err)
		}
		first := mustLastPosition(t, b.Store)
		if p, err := b.Checkpoints.Load(ctx, "resumer"); err != nil || p != first {
			t.Fatalf("checkpoint %d, %v after handling everything; want %d", p, err, first)
		}
		mustAppend(t, b.Store, "s0", domain.AnyVersion, event(t, "Tock"))
		mu.Lock()
		handled = nil
		mu.Unlock()
		if _, err := newReactor().Step(ctx); err != nil {
			t.Fatal(err)
		}
		if last := mustLastPosition(t, b.Store); len(handled) != 1 || handled[0] != last {
			t.Errorf("restarted reactor handled %v, want only position %d", handled, last)
		}
	})
}

// testProjectionsRebuildEqualsLive: switchboard's projections kept live — following
// the log while messages are recorded concurrently — hold exactly the rows a rebuild
// from position zero gives, checkpoints included.
func testProjectionsRebuildEqualsLive(t *testing.T, b Backend) {
	runner, err := projections.NewRunner(b.DB, b.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx, nil, time.Millisecond) }()

	messages := scale(60, 16)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < messages; i += 4 {
				recordMessage(t, b.Store, i)
			}
		}()
	}
	wg.Wait()
	last := mustLastPosition(t, b.Store)
	waitUntil(t, "the projections to reach the end of the log", func() bool {
		for _, p := range runner.Positions() {
			if p != last {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	live := dumpTables(t, b.DB.DB())
	if len(live["audit_links"]) == 0 || len(live["contact_keys"]) == 0 || len(live["unlinked_conversations"]) == 0 ||
		len(live["ambiguous_resolutions"]) == 0 || len(live["dead_letters"]) == 0 {
		t.Fatalf("live projections lack rows the traffic should give: %v", live)
	}
	if err := runner.Rebuild(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	rebuilt := dumpTables(t, b.DB.DB())
	for table, rows := range live {
		if strings.Join(rows, "\n") != strings.Join(rebuilt[table], "\n") {
			t.Errorf("table %s differs after rebuild:\nlive:\n%s\nrebuilt:\n%s", table, strings.Join(rows, "\n"), strings.Join(rebuilt[table], "\n"))
		}
	}
}

// recordMessage writes the events of message i as the application would: received,
// identified, then matched, created, unlinked or dead-lettered, the key resolved and the
// message published.
func recordMessage(t *testing.T, s domain.EventStore, i int) {
	t.Helper()
	at := occurredAt.Add(time.Duration(i) * time.Second)
	corr := fmt.Sprintf("corr-%d", i)
	userID := fmt.Sprintf("900%d", i%5)
	key := domain.MatchKey{Workspace: "acme", Lookup: "telegram_user_id", Identifier: userID}
	contact := fmt.Sprintf("%d", 100+i%5)
	ev := func(typ string, payload any) domain.EventData {
		e, err := domain.NewEvent(newID(t), typ, payload, at, corr)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	stream := domain.MessageStream("acme-tg", fmt.Sprintf("m%d", i))
	evs := []domain.EventData{
		ev(domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "acme", ChannelID: "acme-tg", ChannelKind: domain.KindTelegram,
			MessageID: fmt.Sprintf("m%d", i), SentAt: at, Sender: domain.Sender{UserID: userID}, Text: "hi"}),
		ev(domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "acme-tg", Source: "user_id", Raw: userID, Identifier: userID,
			MatchKey: key, Searched: []string{"telegram_user_id"}}),
	}
	resolved := false
	switch i % 4 {
	case 0:
		evs = append(evs, ev(domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: contact, Via: "search", Ambiguous: i%8 == 0,
			Candidates: []domain.CandidateVerdict{{ContactID: contact, CreatedAt: at, Kept: true, Reason: "oldest"}}}))
		resolved = true
	case 1:
		evs = append(evs, ev(domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: contact, Properties: map[string]string{"telegram_user_id": userID}}))
		resolved = true
	case 2:
		evs = append(evs, ev(domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: domain.UnlinkedNoMatch, Detail: "no contact"}))
	case 3:
		evs = append(evs, ev(domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StageResolution, Reason: "token revoked", Status: 401, Attempts: 1}))
	}
	mustAppend(t, s, stream, domain.NoStream, evs...)
	if resolved {
		mustAppend(t, s, key.Stream(), domain.AnyVersion, ev(domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: contact, How: "matched"}))
	}
	if i%4 != 3 {
		mustAppend(t, s, stream, domain.ExpectedVersion(len(evs)), ev(domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: "hs-" + corr,
			IdempotencyID: corr, ThreadID: "acme-tg:" + userID, ContactID: contact, Attempts: 1}))
	} else if i%8 == 7 {
		mustAppend(t, s, stream, domain.ExpectedVersion(len(evs)), ev(domain.EventRetryRequested, domain.RetryRequested{Stage: domain.StageResolution, RequestedBy: "op"}))
	}
}

// dumpTables reads every projection table, and the projections' checkpoints, row by
// row in a stable order.
func dumpTables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	queries := map[string]string{"checkpoints": `SELECT name, position FROM checkpoints WHERE name LIKE 'projection:%' ORDER BY name`}
	for _, p := range projections.All() {
		for _, table := range p.Tables() {
			queries[table] = "SELECT * FROM " + table
		}
	}
	for table, q := range queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(vals...))
		}
		rows.Close()
		sort.Strings(out[table])
	}
	return out
}
