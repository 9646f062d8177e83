// Package datakeys keeps the data keys that seal personal values (SPEC §3 rule 17,
// docs/privacy.md): one random AES-256-GCM key per subject, wrapped with the master key
// from secret_key_env when one is set, and an index from a subject's reference to its
// random subject id that holds only an HMAC of the reference. Destroying a subject's key
// and index row is erasure: every value sealed with it reads as erased from then on.
//
// The tables live beside the event log, in the store's own database, created by the
// versioned migration set "datakeys".
package datakeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/domain"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationSet names the keeper's migrations in schema_migrations.
const MigrationSet = "datakeys"

// Backend is the store whose database holds the keys: eventstore/sqlite.Store (and
// eventstore/postgres.Store) provide it.
type Backend interface {
	DB() *sql.DB
	Migrate(ctx context.Context, set string, fsys fs.FS) error
}

// checkpointer is a Backend that must be told to flush deleted rows out of its journal
// (SQLite's WAL); Destroy calls it after every destruction.
type checkpointer interface {
	Checkpoint(ctx context.Context) error
}

// ErrErased is matched with errors.Is by every error that says a value's subject was
// erased; the detail is in *ErasedError.
var ErrErased = errors.New("erased")

// ErasedError says a sealed value cannot be opened because its subject's data key was
// destroyed. Readers show domain.Erased in its place; it is not a failure.
type ErasedError struct{ SubjectID string }

func (e *ErasedError) Error() string {
	return fmt.Sprintf("subject %s is erased: its data key was destroyed", e.SubjectID)
}

func (e *ErasedError) Is(target error) bool { return target == ErrErased }

// ErrNoSubject is returned by SubjectID(create=false) for a reference that has no
// subject: never seen, or erased (the index row went with the key).
var ErrNoSubject = errors.New("no subject for this reference")

// ErrMasterKey is matched by the errors Open returns when secret_key_env does not fit
// the keys in the store (missing, set after the keys were made, or another key).
var ErrMasterKey = errors.New("master key does not fit the data keys")

// Meta rows.
const (
	metaWrapping = "wrapping"
	metaCheck    = "check"
	metaIndexKey = "index_key"
	// wrapNone: keys stored as they are. wrapGCM: AES-256-GCM with a key derived from
	// the secret by HKDF-SHA256.
	wrapNone = "none"
	wrapGCM  = "aes-256-gcm+hkdf-sha256"
	// checkPlain is sealed with the key-encryption key; opening it proves the secret.
	checkPlain = "switchboard data keys"
)

// sealedPrefix starts every sealed value: "sb1:" + subject id + ":" + base64url(nonce ‖
// ciphertext).
const sealedPrefix = "sb1:"

// Keeper creates, finds, uses and destroys data keys. It is safe for concurrent use.
// It caches opened keys and references in memory, so a known subject costs no query;
// a subject destroyed by another process stays usable here until Forget is called for
// it (the erasure event's follower does that).
type Keeper struct {
	db       *sql.DB
	flush    checkpointer
	writer   txWriter    // the store's commit queue, where it has one (sqlite.Store)
	kek      cipher.AEAD // nil: keys are stored unwrapped
	indexKey []byte
	macs     sync.Pool // of hmac.New(sha256.New, indexKey)
	now      func() time.Time

	// generation counts the subjects this keeper forgot: a cache of opened values
	// (eventstore/sealed) is good only while it has not moved.
	generation atomic.Uint64

	mu     sync.RWMutex
	ids    map[string]string      // ref mac -> subject id
	keys   map[string]cipher.AEAD // subject id -> opened data key
	erased map[string]bool        // subject ids known to be destroyed
	// forgotten are the subject ids Forget has cleared the caches of: every reader of
	// the log (each follower, the forget-erased reactor) forgets each erasure it reads,
	// and only the first needs to walk the caches and move the generation.
	forgotten map[string]bool
	names     map[string]cachedName    // logical stream ref mac -> stored name and owner
	logicals  map[string]cachedLogical // stored stream name -> logical name and owner
	// forgetting is closed, and replaced, whenever a subject is forgotten (Erasures).
	forgetting chan struct{}
	// onForget are told each subject forgotten (OnForget).
	onForget []func(id string)
}

