package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// RecordedSetup reads what `hubspot setup` recorded for a workspace (its channel and
// channel accounts), for serve's start-up warning and for check: the same fold the
// publisher reads them by.
func RecordedSetup(ctx context.Context, store domain.EventStore, workspace string) (domain.HubSpotSetup, error) {
	if store == nil {
		return domain.HubSpotSetup{}, errors.New("recorded setup: no store")
	}
	// Reads only: the repository's id generator and clock are never used.
	setups, err := NewRepository(store, domain.FoldHubSpotSetup, nil, func() string { return "" }, time.Now)
	if err != nil {
		return domain.HubSpotSetup{}, err
	}
	st, _, err := setups.Load(ctx, domain.HubSpotStream(workspace))
	if err != nil {
		return domain.HubSpotSetup{}, fmt.Errorf("what hubspot setup recorded for workspace %s: %w", workspace, err)
	}
	return st, nil
}
