package sqlite

import (
	"sync"
	"time"

	"switchboard/domain"
)

// A known sender's message is read whole three times after it is recorded: by the
// resolver, and twice by the publisher (to find its thread, then to publish it), and
// the resolver reads the sender's match-key stream too. Each read asked SQLite, whose
// read transactions start from an empty page cache while something commits every few
// milliseconds: about a seventh of serve's CPU at 1,000 messages/s (docs/performance.md).
// The store remembers, for recent streams, a run of their events from version 1, and a
// position up to which the stream has no other events.
//
// A run is always a prefix of its stream as stored: what a read of the stream returned,
// or what this store's writer appended at the version it found in the same transaction
// to a stream whose run reached just that far (or to a new stream). Events are never
// changed once stored and versions are never reused, so a run stays right whatever
// another process appends later. Its position is how far it is known complete: after
// an append, the append's last position (in its transaction the stream held no other
// events); after a read of the file, the newest position ReadAll had read before the
// read began, all of which the read saw.
//
// ReadAll's tail (tail.go) holds every event after some position, from every process.
// When it reaches back to a run's position, the stream's events in it after that
// position are all that were appended to the stream since, up to the tail's last
// position: a read then needs nothing from SQLite. So a read answered from memory holds
// this store's appends and everything its ReadAll has read. Another process's later
// append (switchboard dead-letters retry, link or erase beside serve) appears once ReadAll
// reads it, which every follower of serve does before it handles the event; an append
// made before that at the version read fails as after any concurrent append, and the
// store then forgets the run.

// maxRunEvents bounds the events the runs hold. The runs live in two generations: when
// the newer holds half of it, the older is let go and the newer takes its place, so a
// stream read again within a generation or two stays.
const maxRunEvents = 16384

type streamRuns struct {
	mu           sync.Mutex
	newer, older map[string]streamRun
	held         int // events in newer
}

// streamRun is a stream's events at versions 1..len(events). through is a position up
// to which the stream has no other events: a read needs to look past it only.
type streamRun struct {
	events  []domain.RecordedEvent
	through int64
}

func newStreamRuns() *streamRuns {
	return &streamRuns{newer: map[string]streamRun{}, older: map[string]streamRun{}}
}

// get returns a copy of the stream's run.
func (r *streamRuns) get(stream string) (run []domain.RecordedEvent, through int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sr, ok := r.newer[stream]
	if !ok {
		if sr, ok = r.older[stream]; !ok {
			return nil, 0, false
		}
		r.put(stream, sr)
	}
	return append([]domain.RecordedEvent(nil), sr.events...), sr.through, true
}

// known is how many versions of the stream its run holds: versions stored for certain.
func (r *streamRuns) known(stream string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sr, ok := r.newer[stream]; ok {
		return int64(len(sr.events))
	}
	return int64(len(r.older[stream].events))
}

// drop forgets the stream's run: an append found the stream elsewhere than it expected,
// so another process may have moved it.
func (r *streamRuns) drop(stream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sr, ok := r.newer[stream]; ok {
		r.held -= len(sr.events)
		delete(r.newer, stream)
	}
	delete(r.older, stream)
}

// extend records that the stream holds events at versions after+1.. (what a read or an
// append found), and that up to position through it holds no others than those and the
// ones before them. It lengthens the stream's run when they join it, and makes them the
// run when after is 0; otherwise the run is left as it is.
func (r *streamRuns) extend(stream string, after int64, events []domain.RecordedEvent, through int64) {
	for i, e := range events {
		if e.Version != after+int64(i)+1 {
			return // not a run of consecutive versions: not ours to trust
		}
	}
	if after == 0 && len(events) == 0 {
		return // an empty stream: nothing to keep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sr, ok := r.newer[stream]
	if !ok {
		sr = r.older[stream]
	}
	n, upto := int64(len(sr.events)), after+int64(len(events))
	if n < after {
		return // a gap between the run and these events
	}
	if n >= upto {
		// The run holds every version these events say there were: it is complete as
		// far as they are.
		if through > sr.through {
			sr.through = through
			r.put(stream, sr)
		}
		return
	}
	// A fresh slice: readers copy a run under the lock, and the old one may be shared
	// with the other generation.
	joined := make([]domain.RecordedEvent, 0, upto)
	joined = append(append(joined, sr.events...), events[n-after:]...)
	r.put(stream, streamRun{events: joined, through: max(sr.through, through)})
}

// put sets the stream's run in the newer generation, turning the generations over when
// the newer is full. The caller holds mu.
func (r *streamRuns) put(stream string, sr streamRun) {
	if old, ok := r.newer[stream]; ok {
		r.held -= len(old.events)
	}
	if r.held+len(sr.events) > maxRunEvents/2 {
		r.older, r.newer, r.held = r.newer, map[string]streamRun{}, 0
	}
	r.newer[stream] = sr
	r.held += len(sr.events)
}

// appended is what a committed append stored: events at versions after+1.. of stream,
// at positions first.., recorded at recordedAt, as a read of them will return them.
func appended(stream string, after, first int64, recordedAt string, events []domain.EventData) ([]domain.RecordedEvent, bool) {
	recorded, err := time.Parse(time.RFC3339Nano, recordedAt)
	if err != nil {
		return nil, false
	}
	out := make([]domain.RecordedEvent, len(events))
	for i, e := range events {
		// Through the text the row holds, so that the time is the one a read parses.
		occurred, err := time.Parse(time.RFC3339Nano, e.OccurredAt.UTC().Format(time.RFC3339Nano))
		if err != nil {
			return nil, false
		}
		e.OccurredAt = occurred
		// The caller keeps its payload's bytes; the run must not see them change.
		payload := append([]byte(nil), e.Payload...)
		e.Payload = payload[:len(payload):len(payload)]
		out[i] = domain.RecordedEvent{EventData: e, StreamID: stream, Version: after + int64(i) + 1,
			Position: first + int64(i), RecordedAt: recorded}
	}
	return out, true
}
