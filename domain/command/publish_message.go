package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/domain"
)

// PublishMessage asks for the resolved message of Stream to land in its channel's
// HubSpot inbox. Attempt counts this message's tries so far (1 for the first).
type PublishMessage struct {
	Stream  string
	Attempt int
}

// Inboxes gives the HubSpot inbox publisher of a workspace.
type Inboxes interface {
	Inbox(workspaceID string) (domain.InboxPublisher, error)
}

// PublishMessageHandler lands a resolved message in its inbox exactly once: the
// publication carries a deterministic idempotency id, so a retry after a crash or a
// lost answer never makes a second inbox message.
type PublishMessageHandler struct {
	messages *Repository[domain.MessageState]
	// setups reads the ids `hubspot setup` recorded, for channels configured without
	// inbox ids.
	setups  *Repository[domain.HubSpotSetup]
	catalog Catalog
	inboxes Inboxes
	log     *slog.Logger
	now     func() time.Time
	// waits observes each publication's wait (nil: none); see PublicationMetrics.
	waits PublicationMetrics
	// erasures, when set (AppDeps.Erasures), stops a publication under way at every
	// erasure (untilErasure), so that the message is read again before it is sent
	// again: a message of the erased person then reads erased and is cancelled, not
	// published from what was read before (rule 17); any other is sent again, which its
	// idempotency id makes harmless.
	erasures ErasureSignal
}

// PublicationMetrics receives, for each message this publisher lands in an inbox, how
// long it waited since the log recorded it: what a backlog behind HubSpot's budget
// costs a message. A Metrics implementation that also implements it gets the
// observations (adapters/prom's does).
type PublicationMetrics interface {
	ObservePublication(workspace string, wait time.Duration)
}

// recordTimeout bounds the reading and recording around a publication once the caller
// has stopped waiting: a few appends' time, well inside a drain.
const recordTimeout = 5 * time.Second

// outlive returns a context with ctx's values that ends grace after ctx ends, or when
// its cancel is called.
func outlive(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-out.Done():
		case <-t.C:
			cancel()
		}
	})
	return out, func() { stop(); cancel() }
}

