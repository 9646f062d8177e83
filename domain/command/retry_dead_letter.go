package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// RetryDeadLetter asks for the dead-lettered stage of the message of Stream to run
// again, after the operator fixed the cause (a token, a scope, a property).
// RequestedBy names who asked ("cli", "api"), for the audit.
type RetryDeadLetter struct {
	Stream      string
	RequestedBy string
}

// RetryDeadLetterHandler records retry requests; the resolver or the publisher picks
// them up from the log (ResolveRoute, PublishRoute).
type RetryDeadLetterHandler struct {
	messages *Repository[domain.MessageState]
}

// NewRetryDeadLetterHandler refuses missing dependencies.
func NewRetryDeadLetterHandler(store domain.EventStore, newID func() string, now func() time.Time) (*RetryDeadLetterHandler, error) {
	if store == nil || newID == nil || now == nil {
		return nil, errors.New("new retry dead letter handler: store, id generator and clock are required")
	}
	messages, err := MessageRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	return &RetryDeadLetterHandler{messages: messages}, nil
}

// Handle records the retry request and returns the stage that will run again. It
// fails with a not-found error when nothing waits.
func (h *RetryDeadLetterHandler) Handle(ctx context.Context, cmd RetryDeadLetter) (stage string, err error) {
	_, err = h.messages.Update(ctx, cmd.Stream, func(st domain.MessageState, version int64) ([]Change, error) {
		if version == 0 {
			return nil, domain.NotFound("no message %s", cmd.Stream)
		}
		if st.DeadLetter == nil {
			return nil, domain.NotFound("message %s has no dead letter waiting", cmd.Stream)
		}
		stage = st.DeadLetter.Stage
		return []Change{{domain.EventRetryRequested, domain.RetryRequested{Stage: stage, RequestedBy: cmd.RequestedBy}}}, nil
	})
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("retry %s: %w", cmd.Stream, err)
	}
	return stage, nil
}
