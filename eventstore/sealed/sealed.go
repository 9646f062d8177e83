// Package sealed keeps personal values out of the event log in the clear (SPEC §3 rule
// 17, docs/privacy.md): a domain.EventStore decorator that, on Append, seals every
// personal field of a payload (domain.PersonalPaths) with its subject's data key
// (eventstore/datakeys), and on read opens them again. A value whose subject was erased
// reads as domain.Erased: the event keeps its type, times, stream and correlation id,
// and folds, projections and the audit read it without failing.
//
// Streams named by an identifier are stored under random names (names.go).
package sealed

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"switchboard/domain"
	"switchboard/eventstore/datakeys"
)

// Channels tells the channel settings a MessageReceived was recorded under, which decide
// its subject (domain.MessageSubject). domain/command.Catalog provides it.
type Channels interface {
	Channel(id string) (domain.ChannelSettings, bool)
}

// maxOpened bounds the memory of opened payloads; past it the memory starts again.
const maxOpened = 10_000

// maxStreamSubjects bounds the memory of which subject each recent stream belongs to;
// past it the memory starts again (a miss costs one read of the stream).
const maxStreamSubjects = 100_000

// Store seals on Append and opens on ReadStream and ReadAll; LastPosition passes through.
type Store struct {
	domain.EventStore
	keys     *datakeys.Keeper
	channels Channels

	mu       sync.Mutex
	subjects map[string]string // stream -> subject id of the events that name none
	// opened holds payloads already opened, by event id: events never change, so an
	// opened payload stays right until a subject is forgotten (generation moves). A
	// known sender's key stream is read on every message, and is opened once.
	opened     map[string]json.RawMessage
	generation uint64
	// messageSubjects remembers the subject of a sender on a channel: finding it parses
	// the phone number, which the resolver does again anyway.
	messageSubjects map[string]domain.Subject
}

// NewStore wraps inner. Every personal value appended through it is sealed; events read
// through it are opened. Reading the same log without it shows sealed values.
func NewStore(inner domain.EventStore, keys *datakeys.Keeper, channels Channels) (*Store, error) {
	if inner == nil || keys == nil || channels == nil {
		return nil, errors.New("new sealed store: inner store, data keys and channels are required")
	}
	s := &Store{EventStore: inner, keys: keys, channels: channels, subjects: map[string]string{},
		opened: map[string]json.RawMessage{}, messageSubjects: map[string]domain.Subject{}}
	keys.OnForget(s.forget)
	return s, nil
}

// forget drops, at an erasure, what this store's memory holds of people: the opened
// payloads, and the senders' identifiers its subject memory is keyed by (all of both,
// since neither is kept by subject, and erasures are rare), and the streams of the
// subject forgotten.
func (s *Store) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened, s.generation = map[string]json.RawMessage{}, s.keys.Generation()
	s.messageSubjects = map[string]domain.Subject{}
	for stream, subject := range s.subjects {
		if subject == id {
			delete(s.subjects, stream)
		}
	}
}

// Append seals each event's personal fields with its subject's key: the subject its
// payload names (its match key, or a message's sender), else the subject that owns the
// stream. A value already sealed is left as it is. A stream whose logical name would
// hold an identifier is appended to under its stored name (names.go), which its first
// append creates.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	target, owner, ownerFrom := stream, "", -1
	prefix, isHidden := hidden(stream)
	fresh := false
	var ref datakeys.StreamRef
	if isHidden {
		var stored, o string
		var ok bool
		ref = s.keys.StreamRef(stream)
		// A stream's first append (a message recorded) need not look for a name: naming
		// it in the append's transaction finds an existing one, and the append then
		// fails on the version as a redelivery should. That saves a query per message.
		if expected != domain.NoStream || !s.namesInAppend() {
			var err error
			if stored, o, ok, err = s.keys.FindStreamRef(ctx, ref); err != nil {
				return domain.AppendResult{}, fmt.Errorf("append: %w", err)
			}
		} else if c, co, hit := s.keys.CachedStream(ref); hit {
			stored, o, ok = c, co, true
		}
		if ok {
			target, owner = stored, o
		} else {
			var err error
			if owner, ownerFrom, err = s.ownerFor(ctx, stream, events); err != nil {
				return domain.AppendResult{}, fmt.Errorf("append: owner of a new stream: %w", err)
			}
			fresh = true
		}
	} else if storedForm(stream) {
		// A stream read under its stored name (its owner erased, or a reader of the
		// stored log): its owner is found, or gone.
		_, o, ok, err := s.keys.LogicalStream(ctx, stream)
		if err != nil {
			return domain.AppendResult{}, fmt.Errorf("append: %w", err)
		}
		if ok {
			owner = o
		} else {
			owner = erasedOwner
		}
	}
	gen := s.keys.Generation()
	out, exact, err := s.seal(ctx, target, owner, ownerFrom, events)
	if err != nil {
		return domain.AppendResult{}, err
	}
	var res domain.AppendResult
	if fresh {
		res, err = s.appendNew(ctx, ref, owner, expected, out, prefix)
	} else {
		res, err = s.EventStore.Append(ctx, target, expected, out...)
	}
	if err == nil {
		s.rememberOpened(gen, events, exact)
	}
	return res, err
}

