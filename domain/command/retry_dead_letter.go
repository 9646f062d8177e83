package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// RetryDeadLetter asks for a dead-lettered stage of a message to run again, after the
// operator fixed the cause (a token, a scope, a property).
type RetryDeadLetter struct {
	store domain.EventStore
	newID func() string
	now   func() time.Time
}

// NewRetryDeadLetter refuses missing dependencies.
func NewRetryDeadLetter(store domain.EventStore, newID func() string, now func() time.Time) (*RetryDeadLetter, error) {
	if store == nil || newID == nil || now == nil {
		return nil, errors.New("new retry dead letter handler: store, id generator and clock are required")
	}
	return &RetryDeadLetter{store: store, newID: newID, now: now}, nil
}

// Handle records the retry request for the message stream; the resolver or publisher
// picks it up from the log. It fails with a not-found error when nothing waits.
func (h *RetryDeadLetter) Handle(ctx context.Context, stream, requestedBy string) (stage string, err error) {
	evs, err := h.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return "", fmt.Errorf("retry %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return "", domain.NotFound("no message %s", stream)
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		return "", err
	}
	if st.DeadLetter == nil {
		return "", domain.NotFound("message %s has no dead letter waiting", stream)
	}
	e, err := domain.NewEvent(h.newID(), domain.EventRetryRequested,
		domain.RetryRequested{Stage: st.DeadLetter.Stage, RequestedBy: requestedBy}, h.now(), st.CorrelationID)
	if err != nil {
		return "", err
	}
	if _, err := h.store.Append(ctx, stream, domain.ExpectedVersion(st.Version), e); err != nil {
		return "", fmt.Errorf("retry %s: %w", stream, err)
	}
	return st.DeadLetter.Stage, nil
}
