package sqlite

import (
	"path/filepath"
	"testing"

	"switchboard/domain"
)

// A read of the file that began before a commit of this store, and keeps what it found
// after the commit landed, must not leave a run that lacks the commit: the commit could
// not lengthen a run that was not there yet, and the read did not see it.
func TestAReadKeepsNothingWhenACommitLandedMeanwhile(t *testing.T) {
	count, err := openWriteCount(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !count.mapped() {
		t.Skip("no write count on this platform: no run is taken for a whole stream")
	}
	r := newStreamRuns(count)
	t.Cleanup(func() { _ = r.close() })
	event := func(v int64) domain.RecordedEvent {
		return domain.RecordedEvent{StreamID: "m", Version: v, Position: v}
	}

	run, whole, stamp := r.lookup("m")
	if run != nil || whole {
		t.Fatalf("lookup of a stream never held: %v, whole %v", run, whole)
	}
	// The read's query found versions 1 and 2. Before it keeps them, the writer commits
	// version 3, which has no run to lengthen.
	found := r.begin()
	r.beforeCommit(map[string]bool{"m": true})
	r.end(found, true, func() { r.extend("m", 2, []domain.RecordedEvent{event(3)}, true) })
	r.keepRead(stamp, "m", 0, []domain.RecordedEvent{event(1), event(2)})

	if run, whole, _ := r.lookup("m"); whole && len(run) != 3 {
		t.Fatalf("the stream is taken whole from memory as %d events; the file holds 3", len(run))
	}
}
