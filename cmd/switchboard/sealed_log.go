package main

import (
	"context"
	"fmt"

	"switchboard/adapters/config"
	"switchboard/domain"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
)

// sealedLog is the event log as every command uses it: personal values sealed on
// append and opened on read (eventstore/sealed, issue 12), over the store that also
// keeps the projections' tables and the data keys.
type sealedLog struct {
	logStore
	sealed *sealed.Store
	keys   *datakeys.Keeper
}

func (s *sealedLog) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	return s.sealed.Append(ctx, stream, expected, events...)
}

func (s *sealedLog) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]domain.RecordedEvent, error) {
	return s.sealed.ReadStream(ctx, stream, afterVersion)
}

func (s *sealedLog) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]domain.RecordedEvent, error) {
	return s.sealed.ReadAll(ctx, afterPosition, limit)
}

// sealLog opens the data keys in st and wraps it. A configuration that names
// secret_key_env without its value set is refused here rather than letting a new
// store record that its keys are unwrapped.
func sealLog(cfg *config.Config, st logStore) (*sealedLog, error) {
	if cfg.SecretKeyEnv != "" && cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: %s: secret_key_env names %s, which is not set: the data keys of personal values are wrapped with it", config.ErrInvalid, cfg.Path, cfg.SecretKeyEnv)
	}
	keys, err := datakeys.Open(context.Background(), st, cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	s, err := sealed.NewStore(st, keys, cfg.Catalog())
	if err != nil {
		return nil, err
	}
	return &sealedLog{logStore: st, sealed: s, keys: keys}, nil
}
