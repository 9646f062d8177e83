package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event types. The four named by the design are SenderIdentified, ContactMatched,
// ContactCreated and ConversationUnlinked; the others are what the rules need.
// Renaming a type orphans every stored event of the old name: add an upcaster instead.
const (
	// Message stream ("message:{channel}:{message id}").
	EventMessageReceived      = "MessageReceived"
	EventSenderIdentified     = "SenderIdentified"
	EventContactMatched       = "ContactMatched"
	EventContactCreated       = "ContactCreated"
	EventConversationUnlinked = "ConversationUnlinked"
	EventMessagePublished     = "MessagePublished"
	EventDeadLettered         = "DeadLettered"
	EventRetryRequested       = "RetryRequested"

	// Match-key stream ("matchkey:{workspace}:{lookup}:{identifier}").
	EventMatchKeyClaimed         = "MatchKeyClaimed"
	EventMatchKeyCreateAttempted = "MatchKeyCreateAttempted"
	EventMatchKeyClaimReleased   = "MatchKeyClaimReleased"
	EventMatchKeyResolved        = "MatchKeyResolved"
	EventMatchKeyForgotten       = "MatchKeyForgotten"
	EventMatchKeyFollowed        = "MatchKeyFollowedMerge"
	// EventMatchKeyBSUIDRecorded is on a phone key's stream (rule 14).
	EventMatchKeyBSUIDRecorded = "MatchKeyBSUIDRecorded"
)

// MessageStream is the stream of one inbound message; its first event claims the
// (channel, platform message id) pair, which is what makes redelivery a no-op.
func MessageStream(channelID, messageID string) string {
	return "message:" + channelID + ":" + messageID
}

// MessageReceived is the durable record of an inbound message: once it is appended the
// platform may be told "received".
type MessageReceived struct {
	WorkspaceID     string      `json:"workspace_id"`
	ChannelID       string      `json:"channel_id"`
	ChannelKind     ChannelKind `json:"channel_kind"`
	MessageID       string      `json:"message_id"`
	SentAt          time.Time   `json:"sent_at"`
	Sender          Sender      `json:"sender"`
	Text            string      `json:"text"`
	Source          string      `json:"source,omitempty"`
	PlatformEventID string      `json:"platform_event_id,omitempty"`
	// TextTruncated says the platform sent a longer text than switchboard records:
	// Text is its beginning and a marker (see InboundMessage.TextTruncated).
	TextTruncated bool `json:"text_truncated,omitempty"`
}

// SenderIdentified records which identifier came in, how it was normalized, and which
// channel settings applied.
type SenderIdentified struct {
	ChannelID  string          `json:"channel_id"`
	Settings   ChannelSettings `json:"settings"`
	Source     string          `json:"source"`
	Raw        string          `json:"raw"`
	Identifier string          `json:"identifier"`
	Steps      []string        `json:"steps,omitempty"`
	MatchKey   MatchKey        `json:"match_key"`
	// Searched names the HubSpot properties the identifier is looked up in.
	Searched []string `json:"searched"`
	// ValidNumber says, on a phone channel, whether phonenumbers found the identifier a
	// valid number when it was normalized: the publisher then sends it as
	// HS_PHONE_NUMBER (SenderDelivery) without parsing it again. Absent in events
	// recorded before it was kept, and for identifiers that are not numbers.
	ValidNumber *bool `json:"valid_number,omitempty"`
}

// CandidateVerdict is one contact a lookup returned and whether the rules kept it.
type CandidateVerdict struct {
	ContactID string            `json:"contact_id"`
	CreatedAt time.Time         `json:"created_at"`
	Kept      bool              `json:"kept"`
	Reason    string            `json:"reason"`
	Matched   []string          `json:"matched_properties,omitempty"`
	Values    map[string]string `json:"values,omitempty"`
}

// ContactMatched says the message resolved to an existing contact, and why.
type ContactMatched struct {
	MatchKey  MatchKey `json:"match_key"`
	ContactID string   `json:"contact_id"`
	// Via is how the contact was known: "match_key" (sticky, no HubSpot call),
	// "correction" (an operator's link, no HubSpot call), "search", "read_by_property",
	// "existing_on_create" (HubSpot answered 409), "create_key" (the contact an earlier
	// attempt created, read by its create key).
	Via               string             `json:"via"`
	MatchedProperties []string           `json:"matched_properties,omitempty"`
	Lookups           []Lookup           `json:"lookups,omitempty"`
	Candidates        []CandidateVerdict `json:"candidates,omitempty"`
	Ambiguous         bool               `json:"ambiguous,omitempty"`
	// ThreadRef names the sender in the thread id when it is not the identifier that
	// came in: a WhatsApp BSUID-only message of a person known by phone goes on the
	// phone's thread (rule 9, ThreadID).
	ThreadRef string `json:"thread_ref,omitempty"`
	// Corrections are the operators' corrections that decided this outcome (rule 13):
	// the link of Via "correction", the never-links that dropped candidates.
	Corrections []CitedCorrection `json:"corrections,omitempty"`
}

