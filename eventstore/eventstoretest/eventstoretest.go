// Package eventstoretest is the conformance suite for domain.EventStore. Every backend
// runs it unchanged, declaring what it offers beyond the port; eventstore/conformance
// runs it on SQLite and PostgreSQL from one test file:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, eventstoretest.Features{Checkpoints: true, SQLProjections: true},
//			func(t *testing.T) eventstoretest.Backend { return newBackend(t) })
//	}
//
// The port's own tests always run. The features add suites: Checkpoints, the follower
// checkpoints that live beside the log; SQLProjections, switchboard's projections kept in
// the backend's database, rebuilt from scratch and compared with the rows live
// processing built. "A rebuild equals live processing" also runs on every backend with
// an in-memory projection.
//
// The suite relies only on the port's documented behaviour, so it must not learn about
// any one backend: times it compares are whole microseconds (PostgreSQL's precision),
// payloads are compared as JSON values rather than bytes (jsonb reformats them), and
// positions are only required to increase, not to be contiguous (sequences skip).
package eventstoretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore/follow"
	"switchboard/projections"
)

// Features declares what a backend offers beyond domain.EventStore; each selects suites.
type Features struct {
	// Checkpoints: Backend.Checkpoints keeps followers' checkpoints (the checkpoints
	// suite, and reactors resuming from them).
	Checkpoints bool
	// SQLProjections: Backend.DB is the database switchboard's projections live in
	// (projections.NewRunner), next to the log (the projections' rebuild suite).
	SQLProjections bool
}

// Backend is what a factory returns: a new, empty store, and what its features need.
type Backend struct {
	Store domain.EventStore
	// Checkpoints is required with Features.Checkpoints.
	Checkpoints follow.Checkpoints
	// DB is required with Features.SQLProjections: the store's database, where the
	// projections live.
	DB projections.Database
}

// Run runs every conformance test the features select. newBackend must return a new,
// empty backend for each call and arrange its cleanup (t.Cleanup); tests append freely
// and count what the log holds.
func Run(t *testing.T, features Features, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s domain.EventStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"ReadStream", testReadStream},
		{"ExpectedVersion", testExpectedVersion},
		{"ConcurrentAppendersExactlyOneWins", testConcurrentAppenders},
		{"IdempotentReappend", testIdempotentReappend},
		{"ReappendConflicts", testReappendConflicts},
		{"ReadAllPaging", testReadAllPaging},
		{"FollowerSeesEveryEventOnce", testFollower},
		{"LastPosition", testLastPosition},
		{"InvalidInputWritesNothing", testInvalidInput},
		{"CanceledContextWritesNothing", testCanceledContext},
		{"RebuildEqualsLiveProcessing", testRebuildEqualsLive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t).Store)
		})
	}
	backend := func(t *testing.T) Backend {
		t.Helper()
		b := newBackend(t)
		if features.Checkpoints && b.Checkpoints == nil {
			t.Fatal("Features.Checkpoints is declared but the backend has no Checkpoints")
		}
		if features.SQLProjections && b.DB == nil {
			t.Fatal("Features.SQLProjections is declared but the backend has no DB")
		}
		return b
	}
	if features.Checkpoints {
		t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, backend) })
	}
	if features.SQLProjections {
		t.Run("ProjectionsRebuildEqualsLive", func(t *testing.T) { testProjectionsRebuildEqualsLive(t, backend(t)) })
	}
}

// scale picks the full size for CI and a small one under -short.
func scale(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// occurredAt is truncated to the microsecond so every backend can store it exactly.
var occurredAt = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func newID(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new event id: %v", err)
	}
	return id.String()
}

// event returns a valid event with a fresh UUIDv7 id.
func event(t testing.TB, typ string) domain.EventData {
	t.Helper()
	return domain.EventData{
		ID:            newID(t),
		Type:          typ,
		SchemaVersion: 1,
		OccurredAt:    occurredAt,
		CorrelationID: "corr-" + typ,
		Payload:       json.RawMessage(`{"type":"` + typ + `"}`),
	}
}

func events(t testing.TB, n int) []domain.EventData {
	t.Helper()
	out := make([]domain.EventData, n)
	for i := range out {
		out[i] = event(t, fmt.Sprintf("Test%d", i))
	}
	return out
}

