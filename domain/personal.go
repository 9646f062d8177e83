package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Personal data and its subjects (SPEC §3 rule 17, docs/privacy.md). The domain says
// which payload fields hold personal values and whose they are; sealing them with a
// subject's data key, and destroying that key to erase them, is I/O and lives outside
// (eventstore/datakeys, eventstore/sealed).

// Erased is what a personal value reads as once its subject's data key is destroyed.
// Folds and projections must treat it as an opaque value: it never equals a real
// identifier, so an erased key folds to a state that matches nothing.
const Erased = "[erased]"

// Subject names one identifier of one person, the unit of erasure: every personal value
// is sealed with the data key of exactly one subject. A Subject is itself personal (it
// holds the identifier): it is never stored, logged or used as a name; the keeper maps
// it to a random subject id through an index row that erasure deletes.
type Subject string

// KeySubject is the subject of a match key: every event about the key, and every message
// that identified to it, is sealed with its key.
func KeySubject(k MatchKey) Subject {
	return Subject("key\x00" + k.Workspace + "\x00" + k.Lookup + "\x00" + k.Identifier)
}

// SenderSubject is the subject of a sender that has no match key (an unparseable phone,
// a user id on a channel that resolves by a username not yet known): the sender field
// as received on that channel.
func SenderSubject(channelID, field, value string) Subject {
	return Subject("sender\x00" + channelID + "\x00" + field + "\x00" + value)
}

// MessageSubject is the subject whose key seals an inbound message and the events of
// its stream: the match key the sender identifies to when the message itself says (the
// block list is not applied: a blocked sender is still a person with a key to erase),
// else the sender field the channel reads, else the message alone.
func MessageSubject(ch ChannelSettings, s Sender, messageID string) Subject {
	id, unlinked := Identify(ch, BlockList{}, s)
	if unlinked == nil && id.Key.Identifier != "" {
		return KeySubject(id.Key)
	}
	for _, f := range [...]struct{ name, value string }{
		{id.Source, id.Raw}, {"user_id", s.UserID}, {"phone", s.Phone}, {"bsuid", s.BSUID}, {"username", s.Username},
	} {
		if f.name != "" && strings.TrimSpace(f.value) != "" {
			return SenderSubject(ch.ID, f.name, f.value)
		}
	}
	return Subject("message\x00" + ch.ID + "\x00" + messageID)
}

// Paths shared by the payloads that carry lookups and candidates.
var resolutionPaths = []string{"match_key.identifier", "lookups[].query", "candidates[].values.*", "corrections[].reason"}

// personalPaths lists, per event type, the JSON paths of its personal string values:
// "a.b" a field, "a[]" every element of a list, "a.*" every value of a map (the keys
// are HubSpot property names, not personal). docs/privacy.md says why each is
// personal. An event type absent here holds nothing personal.
var personalPaths = map[string][]string{
	EventMessageReceived: {"message_id", "text", "sender.user_id", "sender.username", "sender.phone",
		"sender.first_name", "sender.last_name", "sender.display_name", "sender.email", "sender.bsuid"},
	EventSenderIdentified:     {"raw", "identifier", "steps[]", "match_key.identifier"},
	EventContactMatched:       append([]string{"thread_ref"}, resolutionPaths...),
	EventContactCreated:       append([]string{"properties.*"}, resolutionPaths...),
	EventConversationUnlinked: append([]string{"detail"}, resolutionPaths...),
	EventMessagePublished:     {"integration_idempotency_id", "integration_thread_id"},
	EventDeadLettered:         {"reason"},
	EventMatchKeyClaimed:      {"match_key.identifier", "holder"},
	// The create key is switchboard's own random value, and it must stay readable to
	// confirm a create; the properties are the person's.
	EventMatchKeyCreateAttempted: {"match_key.identifier", "holder", "properties.*"},
	EventMatchKeyClaimReleased:   {"match_key.identifier", "holder"},
	EventMatchKeyResolved:        {"match_key.identifier", "properties.*", "thread_ref"},
	EventMatchKeyBSUIDRecorded:   {"match_key.identifier", "bsuid", "bsuid_key.identifier", "lookups[].query"},
	EventMatchKeyForgotten:       {"match_key.identifier"},
	EventMatchKeyFollowed:        {"match_key.identifier"},
	EventMatchKeyLinked:          {"match_key.identifier", "raw", "reason"},
	EventMatchKeyNeverLinked:     {"match_key.identifier", "raw", "reason"},
	EventMatchKeyUnpinned:        {"match_key.identifier", "raw", "reason", "removed[].reason"},
	// The reason of an erasure should not name the person, but may: sealed like any
	// free text, with the erasure stream's own subject.
	EventSubjectErased: {"reason"},
	// HubSpot's refusal and the withdrawal name contact ids, and a reason that is
	// switchboard's or HubSpot's text, which may quote a value: sealed.
	EventPublicationContactMissing: {"reason"},
	EventResolutionRevoked:         {"reason"},
}

