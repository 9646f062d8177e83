package domain

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Erasure (SPEC §3 rule 17, docs/privacy.md): a subject's data keys are destroyed and
// the log records that it happened, naming the subject only by its random id.
const EventSubjectErased = "SubjectErased"

// ErasureStream is where a subject's erasure is recorded. The name holds the random
// subject id only, which nothing links to the person once the erasure is done.
func ErasureStream(subjectID string) string { return "erasure:" + subjectID }

// What asked for an erasure.
const (
	ErasedByOperator               = "operator"
	ErasedByHubSpotPrivacyDeletion = "hubspot:contact.privacyDeletion"
)

// SubjectErased records the erasure of one subject. Every process that caches data
// keys drops the subject's when it reads this event; readers of the log learn that
// someone's values read "[erased]" from now on, and why, but not whose.
type SubjectErased struct {
	SubjectID   string `json:"subject_id"`
	Trigger     string `json:"trigger"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requested_by"`
	// ContactID is the HubSpot contact whose erasure this is, when one was named (not
	// personal: HubSpot deletes the record it points to). WebhookEventID names the
	// HubSpot webhook event that asked, when one did.
	ContactID      string `json:"contact_id,omitempty"`
	WebhookEventID string `json:"webhook_event_id,omitempty"`
}

// EventPublicationCancelled (message stream): the message's sender was erased while the
// message waited for its resolution or its publication, and it will never reach an
// inbox (rule 17). The resolver or the publisher records it when it meets the message
// erased, so an auditor sees why a message with a recorded outcome was never published.
// It names nothing of the sender.
const EventPublicationCancelled = "PublicationCancelled"

// PublicationCancelled says where the message stopped (StageResolution or
// StagePublication) and why.
type PublicationCancelled struct {
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
}

// ReasonSenderErased is PublicationCancelled's reason.
const ReasonSenderErased = "the sender was erased before the message reached its inbox (rule 17)"

// CancelledByErasure is the PublicationCancelled to record for a message read as erased
// that still waited for the stage given (the stage of whoever reads it); ok is false when
// there is nothing to cancel there: the message is not erased, was already cancelled,
// dead-lettered, published, refused for a missing contact, or waits for the other stage.
func (s MessageState) CancelledByErasure(stage string) (PublicationCancelled, bool) {
	if !s.Erased() || s.Cancelled != nil || s.DeadLetter != nil || s.Published != nil || s.ContactMissing != nil {
		return PublicationCancelled{}, false
	}
	if (stage == StageResolution) != (s.Outcome == "") {
		return PublicationCancelled{}, false
	}
	return PublicationCancelled{Stage: stage, Reason: ReasonSenderErased}, true
}

// MaxErasureReason bounds an erasure's reason, in bytes.
const MaxErasureReason = MaxCorrectionReason

// CheckErasureReason refuses a missing or oversized reason. The reason is kept after the
// person is gone: it says why ("GDPR request by email of 2026-11-30"), never who.
func CheckErasureReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", Invalid("reason", "is missing; say why the person is erased (it is kept in the log, so do not name them)")
	case len(reason) > MaxErasureReason || !utf8.ValidString(reason):
		return "", Invalid("reason", "is %d bytes or not UTF-8; keep it a sentence of at most %d bytes", len(reason), MaxErasureReason)
	}
	return reason, nil
}

// SenderErasureSubjects are the subjects an operator's "erase CHANNEL IDENTIFIER" names:
// the match key the identifier normalizes to on the channel (as a correction's
// identifier is read, rule 13), and the sender as received, which seals the messages
// that never reached a key. A blocked identifier is still erasable: its messages were
// recorded.
func SenderErasureSubjects(ch ChannelSettings, known bool, identifier string) ([]Subject, error) {
	if !known {
		return nil, Invalid("channel_id", "channel %q is not configured; use a channel id of the configuration", ch.ID)
	}
	raw := strings.TrimSpace(identifier)
	if raw == "" {
		return nil, Invalid("identifier", "is missing; give the sender's %s as channel %s identifies senders", identifierWord(ch), ch.ID)
	}
	var snd Sender
	idCh := ch
	field := "user_id"
	switch {
	case ch.Kind.IsPhone():
		snd.Phone, idCh.Kind, field = raw, KindSMS, "phone"
	case ch.Identifier == IdentifyByUsername:
		snd.Username, field = raw, "username"
	default:
		snd.UserID = raw
	}
	subjects := []Subject{SenderSubject(ch.ID, field, raw)}
	if id, unlinked := Identify(idCh, BlockList{}, snd); unlinked == nil && id.Key.Identifier != "" {
		subjects = append([]Subject{KeySubject(id.Key)}, subjects...)
	}
	return subjects, nil
}

// Erased reports whether the message's sender was erased (rule 17): its message id, as
// every personal value of it, reads Erased. Nothing resolves or publishes such a message
// any more: a message still waiting when the erasure came never lands in HubSpot.
func (s MessageState) Erased() bool { return s.Received.MessageID == Erased }

// EraseValue is what one personal value reads as once its subject is erased: Erased,
// except the empty string, which the sealer leaves as it is (there is nothing to seal)
// and which therefore stays empty.
func EraseValue(v string) string {
	if v == "" {
		return ""
	}
	return Erased
}

// ErasePersonal returns payload as the log reads it once the subject that sealed it is
// erased: every non-empty personal string of event type typ is Erased, in place, and the
// payload is byte for byte what eventstore/sealed opens with a destroyed key (both go
// through MapPersonal, which changes nothing else). Projections scrub what they derived
// from a live event with it, so that the rows equal what a rebuild over the erased log
// writes.
func ErasePersonal(typ string, payload json.RawMessage) (json.RawMessage, error) {
	return MapPersonal(typ, payload, func(_, v string) (string, error) { return EraseValue(v), nil })
}