func mustAppend(t testing.TB, s domain.EventStore, stream string, expected domain.ExpectedVersion, evs ...domain.EventData) domain.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, evs...)
	if err != nil {
		t.Fatalf("Append(%q, %s, %d events): %v", stream, expected, len(evs), err)
	}
	return res
}

func mustReadStream(t testing.TB, s domain.EventStore, stream string, after int64) []domain.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(context.Background(), stream, after)
	if err != nil {
		t.Fatalf("ReadStream(%q, %d): %v", stream, after, err)
	}
	return evs
}

// readAll pages through the whole log and checks that positions strictly increase.
func readAll(t testing.TB, s domain.EventStore, batch int) []domain.RecordedEvent {
	t.Helper()
	var all []domain.RecordedEvent
	var after int64
	for {
		page, err := s.ReadAll(context.Background(), after, batch)
		if err != nil {
			t.Fatalf("ReadAll(%d, %d): %v", after, batch, err)
		}
		if len(page) > batch {
			t.Fatalf("ReadAll(%d, %d) returned %d events, more than the limit", after, batch, len(page))
		}
		for _, e := range page {
			if e.Position <= after {
				t.Fatalf("ReadAll: position %d after %d; positions must strictly increase", e.Position, after)
			}
			after = e.Position
		}
		all = append(all, page...)
		if len(page) < batch {
			return all
		}
	}
}

func mustLastPosition(t testing.TB, s domain.EventStore) int64 {
	t.Helper()
	p, err := s.LastPosition(context.Background())
	if err != nil {
		t.Fatalf("LastPosition: %v", err)
	}
	return p
}

// jsonEqual compares JSON values, not bytes: a backend may reformat what it stores.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	decode := func(raw []byte) any {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber() // keep large integers exact
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode payload %s: %v", raw, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

func assertSameEvent(t testing.TB, want domain.EventData, got domain.RecordedEvent) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.SchemaVersion != want.SchemaVersion ||
		got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID {
		t.Errorf("stored event differs:\n got  id=%s type=%s schema=%d corr=%q cause=%q\n want id=%s type=%s schema=%d corr=%q cause=%q",
			got.ID, got.Type, got.SchemaVersion, got.CorrelationID, got.CausationID,
			want.ID, want.Type, want.SchemaVersion, want.CorrelationID, want.CausationID)
	}
	if !got.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("event %s: OccurredAt = %s, want %s", want.ID, got.OccurredAt, want.OccurredAt)
	}
	if !jsonEqual(t, got.Payload, want.Payload) {
		t.Errorf("event %s: payload = %s, want %s", want.ID, got.Payload, want.Payload)
	}
	if got.RecordedAt.IsZero() {
		t.Errorf("event %s: RecordedAt is zero", want.ID)
	}
}

func testRoundTrip(t *testing.T, s domain.EventStore) {
	first := domain.EventData{
		ID:            newID(t),
		Type:          "SenderIdentified",
		SchemaVersion: 1,
		OccurredAt:    occurredAt,
		CorrelationID: newID(t),
		Payload: json.RawMessage(`{"identifier":"+5215512345678","channel":"whatsapp",` +
			`"nested":{"list":[1,2.5,"three",null,true]},"big":12345678901234567890,"text":"ñandú \u2603 \"quoted\""}`),
	}
	second := domain.EventData{
		ID:            newID(t),
		Type:          "ContactMatched",
		SchemaVersion: 3,
		OccurredAt:    occurredAt.Add(time.Microsecond),
		CorrelationID: first.CorrelationID,
		CausationID:   first.ID,
		Payload:       json.RawMessage(`{"contact_id":"42"}`),
	}
	third := domain.EventData{ // no correlation or causation: both are optional
		ID:            newID(t),
		Type:          "OperatorNote",
		SchemaVersion: 1,
		OccurredAt:    time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("UTC-5", -5*3600)),
		Payload:       json.RawMessage(`[]`),
	}
	want := []domain.EventData{first, second, third}

	res := mustAppend(t, s, "conversation-1", domain.NoStream, want...)
	if res.NextVersion != 3 || res.AlreadyStored {
		t.Errorf("AppendResult = %+v, want NextVersion 3 and AlreadyStored false", res)
	}
	if res.FirstPosition < 1 || res.LastPosition < res.FirstPosition+2 {
		t.Errorf("AppendResult positions %d..%d, want three increasing positions >= 1", res.FirstPosition, res.LastPosition)
	}

	for name, got := range map[string][]domain.RecordedEvent{
		"ReadStream": mustReadStream(t, s, "conversation-1", 0),
		"ReadAll":    readAll(t, s, 10),
	} {
		if len(got) != len(want) {
			t.Fatalf("%s returned %d events, want %d", name, len(got), len(want))
		}
		for i, e := range got {
			assertSameEvent(t, want[i], e)
			if e.StreamID != "conversation-1" || e.Version != int64(i+1) {
				t.Errorf("%s[%d]: stream %q version %d, want conversation-1 version %d", name, i, e.StreamID, e.Version, i+1)
			}
			if i > 0 && e.Position <= got[i-1].Position {
				t.Errorf("%s[%d]: position %d not after %d", name, i, e.Position, got[i-1].Position)
			}
		}
		if got[0].Position != res.FirstPosition || got[2].Position != res.LastPosition {
			t.Errorf("%s positions %d..%d, AppendResult said %d..%d", name, got[0].Position, got[2].Position, res.FirstPosition, res.LastPosition)
		}
		// RecordedAt comes from the backend's clock, which a test may have pinned; only
		// require that one append records one time.
		if !got[0].RecordedAt.Equal(got[2].RecordedAt) {
			t.Errorf("%s: RecordedAt differs within one append: %s and %s", name, got[0].RecordedAt, got[2].RecordedAt)
		}
	}
}

