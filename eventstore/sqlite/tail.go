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
	// seen is the newest position of each stream among the events read since seenFrom,
	// which reaches further back than the events kept (streams.go asks it whether a
	// stream was appended to since a position). Two generations bound it: newer holds
	// the streams of events after newerFrom.
	seenNewer, seenOlder map[string]int64
	seenFrom, newerFrom  int64
}

// maxSeen bounds the streams a generation of seen holds (a variable for tests).
var maxSeen = 32768

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
		t.seenNewer, t.seenOlder, t.seenFrom, t.newerFrom = map[string]int64{}, nil, after, after
	default:
		return // older, or overlapping: the run has it already
	}
	for _, e := range events {
		if len(t.seenNewer) >= maxSeen {
			t.seenOlder, t.seenNewer = t.seenNewer, map[string]int64{}
			t.seenFrom, t.newerFrom = t.newerFrom, e.Position-1
		}
		t.seenNewer[e.StreamID] = e.Position
	}
	if len(t.events) > maxTail {
		drop := len(t.events) - maxTail/2
		t.after = t.events[drop-1].Position
		t.events = append(t.events[:0:0], t.events[drop:]...)
	}
}

// since tells what was appended to stream after position after: the remembered events
// of stream past it (usually none), and the position the answer is complete through,
// every event of the stream up to it being among them or at or before after. ok is
// false when the events read do not reach back to after, or the stream has events past
// it that are no longer kept: the store must be read.
func (t *tail) since(stream string, after int64) (events []domain.RecordedEvent, through int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.held || after < t.seenFrom {
		return nil, 0, false
	}
	last := t.last()
	if after >= last {
		return nil, after, true
	}
	newest, found := t.seenNewer[stream]
	if !found {
		newest = t.seenOlder[stream]
	}
	if newest <= after {
		return nil, last, true
	}
	if after < t.after {
		return nil, 0, false
	}
	i := sort.Search(len(t.events), func(i int) bool { return t.events[i].Position > after })
	for _, e := range t.events[i:] {
		if e.StreamID == stream {
			events = append(events, e)
		}
	}
	return events, last, true
}

// lastRead is the newest position the run holds, 0 when it holds none: every event up to
// it was committed before any read that begins now.
func (t *tail) lastRead() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.held {
		return 0
	}
	return t.last()
}
