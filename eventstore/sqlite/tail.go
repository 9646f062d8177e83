package sqlite

import (
	"sort"
	"sync"

	"switchboard/domain"
)

// Every follower of serve (the resolver, the publisher, HubSpot's changes, the
// projections, the forgetting of erasures) reads each new event through ReadAll, at
// nearly the same time as the others: five queries, five scans and five copies of the
// same rows. The store remembers the newest run of events, so that the followers are
// answered from memory.
//
// A read of SQLite returns every event committed up to the last position it returns
// (one writer at a time assigns positions in commit order), so a run the reads returned
// back to back has no gap, and a read answered from it returns what the query would
// have. The writer's own commits lengthen the run too, where they join it without a gap:
// positions are assigned under the one write lock, so every event committed before a
// commit has a position below its first, and a commit whose first position is the
// run's last plus one leaves the run holding every event committed up to its own last.
// Another process may append to the same file (switchboard erase beside serve); its
// positions then lie between the run's last and the next commit's first, and only a read
// of the file finds them.
//
// A read that the run can answer only in part (it asks for more events than the run holds
// past its position, as a caught-up follower always does) must know whether anything was
// committed past the run. Asking the file each time made the first follower after every
// commit read its events back (about a tenth of serve's CPU at 1,000 messages/s,
// docs/performance.md), so the file's write count (writecount.go) answers: seen is a
// count through which every commit's events are in the run (no transaction that raised
// the count to seen or below stored an event past the run's last). While the count is still seen, or one past it by this store's own transaction
// under way, nothing was committed past the run but, at most, that transaction, whose
// callers have not been answered yet: the run is the whole log past its position.
//   - a commit of this store's writer that joins the run makes seen the count its
//     transaction raised the word to (every earlier raise was an earlier commit, below it),
//     and so does one that stored no event when seen was the count before it;
//   - a read of the file that returned fewer events than it asked for found every
//     commit that had ended when it loaded the count (before its query). Only the
//     transaction that raised the count to what it loaded may have been under way (this
//     store's, or another's, whose events the read could not see), so the read makes seen
//     at least one below that count.

// maxTail bounds the events remembered; past it the older half is let go.
const maxTail = 8192

type tail struct {
	mu     sync.Mutex
	held   bool
	after  int64                  // the run holds every event with after < position <= last
	events []domain.RecordedEvent // in position order
	// counted: seen is known (the file's write count is mapped, and a read or a commit
	// has set it); seen is the count through which every commit is in the run.
	counted bool
	seen    uint64
}

func (t *tail) last() int64 {
	if len(t.events) == 0 {
		return t.after
	}
	return t.events[len(t.events)-1].Position
}

// counts is the file's write count as a reader found it before reading: now is the count,
// own the count this store's writer raised it to for the transaction under way (0 when
// none), counted false where the count is not mapped (then nothing is known past the run).
type counts struct {
	now, own uint64
	counted  bool
}

// read returns copies of up to limit remembered events after position after, the position
// the answer is complete through, and whether it is the whole log after that position
// (whole, see above); ok is false when the run does not reach back to after, and the
// store must be read.
func (t *tail) read(after int64, limit int, c counts) (events []domain.RecordedEvent, through int64, ok, whole bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.held || after < t.after || after > t.last() {
		return nil, 0, false, false
	}
	i := sort.Search(len(t.events), func(i int) bool { return t.events[i].Position > after })
	n := min(limit, len(t.events)-i)
	events = make([]domain.RecordedEvent, n)
	copy(events, t.events[i:i+n])
	if n == limit {
		return events, events[n-1].Position, true, false
	}
	whole = c.counted && t.counted && onlyOwnSince(t.seen, c.now, c.own)
	return events, t.last(), true, whole
}

// add remembers events, which a read of the store returned for positions after after:
// every event after after and through the last of them. complete says the read returned
// fewer than it asked for, so it found every commit that had ended when c was loaded.
func (t *tail) add(after int64, events []domain.RecordedEvent, c counts, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.held && after <= t.last():
		if !t.join(after, events) {
			return
		}
	default:
		// Newer than the run and not joined to it (or no run, and then no count seen
		// either): start again from here. A count seen before still holds: its commits
		// lie at or below the old run's last, below after.
		t.held, t.after = true, after
		t.events = append(t.events[:0:0], events...)
	}
	if complete && c.counted {
		t.see(endedBefore(c.now))
	}
	t.trim()
}

// endedBefore is the count through which every transaction had ended when the count was
// now: raises are serialized by SQLite's write lock, so only the one that raised it to
// now may still be under way, its events unseen by a read that looked then.
func endedBefore(now uint64) uint64 {
	if now == 0 {
		return 0
	}
	return now - 1
}

// join lengthens the run with events, which hold every event after after, when after
// lies within the run: those past the run's last are appended. It reports whether the run
// now holds everything the events covered. The caller holds mu.
func (t *tail) join(after int64, events []domain.RecordedEvent) bool {
	if after < t.after {
		return false // begins before the run: older than what it holds
	}
	last := t.last()
	i := sort.Search(len(events), func(i int) bool { return events[i].Position > last })
	t.events = append(t.events, events[i:]...)
	return true
}

// see records that every commit that raised the count to c is in the run. The caller
// holds mu.
func (t *tail) see(c uint64) {
	if !t.counted || c > t.seen {
		t.counted, t.seen = true, c
	}
}

// extend adds the events a commit of this store's writer stored, in position order, when
// they join the run without a gap; raised is the count the commit's transaction raised
// the word to (counted false when the count is not mapped). Anything else (another store
// committed in between, the run not held) leaves the run as it is, and reads fill it from
// the file.
func (t *tail) extend(events []domain.RecordedEvent, raised uint64, counted bool) {
	if len(events) == 0 {
		return
	}
	for i := 1; i < len(events); i++ {
		if events[i].Position != events[i-1].Position+1 {
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	first := events[0].Position
	if !t.held || first > t.last()+1 || first <= t.after {
		return
	}
	t.join(first-1, events)
	if counted {
		t.see(raised)
	}
	t.trim()
}

// storedNothing records that a commit of this store's writer, whose transaction raised the
// count to raised, stored no event (its writes were the projections' and checkpoints'):
// if every commit before it is in the run, so is every commit through it. Without it,
// each such commit sent the next read to the file.
func (t *tail) storedNothing(raised uint64, counted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if counted && t.held && t.counted && t.seen == raised-1 {
		t.seen = raised
	}
}

// trim lets the older half go once the run holds more than maxTail events. The caller
// holds mu.
func (t *tail) trim() {
	if len(t.events) > maxTail {
		drop := len(t.events) - maxTail/2
		t.after = t.events[drop-1].Position
		t.events = append(t.events[:0:0], t.events[drop:]...)
	}
}
