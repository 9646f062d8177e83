package sqlite

// QueueLen is how many appends wait for the writer, for tests that line a batch up.
func QueueLen(s *Store) int { return len(s.queue) }