func testReadStream(t *testing.T, s domain.EventStore) {
	a := events(t, 3)
	mustAppend(t, s, "a", domain.NoStream, a[:2]...)
	mustAppend(t, s, "b", domain.NoStream, events(t, 2)...)
	mustAppend(t, s, "a", 2, a[2])

	if got := mustReadStream(t, s, "a", 1); len(got) != 2 || got[0].ID != a[1].ID || got[1].ID != a[2].ID {
		t.Errorf("ReadStream(a, after 1) = %v, want events at versions 2 and 3", ids(got))
	}
	if got := mustReadStream(t, s, "a", 3); len(got) != 0 {
		t.Errorf("ReadStream(a, after 3) = %v, want none", ids(got))
	}
	if got := mustReadStream(t, s, "no-such-stream", 0); len(got) != 0 {
		t.Errorf("ReadStream of an unknown stream = %v, want none and no error", ids(got))
	}
	if got := mustReadStream(t, s, "A", 0); len(got) != 0 {
		t.Errorf("ReadStream(A) = %v, want none: stream ids are case-sensitive", ids(got))
	}
}

func ids(evs []domain.RecordedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s@v%d/p%d", e.ID, e.Version, e.Position)
	}
	return out
}

// wantWrongVersion checks the sentinel, the typed detail, and that nothing was written.
func wantWrongVersion(t *testing.T, err error, stream string, expected domain.ExpectedVersion, actual int64) {
	t.Helper()
	if !errors.Is(err, domain.ErrWrongExpectedVersion) {
		t.Fatalf("append to %q expecting %s: err = %v, want ErrWrongExpectedVersion", stream, expected, err)
	}
	var wrong *domain.WrongExpectedVersionError
	if !errors.As(err, &wrong) {
		t.Fatalf("err = %v (%T), want it to wrap *domain.WrongExpectedVersionError", err, err)
	}
	if wrong.Stream != stream || wrong.Expected != expected || wrong.Actual != actual {
		t.Errorf("WrongExpectedVersionError = %+v, want stream %q expected %s actual %d", *wrong, stream, expected, actual)
	}
}

