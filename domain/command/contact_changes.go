package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/domain"
)

// RecordHubSpotChanges records the events of one HubSpot webhook request (rule 7,
// SPEC §5 "HubSpot webhooks"). Each event claims a stream of its own, so an event
// HubSpot delivers again is a duplicate and adds nothing.
type RecordHubSpotChanges struct {
	Events []domain.HubSpotContactChanged
}

// HubSpotReceipt answers RecordHubSpotChanges.
type HubSpotReceipt struct {
	Recorded   int `json:"recorded"`
	Duplicates int `json:"duplicates"`
}

// RecordHubSpotChangesHandler appends each event with NoStream: all or nothing per
// event. An error means some events may be recorded and others not; HubSpot then
// retries the whole request and the recorded ones come back as duplicates.
type RecordHubSpotChangesHandler struct {
	store domain.EventStore
	newID func() string
	now   func() time.Time
}

// NewRecordHubSpotChangesHandler refuses missing dependencies.
func NewRecordHubSpotChangesHandler(store domain.EventStore, newID func() string, now func() time.Time) (*RecordHubSpotChangesHandler, error) {
	if store == nil || newID == nil || now == nil {
		return nil, errors.New("new record hubspot changes handler: store, id generator and clock are required")
	}
	return &RecordHubSpotChangesHandler{store: store, newID: newID, now: now}, nil
}

// Handle records every valid event; an invalid one refuses the whole request (code
// invalid) before anything is recorded.
func (h *RecordHubSpotChangesHandler) Handle(ctx context.Context, cmd RecordHubSpotChanges) (HubSpotReceipt, error) {
	var r HubSpotReceipt
	for i, ev := range cmd.Events {
		if err := ev.Validate(); err != nil {
			return r, fmt.Errorf("hubspot event %d: %w", i, err)
		}
	}
	for _, ev := range cmd.Events {
		occurred := h.now()
		if ev.OccurredAt > 0 {
			occurred = time.UnixMilli(ev.OccurredAt)
		}
		// Each HubSpot event starts a correlation of its own: the key changes it
		// causes carry it, so the audit ties them to the webhook event.
		e, err := domain.NewEvent(h.newID(), domain.EventHubSpotContactChanged, ev, occurred, h.newID())
		if err != nil {
			return r, err
		}
		_, err = h.store.Append(ctx, ev.Stream(), domain.NoStream, e)
		switch {
		case errors.Is(err, domain.ErrWrongExpectedVersion):
			r.Duplicates++
		case err != nil:
			return r, fmt.Errorf("record hubspot event %s: %w", ev.Stream(), err)
		default:
			r.Recorded++
		}
	}
	return r, nil
}

// KeyIndex finds the match keys bound to contacts: the identifier→contact cache
// (projections.ContactKeys). atLeast is the log position the answer must include, so
// that a key resolved before a HubSpot event is seen by the event's handling.
type KeyIndex interface {
	KeysOfContacts(ctx context.Context, workspace string, contactIDs []string, atLeast int64) ([]domain.MatchKey, error)
	// MessageSubjectsOf is ContactKeys.MessageSubjectsOf, read once KeysOfContacts has
	// waited for the index.
	MessageSubjectsOf(ctx context.Context, workspace, contactID string) ([]string, error)
}

// ApplyContactChange applies one fact about a HubSpot contact to the match keys bound
// to it: those the index knows and Keys. CorrelationID is the correlation of the key
// events; AtLeast the position the index must have reached.
type ApplyContactChange struct {
	Workspace     string
	Change        domain.ContactChange
	Keys          []domain.MatchKey
	AtLeast       int64
	CorrelationID string
}

// KeyChanges answers ApplyContactChange: how many keys were forgotten or followed.
type KeyChanges struct {
	Forgotten int
	Followed  int
}

// ContactChangesHandler carries out HubSpot's contact changes on match keys (rule 7)
// and heals publications HubSpot refused for a missing contact. Every decision is
// domain.DecideKeyChange on the key's stream, expecting the version it read, so it
// serializes with the resolver and is safe to repeat: a key already forgotten or
// moved is left alone.
type ContactChangesHandler struct {
	messages *Repository[domain.MessageState]
	keys     *Repository[domain.KeyState]
	catalog  Catalog
	dirs     Directories
	index    KeyIndex
	log      *slog.Logger
	// eraser erases the senders of a contact HubSpot deleted for privacy (rule 17);
	// nil: such a deletion only forgets the keys.
	eraser *EraseSubjectsHandler
}

