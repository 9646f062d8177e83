package domain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ExpectedVersion is what an appender believes the stream's current version to be.
// Versions start at 1 for a stream's first event, so NoStream is "exactly version 0".
type ExpectedVersion int64

const (
	// AnyVersion appends whatever the stream holds; use it only where ordering
	// against other writers does not matter (operator notes, publication receipts).
	AnyVersion ExpectedVersion = -1
	// NoStream succeeds only for the stream's first append: the claim primitive
	// behind deduplication of inbound messages.
	NoStream ExpectedVersion = 0
)

func (v ExpectedVersion) String() string {
	switch {
	case v == AnyVersion:
		return "any"
	case v == NoStream:
		return "no stream"
	default:
		return fmt.Sprintf("version %d", int64(v))
	}
}

// ErrWrongExpectedVersion is matched with errors.Is; the detail is in *WrongExpectedVersionError.
var ErrWrongExpectedVersion = errors.New("wrong expected version")

// WrongExpectedVersionError says which stream moved under the appender.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("append to stream %q: expected %s, stream is at version %d", e.Stream, e.Expected, e.Actual)
}

func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// EventData is an event about to be appended. ID must be unique; appending an ID that is
// already stored in the same stream at the same place is a no-op, so a retried append
// after a lost acknowledgement never duplicates an event.
type EventData struct {
	ID            string
	Type          string
	SchemaVersion int
	OccurredAt    time.Time
	CorrelationID string
	CausationID   string
	Payload       json.RawMessage
}

// RecordedEvent is an event as the log holds it.
type RecordedEvent struct {
	EventData
	StreamID   string
	Version    int64
	Position   int64
	RecordedAt time.Time
	// Where the log hides personal data (eventstore/sealed, SPEC §3 rule 17), the store
	// keeps a stream under an opaque name and StreamID is the name the application
	// knows it by ("message:{channel}:{message id}"); once its subject is erased that
	// name is gone and StreamID is StoredStream. StoredStream is "" where the two are
	// the same. Subject is the opaque id of the data-key subject whose key sealed the
	// event's personal values ("" when it holds none): projections keep it beside what
	// they derive from the event, so that erasing the subject finds those rows.
	StoredStream string
	Subject      string
}

// Stored is the name the store keeps the event's stream under.
func (e RecordedEvent) Stored() string {
	if e.StoredStream != "" {
		return e.StoredStream
	}
	return e.StreamID
}

// AppendResult tells where the appended events landed.
type AppendResult struct {
	// NextVersion is the stream's version after the append.
	NextVersion int64
	// FirstPosition and LastPosition are the global positions of the events.
	FirstPosition, LastPosition int64
	// AlreadyStored is true when every event id was already in the stream (idempotent re-append).
	AlreadyStored bool
}

// EventStore is the append-only log. Positions are global, strictly increasing and
// assigned so that a reader following ReadAll never skips an event that commits later
// with a lower position.
type EventStore interface {
	// Append adds events to stream atomically, all or none, if the stream is at the
	// expected version (AnyVersion: whatever it is). Errors:
	//   - one matching ErrWrongExpectedVersion (a *WrongExpectedVersionError naming
	//     the stream and its actual version) when another writer moved the stream
	//     first: nothing was appended, and the caller decides — read again and decide
	//     again, or let the other writer's answer stand;
	//   - ctx's error when ctx ended before the append committed;
	//   - an error naming what is wrong when the input is invalid (an empty stream, an
	//     event without an id or type, an id repeated, ids of another stream): nothing
	//     was appended and repeating the same call fails the same way;
	//   - any other error (the database failed): the append may not have happened and
	//     is safe to repeat with the same event ids, since re-appending stored ids at
	//     their place is a no-op (AlreadyStored).
	// Appending no events is allowed and appends nothing.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream returns the stream's events with version > afterVersion, oldest first;
	// a stream that does not exist is no events and no error.
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]RecordedEvent, error)
	// ReadAll returns up to limit events with position > afterPosition, in position order.
	ReadAll(ctx context.Context, afterPosition int64, limit int) ([]RecordedEvent, error)
	// LastPosition is the highest position that readers may see now (0 when empty).
	LastPosition(ctx context.Context) (int64, error)
}
