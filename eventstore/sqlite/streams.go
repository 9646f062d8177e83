package sqlite

import (
	"sync"
	"time"

	"switchboard/domain"
)

// A known sender's message is read whole three times after it is recorded: by the
// resolver, and twice by the publisher (to find its thread, then to publish it). Each
// read walked the stream's rows and copied every payload again, about a seventh of
// serve's CPU at 1,000 messages/s (docs/performance.md). The store remembers, for recent
// streams, a run of their events from version 1.
//
// A run is always a prefix of its stream as stored: what a read of the whole stream
// returned, or what this store's writer appended at the version it found in the same
// transaction, to a stream whose run reached just that far (or to a new stream). Events
// are never changed once stored and versions are never reused, so such a run stays right
// whatever another process appends later (switchboard dead-letters retry, link or
// reconcile beside serve).
//
// A run is also the whole stream while no other store has committed to the file since
// it was made: this store's own commits lengthen the runs they append to. The file's
// write count (writecount.go) tells the two cases apart without asking SQLite, whose
// every question starts with an empty page cache and was most of a read's cost. So a
// read is answered from memory alone while the count shows only this store's commits,
// and otherwise asks SQLite for what lies past the run, as a read of a stream never
// seen does. Either way a read holds every commit that finished before it began.
//
// Three things keep that true:
//   - seen is the count through which the runs hold every commit. The writer reads the
//     count inside its transaction, where it holds the write lock and every transaction
//     that raised the count before has ended: when the count is past seen, another
//     store committed in between, and the runs are let go when the transaction ends;
//   - the writer's own commit becomes visible to other connections inside COMMIT, before
//     its appends are in the runs. From before COMMIT until they are, the streams it
//     appends to are committing, and a read of one of those asks the file instead of
//     waiting; the other streams' runs are whole all the while;
//   - a read of the file keeps what it found only if no commit of this store landed in
//     the runs, and the runs were not let go, between its look-up and its query (stamp):
//     otherwise it may have missed an append the runs would then not hold either.

// maxRunEvents bounds the events the runs hold. The runs live in two generations: when
// the newer holds half of it, the older is let go and the newer takes its place, so a
// stream read again within a generation or two stays.
const maxRunEvents = 16384

type streamRuns struct {
	// counted says the file's write count is mapped: without it no run is taken for
	// the whole stream.
	counted bool

	mu           sync.Mutex
	count        *writeCount                       // the file's, shared with every other store of it; unmapped at close
	newer, older map[string][]domain.RecordedEvent // stream -> its events at versions 1..len
	held         int                               // events in newer
	seen         uint64                            // the count through which the runs hold every commit
	pending      uint64                            // the count the writer's open transaction raised it to; 0 when none
	stamp        uint64                            // moves whenever a commit lands in the runs or they are let go
	committing   map[string]bool                   // the streams of the COMMIT under way, until they land
}

func newStreamRuns(count *writeCount) *streamRuns {
	r := &streamRuns{counted: count.mapped(), count: count, newer: map[string][]domain.RecordedEvent{}, older: map[string][]domain.RecordedEvent{}}
	if r.counted {
		// Nothing is held yet, so nothing committed before can be missing from it.
		r.seen = count.load()
	}
	return r
}

// lookup returns a copy of the stream's run (nil if none), whether it is the whole
// stream as the file holds it now, and the stamp a read of the file passes to keepRead.
func (r *streamRuns) lookup(stream string) (run []domain.RecordedEvent, whole bool, stamp uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run = r.take(stream)
	return run, r.counted && run != nil && !r.committing[stream] && r.onlyOwnCommits(), r.stamp
}

// onlyOwnCommits reports whether no other store has committed since seen: the count is
// seen, or one past it by the writer's own open transaction. The caller holds mu.
func (r *streamRuns) onlyOwnCommits() bool {
	if !r.count.mapped() {
		return false // closed
	}
	return onlyOwnSince(r.seen, r.count.load(), r.pending)
}

// onlyOwnSince reports whether the file's write count, now, shows no commit by another
// store since seen: it is seen, or one past it by this store's own transaction under way
// (own, the count that transaction raised it to; 0 for none). The streams' runs and the
// log's tail (tail.go) decide by it.
func onlyOwnSince(seen, now, own uint64) bool {
	return now == seen || (own == seen+1 && now == own)
}

// counts is the file's write count now, and the count this store's open transaction
// raised it to (tail.go).
func (r *streamRuns) counts() counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.counted || !r.count.mapped() {
		return counts{}
	}
	return counts{now: r.count.load(), own: r.pending, counted: true}
}

