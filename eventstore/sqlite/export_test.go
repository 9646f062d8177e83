package sqlite

import (
	"context"

	"switchboard/domain"
)

// QueueLen is how many appends wait for the writer, for tests that line a batch up.
func QueueLen(s *Store) int { return len(s.queue) }

// SetWALBackstopPages sets the WAL size at which connections opened afterwards
// checkpoint as they commit, and returns the previous size.
func SetWALBackstopPages(n int64) int64 { return walBackstopPages.Swap(n) }

// ReadStreamFromFile is ReadStream without the streams' runs in memory: what SQLite holds.
func ReadStreamFromFile(ctx context.Context, s *Store, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	return s.readStreamFile(ctx, stream, afterVersion)
}

// MaxRunEvents bounds the events the streams' runs hold.
const MaxRunEvents = maxRunEvents