// EraseWith makes HubSpot's contact.privacyDeletion erase every sender whose key is
// bound to the contact (rule 17), before the keys are forgotten.
func (h *ContactChangesHandler) EraseWith(e *EraseSubjectsHandler) { h.eraser = e }

// NewContactChangesHandler refuses missing dependencies; logger may be nil.
func NewContactChangesHandler(store domain.EventStore, catalog Catalog, dirs Directories, index KeyIndex,
	newID func() string, now func() time.Time, logger *slog.Logger) (*ContactChangesHandler, error) {
	if store == nil || catalog == nil || dirs == nil || index == nil || newID == nil || now == nil {
		return nil, errors.New("new contact changes handler: store, catalog, directories, key index, id generator and clock are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	messages, err := MessageRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	keys, err := KeyRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	return &ContactChangesHandler{messages: messages, keys: keys, catalog: catalog, dirs: dirs, index: index, log: logger}, nil
}

// Handle applies the change. An edit is read from HubSpot first, and only when a key
// bound to the contact watches the edited property: a key bound to nobody costs no
// CRM call.
func (h *ContactChangesHandler) Handle(ctx context.Context, cmd ApplyContactChange) (KeyChanges, error) {
	var out KeyChanges
	change := cmd.Change
	if change.Kind == domain.ContactRestored || len(change.ContactIDs) == 0 {
		return out, nil
	}
	keys, err := h.index.KeysOfContacts(ctx, cmd.Workspace, change.ContactIDs, cmd.AtLeast)
	if err != nil {
		return out, fmt.Errorf("keys of contacts %v: %w", change.ContactIDs, err)
	}
	for _, k := range cmd.Keys {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var messageSubjects []string
	erasing := h.eraser != nil && change.Cause.SubscriptionType == domain.HubSpotContactPrivacyDeletion
	if erasing {
		if messageSubjects, err = h.index.MessageSubjectsOf(ctx, cmd.Workspace, change.ContactIDs[0]); err != nil {
			return out, fmt.Errorf("messages of contact %s: %w", change.ContactIDs[0], err)
		}
	}
	if erasing && len(keys)+len(messageSubjects) > 0 {
		// Erased first: forgetting the keys drops the contact's bindings from the
		// index this erasure finds its senders by. A retry erases nothing twice.
		erase := EraseSubjects{Trigger: domain.ErasedByHubSpotPrivacyDeletion, Reason: "HubSpot deleted the contact for privacy (contact.privacyDeletion)",
			RequestedBy: "hubspot", ContactID: change.ContactIDs[0]}
		if change.Cause.HubSpotEventID != 0 {
			erase.WebhookEventID = strconv.FormatInt(change.Cause.HubSpotEventID, 10)
		}
		for _, k := range keys {
			erase.Subjects = append(erase.Subjects, domain.KeySubject(k))
		}
		erase.SubjectIDs = messageSubjects
		rec, err := h.eraser.Handle(ctx, erase)
		if err != nil {
			return out, fmt.Errorf("erase the senders of contact %s: %w", change.ContactIDs[0], err)
		}
		h.log.Info("senders of a contact deleted for privacy erased", "contact_id", change.ContactIDs[0], "erased", rec.Erased, "already_gone", rec.AlreadyGone)
	}
	if change.NeedsRead() {
		var watching []domain.MatchKey
		var props []string
		for _, k := range keys {
			if change.Property == "" || domain.KeyWatches(k, change.Property) {
				watching = append(watching, k)
				for _, p := range domain.KeyProperties(k) {
					if !slices.Contains(props, p) {
						props = append(props, p)
					}
				}
			}
		}
		if len(watching) == 0 {
			return out, nil
		}
		keys = watching
		if change, err = h.read(ctx, cmd.Workspace, change.ContactIDs[0], props, change.Property, change.Cause); err != nil {
			return out, err
		}
	}
	region := h.catalog.Region(cmd.Workspace)
	for _, k := range keys {
		var typ string
		_, err := h.keys.Update(ctx, k.Stream(), func(ks domain.KeyState, _ int64) ([]Change, error) {
			t, p, ok := domain.DecideKeyChange(k, ks, change, region)
			if !ok {
				typ = ""
				return nil, nil
			}
			typ = t
			return []Change{{t, p}}, nil
		}, CorrelatedWith(cmd.CorrelationID), RetryOnConflict(20))
		if err != nil {
			// The follower logs this error at warn level: it must not name the key.
			return out, withoutKey(fmt.Errorf("apply %s contact change of contact %s to a %s match key: %w",
				change.Kind, strings.Join(change.ContactIDs, ","), k.Lookup, err), k)
		}
		switch typ {
		case domain.EventMatchKeyForgotten:
			out.Forgotten++
		case domain.EventMatchKeyFollowed:
			out.Followed++
		}
	}
	if out.Forgotten+out.Followed > 0 {
		h.log.InfoContext(ctx, "match keys changed after a HubSpot contact change", "correlation_id", cmd.CorrelationID,
			"workspace", cmd.Workspace, "change", string(change.Kind), "source", change.Cause.Source,
			"forgotten", out.Forgotten, "followed", out.Followed)
	}
	return out, nil
}

// read is what HubSpot holds for contact id now, as a change.
func (h *ContactChangesHandler) read(ctx context.Context, workspace, id string, props []string, property string, cause domain.KeyChangeCause) (domain.ContactChange, error) {
	dir, err := h.dirs.Directory(workspace)
	if err != nil {
		return domain.ContactChange{}, err
	}
	got, err := dir.GetContact(ctx, id, props)
	found := true
	switch {
	case errors.Is(err, domain.ErrContactNotFound):
		found = false
	case err != nil:
		return domain.ContactChange{}, fmt.Errorf("read contact %s: %w", id, err)
	}
	return domain.ChangeOfRead(id, got, found, property, cause), nil
}

// applyWebhookEvent carries out one recorded HubSpot webhook event.
func (h *ContactChangesHandler) applyWebhookEvent(ctx context.Context, e domain.RecordedEvent) error {
	var ev domain.HubSpotContactChanged
	if err := domain.Decode(e, &ev); err != nil {
		return err
	}
	change := domain.ChangeOfWebhook(ev, ev.Cause(e.StreamID, e.Position))
	_, err := h.Handle(ctx, ApplyContactChange{Workspace: ev.WorkspaceID, Change: change, AtLeast: e.Position, CorrelationID: e.CorrelationID})
	return err
}

// healPublication answers a publication HubSpot refused for a missing contact. The
// contact is read first, since a refusal's wording is no proof: a 404 forgets every
// key bound to it, a read that answers another id follows the merge, and then the
// message's resolution is revoked, so the resolver resolves it again by the key as it
// is now (a search, or the survivor). A contact HubSpot still has, or a message whose
// resolution was revoked MaxResolutionRevocations times, waits as a dead letter.
func (h *ContactChangesHandler) healPublication(ctx context.Context, e domain.RecordedEvent) error {
	st, _, err := h.messages.Load(ctx, e.Stored())
	if err != nil {
		return err
	}
	if st.ContactMissing == nil {
		return nil // already healed or dead-lettered
	}
	miss := *st.ContactMissing
	log := h.log.With("correlation_id", st.CorrelationID, "channel_id", st.Received.ChannelID)
	deadLetter := func(reason string) error {
		log.Error("publication failed for good: HubSpot refused the linked contact", "contact_id", miss.ContactID, "status", miss.Status)
		_, err := h.messages.Update(ctx, e.Stored(), func(st domain.MessageState, _ int64) ([]Change, error) {
			if st.ContactMissing == nil {
				return nil, nil
			}
			return []Change{{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Reason: reason,
				Status: miss.Status, Attempts: miss.Attempts}}}, nil
		})
		return err
	}
	if len(st.Revoked) >= domain.MaxResolutionRevocations {
		return deadLetter(fmt.Sprintf("%s; the resolution of this message was already revoked %d times for contacts HubSpot no longer has (%s): HubSpot's search may still show a deleted contact; retry later",
			miss.Reason, len(st.Revoked), strings.Join(st.Revoked, ", ")))
	}
	ws := st.Received.WorkspaceID
	cause := domain.KeyChangeCause{Source: domain.CausePublication, Stream: e.StreamID, Position: e.Position}
	change, err := h.read(ctx, ws, miss.ContactID, nil, "", cause)
	if err != nil {
		return err
	}
	if change.Kind == domain.ContactEdited {
		return deadLetter(miss.Reason + fmt.Sprintf("; contact %s still exists in HubSpot, so the refusal is not about a deleted contact", miss.ContactID))
	}
	var keys []domain.MatchKey
	if st.Identified != nil && st.Identified.MatchKey.Identifier != "" {
		keys = append(keys, st.Identified.MatchKey)
	}
	if _, err := h.Handle(ctx, ApplyContactChange{Workspace: ws, Change: change, Keys: keys, AtLeast: e.Position,
		CorrelationID: st.CorrelationID}); err != nil {
		return err
	}
	reason := fmt.Sprintf("contact %s no longer exists in HubSpot (deleted); the sender is resolved again", miss.ContactID)
	if change.Kind == domain.ContactMerged {
		reason = fmt.Sprintf("contact %s was merged into contact %s in HubSpot; the sender is resolved again", miss.ContactID, change.Survivor)
	}
	_, err = h.messages.Update(ctx, e.StreamID, func(st domain.MessageState, _ int64) ([]Change, error) {
		if st.ContactMissing == nil {
			return nil, nil
		}
		return []Change{{domain.EventResolutionRevoked, domain.ResolutionRevoked{ContactID: miss.ContactID, Survivor: change.Survivor, Reason: reason}}}, nil
	}, RetryOnConflict(3))
	if err == nil {
		log.Info("resolution revoked: the linked contact no longer exists in HubSpot", "contact_id", miss.ContactID)
	}
	return err
}

// ContactChangesRoute feeds ContactChangesHandler: HubSpot's recorded webhook events
// and publications refused for a missing contact.
type ContactChangesRoute struct {
	handler *ContactChangesHandler
}

// NewContactChangesRoute routes to handler.
func NewContactChangesRoute(handler *ContactChangesHandler) ContactChangesRoute {
	return ContactChangesRoute{handler: handler}
}

// Name keys the follower's checkpoint: renaming it re-applies every HubSpot event,
// which changes nothing (DecideKeyChange leaves moved keys alone) but costs reads.
func (ContactChangesRoute) Name() string { return "contact-changes" }

// Accept selects what the route reacts to.
func (ContactChangesRoute) Accept(e domain.RecordedEvent) bool {
	return e.Type == domain.EventHubSpotContactChanged || e.Type == domain.EventPublicationContactMissing
}

// Partition runs one workspace's HubSpot events in log order (a deletion after the
// merge it follows), workspaces side by side; each healed publication is its own.
func (ContactChangesRoute) Partition(e domain.RecordedEvent) string {
	if e.Type == domain.EventHubSpotContactChanged {
		rest, _ := strings.CutPrefix(e.StreamID, "hubspot:")
		ws, _, _ := strings.Cut(rest, ":")
		return "hubspot|" + ws
	}
	return e.StreamID
}

// Handle carries out e.
func (r ContactChangesRoute) Handle(ctx context.Context, e domain.RecordedEvent, _ int) error {
	if e.Type == domain.EventHubSpotContactChanged {
		return r.handler.applyWebhookEvent(ctx, e)
	}
	return r.handler.healPublication(ctx, e)
}

// keyRedacted is an error whose text no longer holds a match key (personal data),
// while errors.Is and errors.As still see what it wraps.
type keyRedacted struct {
	msg string
	err error
}

func (e keyRedacted) Error() string { return e.msg }
func (e keyRedacted) Unwrap() error { return e.err }

func withoutKey(err error, k domain.MatchKey) error {
	msg := strings.ReplaceAll(err.Error(), k.Stream(), "matchkey:[redacted]")
	msg = strings.ReplaceAll(msg, k.String(), "[match key]")
	if k.Identifier != "" {
		msg = strings.ReplaceAll(msg, k.Identifier, "[identifier]")
	}
	return keyRedacted{msg: msg, err: err}
}
