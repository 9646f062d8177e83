package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// Reads answered from the remembered tail of the log (tail.go) return what a query of
// the file returns, whoever appended: followers reading after what they last saw, at any
// page size, while this store and a second process's store on the same file append.
func TestReadsFromTheRememberedTailAreWhatTheFileHolds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	open := func() *sqlite.Store {
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	serve, other := open(), open()
	rng := rand.New(rand.NewPCG(1, 2))
	followers := make([]int64, 5) // each follower's last position seen
	appended := 0
	for step := 0; step < 3000; step++ {
		switch r := rng.IntN(10); {
		case r < 3:
			st := serve
			if r == 0 {
				st = other // another process: its appends reach serve's reads only through the file
			}
			n := 1 + rng.IntN(4)
			events := make([]domain.EventData, n)
			for i := range events {
				appended++
				events[i] = newEvent(t, "MessageReceived", fmt.Sprintf(`{"n":%d}`, appended))
			}
			if _, err := st.Append(ctx, fmt.Sprintf("s-%d", rng.IntN(50)), domain.AnyVersion, events...); err != nil {
				t.Fatal(err)
			}
		default:
			f := rng.IntN(len(followers))
			after := followers[f]
			switch rng.IntN(20) {
			case 0:
				after = int64(rng.IntN(appended + 1)) // a rebuild, or a follower far behind
			case 1, 2:
				after = int64(max(0, appended-rng.IntN(8))) // a reader ahead of every follower
			}
			limit := 1 + rng.IntN(40)
			got, err := serve.ReadAll(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := queryAll(t, serve, after, limit)
			if len(got) != len(want) {
				t.Fatalf("step %d: ReadAll(%d, %d) returned %d events, the file holds %d", step, after, limit, len(got), len(want))
			}
			for i := range got {
				if !sameEvent(got[i], want[i]) {
					t.Fatalf("step %d: ReadAll(%d, %d)[%d] = %+v, the file holds %+v", step, after, limit, i, got[i], want[i])
				}
			}
			if len(got) > 0 {
				followers[f] = got[len(got)-1].Position
			}
		}
	}
}

// queryAll reads the file itself, past any memory of the store.
func queryAll(t testing.TB, s *sqlite.Store, after int64, limit int) []domain.RecordedEvent {
	t.Helper()
	rows, err := s.DB().Query(`SELECT position, event_id, stream_id, version, type, schema_version, occurred_at, recorded_at,
		COALESCE(correlation_id, ''), COALESCE(causation_id, ''), payload FROM events WHERE position > ? ORDER BY position LIMIT ?`, after, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []domain.RecordedEvent
	for rows.Next() {
		var e domain.RecordedEvent
		var payload []byte
		var occurred, recorded string
		if err := rows.Scan(&e.Position, &e.ID, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion, &occurred, &recorded,
			&e.CorrelationID, &e.CausationID, &payload); err != nil {
			t.Fatal(err)
		}
		e.Payload = payload
		if e.OccurredAt, err = time.Parse(time.RFC3339Nano, occurred); err != nil {
			t.Fatal(err)
		}
		if e.RecordedAt, err = time.Parse(time.RFC3339Nano, recorded); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameEvent compares every field a read returns, times as instants.
func sameEvent(a, b domain.RecordedEvent) bool {
	return a.Position == b.Position && a.ID == b.ID && a.StreamID == b.StreamID && a.Version == b.Version &&
		a.Type == b.Type && a.SchemaVersion == b.SchemaVersion && a.OccurredAt.Equal(b.OccurredAt) &&
		a.RecordedAt.Equal(b.RecordedAt) && a.CorrelationID == b.CorrelationID && a.CausationID == b.CausationID &&
		string(a.Payload) == string(b.Payload)
}

// Followers that have caught up are answered from memory after this store's own
// commits, of events or of writes alone: the writer puts what it committed in the tail,
// and the file's write count says nothing else was committed. A commit of another store on the file sends the next
// read to the file, which finds it.
func TestCaughtUpFollowersReadTheStoresOwnCommitsFromMemory(t *testing.T) {
	ctx := context.Background()
	serve, other := openTwice(t)
	reads := func(answered string) float64 {
		t.Helper()
		memory, file := memoryAndFile(t, serve, "switchboard_store_read_all_total", "answered")
		if answered == "memory" {
			return memory
		}
		return file
	}
	var after int64
	follow := func(want int) []domain.RecordedEvent {
		t.Helper()
		got, err := serve.ReadAll(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Fatalf("ReadAll(%d, 100) returned %d events, want %d", after, len(got), want)
		}
		if len(got) > 0 {
			after = got[len(got)-1].Position
		}
		return got
	}
	follow(0) // the first read holds the run
	for i := range 50 {
		if _, err := serve.Append(ctx, fmt.Sprintf("s-%d", i%7), domain.AnyVersion, newEvent(t, "MessageReceived", `{}`), newEvent(t, "SenderIdentified", `{}`)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			// A commit of writes alone (a projection's batch) stores no event.
			if err := serve.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (name, position) VALUES ('projection', ?)
					ON CONFLICT (name) DO UPDATE SET position = excluded.position`, i)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		got := follow(2)
		want := queryAll(t, serve, got[0].Position-1, 2)
		for j := range got {
			if !sameEvent(got[j], want[j]) {
				t.Fatalf("append %d: read %+v from memory, the file holds %+v", i, got[j], want[j])
			}
		}
		follow(0)
	}
	if file, memory := reads("file"), reads("memory"); file != 1 || memory != 100 {
		t.Fatalf("ReadAll asked the file %v times and memory %v times over 50 appends, want 1 and 100", file, memory)
	}
	if _, err := other.Append(ctx, "from-another-process", domain.NoStream, newEvent(t, "MessageReceived", `{}`)); err != nil {
		t.Fatal(err)
	}
	got := follow(1)
	if got[0].StreamID != "from-another-process" {
		t.Fatalf("read %s after another store's commit, want its event", got[0].StreamID)
	}
	if file := reads("file"); file != 2 {
		t.Fatalf("ReadAll asked the file %v times after another store committed, want 2", file)
	}
	// The file read found every commit through the other store's: serve's next own
	// commit joins the run, and memory answers again.
	if _, err := serve.Append(ctx, "s-0", domain.AnyVersion, newEvent(t, "MessageReceived", `{}`)); err != nil {
		t.Fatal(err)
	}
	follow(1)
	follow(0)
	if file := reads("file"); file != 2 {
		t.Fatalf("ReadAll asked the file %v times after serve's next commit, want still 2", file)
	}
}

// Followers reading while two stores on one file append at once each see every event,
// once, in position order, and, once the appends are over, all of them: an answer from
// memory never skips another store's commit, nor holds it back past the next read.
func TestFollowersMissNothingWhileTwoStoresAppend(t *testing.T) {
	ctx := context.Background()
	serve, other := openTwice(t)
	const appenders, perAppender = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, appenders+1)
	for a := range appenders + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := serve
			if a == appenders {
				st = other
			}
			for i := range perAppender {
				events := make([]domain.EventData, 1+i%3)
				for j := range events {
					events[j] = newEvent(t, "MessageReceived", fmt.Sprintf(`{"a":%d,"i":%d,"j":%d}`, a, i, j))
				}
				if _, err := st.Append(ctx, fmt.Sprintf("s-%d-%d", a, i%5), domain.AnyVersion, events...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	appending := make(chan struct{})
	go func() { wg.Wait(); close(appending) }()
	const followers = 3
	seen := make([][]domain.RecordedEvent, followers)
	var fg sync.WaitGroup
	for f := range followers {
		fg.Add(1)
		go func() {
			defer fg.Done()
			rng := rand.New(rand.NewPCG(uint64(f), 7))
			var after int64
			read := func() int {
				got, err := serve.ReadAll(ctx, after, 1+rng.IntN(20))
				if err != nil {
					errs <- err
					return 0
				}
				seen[f] = append(seen[f], got...)
				if len(got) > 0 {
					after = got[len(got)-1].Position
				}
				return len(got)
			}
			for {
				select {
				case <-appending:
					// Every append has returned: reads now find every event.
					for read() > 0 {
					}
					return
				default:
					read()
				}
			}
		}()
	}
	fg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := queryAll(t, serve, 0, 1<<30)
	for f, got := range seen {
		if len(got) != len(want) {
			t.Fatalf("follower %d read %d events, the file holds %d", f, len(got), len(want))
		}
		for i := range got {
			if !sameEvent(got[i], want[i]) {
				t.Fatalf("follower %d's event %d is %+v, the file holds %+v", f, i, got[i], want[i])
			}
		}
	}
}

// A read of the file that found everything vouches only for the commits that had ended
// when it looked: the count it loaded may have been raised by another store's
// transaction still under way, whose events the read could not see. After that
// transaction commits, the next read must find them, though this store commits nothing.
func TestAReadDuringAnotherStoresTransactionDoesNotVouchForIt(t *testing.T) {
	ctx := context.Background()
	serve, other := openTwice(t)
	if got, err := serve.ReadAll(ctx, 0, 100); err != nil || len(got) != 0 {
		t.Fatalf("ReadAll of an empty log = %d events, %v", len(got), err)
	}
	block := func(started chan<- struct{}, release <-chan struct{}) func(context.Context, *sql.Tx) error {
		return func(context.Context, *sql.Tx) error {
			close(started)
			<-release
			return nil
		}
	}
	// The other store's writer is busy with a first transaction while an append and a
	// write queue behind it; they then share its next transaction, which the write holds
	// open after the append's insert.
	firstStarted, releaseFirst := make(chan struct{}), make(chan struct{})
	done := make(chan error, 3)
	go func() { done <- other.Write(ctx, block(firstStarted, releaseFirst)) }()
	<-firstStarted
	go func() {
		_, err := other.Append(ctx, "from-another-process", domain.NoStream, newEvent(t, "MessageReceived", `{}`))
		done <- err
	}()
	waitWaiting(t, other, 1)
	secondStarted, releaseSecond := make(chan struct{}), make(chan struct{})
	go func() { done <- other.Write(ctx, block(secondStarted, releaseSecond)) }()
	waitWaiting(t, other, 2)
	close(releaseFirst)
	<-secondStarted
	// The append's event is inserted, not committed: a read sees nothing yet.
	if got, err := serve.ReadAll(ctx, 0, 100); err != nil || len(got) != 0 {
		t.Fatalf("ReadAll during the other store's transaction = %d events, %v; want none", len(got), err)
	}
	close(releaseSecond)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, err := serve.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].StreamID != "from-another-process" {
		t.Fatalf("ReadAll after the other store committed = %d events, want its one", len(got))
	}
}
