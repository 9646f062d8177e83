package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// Change is one event a decision appends: its type and payload. The repository stamps
// it with an id, the time and the correlation id.
type Change struct {
	Type    string
	Payload any
}

// Repository loads one kind of stream (message streams, match-key streams), folds it
// into its state S and appends what a decision closure returns at the version it
// loaded: the read-fold-decide-append every handler needs, written once. The closure
// never sees the store.
type Repository[S any] struct {
	store domain.EventStore
	fold  func([]domain.RecordedEvent) (S, error)
	// correlation names the correlation id of the events appended to a stream in
	// state S, unless the update says otherwise.
	correlation func(S) string
	newID       func() string
	now         func() time.Time
}

// NewRepository refuses missing dependencies. correlation may be nil when every update
// names its correlation id (CorrelatedWith).
func NewRepository[S any](store domain.EventStore, fold func([]domain.RecordedEvent) (S, error), correlation func(S) string,
	newID func() string, now func() time.Time) (*Repository[S], error) {
	if store == nil || fold == nil || newID == nil || now == nil {
		return nil, errors.New("new repository: store, fold, id generator and clock are required")
	}
	if correlation == nil {
		correlation = func(S) string { return "" }
	}
	return &Repository[S]{store: store, fold: fold, correlation: correlation, newID: newID, now: now}, nil
}

// MessageRepository folds message streams (domain.MessageStream).
func MessageRepository(store domain.EventStore, newID func() string, now func() time.Time) (*Repository[domain.MessageState], error) {
	return NewRepository(store, domain.FoldMessage, func(s domain.MessageState) string { return s.CorrelationID }, newID, now)
}

// KeyRepository folds match-key streams (domain.MatchKey.Stream); its events carry the
// correlation id of the message whose attempt appends them (CorrelatedWith).
func KeyRepository(store domain.EventStore, newID func() string, now func() time.Time) (*Repository[domain.KeyState], error) {
	return NewRepository(store, domain.FoldKey, nil, newID, now)
}

// Load reads and folds stream. version is the stream's version, 0 when it has no
// events; the fold does not run on an empty stream and state is then S's zero value.
func (r *Repository[S]) Load(ctx context.Context, stream string) (state S, version int64, err error) {
	evs, err := r.store.ReadStream(ctx, stream, 0)
	if err != nil {
		return state, 0, fmt.Errorf("read %s: %w", domain.RedactStream(stream), err)
	}
	if len(evs) == 0 {
		return state, 0, nil
	}
	if state, err = r.fold(evs); err != nil {
		return state, 0, fmt.Errorf("fold %s: %w", domain.RedactStream(stream), err)
	}
	return state, evs[len(evs)-1].Version, nil
}

// Decide is an update's closure: given the stream's state and version (0: empty), it
// returns the events to append, none to append nothing, or an error to append nothing
// and return the error.
type Decide[S any] func(state S, version int64) ([]Change, error)

type updateOptions struct {
	retries     int
	correlation *string
}

// UpdateOption tunes one Update.
type UpdateOption func(*updateOptions)

// RetryOnConflict loads and decides again, up to n more times, when another writer
// moved the stream between the load and the append. Only for closures whose side
// effects are safe to repeat: the closure runs once per try.
func RetryOnConflict(n int) UpdateOption { return func(o *updateOptions) { o.retries = n } }

// CorrelatedWith sets the correlation id of the appended events.
func CorrelatedWith(id string) UpdateOption { return func(o *updateOptions) { o.correlation = &id } }

// Update loads stream, lets decide choose the new events and appends them expecting
// the version it loaded. A writer that moved the stream first makes Update return an
// error matching domain.ErrWrongExpectedVersion (after the retries RetryOnConflict
// allows); what that means is the caller's to say.
func (r *Repository[S]) Update(ctx context.Context, stream string, decide Decide[S], opts ...UpdateOption) (domain.AppendResult, error) {
	var o updateOptions
	for _, opt := range opts {
		opt(&o)
	}
	for try := 0; ; try++ {
		state, version, err := r.Load(ctx, stream)
		if err != nil {
			return domain.AppendResult{}, err
		}
		changes, err := decide(state, version)
		if err != nil || len(changes) == 0 {
			return domain.AppendResult{NextVersion: version}, err
		}
		corr := r.correlation(state)
		if o.correlation != nil {
			corr = *o.correlation
		}
		res, err := r.append(ctx, stream, domain.ExpectedVersion(version), corr, changes)
		if errors.Is(err, domain.ErrWrongExpectedVersion) && try < o.retries {
			continue
		}
		return res, err
	}
}

// Create appends the first events of a stream: it fails with an error matching
// domain.ErrWrongExpectedVersion when the stream already exists, which makes the append
// itself a claim (the deduplication of inbound messages).
func (r *Repository[S]) Create(ctx context.Context, stream, correlationID string, changes ...Change) (domain.AppendResult, error) {
	return r.append(ctx, stream, domain.NoStream, correlationID, changes)
}

func (r *Repository[S]) append(ctx context.Context, stream string, expected domain.ExpectedVersion, corr string, changes []Change) (domain.AppendResult, error) {
	evs := make([]domain.EventData, 0, len(changes))
	for _, c := range changes {
		e, err := domain.NewEvent(r.newID(), c.Type, c.Payload, r.now(), corr)
		if err != nil {
			return domain.AppendResult{}, err
		}
		evs = append(evs, e)
	}
	res, err := r.store.Append(ctx, stream, expected, evs...)
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", domain.RedactStream(stream), err)
	}
	return res, nil
}