// rememberOpened keeps the payloads just appended as their reads will open them: the
// resolver reads a message's stream right after it is recorded, and every follower reads
// each event again. exact[i] says that events[i] opens to the payload given (every value
// it sealed was plain, none read Erased).
func (s *Store) rememberOpened(gen uint64, events []domain.EventData, exact []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.generation || s.keys.Generation() != gen {
		return
	}
	for i, e := range events {
		if !exact[i] || e.ID == "" {
			continue
		}
		if len(s.opened) >= maxOpened {
			s.opened = map[string]json.RawMessage{}
		}
		s.opened[e.ID] = e.Payload
	}
}

// erasedOwner stands for the owner of a stored stream whose owner is gone: whatever is
// appended there about the person is erased already.
const erasedOwner = "-"

// seal returns events with their personal values sealed, and for each whether it opens
// again to exactly the payload given. ownerFrom is the index of the event whose subject
// made owner (ownerFor), -1 if none: its subject is not looked for twice.
func (s *Store) seal(ctx context.Context, stream, owner string, ownerFrom int, events []domain.EventData) ([]domain.EventData, []bool, error) {
	out := make([]domain.EventData, len(events))
	exact := make([]bool, len(events))
	streamSubject := owner
	for i, e := range events {
		out[i] = e
		if len(domain.PersonalPaths(e.Type)) == 0 {
			exact[i] = true
			continue
		}
		id := erasedOwner
		switch {
		case owner == erasedOwner:
		case i == ownerFrom:
			id = owner
			if e.Type == domain.EventMessageReceived {
				s.rememberStream(stream, id)
			}
		default:
			var err error
			if id, err = s.subjectOf(ctx, stream, e, &streamSubject); err != nil {
				return nil, nil, fmt.Errorf("append: seal %s: %w", e.Type, err)
			}
		}
		exact[i] = id != erasedOwner
		// Unchecked: the store below refuses a payload that is not JSON, and the walk
		// returns one that is not JSON for one that was not.
		payload, err := domain.MapPersonalUnchecked(e.Type, e.Payload, func(path, v string) (string, error) {
			if datakeys.IsSealed(v) {
				exact[i] = false
				return v, nil
			}
			if id == erasedOwner {
				return domain.Erased, nil
			}
			sealed, err := s.keys.Seal(ctx, id, path, v)
			if errors.Is(err, datakeys.ErrErased) {
				// A late event of an erased stream (a publication receipt after the
				// erasure): what it says about the person is erased already.
				exact[i] = false
				return domain.Erased, nil
			}
			return sealed, err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("append: seal %s: %w", e.Type, err)
		}
		out[i].Payload = payload
	}
	return out, exact, nil
}

// subjectOf picks the subject id that seals e. An event that names no subject takes the
// stream's: its MessageReceived's, carried in streamSubject within one batch and read
// from the stream after.
func (s *Store) subjectOf(ctx context.Context, stream string, e domain.EventData, streamSubject *string) (string, error) {
	ref, named, err := s.payloadSubject(e)
	if err != nil {
		return "", err
	}
	if named {
		id, err := s.keys.SubjectID(ctx, ref, true)
		if err != nil {
			return "", err
		}
		if e.Type == domain.EventMessageReceived {
			*streamSubject = id
			s.rememberStream(stream, id)
		}
		return id, nil
	}
	if *streamSubject != "" {
		return *streamSubject, nil
	}
	id, err := s.streamSubject(ctx, stream)
	if err != nil {
		return "", err
	}
	*streamSubject = id
	return id, nil
}

// payloadSubject is domain.PayloadSubject, with a MessageReceived's sender remembered.
func (s *Store) payloadSubject(e domain.EventData) (domain.Subject, bool, error) {
	if e.Type != domain.EventMessageReceived {
		return domain.PayloadSubject(e.Type, e.Payload, s.channels.Channel)
	}
	// Only the fields the memory is keyed by: decoding the whole message costs more.
	v, err := senderFields.Strings(e.Payload)
	if err != nil {
		return "", false, fmt.Errorf("subject of %s: %w", e.Type, err)
	}
	memo := strings.Join(v, "\x00")
	s.mu.Lock()
	ref, ok := s.messageSubjects[memo]
	s.mu.Unlock()
	if ok {
		return ref, true, nil
	}
	ref, _, err = domain.PayloadSubject(e.Type, e.Payload, s.channels.Channel)
	if err != nil {
		return "", false, err
	}
	// A sender with no identifier at all is the message itself: not worth remembering.
	if v[1] != "" || v[2] != "" || v[3] != "" || v[4] != "" {
		s.mu.Lock()
		if len(s.messageSubjects) >= maxStreamSubjects {
			s.messageSubjects = map[string]domain.Subject{}
		}
		s.messageSubjects[memo] = ref
		s.mu.Unlock()
	}
	return ref, true, nil
}

// senderFields are what decides a MessageReceived's subject besides its channel's
// settings; the message id only when they are all empty, and then nothing is remembered.
var senderFields = domain.NewFieldPaths("channel_id", "sender.phone", "sender.user_id", "sender.username", "sender.bsuid")

func (s *Store) rememberStream(stream, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subjects[stream]; ok {
		return
	}
	if len(s.subjects) >= maxStreamSubjects {
		s.subjects = map[string]string{}
	}
	s.subjects[stream] = id
}

// streamSubject is the subject of the first sealed value of the stream's events, as
// stored: a message stream's is its MessageReceived's. A stream with no sealed value
// yet gets a subject of its own.
func (s *Store) streamSubject(ctx context.Context, stream string) (string, error) {
	s.mu.Lock()
	id, ok := s.subjects[stream]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	recorded, err := s.EventStore.ReadStream(ctx, stream, 0)
	if err != nil {
		return "", fmt.Errorf("subject of stream: %w", err)
	}
	for _, e := range recorded {
		if id, ok := firstSealedSubject(e.Payload); ok {
			s.rememberStream(stream, id)
			return id, nil
		}
	}
	id, err = s.keys.SubjectID(ctx, domain.Subject("stream\x00"+stream), true)
	if err != nil {
		return "", err
	}
	s.rememberStream(stream, id)
	return id, nil
}

var sealedMark = []byte(`"sb1:`)

// firstSealedSubject finds the subject id of the first sealed value in a stored payload.
func firstSealedSubject(payload []byte) (string, bool) {
	i := bytes.Index(payload, sealedMark)
	if i < 0 {
		return "", false
	}
	rest := payload[i+len(sealedMark):]
	end := bytes.IndexByte(rest, ':')
	if end <= 0 {
		return "", false
	}
	id := string(rest[:end])
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// ReadStream reads through inner and opens the events. A hidden stream is read under
// its stored name; one never written, or whose owner was erased, has no events.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	target, logical := stream, ""
	if _, isHidden := hidden(stream); isHidden {
		stored, _, ok, err := s.keys.FindStream(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("read stream: %w", err)
		}
		if !ok {
			return nil, nil
		}
		target, logical = stored, stream
	}
	events, err := s.EventStore.ReadStream(ctx, target, afterVersion)
	if err != nil {
		return nil, err
	}
	if err := s.translate(ctx, events, logical); err != nil {
		return nil, fmt.Errorf("read stream %q: %w", target, err)
	}
	if err := s.open(ctx, events); err != nil {
		return nil, fmt.Errorf("read stream %q: %w", target, err)
	}
	return events, nil
}

// ReadAll reads through inner, names the events' streams as the application knows them
// and opens the events.
func (s *Store) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error) {
	events, err := s.EventStore.ReadAll(ctx, afterPosition, limit)
	if err != nil {
		return nil, err
	}
	if err := s.translate(ctx, events, ""); err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	if err := s.open(ctx, events); err != nil {
		return nil, fmt.Errorf("read all after %d: %w", afterPosition, err)
	}
	return events, nil
}

