package harness

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"switchboard/eventstore/datakeys"
)

// readOnlyKeys is a data-key backend over a database the service has set up: its
// migrations are applied already, and the harness never writes.
type readOnlyKeys struct{ db *sql.DB }

func (r readOnlyKeys) DB() *sql.DB                                { return r.db }
func (readOnlyKeys) Migrate(context.Context, string, fs.FS) error { return nil }

// StreamNames returns how the service names each stream the log stores under a random
// name (docs/privacy.md §4): the harnesses check the log per message, and a message's
// stream is stored as "message:" and random digits. secret is the configuration's
// master key ("" when secret_key_env is unset, as in the harnesses' configurations).
// A stream whose owner was erased keeps its stored name.
func StreamNames(ctx context.Context, db *sql.DB, secret string) (func(stored string) string, error) {
	keys, err := datakeys.Open(ctx, readOnlyKeys{db}, secret)
	if err != nil {
		return nil, fmt.Errorf("open the data keys: %w", err)
	}
	return func(stored string) string {
		if !datakeys.IsStreamName("message:", stored) && !datakeys.IsStreamName("matchkey:", stored) {
			return stored
		}
		logical, _, ok, err := keys.LogicalStream(ctx, stored)
		if err != nil || !ok {
			return stored
		}
		return logical
	}, nil
}
