package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/domain"
)

// SubjectKeys is the keeper of data keys as erasure uses it (eventstore/datakeys.Keeper).
type SubjectKeys interface {
	// Find returns the random subject id of ref; ok is false when there is none (never
	// seen, or erased already).
	Find(ctx context.Context, ref domain.Subject) (id string, ok bool, err error)
	// Destroy deletes the subject's data key and index rows, leaving no copy in the
	// store's files; destroying a subject already gone succeeds.
	Destroy(ctx context.Context, id string) error
}

// ContactKeys lists a contact's subjects (docs/privacy.md §2): the match keys ever
// resolved to it (the identifier cache projection answers), and the subject ids of the
// messages resolved to it (the audit projection answers), which include those sealed
// with a sender subject of their own.
type ContactKeys interface {
	KeysOf(ctx context.Context, workspaceID, contactID string) ([]domain.MatchKey, error)
	MessageSubjectsOf(ctx context.Context, workspaceID, contactID string) ([]string, error)
}

// EraseSubjects erases people (SPEC §3 rule 17): each subject's erasure is recorded
// (SubjectErased, on its erasure stream, naming it by its random id) and its data key
// destroyed, after which everything sealed with it reads "[erased]". Build it with
// SenderErasure (an operator's `erase CHANNEL IDENTIFIER`) or ContactErasure (HubSpot's
// contact.privacyDeletion, or `erase --contact`).
type EraseSubjects struct {
	Subjects []domain.Subject
	// SubjectIDs are subjects already known by their random id (a projection row's).
	SubjectIDs []string
	// Trigger is domain.ErasedByOperator or domain.ErasedByHubSpotPrivacyDeletion.
	Trigger     string
	Reason      string
	RequestedBy string
	// ContactID and WebhookEventID say which contact and which webhook event asked,
	// when one did.
	ContactID      string
	WebhookEventID string
}

// ErasureReceipt says what an erasure did.
type ErasureReceipt struct {
	CorrelationID string `json:"correlation_id"`
	// Erased counts the subjects whose keys were destroyed; AlreadyGone those that had
	// none (never seen, or erased before) — which is not an error: erasing twice is
	// erasing once.
	Erased      int `json:"erased"`
	AlreadyGone int `json:"already_gone"`
}

// EraseSubjectsHandler records and performs erasures.
type EraseSubjectsHandler struct {
	store domain.EventStore
	keys  SubjectKeys
	newID func() string
	now   func() time.Time
}

// NewEraseSubjectsHandler refuses missing dependencies.
func NewEraseSubjectsHandler(store domain.EventStore, keys SubjectKeys, newID func() string, now func() time.Time) (*EraseSubjectsHandler, error) {
	if store == nil || keys == nil || newID == nil || now == nil {
		return nil, errors.New("new erase subjects handler: store, data keys, id generator and clock are required")
	}
	return &EraseSubjectsHandler{store: store, keys: keys, newID: newID, now: now}, nil
}

