package sqlite

import (
	"sort"
	"sync"

	"switchboard/domain"
)

// Every follower of serve (the resolver, the publisher, HubSpot's changes, the
// projections, the forgetting of erasures) reads each new event through ReadAll, at
// nearly the same time as the others: five queries, five scans and five copies of the
// same rows. The store remembers the newest run of events its reads returned, so that
// the first follower to ask reads the rows and the others are answered from memory.
//
// A run is only ever what a read returned, never what an append wrote: another process
// may append to the same file (switchboard erase beside serve), and only a read sees its
// events. A read of SQLite returns every event committed up to the last position it
// returns (one writer at a time assigns positions in commit order), so a run the reads
// returned back to back has no gap, and a read answered from it returns what the query
// would have.

// maxTail bounds the events remembered; past it the older half is let go.
const maxTail = 8192

type tail struct {
	mu     sync.Mutex
	held   bool
	after  int64                  // the run holds every event with after < position <= last
	events []domain.RecordedEvent // in position order
}

func (t *tail) last() int64 {
	if len(t.events) == 0 {
		return t.after
	}
	return t.events[len(t.events)-1].Position
}

// read returns copies of up to limit remembered events after position after, and the
// position the answer is complete through; ok is false when the run does not reach back
// to after, and the store must be read.
func (t *tail) read(after int64, limit int) (events []domain.RecordedEvent, through int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.held || after < t.after || after > t.last() {
		return nil, 0, false
	}
	i := sort.Search(len(t.events), func(i int) bool { return t.events[i].Position > after })
	n := min(limit, len(t.events)-i)
	events = make([]domain.RecordedEvent, n)
	copy(events, t.events[i:i+n])
	if n == limit {
		return events, events[n-1].Position, true
	}
	return events, t.last(), true
}

// add remembers events, which a read of the store returned for positions after after:
// every event after after and through the last of them.
func (t *tail) add(after int64, events []domain.RecordedEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.held && after == t.last():
		t.events = append(t.events, events...)
	case !t.held || after > t.last():
		// Newer than the run and not joined to it: start again from here.
		t.held, t.after = true, after
		t.events = append(t.events[:0:0], events...)
	default:
		return // older, or overlapping: the run has it already
	}
	if len(t.events) > maxTail {
		drop := len(t.events) - maxTail/2
		t.after = t.events[drop-1].Position
		t.events = append(t.events[:0:0], t.events[drop:]...)
	}
}
