package command

import (
	"context"
	"errors"
	"time"

	"switchboard/domain"
)

// GetMessage asks for the current state of one message, folded from its own stream:
// the source of truth, exact even while projections catch up.
type GetMessage struct {
	ChannelID string
	MessageID string
}

// GetMessageHandler answers GetMessage.
type GetMessageHandler struct {
	messages *Repository[domain.MessageState]
}

// NewGetMessageHandler refuses a missing store.
func NewGetMessageHandler(store domain.EventStore) (*GetMessageHandler, error) {
	if store == nil {
		return nil, errors.New("new get message handler: store is required")
	}
	// A query appends nothing: the id generator and clock are never called.
	messages, err := MessageRepository(store, func() string { return "" }, time.Now)
	if err != nil {
		return nil, err
	}
	return &GetMessageHandler{messages: messages}, nil
}

// Handle returns the message's state; a not-found error when nothing was recorded.
func (h *GetMessageHandler) Handle(ctx context.Context, q GetMessage) (domain.MessageState, error) {
	st, version, err := h.messages.Load(ctx, domain.MessageStream(q.ChannelID, q.MessageID))
	if err != nil {
		return st, err
	}
	if version == 0 {
		return st, domain.NotFound("no message %q recorded on channel %q", q.MessageID, q.ChannelID)
	}
	return st, nil
}
