package sealed

// Held is how many opened payloads and remembered senders s holds in memory.
func Held(s *Store) (opened, senders int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.opened), len(s.messageSubjects)
}