// NewPublishMessageHandler refuses missing dependencies; logger may be nil.
func NewPublishMessageHandler(store domain.EventStore, catalog Catalog, inboxes Inboxes, newID func() string, now func() time.Time, logger *slog.Logger) (*PublishMessageHandler, error) {
	if store == nil || catalog == nil || inboxes == nil || newID == nil || now == nil {
		return nil, errors.New("new publish message handler: store, catalog, inboxes, id generator and clock are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	messages, err := MessageRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	setups, err := NewRepository(store, domain.FoldHubSpotSetup, nil, newID, now)
	if err != nil {
		return nil, err
	}
	return &PublishMessageHandler{messages: messages, setups: setups, catalog: catalog, inboxes: inboxes, log: logger, now: now}, nil
}

// Handle publishes the message if it is resolved and not yet published. A transient
// failure is returned for the caller to retry; a failure for good becomes a dead
// letter. A lost append race (an operator's retry request, another publisher) is
// returned too: the retry finds the message published, or publishes again under the
// same idempotency id, which HubSpot answers without a second inbox message.
func (h *PublishMessageHandler) Handle(ctx context.Context, cmd PublishMessage) error {
	// The stream is read and HubSpot's answer recorded under a context that outlives
	// the caller's (a shutdown) by recordTimeout: a publication HubSpot answered is
	// recorded, not left for the next attempt to send again. Its idempotency id spares
	// this portal a second inbox message, but not a portal the log is later moved to
	// (copy-store). The grace starts when the caller stops waiting, not before: a
	// publication waits for HubSpot's budget far longer under a backlog. An erasure
	// ends both contexts.
	rctx, cancelGrace := outlive(ctx, recordTimeout)
	defer cancelGrace()
	rctx, cancelRecord := untilErasure(rctx, h.erasures)
	defer cancelRecord()
	// The publication itself is the record's context ended with the caller's as well,
	// so one watch of the erasures serves both.
	caller := ctx
	ctx, cancel := context.WithCancel(rctx)
	defer cancel()
	defer context.AfterFunc(caller, cancel)()
	var published *domain.MessageState
	_, err := h.messages.Update(rctx, cmd.Stream, func(st domain.MessageState, version int64) ([]Change, error) {
		published = nil // a run again of the decision starts over
		if version == 0 {
			return nil, errors.New("no such message")
		}
		if c, ok := st.CancelledByErasure(domain.StagePublication); ok {
			return []Change{{domain.EventPublicationCancelled, c}}, nil
		}
		if !st.NeedsPublication() {
			return nil, nil
		}
		changes, err := h.publish(ctx, st, cmd.Attempt)
		if len(changes) == 1 && changes[0].Type == domain.EventMessagePublished {
			published = &st
		}
		return changes, err
	})
	if err != nil {
		return fmt.Errorf("publish %s (attempt %d): %w", domain.RedactStream(cmd.Stream), cmd.Attempt, err)
	}
	if published != nil && h.waits != nil && !published.ReceivedAt.IsZero() {
		h.waits.ObservePublication(published.Received.WorkspaceID, h.now().Sub(published.ReceivedAt))
	}
	return nil
}

func (h *PublishMessageHandler) publish(ctx context.Context, st domain.MessageState, attempt int) ([]Change, error) {
	ch, ok := h.catalog.Channel(st.Received.ChannelID)
	if !ok {
		return []Change{{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
			Reason: fmt.Sprintf("channel %q is no longer configured; restore it and retry", st.Received.ChannelID), Attempts: attempt}}}, nil
	}
	if !ch.Inbox.Complete() {
		// Read at every publication rather than cached: setup runs beside a serving
		// node (or another node), and the stream is a few events long.
		setup, _, err := h.setups.Load(ctx, domain.HubSpotStream(ch.WorkspaceID))
		if err != nil {
			return nil, err
		}
		recorded, ok := setup.Inbox(ch.ID)
		if !ok {
			return []Change{{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
				Reason:   fmt.Sprintf("channel %q has no HubSpot channel account: run `switchboard hubspot setup --workspace %s` (or give the channel inbox ids in the configuration), then retry", ch.ID, ch.WorkspaceID),
				Attempts: attempt}}}, nil
		}
		ch.Inbox = recorded
	}
	inbox, err := h.inboxes.Inbox(ch.WorkspaceID)
	if err != nil {
		return nil, err
	}
	m := domain.BuildInboxMessage(ch, st)
	pub, err := inbox.Publish(ctx, m)
	switch {
	case m.ContactID != "" && errors.Is(err, domain.ErrContactNotFound):
		// Not a dead letter yet: the contact reactor checks the contact, forgets or
		// follows the key and has the message resolved again (ContactChangesRoute).
		h.log.Warn("publication refused: the linked contact does not exist in HubSpot", "correlation_id", st.CorrelationID,
			"channel_id", ch.ID, "contact_id", m.ContactID)
		return []Change{{domain.EventPublicationContactMissing, domain.PublicationContactMissing{ContactID: m.ContactID,
			Reason: domain.ErrorWithDetail(err), Status: domain.StatusOf(err), Attempts: attempt}}}, nil
	case errors.Is(err, domain.ErrPermanent):
		h.log.Error("publication failed for good", "correlation_id", st.CorrelationID, "channel_id", ch.ID, "error", err)
		return []Change{{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
			Reason: domain.ErrorWithDetail(err), Status: domain.StatusOf(err), Attempts: attempt}}}, nil
	case err != nil:
		return nil, err
	}
	return []Change{{domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: pub.MessageID, ConversationID: pub.ConversationID,
		IdempotencyID: m.IdempotencyID, ThreadID: m.ThreadID, ContactID: m.ContactID, Attempts: attempt}}}, nil
}
