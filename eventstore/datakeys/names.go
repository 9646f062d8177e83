package datakeys

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"switchboard/domain"
)

// A name is a random id that stands for a reference (a message's channel and platform
// id) in a stream name. Unlike a keyed hash of the reference it is a function of
// nothing: once its row is gone with its owner's erasure, no key that survives can map
// a guessed message id to it (docs/privacy.md §4).

type cachedName struct{ name, owner string }

// Name returns the random name of ref. With create, a reference seen for the first time
// gets one, owned by subject ownerID: destroying the owner deletes the name's row, and
// the name then leads nowhere. ok is false when there is no name and create is false.
func (k *Keeper) Name(ctx context.Context, ref domain.Subject, ownerID string, create bool) (name string, ok bool, err error) {
	mac := k.refMAC("name\x00" + ref)
	k.mu.RLock()
	c, hit := k.names[mac]
	k.mu.RUnlock()
	if hit {
		return c.name, true, nil
	}
	var owner string
	err = k.db.QueryRowContext(ctx, `SELECT name, owner FROM privacy_names WHERE ref_mac = $1`, mac).Scan(&name, &owner)
	switch {
	case err == nil:
		k.rememberName(mac, name, owner)
		return name, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, fmt.Errorf("find name: %w", err)
	case !create:
		return "", false, nil
	case ownerID == "":
		return "", false, errors.New("new name: no owner subject")
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("new name: %w", err)
	}
	fresh := hex.EncodeToString(b)
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return "", false, fmt.Errorf("new name: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Another writer may name ref at the same time: the first insert wins and the
	// second does nothing and reads the winner's row (see Keeper.create).
	if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_names (ref_mac, name, owner) VALUES ($1, $2, $3) ON CONFLICT (ref_mac) DO NOTHING`,
		mac, fresh, ownerID); err != nil {
		return "", false, fmt.Errorf("new name: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT name, owner FROM privacy_names WHERE ref_mac = $1`, mac).Scan(&name, &owner); err != nil {
		return "", false, fmt.Errorf("new name: read: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", false, fmt.Errorf("new name: commit: %w", err)
	}
	k.rememberName(mac, name, owner)
	return name, true, nil
}

func (k *Keeper) rememberName(mac, name, owner string) {
	k.mu.Lock()
	k.names[mac] = cachedName{name, owner}
	k.mu.Unlock()
}
