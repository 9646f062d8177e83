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
// streams, a run of their events from version 1, and a read asks SQLite only for what
// lies past the run: one look-up in the (stream_id, version) index that usually finds
// nothing. That look-up is still most of a read's cost (a read transaction that finds
// the file changed starts from an empty page cache), but a read that skipped it would
// miss another process's append until the followers had read it (docs/performance.md,
// tried and reverted).
//
// A run is always a prefix of its stream as stored: what a read of the whole stream
// returned, or what this store's writer appended at the version it found in the same
// transaction, to a stream whose run reached just that far (or to a new stream). Events
// are never changed once stored and versions are never reused, so such a run stays right
// whatever another process appends later (switchboard dead-letters retry, link or
// reconcile beside serve), and the read's look-up finds what it appended.

// maxRunEvents bounds the events the runs hold. The runs live in two generations: when
// the newer holds half of it, the older is let go and the newer takes its place, so a
// stream read again within a generation or two stays.
const maxRunEvents = 16384

type streamRuns struct {
	mu           sync.Mutex
	newer, older map[string][]domain.RecordedEvent // stream -> its events at versions 1..len
	held         int                               // events in newer
}

func newStreamRuns() *streamRuns {
	return &streamRuns{newer: map[string][]domain.RecordedEvent{}, older: map[string][]domain.RecordedEvent{}}
}

// get returns a copy of the stream's run, or nil.
func (r *streamRuns) get(stream string) []domain.RecordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
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
// run when after is 0; otherwise the run is left as it is.
func (r *streamRuns) extend(stream string, after int64, events []domain.RecordedEvent) {
	if len(events) == 0 {
		return
	}
	for i, e := range events {
		if e.Version != after+int64(i)+1 {
			return // not a run of consecutive versions: not ours to trust
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
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
		return // a gap between the run and these events
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
