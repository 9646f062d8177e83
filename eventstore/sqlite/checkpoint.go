package sqlite

import (
	"context"
	"fmt"
	"time"
)

// checkpointPatience bounds how long Checkpoint waits for readers that hold the WAL.
const checkpointPatience = 10 * time.Second

// Checkpoint copies every page of the WAL into the database file and truncates the WAL
// to zero bytes (PRAGMA wal_checkpoint(TRUNCATE)). Erasure needs it: a row deleted with
// secure_delete is zeroed in the newest page image, but the WAL still holds the older
// images that contained it until they are checkpointed and the file is cut; a PASSIVE
// checkpoint only rewinds the WAL and leaves those frames in the file.
//
// A reader in the middle of a transaction holds the checkpoint back; Checkpoint retries
// until ctx ends or checkpointPatience passes, and then says so rather than pretending
// the WAL is empty.
func (s *Store) Checkpoint(ctx context.Context) error {
	deadline := time.Now().Add(checkpointPatience)
	for {
		var busy, walFrames, copied int
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &walFrames, &copied); err != nil {
			return fmt.Errorf("checkpoint the WAL: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("checkpoint the WAL: readers kept it busy for %s (%d of %d frames copied); run again when the service is idle", checkpointPatience, copied, walFrames)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("checkpoint the WAL: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