func testExpectedVersion(t *testing.T, s domain.EventStore) {
	ctx := context.Background()
	const stream = "claims"

	if res := mustAppend(t, s, stream, domain.NoStream, event(t, "Claimed")); res.NextVersion != 1 {
		t.Errorf("NoStream on a new stream: NextVersion %d, want 1", res.NextVersion)
	}
	_, err := s.Append(ctx, stream, domain.NoStream, event(t, "Claimed"))
	wantWrongVersion(t, err, stream, domain.NoStream, 1)

	if res := mustAppend(t, s, stream, 1, event(t, "Next")); res.NextVersion != 2 {
		t.Errorf("exact version 1: NextVersion %d, want 2", res.NextVersion)
	}
	_, err = s.Append(ctx, stream, 1, event(t, "Stale"))
	wantWrongVersion(t, err, stream, 1, 2)
	_, err = s.Append(ctx, stream, 5, event(t, "Ahead"))
	wantWrongVersion(t, err, stream, 5, 2)
	_, err = s.Append(ctx, "never-written", 1, event(t, "Missing"))
	wantWrongVersion(t, err, "never-written", 1, 0)

	if res := mustAppend(t, s, stream, domain.AnyVersion, events(t, 2)...); res.NextVersion != 4 {
		t.Errorf("AnyVersion on an existing stream: NextVersion %d, want 4", res.NextVersion)
	}
	if res := mustAppend(t, s, "fresh", domain.AnyVersion, event(t, "First")); res.NextVersion != 1 {
		t.Errorf("AnyVersion on a new stream: NextVersion %d, want 1", res.NextVersion)
	}

	if got := mustReadStream(t, s, stream, 0); len(got) != 4 {
		t.Errorf("stream holds %d events after the rejected appends, want 4", len(got))
	}
	if got := mustReadStream(t, s, "never-written", 0); len(got) != 0 {
		t.Errorf("rejected append created the stream: %v", ids(got))
	}
}

// testConcurrentAppenders is the claim primitive: many appenders race on one expected
// version and the log must admit exactly one of them per round.
func testConcurrentAppenders(t *testing.T, s domain.EventStore) {
	n := scale(20, 8)
	rounds := scale(5, 2)
	const stream = "contended"
	for round := range rounds {
		expected := domain.ExpectedVersion(round) // NoStream in the first round
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			ev := event(t, fmt.Sprintf("Attempt%d", i))
			wg.Go(func() {
				<-start
				_, errs[i] = s.Append(context.Background(), stream, expected, ev)
			})
		}
		close(start)
		wg.Wait()

		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, domain.ErrWrongExpectedVersion):
				var wrong *domain.WrongExpectedVersionError
				if errors.As(err, &wrong) && wrong.Actual != int64(round)+1 {
					t.Errorf("round %d appender %d: Actual = %d, want %d", round, i, wrong.Actual, round+1)
				}
			default:
				t.Errorf("round %d appender %d: %v, want success or ErrWrongExpectedVersion", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d expecting %s: %d of %d appenders won, want exactly 1", round, expected, wins, n)
		}
	}
	if got := mustReadStream(t, s, stream, 0); len(got) != rounds {
		t.Errorf("stream holds %d events, want %d (one per round)", len(got), rounds)
	}
}

func testIdempotentReappend(t *testing.T, s domain.EventStore) {
	ctx := context.Background()
	batch := events(t, 2)
	orig := mustAppend(t, s, "inbound", domain.NoStream, batch...)
	mustAppend(t, s, "other", domain.NoStream, events(t, 3)...)
	mustAppend(t, s, "inbound", 2, event(t, "Later")) // the stream moves on
	total := len(readAll(t, s, 100))

	for _, expected := range []domain.ExpectedVersion{domain.NoStream, domain.AnyVersion, 2, 3} {
		res, err := s.Append(ctx, "inbound", expected, batch...)
		if err != nil {
			t.Fatalf("re-append expecting %s: %v, want AlreadyStored and no error", expected, err)
		}
		want := orig
		want.AlreadyStored = true
		if res != want {
			t.Errorf("re-append expecting %s: %+v, want the original result %+v with AlreadyStored", expected, res, want)
		}
	}
	// A single-event retry, the common case for an inbound-message claim.
	one := event(t, "Claimed")
	first := mustAppend(t, s, "claim", domain.NoStream, one)
	if res := mustAppend(t, s, "claim", domain.NoStream, one); !res.AlreadyStored || res.LastPosition != first.LastPosition {
		t.Errorf("single-event re-append = %+v, want AlreadyStored at position %d", res, first.LastPosition)
	}

	if got := len(readAll(t, s, 100)); got != total+1 {
		t.Errorf("log holds %d events after re-appends, want %d: a re-append must add nothing", got, total+1)
	}
}

