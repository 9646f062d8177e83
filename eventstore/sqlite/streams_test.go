package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// readEventsFrom is what ReadStream returned, by where: memory and file.
func readEventsFrom(t *testing.T, s *sqlite.Store) (memory, file float64) {
	t.Helper()
	return memoryAndFile(t, s, "switchboard_store_stream_read_events_total", "from")
}

// memoryAndFile reads a counter family of the store split by label into "memory" and
// "file".
func memoryAndFile(t *testing.T, s *sqlite.Store, family, label string) (memory, file float64) {
	t.Helper()
	for _, m := range metricFamily(t, s, family).GetMetric() {
		for _, l := range m.GetLabel() {
			switch {
			case l.GetName() == label && l.GetValue() == "memory":
				memory = m.GetCounter().GetValue()
			case l.GetName() == label && l.GetValue() == "file":
				file = m.GetCounter().GetValue()
			}
		}
	}
	return memory, file
}

// openTwice opens two stores on one file, as two processes would.
func openTwice(t *testing.T) (s, other *sqlite.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, other = mustOpenAt(t, path), mustOpenAt(t, path)
	return s, other
}

func mustOpenAt(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// metricFamily gathers the store's metrics and returns the family named, or nil.
func metricFamily(t *testing.T, s *sqlite.Store, name string) *dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// mustReadAsStored checks that ReadStream returns exactly what the file holds.
func mustReadAsStored(t *testing.T, s *sqlite.Store, stream string, after int64, wantVersions int) {
	t.Helper()
	ctx := context.Background()
	got, err := s.ReadStream(ctx, stream, after)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sqlite.ReadStreamFromFile(ctx, s, stream, after)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != wantVersions {
		t.Fatalf("the file holds %d events of %s after version %d, the test expects %d", len(want), stream, after, wantVersions)
	}
	if len(got) != len(want) {
		t.Fatalf("ReadStream(%s, %d) = %d events, the file holds %d", stream, after, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("ReadStream(%s, %d)[%d] =\n%+v\nthe file holds\n%+v", stream, after, i, got[i], want[i])
		}
	}
}

func TestReadStreamAnswersFromWhatTheStoreAppendedAndRead(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	// A time with a monotonic reading, away from UTC, with nanoseconds: what a read
	// parses back from the row's text must be what memory holds.
	zone := time.FixedZone("UTC-7", -7*3600)
	first := newEvent(t, "MessageReceived", `{"n":1}`)
	first.OccurredAt = time.Now().In(zone)
	first.CorrelationID = ""
	second := newEvent(t, "SenderIdentified", `{"n":2}`)
	second.CausationID = first.ID
	payload := []byte(`{"n":3}`)
	third := newEvent(t, "ContactResolved", "")
	third.Payload = payload
	if _, err := s.Append(ctx, "m", domain.NoStream, first, second, third); err != nil {
		t.Fatal(err)
	}
	copy(payload, `{"n":9}`) // the caller's bytes change after the append; the log's do not

	mustReadAsStored(t, s, "m", 0, 3)
	mustReadAsStored(t, s, "m", 2, 1)
	mustReadAsStored(t, s, "m", 3, 0)
	mustReadAsStored(t, s, "m", 7, 0)
	if memory, file := readEventsFrom(t, s); memory != 4 || file != 0 {
		t.Fatalf("events read from memory %v, from the file %v; want 4 and 0: the append's events are kept", memory, file)
	}

	// A stale version fails and changes nothing; a retry of the first append is
	// recognised and adds nothing.
	if _, err := s.Append(ctx, "m", 1, newEvent(t, "ContactResolved", `{}`)); err == nil {
		t.Fatal("an append at a stale version succeeded")
	}
	if res, err := s.Append(ctx, "m", domain.NoStream, first, second, third); err != nil || !res.AlreadyStored {
		t.Fatalf("retry: %+v, %v; want it recognised as already stored", res, err)
	}
	mustReadAsStored(t, s, "m", 0, 3)

	// Appends at the version read go on the run; AnyVersion too.
	if _, err := s.Append(ctx, "m", 3, newEvent(t, "MessagePublished", `{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "m", domain.AnyVersion, newEvent(t, "MessagePublished", `{"n":5}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 5)
	mustReadAsStored(t, s, "m", 1, 4)
	if memory, file := readEventsFrom(t, s); memory != 4+3+5+4 || file != 0 {
		t.Fatalf("events read from memory %v, from the file %v; want %d and 0", memory, file, 4+3+5+4)
	}

	// A stream appended through AppendNaming is kept under the name it got.
	if _, err := s.AppendNaming(ctx, func(context.Context, *sql.Tx) (string, error) { return "named", nil },
		domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "named", 0, 1)
}

// Another process may append to the file (switchboard link or reconcile beside serve): a
// read must see what it appended, though this store holds the stream in memory.
func TestReadStreamSeesWhatAnotherProcessAppended(t *testing.T) {
	ctx := context.Background()
	s, other := openTwice(t)

	if _, err := s.Append(ctx, "m", domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`), newEvent(t, "SenderIdentified", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 2)
	if _, err := other.Append(ctx, "m", 2, newEvent(t, "PublicationCancelled", `{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	// This store knows versions 1 and 2 and so does not read the version before it
	// inserts: the insert itself must find the stream moved.
	_, err := s.Append(ctx, "m", 2, newEvent(t, "MessagePublished", `{"n":3}`))
	var wrong *domain.WrongExpectedVersionError
	if !errors.As(err, &wrong) || wrong.Expected != 2 || wrong.Actual != 3 {
		t.Fatalf("append at version 2 after another store's append: %v; want a wrong expected version, 2 against 3", err)
	}
	mustReadAsStored(t, s, "m", 0, 3)
	mustReadAsStored(t, s, "m", 2, 1)
	// The other store never read the stream whole: its append to it is not taken for
	// a run, which would lack versions 1 and 2.
	mustReadAsStored(t, other, "m", 0, 3)
	// This store's transaction after the other's commit let its runs go: the stream was
	// read from the file whole once, and from memory after.
	if memory, file := readEventsFrom(t, s); memory != 2+1 || file != 3 {
		t.Fatalf("events read from memory %v, from the file %v; want 3 and 3", memory, file)
	}
	if _, err := s.Append(ctx, "m", 3, newEvent(t, "MessagePublished", `{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 4)
}

// The runs stay within their bound: streams read long ago are read from the file again,
// and right.
func TestReadStreamRunsAreBounded(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	const perStream = 256
	// One more than fill both generations: the first is let go.
	streams := sqlite.MaxRunEvents/perStream + 1
	for i := range streams {
		events := make([]domain.EventData, perStream)
		for j := range events {
			events[j] = newEvent(t, "E", fmt.Sprintf(`{"i":%d,"j":%d}`, i, j))
		}
		if _, err := s.Append(ctx, fmt.Sprintf("s%d", i), domain.NoStream, events...); err != nil {
			t.Fatal(err)
		}
	}
	mustReadAsStored(t, s, "s0", 0, perStream)
	mustReadAsStored(t, s, fmt.Sprintf("s%d", streams-1), 0, perStream)
	if memory, file := readEventsFrom(t, s); memory != perStream || file != perStream {
		t.Fatalf("events read from memory %v, from the file %v; want the newest stream from memory and the oldest from the file, %d each",
			memory, file, perStream)
	}
	// Read once, the oldest stream is held again.
	mustReadAsStored(t, s, "s0", 0, perStream)
	if memory, _ := readEventsFrom(t, s); memory != 2*perStream {
		t.Fatalf("events read from memory %v; want %d once the oldest stream was read", memory, 2*perStream)
	}
}

// Appends and reads of the same streams at once (run with -race): every read returns
// what the file holds.
func TestReadStreamWhileAppending(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	const streams, appends = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("s%d", i)
			for v := range appends {
				if _, err := s.Append(ctx, stream, domain.ExpectedVersion(v), newEvent(t, "E", fmt.Sprintf(`{"v":%d}`, v))); err != nil {
					errs <- err
					return
				}
				got, err := s.ReadStream(ctx, stream, int64(v/2))
				if err != nil {
					errs <- err
					return
				}
				want, err := sqlite.ReadStreamFromFile(ctx, s, stream, int64(v/2))
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, want) {
					errs <- fmt.Errorf("stream %s after version %d: read %d events unlike the file's %d", stream, v/2, len(got), len(want))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Two stores append to the same streams, one of them following the log through ReadAll
// as serve does, while it reads the streams (run with -race). Every read holds what the
// file held when it began, another store's appends included (a reader right after
// switchboard reconcile or link must see them), and is a prefix of what the file holds
// afterwards.
func TestReadStreamWhileAnotherProcessAppends(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, other := openTwice(t)
	const streams, appends = 4, 40
	var own [streams]atomic.Int64 // the last version s appended to each stream
	errs := make(chan error, 8)
	var writers, follower sync.WaitGroup
	appender := func(store *sqlite.Store, mine bool) {
		defer writers.Done()
		for n := 0; n < appends; n++ {
			i := n % streams
			stream := fmt.Sprintf("s%d", i)
			for {
				got, err := store.ReadStream(ctx, stream, 0)
				if err != nil {
					errs <- err
					return
				}
				res, err := store.Append(ctx, stream, domain.ExpectedVersion(len(got)), newEvent(t, "E", `{}`))
				if errors.Is(err, domain.ErrWrongExpectedVersion) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if mine {
					own[i].Store(res.NextVersion)
				}
				break
			}
		}
	}
	writers.Add(2)
	go appender(s, true)
	go appender(other, false)
	follower.Add(1)
	go func() {
		defer follower.Done()
		after := int64(0)
		for ctx.Err() == nil {
			page, err := s.ReadAll(ctx, after, 3)
			if err != nil {
				if ctx.Err() == nil {
					errs <- err
				}
				return
			}
			if len(page) > 0 {
				after = page[len(page)-1].Position
			}
		}
	}()
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	for reads := 0; ; reads++ {
		select {
		case <-done:
			cancel()
			follower.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			return
		default:
		}
		i := reads % streams
		stream := fmt.Sprintf("s%d", i)
		mustHave := own[i].Load()
		already, err := sqlite.ReadStreamFromFile(context.Background(), s, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		mustHave = max(mustHave, int64(len(already)))
		got, err := s.ReadStream(context.Background(), stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := sqlite.ReadStreamFromFile(context.Background(), s, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) < mustHave || len(got) > len(stored) || (len(got) > 0 && !reflect.DeepEqual(got, stored[:len(got)])) {
			t.Fatalf("read %d of %s: %d events; want at least the %d stored when it began, and a prefix of the file's %d after it",
				reads, stream, len(got), mustHave, len(stored))
		}
	}
}

// streamReads is the store's count of ReadStream calls answered from memory alone and
// of those that asked the file.
func streamReads(t *testing.T, s *sqlite.Store) (memory, file float64) {
	t.Helper()
	return memoryAndFile(t, s, "switchboard_store_stream_reads_total", "answered")
}

// A read is answered from memory alone only while no other store has committed to the
// file: the file's write count tells this store that one did, before any follower has
// read what it appended, and before this store writes again.
func TestReadStreamAsksTheFileOnceAnotherStoreCommitted(t *testing.T) {
	ctx := context.Background()
	s, other := openTwice(t)
	if _, err := s.Append(ctx, "m", domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`), newEvent(t, "SenderIdentified", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 2)
	if memory, file := streamReads(t, s); memory != 1 || file != 0 {
		t.Fatalf("reads answered from memory %v, from the file %v; want 1 and 0: the store appended the stream whole", memory, file)
	}

	if _, err := other.Append(ctx, "m", 2, newEvent(t, "PublicationCancelled", `{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 3)
	mustReadAsStored(t, s, "m", 0, 3) // still the file: this store has not written since
	if memory, file := streamReads(t, s); memory != 1 || file != 2 {
		t.Fatalf("reads answered from memory %v, from the file %v; want 1 and 2", memory, file)
	}

	// This store's next transaction, to any stream, finds the other's commit, lets its
	// runs go, and from then on its reads are whole in memory again.
	if _, err := s.Append(ctx, "x", domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 3)
	mustReadAsStored(t, s, "m", 1, 2)
	if memory, file := streamReads(t, s); memory != 2 || file != 3 {
		t.Fatalf("reads answered from memory %v, from the file %v; want 2 and 3", memory, file)
	}

	// A write that appends nothing (a projection's batch) from the other store counts too.
	if err := other.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS t (x)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 3)
	if _, file := streamReads(t, s); file != 4 {
		t.Fatalf("reads from the file %v after the other store's write; want 4", file)
	}
}

// A follower learns of an event from ReadAll and then reads its stream: the read must
// hold the event, though the writer makes its commit visible to other connections
// before the event is in the stream's run.
func TestReadStreamHoldsWhatReadAllReturned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := MustOpenStore(t)
	const appends = 300
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for v := 0; v < appends; v++ {
			expected := domain.ExpectedVersion(v)
			if v == 0 {
				expected = domain.NoStream
			}
			if _, err := s.Append(ctx, "m", expected, newEvent(t, "E", `{}`)); err != nil {
				errs <- err
				return
			}
		}
	}()
	after := int64(0)
	for seen := int64(0); seen < appends; {
		page, err := s.ReadAll(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			after = e.Position
			got, err := s.ReadStream(ctx, "m", 0)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(got)) < e.Version {
				t.Fatalf("ReadAll returned version %d of the stream, then ReadStream held %d events", e.Version, len(got))
			}
			seen = e.Version
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// appendInChildEnv names the file a child process of the test binary appends to.
const appendInChildEnv = "SWITCHBOARD_TEST_APPEND_IN_CHILD"

// TestAppendInChild is the child's side of TestReadStreamSeesAnotherProcessThatExited:
// it does nothing unless started by it.
func TestAppendInChild(t *testing.T) {
	path := os.Getenv(appendInChildEnv)
	if path == "" {
		t.Skip("run by TestReadStreamSeesAnotherProcessThatExited")
	}
	s := mustOpenAt(t, path)
	if _, err := s.Append(context.Background(), "m", 1, newEvent(t, "PublicationCancelled", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
}

// The case the reads from memory must never miss: a command (switchboard link,
// reconcile) opens the store in a process of its own beside serve, appends to a stream
// serve holds in memory, and exits before any follower of serve has read the event.
func TestReadStreamSeesAnotherProcessThatExited(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s := mustOpenAt(t, path)
	if _, err := s.Append(ctx, "m", domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 1)

	child := exec.Command(os.Args[0], "-test.run", "^TestAppendInChild$", "-test.count", "1")
	child.Env = append(os.Environ(), appendInChildEnv+"="+path)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("the child's append: %v\n%s", err, out)
	}
	mustReadAsStored(t, s, "m", 0, 2)
}

// Two processes may name one database through different paths (a symbolic link to the
// file): they must still share its write count, as SQLite shares its -wal and -shm.
func TestStoresOpenedThroughALinkShareTheWriteCount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	s := mustOpenAt(t, path)
	if err := os.Symlink(path, filepath.Join(dir, "link.db")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	other := mustOpenAt(t, filepath.Join(dir, "link.db"))
	if _, err := s.Append(ctx, "m", domain.NoStream, newEvent(t, "MessageReceived", `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 1)
	if _, err := other.Append(ctx, "m", 1, newEvent(t, "PublicationCancelled", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	mustReadAsStored(t, s, "m", 0, 2)
}