// ContactCreated says switchboard created the contact for this message.
type ContactCreated struct {
	MatchKey          MatchKey           `json:"match_key"`
	ContactID         string             `json:"contact_id"`
	Properties        map[string]string  `json:"properties"`
	MatchedProperties []string           `json:"matched_properties,omitempty"`
	Lookups           []Lookup           `json:"lookups,omitempty"`
	Candidates        []CandidateVerdict `json:"candidates,omitempty"`
	// Corrections are the never-links that dropped candidates (rule 13).
	Corrections []CitedCorrection `json:"corrections,omitempty"`
}

// Reasons a conversation is left unlinked.
const (
	UnlinkedNoPhone      = "no_phone_number"
	UnlinkedBSUIDOnly    = "bsuid_without_property"
	UnlinkedNoIdentifier = "no_identifier"
	UnlinkedBlocked      = "blocked"
	UnlinkedNoMatch      = "no_match_without_auto_create"
	UnlinkedSlackNoMatch = "no_match_slack_never_creates"
)

// ConversationUnlinked says the message lands in the inbox tied to no contact, and why.
type ConversationUnlinked struct {
	Reason     string             `json:"reason"`
	Detail     string             `json:"detail"`
	MatchKey   *MatchKey          `json:"match_key,omitempty"`
	Lookups    []Lookup           `json:"lookups,omitempty"`
	Candidates []CandidateVerdict `json:"candidates,omitempty"`
	// Corrections are the never-links that dropped candidates (rule 13).
	Corrections []CitedCorrection `json:"corrections,omitempty"`
}

// MessagePublished records the inbox message HubSpot holds for this message.
type MessagePublished struct {
	HubSpotMessageID string `json:"hubspot_message_id"`
	ConversationID   string `json:"conversations_thread_id"`
	IdempotencyID    string `json:"integration_idempotency_id"`
	ThreadID         string `json:"integration_thread_id"`
	ContactID        string `json:"contact_id,omitempty"`
	Attempts         int    `json:"attempts"`
}

// Stages of a message's handling that can fail for good.
const (
	StageResolution  = "resolution"
	StagePublication = "publication"
)

// DeadLettered records work that failed for good (a revoked token, a missing scope, a
// validation error): it stops retrying and waits for an operator.
type DeadLettered struct {
	Stage    string `json:"stage"`
	Reason   string `json:"reason"`
	Status   int    `json:"status,omitempty"`
	Attempts int    `json:"attempts"`
}

// RetryRequested is an operator's request to run a dead-lettered stage again.
type RetryRequested struct {
	Stage       string `json:"stage"`
	RequestedBy string `json:"requested_by"`
}

// MatchKeyClaimed reserves a match key while its holder creates the contact, so that
// concurrent first messages of one sender create one contact. A claim older than the
// lease may be taken over (the holder crashed).
type MatchKeyClaimed struct {
	MatchKey MatchKey `json:"match_key"`
	Holder   string   `json:"holder"`
}

// MatchKeyCreateAttempted is appended, under the holder's claim and with the version
// the claim was read at, just before a create is sent to HubSpot. It renews the claim,
// and it stays on the stream whatever the create's answer: any later attempt that finds
// a create attempted and the key unresolved knows a contact may exist, and confirms
// before it creates again — by CreateKey when the workspace has a create key property
// (rule 5), else by a search after HubSpot's search lag (see CreatePolicy).
type MatchKeyCreateAttempted struct {
	MatchKey MatchKey `json:"match_key"`
	Holder   string   `json:"holder"`
	// KeyProperty and CreateKey are the unique property and switchboard's own value in
	// it that the create carries; empty without hubspot.create_key_property. The first
	// attempt's value is reused by every later attempt for the key, so that HubSpot
	// answers a repeated create with 409 and the existing id.
	KeyProperty string `json:"key_property,omitempty"`
	CreateKey   string `json:"create_key,omitempty"`
	// Properties are what the contact is created with (the key property included).
	Properties map[string]string `json:"properties"`
}