func testReappendConflicts(t *testing.T, s domain.EventStore) {
	ctx := context.Background()
	batch := events(t, 3)
	mustAppend(t, s, "s", domain.NoStream, batch...)
	before := readAll(t, s, 100)

	cases := []struct {
		name     string
		stream   string
		expected domain.ExpectedVersion
		evs      []domain.EventData
	}{
		{"stored and new ids mixed", "s", domain.AnyVersion, []domain.EventData{batch[0], event(t, "New")}},
		{"stored and new ids mixed, stale version", "s", domain.NoStream, []domain.EventData{batch[2], event(t, "New")}},
		{"new id first", "s", 3, []domain.EventData{event(t, "New"), batch[0]}},
		{"id stored in another stream", "elsewhere", domain.NoStream, []domain.EventData{batch[1]}},
		{"id stored in another stream, with new ids", "elsewhere", domain.AnyVersion, []domain.EventData{event(t, "New"), batch[1]}},
		{"stored ids out of order", "s", domain.AnyVersion, []domain.EventData{batch[1], batch[0]}},
	}
	for _, tc := range cases {
		res, err := s.Append(ctx, tc.stream, tc.expected, tc.evs...)
		if err == nil {
			t.Errorf("%s: Append succeeded with %+v, want an error", tc.name, res)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if after := readAll(t, s, 100); len(after) != len(before) {
		t.Errorf("log holds %d events after rejected re-appends, want %d", len(after), len(before))
	}
}

func testReadAllPaging(t *testing.T, s domain.EventStore) {
	total := scale(300, 60)
	var want []string
	for i := 0; len(want) < total; i++ {
		evs := events(t, 1+i%4)
		mustAppend(t, s, fmt.Sprintf("stream-%d", i%7), domain.AnyVersion, evs...)
		for _, e := range evs {
			want = append(want, e.ID)
		}
	}
	for _, batch := range []int{1, 7, 100, total, total + 1} {
		got := readAll(t, s, batch)
		if len(got) != len(want) {
			t.Fatalf("paging by %d: read %d events, want %d", batch, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i] {
				t.Fatalf("paging by %d: event %d is %s, want %s (append order)", batch, i, got[i].ID, want[i])
			}
		}
	}
	// Paging from the middle continues exactly where the previous page ended.
	all := readAll(t, s, total)
	mid := all[len(all)/2].Position
	page, err := s.ReadAll(context.Background(), mid, 5)
	if err != nil {
		t.Fatalf("ReadAll(%d, 5): %v", mid, err)
	}
	if len(page) != 5 || page[0].ID != all[len(all)/2+1].ID {
		t.Errorf("ReadAll(after %d, 5) = %v, want the 5 events following it", mid, ids(page))
	}
	last := all[len(all)-1].Position
	if page, err := s.ReadAll(context.Background(), last, 10); err != nil || len(page) != 0 {
		t.Errorf("ReadAll(after the last position) = %v, %v; want none and no error", ids(page), err)
	}
}

// testFollower is the property projections depend on: a follower that only remembers the
// last position it saw must never skip an event that commits after a later position was
// already visible. A backend that hands out positions before taking a commit-order lock
// fails this only sometimes, so the sizes are large enough to make that likely.
func testFollower(t *testing.T, s domain.EventStore) {
	writers := scale(4, 3)
	appendsPerWriter := scale(150, 25)

	var (
		mu       sync.Mutex
		appended = map[string]bool{}
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appendsPerWriter {
				evs := events(t, 1+i%3)
				stream := fmt.Sprintf("writer-%d-%d", w, i%5)
				if i%4 == 0 {
					stream = "shared" // contended stream, ordered only by the log
				}
				if _, err := s.Append(context.Background(), stream, domain.AnyVersion, evs...); err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				mu.Lock()
				for _, e := range evs {
					appended[e.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	// Writers must not outlive the test (and its store) if the follower fails early.
	defer func() { <-done }()

	seen := map[string]int64{}
	var after int64
	follow := func() int {
		page, err := s.ReadAll(context.Background(), after, 50)
		if err != nil {
			t.Fatalf("follower ReadAll(%d): %v", after, err)
		}
		for _, e := range page {
			if e.Position <= after {
				t.Fatalf("follower: position %d after %d", e.Position, after)
			}
			if prev, dup := seen[e.ID]; dup {
				t.Fatalf("follower saw event %s twice, at positions %d and %d", e.ID, prev, e.Position)
			}
			seen[e.ID] = e.Position
			after = e.Position
		}
		return len(page)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if follow() == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	for follow() > 0 { // drain what committed after the last poll
	}

	if t.Failed() {
		return
	}
	var missed []string
	for id := range appended {
		if _, ok := seen[id]; !ok {
			missed = append(missed, id)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("follower missed %d of %d events (e.g. %s): a writer committed below a position the follower had already passed",
			len(missed), len(appended), missed[0])
	}
	if len(seen) != len(appended) {
		t.Fatalf("follower saw %d events, writers appended %d", len(seen), len(appended))
	}
	if lp := mustLastPosition(t, s); lp != after {
		t.Errorf("LastPosition = %d, follower ended at %d", lp, after)
	}
}

func testLastPosition(t *testing.T, s domain.EventStore) {
	if p := mustLastPosition(t, s); p != 0 {
		t.Fatalf("LastPosition of an empty log = %d, want 0", p)
	}
	res := mustAppend(t, s, "a", domain.NoStream, events(t, 3)...)
	if p := mustLastPosition(t, s); p != res.LastPosition {
		t.Errorf("LastPosition = %d, want %d from the append", p, res.LastPosition)
	}
	res = mustAppend(t, s, "b", domain.NoStream, event(t, "One"))
	if p := mustLastPosition(t, s); p != res.LastPosition {
		t.Errorf("LastPosition = %d, want %d from the append", p, res.LastPosition)
	}
	if _, err := s.Append(context.Background(), "b", domain.NoStream, event(t, "Rejected")); err == nil {
		t.Fatal("stale append succeeded")
	}
	if p := mustLastPosition(t, s); p != res.LastPosition {
		t.Errorf("LastPosition after a rejected append = %d, want %d", p, res.LastPosition)
	}
	all := readAll(t, s, 100)
	if last := all[len(all)-1].Position; last != res.LastPosition {
		t.Errorf("ReadAll ends at position %d, LastPosition is %d", last, res.LastPosition)
	}
}

func testInvalidInput(t *testing.T, s domain.EventStore) {
	ctx := context.Background()
	mustAppend(t, s, "existing", domain.NoStream, event(t, "Seed"))
	before := mustLastPosition(t, s)

	with := func(change func(*domain.EventData)) []domain.EventData {
		bad := event(t, "Bad")
		change(&bad)
		// A valid event first: a bad event anywhere must reject the whole batch.
		return []domain.EventData{event(t, "Good"), bad}
	}
	dup := event(t, "Dup")
	cases := []struct {
		name     string
		stream   string
		expected domain.ExpectedVersion
		evs      []domain.EventData
	}{
		{"empty stream id", "", domain.AnyVersion, events(t, 1)},
		{"no events", "s", domain.AnyVersion, nil},
		{"expected version below AnyVersion", "s", -2, events(t, 1)},
		{"empty event id", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.ID = "" })},
		{"event id repeated in the batch", "s", domain.AnyVersion, []domain.EventData{dup, event(t, "Other"), dup}},
		{"empty type", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.Type = "" })},
		{"schema version 0", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.SchemaVersion = 0 })},
		{"negative schema version", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.SchemaVersion = -1 })},
		{"zero occurred-at", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.OccurredAt = time.Time{} })},
		{"payload not JSON", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.Payload = json.RawMessage(`{"a":`) })},
		{"empty payload", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.Payload = nil })},
		{"two JSON values", "s", domain.AnyVersion, with(func(e *domain.EventData) { e.Payload = json.RawMessage(`{} {}`) })},
		{"invalid on an existing stream", "existing", 1, with(func(e *domain.EventData) { e.Type = "" })},
	}
	for _, tc := range cases {
		res, err := s.Append(ctx, tc.stream, tc.expected, tc.evs...)
		if err == nil {
			t.Errorf("%s: Append succeeded with %+v, want an error", tc.name, res)
			continue
		}
		if errors.Is(err, domain.ErrWrongExpectedVersion) {
			t.Errorf("%s: err = %v; invalid input is not a version conflict", tc.name, err)
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if after := mustLastPosition(t, s); after != before {
		t.Errorf("LastPosition moved from %d to %d: invalid appends wrote events", before, after)
	}
	if got := readAll(t, s, 100); len(got) != 1 {
		t.Errorf("log holds %d events, want only the seed", len(got))
	}
}

func testCanceledContext(t *testing.T, s domain.EventStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "s", domain.NoStream, event(t, "Canceled")); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context: err = %v, want context.Canceled", err)
	}
	if p := mustLastPosition(t, s); p != 0 {
		t.Errorf("LastPosition = %d after a canceled append, want 0", p)
	}
}