// Handle erases every subject of cmd. For each, the SubjectErased event is appended
// first and the key destroyed after: a crash between the two leaves the event without
// the destruction, and running the erasure again finds the subject, sees the event
// already recorded (its stream exists) and destroys the key. The other order would
// leave a destroyed key that other processes never hear of.
func (h *EraseSubjectsHandler) Handle(ctx context.Context, cmd EraseSubjects) (ErasureReceipt, error) {
	reason, err := domain.CheckErasureReason(cmd.Reason)
	if err != nil {
		return ErasureReceipt{}, err
	}
	switch {
	case cmd.Trigger != domain.ErasedByOperator && cmd.Trigger != domain.ErasedByHubSpotPrivacyDeletion:
		return ErasureReceipt{}, domain.Invalid("trigger", "%q is not a trigger of erasure; expected %q or %q", cmd.Trigger, domain.ErasedByOperator, domain.ErasedByHubSpotPrivacyDeletion)
	case strings.TrimSpace(cmd.RequestedBy) == "":
		return ErasureReceipt{}, domain.Invalid("requested_by", "is missing; every erasure records who asked")
	}
	rec := ErasureReceipt{CorrelationID: h.newID()}
	var ids []string
	for _, ref := range cmd.Subjects {
		id, ok, err := h.keys.Find(ctx, ref)
		if err != nil {
			return rec, fmt.Errorf("erase: find subject: %w", err)
		}
		if !ok {
			rec.AlreadyGone++
			continue
		}
		ids = append(ids, id)
	}
	found := len(ids)
	ids = append(ids, cmd.SubjectIDs...)
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] || strings.TrimSpace(id) == "" {
			continue
		}
		seen[id] = true
		e, err := domain.NewEvent(h.newID(), domain.EventSubjectErased, domain.SubjectErased{
			SubjectID: id, Trigger: cmd.Trigger, Reason: reason, RequestedBy: cmd.RequestedBy,
			ContactID: cmd.ContactID, WebhookEventID: cmd.WebhookEventID,
		}, h.now(), rec.CorrelationID)
		if err != nil {
			return rec, err
		}
		_, err = h.store.Append(ctx, domain.ErasureStream(id), domain.NoStream, e)
		recordedBefore := errors.Is(err, domain.ErrWrongExpectedVersion)
		if err != nil && !recordedBefore {
			return rec, fmt.Errorf("erase subject %s: record: %w", id, err)
		}
		if err := h.keys.Destroy(ctx, id); err != nil {
			return rec, fmt.Errorf("erase subject %s: %w", id, err)
		}
		// A subject found by its reference had a key until now; one named by its id
		// may have been erased before (a projection row outlives the key until it is
		// scrubbed), and its erasure stream says so.
		if i >= found && recordedBefore {
			rec.AlreadyGone++
			continue
		}
		rec.Erased++
	}
	return rec, nil
}

// SenderErasure is the erasure of one sender an operator names by channel and
// identifier (`switchboard erase CHANNEL IDENTIFIER --reason R`): the identifier is read
// as the channel reads it, so "(415) 555-2671" erases the key "+14155552671".
func SenderErasure(catalog Catalog, channelID, identifier, reason, requestedBy string) (EraseSubjects, error) {
	ch, known := catalog.Channel(strings.TrimSpace(channelID))
	if !known {
		ch.ID = channelID
	}
	subjects, err := domain.SenderErasureSubjects(ch, known, identifier)
	if err != nil {
		return EraseSubjects{}, err
	}
	return EraseSubjects{Subjects: subjects, Trigger: domain.ErasedByOperator, Reason: reason, RequestedBy: requestedBy}, nil
}

// ContactErasure is the erasure of every sender resolved to a contact: HubSpot's
// contact.privacyDeletion (trigger domain.ErasedByHubSpotPrivacyDeletion, with the
// webhook event's id) or `switchboard erase --contact` (domain.ErasedByOperator).
//
// It covers the match keys ever resolved to the contact and the messages resolved to
// it, among them those sealed with a sender subject of their own (a username channel's
// message that came with a user id only, identified to a key later).
func ContactErasure(ctx context.Context, keys ContactKeys, workspaceID, contactID, trigger, webhookEventID, reason, requestedBy string) (EraseSubjects, error) {
	if strings.TrimSpace(contactID) == "" {
		return EraseSubjects{}, domain.Invalid("contact_id", "is missing; name the HubSpot contact id (digits, as in the contact's URL)")
	}
	mks, err := keys.KeysOf(ctx, workspaceID, contactID)
	if err != nil {
		return EraseSubjects{}, fmt.Errorf("erase contact %s of workspace %s: keys resolved to it: %w", contactID, workspaceID, err)
	}
	cmd := EraseSubjects{Trigger: trigger, Reason: reason, RequestedBy: requestedBy, ContactID: contactID, WebhookEventID: webhookEventID}
	for _, k := range mks {
		cmd.Subjects = append(cmd.Subjects, domain.KeySubject(k))
	}
	if cmd.SubjectIDs, err = keys.MessageSubjectsOf(ctx, workspaceID, contactID); err != nil {
		return EraseSubjects{}, fmt.Errorf("erase contact %s of workspace %s: messages resolved to it: %w", contactID, workspaceID, err)
	}
	return cmd, nil
}
