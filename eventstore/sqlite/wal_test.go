package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// walFrame is the size of one WAL frame: a 24-byte header and a 4,096-byte page.
const walFrame = 24 + 4096

// fillWAL appends events of about a page each in commits of 20 until the WAL has
// received at least pages pages' worth.
func fillWAL(t *testing.T, s *sqlite.Store, pages int) {
	t.Helper()
	ctx := context.Background()
	payload := `{"text":"` + strings.Repeat("x", 3500) + `"}`
	for i := 0; i*20 < pages; i++ {
		evs := make([]domain.EventData, 20)
		for j := range evs {
			evs[j] = newEvent(t, "Filled", payload)
		}
		if _, err := s.Append(ctx, "fill", domain.AnyVersion, evs...); err != nil {
			t.Fatal(err)
		}
	}
}

// openWithoutBackgroundCheckpoint opens a store in a new file whose WAL only its commits
// checkpoint, at the backstop.
func openWithoutBackgroundCheckpoint(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(path, sqlite.WithWALCheckpointEvery(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A commit does not copy the WAL into the database file past SQLite's default of
// 1,000 pages: that is the background checkpoint's work, which the writer's commits do
// not wait for.
func TestCommitsLeaveTheWALToTheBackgroundCheckpoint(t *testing.T) {
	s, path := openWithoutBackgroundCheckpoint(t)
	before := fileSize(t, path)
	fillWAL(t, s, 2500)
	if wal := fileSize(t, path+"-wal"); wal < 2000*walFrame {
		t.Errorf("WAL is %d frames after 2,500 pages of appends; want them all still there (a commit checkpointed it)", wal/walFrame)
	}
	if after := fileSize(t, path); after != before {
		t.Errorf("database file went from %d to %d bytes with the background checkpoint off: a commit copied the WAL into it", before, after)
	}
}

// The background checkpoint copies the WAL into the database file while appends go on,
// and says so in its metrics.
func TestTheBackgroundCheckpointCopiesTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(path, sqlite.WithWALCheckpointEvery(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	fillWAL(t, s, 1500)
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+1000*4096 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes 10 s after 1,500 pages of appends, from %d: the background checkpoint copied nothing", fileSize(t, path), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := checkpointsObserved(t, s); n == 0 {
		t.Error("switchboard_store_wal_checkpoint_seconds observed no checkpoint")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	evs, err := again.ReadStream(context.Background(), "fill", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1500 {
		t.Errorf("%d events read after reopening, want 1500", len(evs))
	}
}

// Without the background checkpoint (stopped, or behind), a commit that finds the WAL
// past the backstop checkpoints it, and with no reader on it the WAL starts over: it
// stays near the backstop.
func TestTheWALBackstopBoundsTheWALWithoutTheBackground(t *testing.T) {
	defer sqlite.SetWALBackstopPages(sqlite.SetWALBackstopPages(400))
	s, path := openWithoutBackgroundCheckpoint(t)
	before := fileSize(t, path)
	fillWAL(t, s, 2000)
	if after := fileSize(t, path); after < before+1000*4096 {
		t.Errorf("database file went from %d to %d bytes: no commit checkpointed past the backstop of 400 pages", before, after)
	}
	if wal := fileSize(t, path+"-wal"); wal > 800*walFrame {
		t.Errorf("WAL is %d frames with a backstop of 400 pages; want it restarted near the backstop", wal/walFrame)
	}
}

// checkpointsObserved is the count of switchboard_store_wal_checkpoint_seconds.
func checkpointsObserved(t *testing.T, s *sqlite.Store) uint64 {
	t.Helper()
	f := metricFamily(t, s, "switchboard_store_wal_checkpoint_seconds")
	if f == nil {
		t.Fatal("switchboard_store_wal_checkpoint_seconds not collected")
	}
	return f.GetMetric()[0].GetHistogram().GetSampleCount()
}
