package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"switchboard/adapters/config"
)

// A rebuild empties the projections and writes them again from the log. A service
// beside it (serve, reconcile) would meanwhile write its live batches into the same
// tables and leave them wrong without a word, so rebuild refuses to start while one
// runs, and a service refuses to start during a rebuild.
//
// On SQLite, every service holds a shared lock on a file beside the database for as
// long as it runs, and a rebuild holds it exclusively; the kernel drops a lock whose
// process died, so a crash leaves nothing to clean up. On PostgreSQL the nodes table
// says which nodes hold leases.

// errStoreInUse: the store is being rebuilt, or served while a rebuild was asked for.
var errStoreInUse = errors.New("store in use")

// lockFile is the SQLite store's lock file ("" for PostgreSQL).
func lockFile(cfg *config.Config) (string, error) {
	if cfg.Store.Driver != "sqlite" {
		return "", nil
	}
	abs, err := filepath.Abs(cfg.Store.DSN)
	if err != nil {
		return "", fmt.Errorf("lock file of %s: %w", cfg.Store.DSN, err)
	}
	return abs + "-serve.lock", nil
}

// lockForService takes the store's shared lock for a service's lifetime; release it
// when the service stops.
func lockForService(cfg *config.Config) (release func(), err error) {
	path, err := lockFile(cfg)
	if err != nil || path == "" {
		return func() {}, err
	}
	return takeLock(path, false, "%s is being rebuilt (switchboard rebuild holds %s); start the service once the rebuild is done", cfg.Store.DSN)
}

// lockForRebuild takes the store for a rebuild: exclusively on SQLite, and on
// PostgreSQL after checking that no node holds a lease.
func lockForRebuild(ctx context.Context, cfg *config.Config, db *sql.DB) (release func(), err error) {
	path, err := lockFile(cfg)
	if err != nil {
		return nil, err
	}
	if path == "" {
		var live int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE expires_at > $1`, time.Now().UnixMilli()).Scan(&live); err != nil {
			return nil, fmt.Errorf("rebuild: nodes serving the store: %w", err)
		}
		if live > 0 {
			return nil, fmt.Errorf("%w: %d node(s) hold leases on this store (the nodes table); stop every serve first: a rebuild empties the projections they write", errStoreInUse, live)
		}
		return func() {}, nil
	}
	return takeLock(path, true, "a service (serve or reconcile) is running on %s (it holds %s); stop it first: a rebuild empties the projections it writes", cfg.Store.DSN)
}

// takeLock takes path's lock; when another holder's is in the way, the error is
// errStoreInUse with inUse, formatted with the store and the lock file.
func takeLock(path string, exclusive bool, inUse, store string) (release func(), err error) {
	release, held, err := flockFile(path, exclusive)
	switch {
	case err != nil:
		return nil, err
	case held:
		return nil, fmt.Errorf("%w: "+inUse, errStoreInUse, store, path)
	}
	return release, nil
}