// notPersonal lists the event types that were looked at and hold nothing personal. Every
// registered event type is in personalPaths or here (TestEveryEventTypeIsClassified): a
// new type must be decided on, or its values would be stored in the clear unnoticed.
var notPersonal = map[string]bool{
	EventRetryRequested: true,
	// A stage and switchboard's fixed reason, on a stream whose name says nothing.
	EventPublicationCancelled: true,
	// A HubSpot webhook event as recorded: ids, types and a property name; the
	// property's new value is never kept.
	EventHubSpotContactChanged: true,
	// The portal's setup: app, channel, account and property ids and names.
	EventHubSpotChannelRegistered:       true,
	EventHubSpotChannelAccountConnected: true,
	EventHubSpotPropertyCreated:         true,
}

// PersonalPaths returns the personal paths of event type typ (nil: nothing personal).
func PersonalPaths(typ string) []string { return personalPaths[typ] }

// PayloadSubject is the subject an event's own payload names: its match key's, or for
// a MessageReceived the message's (which needs the channel's settings). ok is false for
// an event that names none (a MessagePublished): it takes its stream's subject.
func PayloadSubject(typ string, payload json.RawMessage, channel func(id string) (ChannelSettings, bool)) (s Subject, ok bool, err error) {
	if typ == EventMessageReceived {
		var m MessageReceived
		if err := json.Unmarshal(payload, &m); err != nil {
			return "", false, fmt.Errorf("subject of %s: %w", typ, err)
		}
		ch, known := channel(m.ChannelID)
		if !known {
			ch = ChannelSettings{ID: m.ChannelID, WorkspaceID: m.WorkspaceID, Kind: m.ChannelKind}
		}
		return MessageSubject(ch, m.Sender, m.MessageID), true, nil
	}
	if !bytes.Contains(payload, []byte(`"match_key"`)) {
		return "", false, nil
	}
	v, err := matchKeyFields.Strings(payload)
	if err != nil {
		return "", false, fmt.Errorf("subject of %s: %w", typ, err)
	}
	k := MatchKey{Workspace: v[0], Lookup: v[1], Identifier: v[2]}
	if k.Identifier == "" {
		return "", false, nil
	}
	return KeySubject(k), true, nil
}

var matchKeyFields = NewFieldPaths("match_key.workspace", "match_key.lookup", "match_key.identifier")

// MapPersonal returns payload with f applied to every personal string value of event
// type typ (f gets the path, such as "sender.phone", and the value). Fields that are
// absent, null or not strings are left as they are, and so is every byte but the values
// f changed (personaljson.go): a payload f changes nothing in comes back as it was.
func MapPersonal(typ string, payload json.RawMessage, f func(path, value string) (string, error)) (json.RawMessage, error) {
	if personalTrees[typ] != nil && !json.Valid(payload) {
		return nil, fmt.Errorf("personal fields of %s: the payload is not valid JSON", typ)
	}
	return MapPersonalUnchecked(typ, payload, f)
}

// MapPersonalUnchecked is MapPersonal without its check that payload is valid JSON, for
// a caller that hands what it returns to one that checks it: the sealing store, whose
// appends the store below validates (eventstore/appendcheck), so that a known sender's
// message is not checked twice on its way in. The walk copies every byte but the values
// f changes, and decodes and encodes each of those, so what it returns is JSON exactly
// when payload was (FuzzUncheckedMapPersonalKeepsWhetherItIsJSON), or it fails.
func MapPersonalUnchecked(typ string, payload json.RawMessage, f func(path, value string) (string, error)) (json.RawMessage, error) {
	tree := personalTrees[typ]
	if tree == nil {
		return payload, nil
	}
	out, err := mapPersonalJSON(tree, payload, f)
	if err != nil {
		return nil, fmt.Errorf("personal fields of %s: %w", typ, err)
	}
	return out, nil
}

// MessageRef is the reference of one inbound message, (channel, platform message id):
// what its stream is found by, and, being personal (WhatsApp and Telegram ids embed the
// sender's number or chat id), never a name itself.
func MessageRef(channelID, messageID string) Subject {
	return Subject("message-id\x00" + channelID + "\x00" + messageID)
}
