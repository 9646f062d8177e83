package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/domain"
)

// Inboxes gives the HubSpot inbox publisher of a workspace.
type Inboxes interface {
	Inbox(workspaceID string) (domain.InboxPublisher, error)
}

// PublishMessage lands a resolved message in its channel's HubSpot inbox, exactly once:
// the publication carries a deterministic idempotency id, so a retry after a crash or
// a lost answer never makes a second inbox message.
type PublishMessage struct {
	store   domain.EventStore
	catalog Catalog
	inboxes Inboxes
	newID   func() string
	now     func() time.Time
	log     *slog.Logger
}

// NewPublishMessage refuses missing dependencies; logger may be nil.
func NewPublishMessage(store domain.EventStore, catalog Catalog, inboxes Inboxes, newID func() string, now func() time.Time, logger *slog.Logger) (*PublishMessage, error) {
	if store == nil || catalog == nil || inboxes == nil || newID == nil || now == nil {
		return nil, errors.New("new publish message handler: store, catalog, inboxes, id generator and clock are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PublishMessage{store: store, catalog: catalog, inboxes: inboxes, newID: newID, now: now, log: logger}, nil
}

// Handle publishes the message of stream if it is resolved and not yet published.
// attempt counts this message's tries so far (1 for the first). A transient failure is
// returned for the caller to retry; a failure for good becomes a dead letter.
func (h *PublishMessage) Handle(ctx context.Context, stream string, attempt int) error {
	evs, err := h.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return fmt.Errorf("publish %s: %w", stream, err)
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		return fmt.Errorf("publish %s: %w", stream, err)
	}
	if !st.NeedsPublication() {
		return nil
	}
	var payload any
	typ := domain.EventMessagePublished
	ch, ok := h.catalog.Channel(st.Received.ChannelID)
	if !ok {
		typ, payload = domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
			Reason: fmt.Sprintf("channel %q is no longer configured; restore it and retry", st.Received.ChannelID), Attempts: attempt}
	} else {
		inbox, err := h.inboxes.Inbox(ch.WorkspaceID)
		if err != nil {
			return fmt.Errorf("publish %s: %w", stream, err)
		}
		m := domain.BuildInboxMessage(ch, st)
		pub, err := inbox.Publish(ctx, m)
		switch {
		case errors.Is(err, domain.ErrPermanent):
			h.log.Error("publication failed for good", "correlation_id", st.CorrelationID, "channel_id", ch.ID, "error", err)
			typ, payload = domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
				Reason: err.Error(), Status: httpStatus(err), Attempts: attempt}
		case err != nil:
			return fmt.Errorf("publish %s (attempt %d): %w", stream, attempt, err)
		default:
			payload = domain.MessagePublished{HubSpotMessageID: pub.MessageID, ConversationID: pub.ConversationID,
				IdempotencyID: m.IdempotencyID, ThreadID: m.ThreadID, ContactID: m.ContactID, Attempts: attempt}
		}
	}
	e, err := domain.NewEvent(h.newID(), typ, payload, h.now(), st.CorrelationID)
	if err != nil {
		return err
	}
	if _, err := h.store.Append(ctx, stream, domain.ExpectedVersion(st.Version), e); err != nil {
		// A lost race (an operator's retry request, another publisher) is retried; the
		// idempotency id makes the next publication a no-op at HubSpot.
		return fmt.Errorf("record publication of %s: %w", stream, err)
	}
	return nil
}
