package datakeys

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
)

// A stream that would otherwise be named by an identifier (a match key's, or a message's
// channel and platform message id: WhatsApp and Telegram ids embed the sender's number or
// chat id) is stored under a random name. Unlike a keyed hash of the identifier it is a
// function of nothing: once its row is gone with its owner's erasure, no key that
// survives can map a guessed identifier to it (docs/privacy.md §4). The row maps
// HMAC(index key, logical name) to the stored name, and keeps the logical name sealed
// with the owner's key for readers of the log.

// maxNames bounds the memory of names; past it the memory starts again (a miss costs one
// query).
const maxNames = 200_000

// streamField is the field the logical name is sealed as, bound into its authentication.
const streamField = "stream"

type cachedName struct{ name, owner string }

type cachedLogical struct{ logical, owner string }

// StreamRef is a logical stream name with its index MAC: an append that looks a stream
// up, names it and remembers it computes the MAC once.
type StreamRef struct{ logical, mac string }

// StreamRef is logical's reference in the name index.
func (k *Keeper) StreamRef(logical string) StreamRef {
	return StreamRef{logical: logical, mac: k.refMAC(domain.Subject("stream-name\x00" + logical))}
}

// NewStreamName is a fresh stored name for a stream of the kind prefix ("message:",
// "matchkey:"): the millisecond it is made, then 80 random bits.
//
// The time goes first so that names made one after another sort together: every index
// keyed by a stream's name (the log's (stream_id, version), privacy_names' own) then
// takes each new message's entries at its right edge, on pages a recent commit
// dirtied, instead of one page picked at random out of the whole index. The time is
// no news to someone holding the file: the stream's first event, appended with the
// name, carries its time in recorded_at. The random part alone keeps names apart (2^40 names in one
// millisecond before a clash is likely, and the unique index would refuse one).
func NewStreamName(prefix string) (string, error) {
	return newStreamName(prefix, time.Now())
}

func newStreamName(prefix string, now time.Time) (string, error) {
	b := make([]byte, 16)
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("new stream name: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// IsStreamName reports whether stored is a name NewStreamName made with prefix.
func IsStreamName(prefix, stored string) bool {
	if len(stored) != len(prefix)+32 || stored[:len(prefix)] != prefix {
		return false
	}
	_, err := hex.DecodeString(stored[len(prefix):])
	return err == nil
}

// FindStream returns the stored name of the stream the application calls logical and its
// owner subject; ok is false for a stream never named, or whose owner was erased (the two
// cannot be told apart, on purpose).
func (k *Keeper) FindStream(ctx context.Context, logical string) (stored, owner string, ok bool, err error) {
	return k.FindStreamRef(ctx, k.StreamRef(logical))
}

// FindStreamRef is FindStream of a reference already made.
func (k *Keeper) FindStreamRef(ctx context.Context, ref StreamRef) (stored, owner string, ok bool, err error) {
	mac := ref.mac
	k.mu.RLock()
	c, hit := k.names[mac]
	k.mu.RUnlock()
	if hit {
		return c.name, c.owner, true, nil
	}
	err = k.db.QueryRowContext(ctx, `SELECT name, owner FROM privacy_names WHERE ref_mac = $1`, mac).Scan(&stored, &owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("find stream name: %w", err)
	}
	k.rememberStream(mac, ref.logical, stored, owner)
	return stored, owner, true, nil
}

// CachedStream is FindStream from memory only.
func (k *Keeper) CachedStream(ref StreamRef) (stored, owner string, ok bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	c, ok := k.names[ref.mac]
	return c.name, c.owner, ok
}

// NameStreamTx records, inside tx, that ref's stream is stored as fresh, owned by subject
// ownerID, unless another writer named it first: it returns the name in force, which
// the caller appends to in the same transaction, so a name is never durable without its
// events nor events without their name. Call RememberStream once tx has committed.
func (k *Keeper) NameStreamTx(ctx context.Context, tx *sql.Tx, ref StreamRef, fresh, ownerID string) (string, error) {
	if ownerID == "" {
		return "", errors.New("name stream: no owner subject")
	}
	sealedRef, err := k.Seal(ctx, ownerID, streamField, ref.logical)
	if err != nil {
		return "", fmt.Errorf("name stream: %w", err)
	}
	mac := ref.mac
	// The first insert wins; a second writer does nothing and reads the winner's row
	// (its append then finds the stream taken, as a redelivery should). The count of
	// rows written says which, rather than RETURNING: on SQLite the insert with
	// RETURNING took about one and a half times as long (docs/performance.md, "The
	// name row without RETURNING"), and every new message writes one in the writer's
	// transaction.
	res, err := tx.ExecContext(ctx, `INSERT INTO privacy_names (ref_mac, name, owner, sealed_ref) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ref_mac) DO NOTHING`, mac, fresh, ownerID, sealedRef)
	if err != nil {
		return "", fmt.Errorf("name stream: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", fmt.Errorf("name stream: rows written: %w", err)
	}
	if n == 1 {
		return fresh, nil
	}
	var name string
	if err := tx.QueryRowContext(ctx, `SELECT name FROM privacy_names WHERE ref_mac = $1`, mac).Scan(&name); err != nil {
		return "", fmt.Errorf("name stream: read: %w", err)
	}
	return name, nil
}

// NameStream is NameStreamTx in a transaction of its own, for stores whose appends
// cannot take the name along.
func (k *Keeper) NameStream(ctx context.Context, logical, fresh, ownerID string) (string, error) {
	return k.NameStreamRef(ctx, k.StreamRef(logical), fresh, ownerID)
}

// NameStreamRef is NameStream of a reference already made.
func (k *Keeper) NameStreamRef(ctx context.Context, ref StreamRef, fresh, ownerID string) (string, error) {
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("name stream: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	name, err := k.NameStreamTx(ctx, tx, ref, fresh, ownerID)
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("name stream: commit: %w", err)
	}
	k.RememberStream(ref, name, ownerID)
	return name, nil
}

// RememberStream caches that ref's stream is stored as name, owned by owner.
func (k *Keeper) RememberStream(ref StreamRef, name, owner string) {
	k.rememberStream(ref.mac, ref.logical, name, owner)
}

func (k *Keeper) rememberStream(mac, logical, name, owner string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.erased[owner] {
		return
	}
	if len(k.names) >= maxNames {
		k.names = map[string]cachedName{}
	}
	if len(k.logicals) >= maxNames {
		k.logicals = map[string]cachedLogical{}
	}
	k.names[mac] = cachedName{name, owner}
	k.logicals[name] = cachedLogical{logical, owner}
}

// LogicalStream returns the name the application knows the stored stream by, and its
// owner; ok is false for a name whose owner was erased, or that was never given.
func (k *Keeper) LogicalStream(ctx context.Context, stored string) (logical, owner string, ok bool, err error) {
	k.mu.RLock()
	c, hit := k.logicals[stored]
	k.mu.RUnlock()
	if hit {
		return c.logical, c.owner, true, nil
	}
	var sealedRef string
	err = k.db.QueryRowContext(ctx, `SELECT owner, sealed_ref FROM privacy_names WHERE name = $1`, stored).Scan(&owner, &sealedRef)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("read stream name: %w", err)
	case sealedRef == "":
		return "", owner, false, nil
	}
	logical, err = k.Open(ctx, streamField, sealedRef)
	switch {
	case errors.Is(err, ErrErased):
		return "", "", false, nil
	case err != nil:
		return "", "", false, fmt.Errorf("read stream name: %w", err)
	}
	k.RememberStream(k.StreamRef(logical), stored, owner)
	return logical, owner, true, nil
}