// begin raises the file's write count for the writer's transaction, which holds the
// write lock; it returns the count found, for end.
func (r *streamRuns) begin() uint64 {
	if !r.counted {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = r.count.raise()
	return r.pending - 1
}

// beforeCommit marks the streams the transaction appended to: from here its appends may
// be visible in the file before they are in the runs.
func (r *streamRuns) beforeCommit(streams map[string]bool) {
	if r.counted {
		r.mu.Lock()
		r.committing = streams
		r.mu.Unlock()
	}
}

// end settles the runs once the writer's transaction is over: found is what begin
// returned, committed whether COMMIT succeeded, and land puts its appends in the runs.
func (r *streamRuns) end(found uint64, committed bool, land func()) {
	if !r.counted {
		if committed {
			land()
		}
		return
	}
	r.mu.Lock()
	r.stamp++
	// Another store committed between seen and this transaction, or this COMMIT failed
	// and may still have reached the file: the runs may lack appends.
	if found != r.seen || !committed {
		r.newer, r.older, r.held = map[string][]domain.RecordedEvent{}, map[string][]domain.RecordedEvent{}, 0
	}
	r.mu.Unlock()
	if committed {
		land()
	}
	r.mu.Lock()
	r.seen, r.pending, r.committing = found+1, 0, nil
	r.mu.Unlock()
}

// close unmaps the write count once the writer has stopped; reads after it ask the file.
func (r *streamRuns) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.count.unmap()
	r.count = &writeCount{}
	return err
}

// keepRead records what a read of the file found past the run lookup returned, unless
// a commit landed or the runs were let go since (stamp).
func (r *streamRuns) keepRead(stamp uint64, stream string, after int64, events []domain.RecordedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Checked and kept under one hold of the lock: a commit that let the runs go in
	// between would otherwise leave this read's events as a run missing its append.
	if r.stamp == stamp {
		r.extendLocked(stream, after, events, false)
	}
}

// take returns a copy of the stream's run, or nil. The caller holds mu.
func (r *streamRuns) take(stream string) []domain.RecordedEvent {
	run, ok := r.newer[stream]
	if !ok {
		if run, ok = r.older[stream]; !ok {
			return nil
		}
		r.put(stream, run)
	}
	return append([]domain.RecordedEvent(nil), run...)
}

// known is how many versions of the stream its run holds: versions stored for certain.
func (r *streamRuns) known(stream string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if run, ok := r.newer[stream]; ok {
		return int64(len(run))
	}
	return int64(len(r.older[stream]))
}

// extend records that the stream holds events at versions after+1.. (what a read or an
// append found). It lengthens the stream's run when they join it, and makes them the
// run when after is 0. Otherwise a read leaves the run as it is, and an append (own)
// that does not join it lets it go: the run is no longer the whole stream.
func (r *streamRuns) extend(stream string, after int64, events []domain.RecordedEvent, own bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.extendLocked(stream, after, events, own)
}

// extendLocked is extend with mu held.
func (r *streamRuns) extendLocked(stream string, after int64, events []domain.RecordedEvent, own bool) {
	if len(events) == 0 {
		return
	}
	for i, e := range events {
		if e.Version != after+int64(i)+1 {
			return // not a run of consecutive versions: not ours to trust
		}
	}
	run, ok := r.newer[stream]
	if !ok {
		run = r.older[stream]
	}
	switch n := int64(len(run)); {
	case after == 0 && n >= int64(len(events)):
		return // the run knows as much already
	case after == 0:
		run = nil
	case n < after:
		// A gap between the run and these events.
		if own && n > 0 {
			r.drop(stream)
		}
		return
	case n >= after+int64(len(events)):
		return
	default:
		events = events[n-after:]
	}
	// A fresh slice: readers copy a run under the lock, and the old one may be shared
	// with the other generation.
	joined := make([]domain.RecordedEvent, 0, len(run)+len(events))
	r.put(stream, append(append(joined, run...), events...))
}

// drop lets the stream's run go. The caller holds mu.
func (r *streamRuns) drop(stream string) {
	if old, ok := r.newer[stream]; ok {
		r.held -= len(old)
		delete(r.newer, stream)
	}
	delete(r.older, stream)
}

// put sets the stream's run in the newer generation, turning the generations over when
// the newer is full. The caller holds mu.
func (r *streamRuns) put(stream string, run []domain.RecordedEvent) {
	if old, ok := r.newer[stream]; ok {
		r.held -= len(old)
	}
	if r.held+len(run) > maxRunEvents/2 {
		r.older, r.newer, r.held = r.newer, map[string][]domain.RecordedEvent{}, 0
	}
	r.newer[stream] = run
	r.held += len(run)
}

// appended is what a committed append stored: events at versions after+1.. of stream,
// at positions first.., recorded at recorded, as a read of them will return them. A
// time in UTC without its monotonic reading is the one a read parses back from the
// row's RFC 3339 text, so it needs no trip through the text.
func appended(stream string, after, first int64, recorded time.Time, events []domain.EventData) []domain.RecordedEvent {
	out := make([]domain.RecordedEvent, len(events))
	for i, e := range events {
		e.OccurredAt = e.OccurredAt.UTC()
		// The caller keeps its payload's bytes; the run must not see them change.
		payload := append([]byte(nil), e.Payload...)
		e.Payload = payload[:len(payload):len(payload)]
		out[i] = domain.RecordedEvent{EventData: e, StreamID: stream, Version: after + int64(i) + 1,
			Position: first + int64(i), RecordedAt: recorded}
	}
	return out
}
