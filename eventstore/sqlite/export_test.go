package sqlite

// QueueLen is how many appends wait for the writer, for tests that line a batch up.
func QueueLen(s *Store) int { return len(s.queue) }

// SetWALBackstopPages sets the WAL size at which connections opened afterwards
// checkpoint as they commit, and returns the previous size.
func SetWALBackstopPages(n int64) int64 { return walBackstopPages.Swap(n) }
