package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// CorrectMatchKey is an operator's correction of one identifier (rule 13): link,
// never_link or unpin, with the reason and who asked.
type CorrectMatchKey struct {
	Request domain.CorrectionRequest
}

// CorrectionReceipt answers a recorded correction.
type CorrectionReceipt struct {
	CorrelationID string `json:"correlation_id"`
	Position      int64  `json:"position"`
	// MatchKey is the key the identifier was pinned under, after normalization.
	MatchKey domain.MatchKey `json:"match_key"`
	Kind     string          `json:"kind"`
}

// CorrectMatchKeyHandler records corrections on the match key's stream, where the
// resolver reads them with the key itself: a correction takes effect for the next
// message on every node, without waiting for a projection.
type CorrectMatchKeyHandler struct {
	keys    *Repository[domain.KeyState]
	catalog Catalog
	newID   func() string
}

// NewCorrectMatchKeyHandler refuses missing dependencies.
func NewCorrectMatchKeyHandler(store domain.EventStore, catalog Catalog, newID func() string, now func() time.Time) (*CorrectMatchKeyHandler, error) {
	if store == nil || catalog == nil || newID == nil || now == nil {
		return nil, errors.New("new correct match key handler: store, catalog, id generator and clock are required")
	}
	keys, err := KeyRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	return &CorrectMatchKeyHandler{keys: keys, catalog: catalog, newID: newID}, nil
}

// Handle checks the correction (domain.CheckCorrection: the identifier is normalized by
// the channel's rules first, so "+1 (415) 555-2671" and "4155552671" on a US channel
// are one pin) and appends its event. A refused correction records nothing and comes
// back as a domain error (invalid, or not found for an unpin with nothing in force).
func (h *CorrectMatchKeyHandler) Handle(ctx context.Context, cmd CorrectMatchKey) (CorrectionReceipt, error) {
	r := cmd.Request
	ch, known := h.catalog.Channel(r.ChannelID)
	c, err := domain.CheckCorrection(r, ch, known, h.catalog.BlockList(ch.WorkspaceID))
	if err != nil {
		return CorrectionReceipt{}, err
	}
	corr := h.newID()
	// The decision is pure, so a conflict with a resolver moving the key is simply
	// decided again on the new state.
	res, err := h.keys.Update(ctx, c.Key.Stream(), func(ks domain.KeyState, _ int64) ([]Change, error) {
		typ, payload, err := domain.DecideCorrection(c, ks)
		if err != nil {
			return nil, err
		}
		return []Change{{typ, payload}}, nil
	}, CorrelatedWith(corr), RetryOnConflict(10))
	var de *domain.Error
	if errors.As(err, &de) {
		return CorrectionReceipt{}, err
	}
	if err != nil {
		return CorrectionReceipt{}, fmt.Errorf("record %s correction on channel %s: %w", r.Kind, r.ChannelID, err)
	}
	return CorrectionReceipt{CorrelationID: corr, Position: res.LastPosition, MatchKey: c.Key, Kind: string(c.Kind)}, nil
}