// Open applies the keeper's migrations to b and checks the master secret against the
// keys already there. secret is the value of secret_key_env ("" when unset). A store
// whose keys were made with a secret refuses to open without it or with another one,
// and a store whose keys were made without one refuses a secret (the keys would have to
// be wrapped first), each with a message saying what to do.
func Open(ctx context.Context, b Backend, secret string) (*Keeper, error) {
	if b == nil {
		return nil, errors.New("open data keys: no store")
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open data keys: %w", err)
	}
	if err := b.Migrate(ctx, MigrationSet, sub); err != nil {
		return nil, fmt.Errorf("open data keys: %w", err)
	}
	k := &Keeper{db: b.DB(), now: time.Now, forgetting: make(chan struct{}),
		ids: map[string]string{}, keys: map[string]cipher.AEAD{}, erased: map[string]bool{}, forgotten: map[string]bool{}, names: map[string]cachedName{},
		logicals: map[string]cachedLogical{}}
	if c, ok := b.(checkpointer); ok {
		k.flush = c
	}
	if w, ok := b.(txWriter); ok {
		k.writer = w
	}
	if secret != "" {
		kek, err := hkdf.Key(sha256.New, []byte(secret), nil, "switchboard data keys v1", 32)
		if err != nil {
			return nil, fmt.Errorf("open data keys: derive the key-encryption key: %w", err)
		}
		if k.kek, err = newGCM(kek); err != nil {
			return nil, fmt.Errorf("open data keys: %w", err)
		}
	}
	if err := k.initMeta(ctx); err != nil {
		return nil, fmt.Errorf("open data keys: %w", err)
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// initMeta records how this store's keys are wrapped the first time, and checks it
// every time after. Two processes opening a new store at once both insert; the
// first wins and the second checks against it.
func (k *Keeper) initMeta(ctx context.Context) error {
	wrapping, check := wrapNone, checkPlain
	if k.kek != nil {
		wrapping = wrapGCM
		var err error
		if check, err = k.wrap("check", []byte(checkPlain)); err != nil {
			return err
		}
	}
	indexKey := make([]byte, 32)
	if _, err := rand.Read(indexKey); err != nil {
		return fmt.Errorf("index key: %w", err)
	}
	wrappedIndex, err := k.wrap("index", indexKey)
	if err != nil {
		return err
	}
	// A store opened before has its rows: read them without a write transaction, so
	// a reader of a read-only copy (the harnesses, an auditor's snapshot) can open it.
	meta, err := readMeta(ctx, k.db)
	if err != nil {
		return err
	}
	if len(meta) < 3 {
		tx, err := k.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		for name, value := range map[string]string{metaWrapping: wrapping, metaCheck: check, metaIndexKey: wrappedIndex} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
				return fmt.Errorf("record %s: %w", name, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if meta, err = readMeta(ctx, k.db); err != nil {
			return err
		}
	}

	switch got := meta[metaWrapping]; {
	case got == wrapGCM && k.kek == nil:
		return fmt.Errorf("%w: this store's data keys are wrapped with a master key: set secret_key_env to the key they were made with", ErrMasterKey)
	case got == wrapNone && k.kek != nil:
		return fmt.Errorf("%w: this store's data keys were made without a master key, and secret_key_env is now set: unset it, or wrap the existing keys first", ErrMasterKey)
	case got != wrapGCM && got != wrapNone:
		return fmt.Errorf("privacy_meta: unknown key wrapping %q (made by a newer build?)", got)
	}
	if k.kek != nil {
		plain, err := k.unwrap("check", meta[metaCheck])
		if err != nil || string(plain) != checkPlain {
			return fmt.Errorf("%w: secret_key_env does not open this store's data keys: it is not the key they were wrapped with", ErrMasterKey)
		}
	}
	if k.indexKey, err = k.unwrap("index", meta[metaIndexKey]); err != nil {
		return fmt.Errorf("privacy_meta: index key: %w", err)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readMeta(ctx context.Context, db querier) (map[string]string, error) {
	meta := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT name, value FROM privacy_meta`)
	if err != nil {
		return nil, fmt.Errorf("read privacy_meta: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("read privacy_meta: %w", err)
		}
		meta[n] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read privacy_meta: %w", err)
	}
	return meta, nil
}

// metaStreamNames marks a store whose log keeps streams under random names from its
// first event (eventstore/sealed). A log written before that names streams by phone
// numbers and message ids, which no erasure can reach.
const metaStreamNames = "stream_names"

// HiddenStreamNames reports whether the store was marked as keeping its streams under
// random names (MarkHiddenStreamNames).
func (k *Keeper) HiddenStreamNames(ctx context.Context) (bool, error) {
	var v string
	err := k.db.QueryRowContext(ctx, `SELECT value FROM privacy_meta WHERE name = $1`, metaStreamNames).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read privacy_meta: %w", err)
	}
	return v == "random", nil
}

// MarkHiddenStreamNames records that the store keeps its streams under random names;
// the caller has checked that its log is empty, or was copied by an upgrade.
func (k *Keeper) MarkHiddenStreamNames(ctx context.Context) error {
	if _, err := k.db.ExecContext(ctx, `INSERT INTO privacy_meta (name, value) VALUES ($1, 'random') ON CONFLICT (name) DO NOTHING`, metaStreamNames); err != nil {
		return fmt.Errorf("mark privacy_meta: %w", err)
	}
	return nil
}

// wrap seals a key with the key-encryption key, bound to what it is (aad), or encodes
// it as it is without one.
func (k *Keeper) wrap(aad string, key []byte) (string, error) {
	if k.kek == nil {
		return base64.StdEncoding.EncodeToString(key), nil
	}
	nonce := make([]byte, k.kek.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("wrap key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k.kek.Seal(nonce, nonce, key, []byte(aad))), nil
}

func (k *Keeper) unwrap(aad, stored string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("damaged key: %w", err)
	}
	if k.kek == nil {
		return raw, nil
	}
	if len(raw) < k.kek.NonceSize() {
		return nil, errors.New("damaged key: too short")
	}
	n := k.kek.NonceSize()
	plain, err := k.kek.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("key does not open with the master key: %w", err)
	}
	return plain, nil
}

// refMAC is the index's name for a reference: without the index key it reveals
// nothing, and once the row is deleted it leads nowhere.
// Every message computes a few of them, so the keyed hashes are pooled: hmac.New hashes
// the key's pads each time, a Reset restores them.
func (k *Keeper) refMAC(ref domain.Subject) string {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.indexKey)
	}
	m.Reset()
	m.Write([]byte(ref))
	var sum [sha256.Size]byte
	out := base64.RawStdEncoding.EncodeToString(m.Sum(sum[:0]))
	k.macs.Put(m)
	return out
}

// SubjectID returns the random id of ref's subject. With create, a subject seen for the
// first time gets an id and a data key; without, it is ErrNoSubject — which is also the
// answer for an erased subject, whose index row is gone.
func (k *Keeper) SubjectID(ctx context.Context, ref domain.Subject, create bool) (string, error) {
	mac := k.refMAC(ref)
	k.mu.RLock()
	id, ok := k.ids[mac]
	k.mu.RUnlock()
	if ok {
		return id, nil
	}
	err := k.db.QueryRowContext(ctx, `SELECT subject_id FROM privacy_index WHERE ref_mac = $1`, mac).Scan(&id)
	switch {
	case err == nil:
		k.remember(mac, id)
		return id, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("find subject: %w", err)
	case !create:
		return "", ErrNoSubject
	}
	id, err = k.create(ctx, mac)
	if err != nil {
		return "", err
	}
	k.remember(mac, id)
	return id, nil
}

func (k *Keeper) remember(mac, id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	// An index row read between an erasure's record and its key's destruction (another
	// process erases) must not bring the forgotten subject back into memory.
	if !k.erased[id] {
		k.ids[mac] = id
	}
}

// create makes a subject id and data key for mac, unless another writer did first. The
// index row decides: its insert does nothing when the reference is already indexed (on
// SQLite the transaction holds the write lock from BEGIN; on PostgreSQL the insert waits
// for a concurrent creator and then sees its row), and the loser removes the key it
// made, so two first messages of one sender on two nodes seal with one key.
func (k *Keeper) create(ctx context.Context, mac string) (string, error) {
	idBytes := make([]byte, 16)
	key := make([]byte, 32)
	if _, err := rand.Read(idBytes); err != nil {
		return "", fmt.Errorf("new subject: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new subject: %w", err)
	}
	id := hex.EncodeToString(idBytes)
	wrapped, err := k.wrap("datakey\x00"+id, key)
	if err != nil {
		return "", err
	}
	var winner string
	err = k.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_keys (subject_id, wrapped_key, created_at) VALUES ($1, $2, $3)`,
			id, wrapped, k.now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("store key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_index (ref_mac, subject_id) VALUES ($1, $2) ON CONFLICT (ref_mac) DO NOTHING`, mac, id); err != nil {
			return fmt.Errorf("store index: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT subject_id FROM privacy_index WHERE ref_mac = $1`, mac).Scan(&winner); err != nil {
			return fmt.Errorf("read index: %w", err)
		}
		if winner != id {
			if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_keys WHERE subject_id = $1`, id); err != nil {
				return fmt.Errorf("drop the key that lost: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("new subject: %w", err)
	}
	return winner, nil
}

// txWriter is a store that writes what it is given in its own commits (sqlite.Store's
// group commit), so a new subject's key does not contend with the appends for the
// write lock.
type txWriter interface {
	Write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
}

// write runs fn in the store's writer when it has one, else in a transaction of its
// own; either way fn's writes have committed when write returns nil.
func (k *Keeper) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if k.writer != nil {
		return k.writer.Write(ctx, fn)
	}
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// aead returns the opened data key of subject id, or an *ErasedError.
func (k *Keeper) aead(ctx context.Context, id string) (cipher.AEAD, error) {
	k.mu.RLock()
	a, ok := k.keys[id]
	gone := k.erased[id]
	k.mu.RUnlock()
	switch {
	case ok:
		return a, nil
	case gone:
		return nil, &ErasedError{SubjectID: id}
	}
	var wrapped string
	err := k.db.QueryRowContext(ctx, `SELECT wrapped_key FROM privacy_keys WHERE subject_id = $1`, id).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		k.mu.Lock()
		k.erased[id] = true
		k.mu.Unlock()
		return nil, &ErasedError{SubjectID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("load data key of subject %s: %w", id, err)
	}
	key, err := k.unwrap("datakey\x00"+id, wrapped)
	if err != nil {
		return nil, fmt.Errorf("data key of subject %s: %w", id, err)
	}
	if a, err = newGCM(key); err != nil {
		return nil, fmt.Errorf("data key of subject %s: %w", id, err)
	}
	k.mu.Lock()
	k.keys[id] = a
	k.mu.Unlock()
	return a, nil
}

// Seal encrypts value with subject id's data key, bound to the subject and to field (a
// JSON path such as "sender.phone"): a sealed value moved to another subject or field
// does not open. The empty string stays empty: it holds nothing personal and keeps
// "absent" fields absent.
func (k *Keeper) Seal(ctx context.Context, id, field, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	a, err := k.aead(ctx, id)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", field, err)
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(value)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", field, err)
	}
	ct := a.Seal(nonce, nonce, []byte(value), aad(id, field))
	return sealedPrefix + id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

func aad(id, field string) []byte { return []byte(id + "\x00" + field) }

// IsSealed reports whether s is a value Seal made.
func IsSealed(s string) bool { return strings.HasPrefix(s, sealedPrefix) }

// SealedSubject returns the subject id a sealed value names.
func SealedSubject(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ":")
	return id, ok
}

// Open decrypts a value Seal made for field. A value that is not sealed (written
// before sealing, or empty) is returned as it is. An erased subject is an error
// matching ErrErased; a value that does not authenticate (damaged, or moved to another
// field) is another error.
func (k *Keeper) Open(ctx context.Context, field, sealed string) (string, error) {
	if !IsSealed(sealed) {
		return sealed, nil
	}
	id, body, _ := strings.Cut(strings.TrimPrefix(sealed, sealedPrefix), ":")
	a, err := k.aead(ctx, id)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", field, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < a.NonceSize() {
		return "", fmt.Errorf("open %s of subject %s: the sealed value is damaged", field, id)
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, raw[:n], raw[n:], aad(id, field))
	if err != nil {
		return "", fmt.Errorf("open %s of subject %s: the sealed value does not authenticate (damaged, or not this field's)", field, id)
	}
	return string(plain), nil
}

// Destroy erases subject id: its data key, its index rows and the names it owns are deleted, and the store's
// journal is flushed so that no copy of them remains in its files (SQLite: the
// connections run with secure_delete, and Checkpoint truncates the WAL). Destroying a
// subject that is already gone does nothing and succeeds.
func (k *Keeper) Destroy(ctx context.Context, id string) error {
	err := k.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Foreign keys cascade too, but saying it keeps the erasure readable here.
		if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_names WHERE owner = $1`, id); err != nil {
			return fmt.Errorf("names: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_index WHERE subject_id = $1`, id); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_keys WHERE subject_id = $1`, id); err != nil {
			return fmt.Errorf("key: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("destroy subject %s: %w", id, err)
	}
	k.Forget(id)
	if k.flush != nil {
		if err := k.flush.Checkpoint(ctx); err != nil {
			return fmt.Errorf("destroy subject %s: the rows are deleted, but copies may remain in the journal: %w", id, err)
		}
	}
	return nil
}

// Forget drops subject id from this keeper's caches: after another process destroyed
// it, this one must stop sealing and opening with the key it still holds. Then it tells
// those OnForget registered.
func (k *Keeper) Forget(id string) {
	for _, fn := range k.forget(id) {
		fn(id)
	}
}

// OnForget registers fn to be told every subject this keeper forgets, once its own
// caches let go of it: a cache of what was read or derived from personal values
// (eventstore/sealed's) drops them at the erasure, rather than at its next use, which
// may be long after in a quiet process.
func (k *Keeper) OnForget(fn func(id string)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.onForget = append(k.onForget, fn)
}

// forget is Forget's work under the lock; it returns whom to tell (none for a subject
// forgotten before).
func (k *Keeper) forget(id string) []func(string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.forgotten[id] {
		return nil // nothing of it can have come back: see remember, aead, RememberStream
	}
	defer k.generation.Add(1)
	close(k.forgetting)
	k.forgetting = make(chan struct{})
	k.forgotten[id] = true
	delete(k.keys, id)
	k.erased[id] = true
	for mac, v := range k.ids {
		if v == id {
			delete(k.ids, mac)
		}
	}
	for mac, c := range k.names {
		if c.owner == id {
			delete(k.names, mac)
		}
	}
	for name, c := range k.logicals {
		if c.owner == id {
			delete(k.logicals, name)
		}
	}
	return slices.Clone(k.onForget)
}

// Find returns the subject id of ref without creating one; ok is false for a reference
// never seen or already erased (the two cannot be told apart, on purpose).
func (k *Keeper) Find(ctx context.Context, ref domain.Subject) (id string, ok bool, err error) {
	id, err = k.SubjectID(ctx, ref, false)
	switch {
	case errors.Is(err, ErrNoSubject):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return id, true, nil
}

// Generation changes every time the keeper forgets a subject: whoever caches values it
// opened drops them when it moves.
func (k *Keeper) Generation() uint64 { return k.generation.Load() }

// Erasures returns a channel that is closed when this keeper next forgets a subject:
// whoever holds values opened before (a publication waiting for HubSpot) learns that
// they may be erased now, and reads them again.
func (k *Keeper) Erasures() <-chan struct{} {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.forgetting
}

// keyTables are the keeper's tables in the order their rows can be inserted.
var keyTables = []string{"privacy_meta", "privacy_keys", "privacy_index", "privacy_names"}

// Tables are the keeper's tables, in the order their rows can be inserted: an
// erasure deletes rows in them.
func Tables() []string { return slices.Clone(keyTables) }

// CopyKeys copies every data key, index entry and stream name of from into to, so that
// a log copied event by event into to (sealed values as they are) opens there as it did
// in from; the two configurations must name the same secret_key_env value. to must hold
// no data key yet: its own meta rows (written when it was first opened) are replaced.
func CopyKeys(ctx context.Context, from, to Backend) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	if err := to.Migrate(ctx, MigrationSet, sub); err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	var n int
	if err := to.DB().QueryRowContext(ctx, `SELECT count(*) FROM privacy_keys`).Scan(&n); err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("copy data keys: the target already holds %d data keys; want a target that has sealed nothing", n)
	}
	tx, err := to.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_meta`); err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	for _, table := range keyTables {
		if err := copyRows(ctx, from.DB(), tx, table); err != nil {
			return fmt.Errorf("copy data keys: %s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("copy data keys: %w", err)
	}
	return nil
}

// copyRows copies every row of table, column by column as the source names them.
func copyRows(ctx context.Context, from *sql.DB, to *sql.Tx, table string) error {
	rows, err := from.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	marks := make([]string, len(cols))
	for i := range cols {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `)`
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		if _, err := to.ExecContext(ctx, insert, vals...); err != nil {
			return err
		}
	}
	return rows.Err()
}
