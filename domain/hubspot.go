package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Contact is a HubSpot contact as switchboard sees it: the id (a string of digits),
// when it was created, and the properties it read.
type Contact struct {
	ID         string            `json:"id"`
	CreatedAt  time.Time         `json:"created_at"`
	Properties map[string]string `json:"properties,omitempty"`
	Archived   bool              `json:"archived,omitempty"`
}

// Lookup records one request made to HubSpot while resolving a sender, for the audit.
type Lookup struct {
	// Kind is "search", "read_by_property", "read", "batch_read".
	Kind string `json:"kind"`
	// Query says what was asked, in words (for example the filter groups of a search).
	Query string `json:"query"`
	// Found is the number of records HubSpot returned.
	Found int `json:"found"`
}

// LookupResult is what a directory query found: raw candidates, not yet confirmed by the
// domain rules, and the requests that ran.
type LookupResult struct {
	Lookups    []Lookup  `json:"lookups"`
	Candidates []Contact `json:"candidates"`
}

// PhoneQuery asks for contacts whose phone or mobilephone could be the number: HubSpot's
// searchable phone properties hold the national number without the country code, so
// NationalNumbers lists every national form of the number and its WhatsApp equivalents.
type PhoneQuery struct {
	E164            string
	NationalNumbers []string
}

// ContactDirectory is one workspace's HubSpot CRM, as resolution needs it.
//
// Errors. Every method's errors fall in two classes, which the resolver acts on:
//   - an error matching ErrPermanent (a revoked token, a missing scope, a property that
//     does not exist; errors.As finds an *ExternalError with the HTTP status) makes the
//     message a dead letter: no retry can fix it;
//   - any other error is transient (rate limits past the client's own retries, 5xx,
//     timeouts, ctx's error when ctx ended) and the message is retried later.
//
// A request the caller got wrong (an empty id, no number to search for, a property
// name that cannot exist) is a *Error with CodeInvalid, detected before any call; it
// does not match ErrPermanent, so the caller must not send one. The
// methods name their other errors; no method reports "nothing found" as an error
// except GetContact and UpdateContact.
type ContactDirectory interface {
	// FindByPhone finds contacts whose phone or mobilephone holds one of q's national
	// numbers. No contact is an empty result and no error.
	FindByPhone(ctx context.Context, q PhoneQuery) (LookupResult, error)
	// FindByProperty finds contacts whose property holds one of values: the spellings
	// of one identifier (a username with and without its '@'). Candidates still go
	// through ConfirmCandidates. No contact is an empty result and no error.
	FindByProperty(ctx context.Context, property string, values ...string) (LookupResult, error)
	// CreateContact creates a contact. When HubSpot answers that the contact exists (409
	// on a unique value) it returns that contact's id with ErrContactExists wrapped in a
	// *ContactExistsError. A transient error here may hide a contact HubSpot did
	// create (the answer was lost): the caller must look the contact up again before
	// creating again, never just repeat the create.
	CreateContact(ctx context.Context, properties map[string]string) (Contact, error)
	// GetContact reads one contact by id with the given properties; ErrContactNotFound
	// when it is deleted or unknown.
	GetContact(ctx context.Context, id string, properties []string) (Contact, error)
	// UpdateContact sets properties (used only to fill empty values, rule 5);
	// ErrContactNotFound when the contact is deleted or unknown.
	UpdateContact(ctx context.Context, id string, properties map[string]string) error
}

// ErrContactExists and ErrContactNotFound are matched with errors.Is.
var (
	ErrContactExists   = errors.New("contact already exists")
	ErrContactNotFound = errors.New("contact not found")
)

// ContactExistsError carries the id HubSpot named in its 409 answer.
type ContactExistsError struct{ ExistingID string }

func (e *ContactExistsError) Error() string {
	return fmt.Sprintf("contact already exists (existing id %q)", e.ExistingID)
}
func (e *ContactExistsError) Is(target error) bool { return target == ErrContactExists }

// DeliveryIdentifier is how HubSpot names a conversation participant.
type DeliveryIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Delivery identifier types used for senders (SPEC §6).
const (
	DeliveryPhone    = "HS_PHONE_NUMBER"
	DeliveryOpaqueID = "CHANNEL_SPECIFIC_OPAQUE_ID"
)

// InboxMessage is one incoming message to publish into a HubSpot custom channel.
type InboxMessage struct {
	Inbox             Inbox
	IdempotencyID     string
	ThreadID          string
	Text              string
	SenderName        string
	Sender            DeliveryIdentifier
	Timestamp         time.Time
	ContactID         string   // empty when the conversation is unlinked
	MatchedProperties []string // properties that led to the match
}

// PublishedMessage is HubSpot's answer to a publication.
type PublishedMessage struct {
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_thread_id"`
}

// InboxPublisher publishes into one workspace's HubSpot inboxes.
//
// Publish is idempotent on m.IdempotencyID: publishing again what HubSpot already holds
// answers the message it holds (no error), so a retry after a lost answer makes no
// second inbox message. Errors:
//   - an error matching ErrPermanent (401, 403, a channel or account that does not
//     exist, a message HubSpot refuses as invalid; errors.As finds an *ExternalError
//     with the status) makes the publication a dead letter;
//   - when m lacks what a publication needs (an inbox channel or account id, an
//     idempotency id, a sender), a *Error with CodeInvalid that also matches
//     ErrPermanent, detected before any call: the same m would fail every time;
//   - any other error (rate limits past the client's own retries, 5xx, timeouts, ctx's
//     error) is transient, and the publication is retried with the same m.
type InboxPublisher interface {
	Publish(ctx context.Context, m InboxMessage) (PublishedMessage, error)
}

// ErrPermanent marks a failure of HubSpot or a platform's API that no retry can fix
// (400, 401, 403, a 404 on publication): the work goes to the dead-letter list instead.
// Every other error of a port is transient and is retried. An *ExternalError carrying
// Permanent matches it, with the HTTP status of the refusal.
var ErrPermanent = errors.New("permanent failure")
