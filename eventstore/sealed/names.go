package sealed

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"switchboard/domain"
	"switchboard/eventstore/datakeys"
)

// Streams whose names would hold an identifier are stored under random names (SPEC §3
// rule 17: streams never carry personal data in the clear; docs/privacy.md §4). The
// application keeps calling them by their logical names — "message:{channel}:{message
// id}", "matchkey:{workspace}:{lookup}:{identifier}" — and this decorator translates:
// appends and stream reads to the stored name, ReadAll back to the logical name while
// the owner lives. Every other stream (a workspace's "hubspot:acme", an erasure's) is
// stored as it is named.

const (
	messagePrefix  = "message:"
	matchKeyPrefix = "matchkey:"
)

// hidden reports whether stream is a logical name that the store keeps under another;
// prefix is the kind's.
func hidden(stream string) (prefix string, ok bool) {
	for _, p := range [...]string{messagePrefix, matchKeyPrefix} {
		if strings.HasPrefix(stream, p) && !datakeys.IsStreamName(p, stream) {
			return p, true
		}
	}
	return "", false
}

// storedForm reports whether stream is already a stored name.
func storedForm(stream string) bool {
	return datakeys.IsStreamName(messagePrefix, stream) || datakeys.IsStreamName(matchKeyPrefix, stream)
}

// ownerFor picks the subject that owns a hidden stream written for the first time: the
// subject its first events name (a message's sender, from its MessageReceived; a match
// key's own, from any of its events), else a subject of the stream's own. from is the
// index of the event that named it, -1 for none.
func (s *Store) ownerFor(ctx context.Context, logical string, events []domain.EventData) (id string, from int, err error) {
	ref, from := domain.Subject("stream\x00"+logical), -1
	for i, e := range events {
		if strings.HasPrefix(logical, messagePrefix) && e.Type != domain.EventMessageReceived {
			continue
		}
		r, named, err := s.payloadSubject(e)
		if err != nil {
			return "", -1, err
		}
		if named {
			ref, from = r, i
			break
		}
	}
	id, err = s.keys.SubjectID(ctx, ref, true)
	return id, from, err
}

// namingStore is a store that can decide a stream's stored name inside the append's own
// transaction (eventstore/sqlite), so a name is never durable without its events.
type namingStore interface {
	AppendNaming(ctx context.Context, name func(ctx context.Context, tx *sql.Tx) (string, error), expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error)
}

func (s *Store) namesInAppend() bool {
	_, ok := s.EventStore.(namingStore)
	return ok
}

// appendNew appends the first events of a hidden stream, naming it. A redelivery racing
// the first delivery finds the winner's name and fails with the wrong expected version,
// as it would on a stream named by its identifier.
func (s *Store) appendNew(ctx context.Context, ref datakeys.StreamRef, owner string, expected domain.ExpectedVersion, events []domain.EventData, prefix string) (domain.AppendResult, error) {
	fresh, err := datakeys.NewStreamName(prefix)
	if err != nil {
		return domain.AppendResult{}, err
	}
	if ns, ok := s.EventStore.(namingStore); ok {
		var name string
		res, err := ns.AppendNaming(ctx, func(ctx context.Context, tx *sql.Tx) (string, error) {
			n, err := s.keys.NameStreamTx(ctx, tx, ref, fresh, owner)
			name = n
			return n, err
		}, expected, events...)
		if name != "" && err == nil {
			s.keys.RememberStream(ref, name, owner)
		}
		return res, err
	}
	name, err := s.keys.NameStreamRef(ctx, ref, fresh, owner)
	if err != nil {
		return domain.AppendResult{}, err
	}
	return s.EventStore.Append(ctx, name, expected, events...)
}

// translate gives events read from the store their logical stream names (while their
// owner lives) and their subject ids. A SubjectErased read here makes this process
// forget the subject before it opens anything after it, whoever destroyed the key.
func (s *Store) translate(ctx context.Context, events []domain.RecordedEvent, logical string) error {
	for i := range events {
		e := &events[i]
		if id, ok := firstSealedSubject(e.Payload); ok {
			e.Subject = id
		}
		if e.Type == domain.EventSubjectErased {
			var p domain.SubjectErased
			if err := domain.Decode(*e, &p); err == nil && p.SubjectID != "" {
				s.keys.Forget(p.SubjectID)
			}
		}
		if !storedForm(e.StreamID) {
			continue
		}
		e.StoredStream = e.StreamID
		if logical != "" {
			e.StreamID = logical
			continue
		}
		name, _, ok, err := s.keys.LogicalStream(ctx, e.StreamID)
		if err != nil {
			return fmt.Errorf("name of stream at position %d: %w", e.Position, err)
		}
		if ok {
			e.StreamID = name
		}
	}
	return nil
}