// open replaces sealed values with their plain text, or domain.Erased where the
// subject's key is destroyed. Any other failure (the keys table unreadable, a value
// that does not authenticate) is an error: reading on would show damage as erasure.
func (s *Store) open(ctx context.Context, events []domain.RecordedEvent) error {
	gen := s.keys.Generation()
	s.mu.Lock()
	if gen != s.generation {
		s.opened, s.generation = map[string]json.RawMessage{}, gen
	}
	s.mu.Unlock()
	for i := range events {
		e := &events[i]
		if !bytes.Contains(e.Payload, sealedMark) {
			continue
		}
		s.mu.Lock()
		cached, ok := s.opened[e.ID]
		s.mu.Unlock()
		if ok {
			e.Payload = cached
			continue
		}
		payload, err := domain.MapPersonal(e.Type, e.Payload, func(path, v string) (string, error) {
			plain, err := s.keys.Open(ctx, path, v)
			if errors.Is(err, datakeys.ErrErased) {
				return domain.Erased, nil
			}
			return plain, err
		})
		if err != nil {
			return fmt.Errorf("open %s at position %d: %w", e.Type, e.Position, err)
		}
		e.Payload = payload
		s.mu.Lock()
		// Only while nothing was forgotten since the read began: a payload opened with
		// a key forgotten meanwhile must not outlive it.
		if s.generation == gen && s.keys.Generation() == gen {
			if len(s.opened) >= maxOpened {
				s.opened = map[string]json.RawMessage{}
			}
			s.opened[e.ID] = payload
		}
		s.mu.Unlock()
	}
	return nil
}