// MatchKeyClaimReleased gives a claim up: its attempt failed (before creating, or with
// the create's outcome unknown) and returns the error for a retry, which can then claim
// at once instead of waiting out the lease. A release never forgets a create attempted.
type MatchKeyClaimReleased struct {
	MatchKey MatchKey `json:"match_key"`
	Holder   string   `json:"holder"`
	Reason   string   `json:"reason"`
}

// MatchKeyResolved binds a match key to a contact: later messages reuse it (rule 7).
type MatchKeyResolved struct {
	MatchKey          MatchKey `json:"match_key"`
	ContactID         string   `json:"contact_id"`
	How               string   `json:"how"` // "matched" or "created"
	MatchedProperties []string `json:"matched_properties,omitempty"`
	// Properties are what a created contact was created with.
	Properties map[string]string `json:"properties,omitempty"`
	// ThreadRef is the ContactMatched.ThreadRef of the messages the key resolves:
	// the phone number of a BSUID key bound by a message that carried both
	// (HowBSUIDWithPhone).
	ThreadRef string `json:"thread_ref,omitempty"`
	// CreatedBy is the correlation id of the message whose create attempt made the
	// contact, when another attempt found it afterwards (by its create key, or HubSpot's
	// 409 naming it); empty when the resolving message is also the creator.
	CreatedBy string `json:"created_by,omitempty"`
}

// MatchKeyBSUIDRecorded says a message carried this phone key's number together with a
// WhatsApp BSUID, once the key resolved to ContactID (rule 14): what was done about it.
type MatchKeyBSUIDRecorded struct {
	MatchKey  MatchKey `json:"match_key"`
	ContactID string   `json:"contact_id"`
	BSUID     string   `json:"bsuid"`
	BSUIDKey  MatchKey `json:"bsuid_key"`
	Property  string   `json:"property"`
	// Written: the BSUID was written to the contact's empty Property. KeptOther: the
	// property held another value, which is never overwritten (rule 5).
	Written   bool `json:"written,omitempty"`
	KeptOther bool `json:"kept_other,omitempty"`
	// Bound: BSUIDKey now resolves to ContactID on the phone's thread. When it already
	// resolved to another contact, BSUIDKeyContactID names it and it was left alone.
	Bound             bool   `json:"bound,omitempty"`
	BSUIDKeyContactID string `json:"bsuid_key_contact_id,omitempty"`
	// Lookups is the read of the contact's property, when HubSpot was asked.
	Lookups []Lookup `json:"lookups,omitempty"`
}

// MatchKeyForgotten unbinds a key (the contact was deleted or its identifier changed).
type MatchKeyForgotten struct {
	MatchKey  MatchKey `json:"match_key"`
	ContactID string   `json:"contact_id"`
	Reason    string   `json:"reason"`
	// Cause names what HubSpot said, and where (absent in events recorded before it).
	Cause *KeyChangeCause `json:"cause,omitempty"`
}

// MatchKeyFollowedMerge moves a key to the contact that survived a merge.
type MatchKeyFollowedMerge struct {
	MatchKey MatchKey `json:"match_key"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	// Cause names the merge HubSpot reported, and where.
	Cause *KeyChangeCause `json:"cause,omitempty"`
}

// EventSchemaVersion is the current schema version of every payload above. A payload
// change bumps its version and adds an upcaster for the old one.
const EventSchemaVersion = 1

// NewEvent marshals a payload into EventData; id comes from the caller so tests and
// replays are deterministic.
func NewEvent(id, typ string, payload any, occurredAt time.Time, correlationID string) (EventData, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return EventData{
		ID: id, Type: typ, SchemaVersion: EventSchemaVersion,
		OccurredAt: occurredAt.UTC(), CorrelationID: correlationID, Payload: b,
	}, nil
}

// Decode unmarshals a recorded payload into v.
func Decode(e RecordedEvent, v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("decode %s at position %d: %w", e.Type, e.Position, err)
	}
	return nil
}

// RedactStream is a stream name fit for logs and errors at info level and above: a
// message's or a match key's name holds a message id or an identifier (SPEC §3 rule 17),
// which it drops, keeping the channel or the workspace and lookup.
func RedactStream(stream string) string {
	switch {
	case strings.HasPrefix(stream, "message:"):
		if ch, _, ok := strings.Cut(strings.TrimPrefix(stream, "message:"), ":"); ok {
			return "message:" + ch + ":[redacted]"
		}
	case strings.HasPrefix(stream, "matchkey:"):
		if i := strings.LastIndexByte(stream, ':'); i > len("matchkey:") {
			return stream[:i] + ":[redacted]"
		}
	}
	return stream
}
