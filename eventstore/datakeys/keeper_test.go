package datakeys

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

func openStore(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func mustOpen(tb testing.TB, st *sqlite.Store, secret string) *Keeper {
	tb.Helper()
	k, err := Open(context.Background(), st, secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var (
	refX = domain.KeySubject(domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155552671"})
	refY = domain.KeySubject(domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155550199"})
)

const testSecret = "correct horse battery staple"

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sb.db")
	st := openStore(t, path)
	k := mustOpen(t, st, testSecret)

	x, err := k.SubjectID(ctx, refX, true)
	if err != nil {
		t.Fatal(err)
	}
	again, err := k.SubjectID(ctx, refX, true)
	if err != nil || again != x {
		t.Fatalf("second SubjectID(X) = %q, %v; want %q", again, err, x)
	}
	y, err := k.SubjectID(ctx, refY, true)
	if err != nil || y == x {
		t.Fatalf("SubjectID(Y) = %q, %v; want an id of its own", y, err)
	}
	if strings.Contains(x, "4155552671") || len(x) != 32 {
		t.Errorf("subject id %q: want 32 random hex digits", x)
	}

	sealed, err := k.Seal(ctx, x, "sender.phone", "+14155552671")
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(sealed) || strings.Contains(sealed, "4155552671") {
		t.Fatalf("sealed value %q holds the plain value or is not marked sealed", sealed)
	}
	if id, _ := SealedSubject(sealed); id != x {
		t.Errorf("SealedSubject = %q, want %q", id, x)
	}
	if got, err := k.Open(ctx, "sender.phone", sealed); err != nil || got != "+14155552671" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Bound to its field: the same ciphertext read as another field does not open.
	if _, err := k.Open(ctx, "text", sealed); err == nil || errors.Is(err, ErrErased) {
		t.Errorf("Open as another field: %v; want a failure that is not 'erased'", err)
	}
	if got, err := k.Open(ctx, "text", "plain, written before sealing"); err != nil || got != "plain, written before sealing" {
		t.Errorf("Open(plain) = %q, %v; want it returned as it is", got, err)
	}

	// Another process (a new keeper, empty caches) finds the subject through the index
	// and opens the value.
	k2 := mustOpen(t, st, testSecret)
	if id, err := k2.SubjectID(ctx, refX, false); err != nil || id != x {
		t.Errorf("new keeper SubjectID(X) = %q, %v; want %q", id, err, x)
	}
	if got, err := k2.Open(ctx, "sender.phone", sealed); err != nil || got != "+14155552671" {
		t.Errorf("new keeper Open = %q, %v", got, err)
	}
}

func TestDestroyedSubjectOpensAsErased(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "sb.db"))
	k := mustOpen(t, st, testSecret)
	x, _ := k.SubjectID(ctx, refX, true)
	y, _ := k.SubjectID(ctx, refY, true)
	sx, _ := k.Seal(ctx, x, "text", "X's secret")
	sy, _ := k.Seal(ctx, y, "text", "Y's words")

	if err := k.Destroy(ctx, x); err != nil {
		t.Fatal(err)
	}
	other := mustOpen(t, st, testSecret) // a process that never cached X's key
	for name, kp := range map[string]*Keeper{"destroying keeper": k, "other keeper": other} {
		_, err := kp.Open(ctx, "text", sx)
		var erased *ErasedError
		if !errors.Is(err, ErrErased) || !errors.As(err, &erased) || erased.SubjectID != x {
			t.Errorf("%s: Open(X) error = %v; want an *ErasedError for %s", name, err, x)
		}
		if got, err := kp.Open(ctx, "text", sy); err != nil || got != "Y's words" {
			t.Errorf("%s: Open(Y) = %q, %v; want Y intact", name, got, err)
		}
		if _, err := kp.SubjectID(ctx, refX, false); !errors.Is(err, ErrNoSubject) {
			t.Errorf("%s: SubjectID(X) after destroy: %v; want ErrNoSubject (the index row is gone)", name, err)
		}
	}
	if err := k.Destroy(ctx, x); err != nil {
		t.Errorf("destroying twice: %v", err)
	}
	// The same person writing again is a new subject: nothing links it to the old one.
	x2, err := k.SubjectID(ctx, refX, true)
	if err != nil || x2 == x {
		t.Errorf("SubjectID(X) after erasure = %q, %v; want a new id", x2, err)
	}
}

func TestMasterKeyMustFit(t *testing.T) {
	ctx := context.Background()
	wrapped := openStore(t, filepath.Join(t.TempDir(), "wrapped.db"))
	mustOpen(t, wrapped, testSecret)
	plain := openStore(t, filepath.Join(t.TempDir(), "plain.db"))
	mustOpen(t, plain, "")

	for _, c := range []struct {
		name   string
		st     *sqlite.Store
		secret string
		want   string
	}{
		{"another secret", wrapped, "a different secret of some length", "secret_key_env does not open this store's data keys"},
		{"no secret", wrapped, "", "set secret_key_env to the key they were made with"},
		{"secret set after keys were made without", plain, testSecret, "made without a master key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(ctx, c.st, c.secret)
			if !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v; want ErrMasterKey saying %q", err, c.want)
			}
		})
	}
	if _, err := Open(ctx, wrapped, testSecret); err != nil {
		t.Errorf("the right secret: %v", err)
	}
}

// storeFiles reads every file of the store (the database, its WAL and shared memory).
func storeFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(m)] = b
	}
	return out
}

// keyRow is what the keys table holds about a subject, in every form a search could
// find: the stored (wrapped) key, the key itself raw and as base64, the index MAC, and
// the subject id.
func keyRow(t *testing.T, k *Keeper, db *sql.DB, ref domain.Subject, id string) map[string][]byte {
	t.Helper()
	var wrapped string
	if err := db.QueryRow(`SELECT wrapped_key FROM privacy_keys WHERE subject_id = ?`, id).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	raw, err := k.unwrap("datakey\x00"+id, wrapped)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"stored key": []byte(wrapped), "raw key": raw,
		"raw key base64": []byte(base64.StdEncoding.EncodeToString(raw)),
		"index mac":      []byte(k.refMAC(ref)), "subject id": []byte(id)}
}

func TestDestroyLeavesNothingInTheFiles(t *testing.T) {
	for _, secret := range []string{"", testSecret} {
		name := "unwrapped"
		if secret != "" {
			name = "wrapped"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "sb.db")
			st := openStore(t, path)
			k := mustOpen(t, st, secret)
			// Enough subjects that the keys table spans pages and splits them.
			for i := range 300 {
				ref := domain.SenderSubject("acme-tg", "user_id", strings.Repeat("9", i%7)+string(rune('a'+i%26))+strings.Repeat("0", i/26))
				if _, err := k.SubjectID(ctx, ref, true); err != nil {
					t.Fatal(err)
				}
			}
			x, _ := k.SubjectID(ctx, refX, true)
			y, _ := k.SubjectID(ctx, refY, true)
			xRow := keyRow(t, k, st.DB(), refX, x)
			yRow := keyRow(t, k, st.DB(), refY, y)
			if err := st.Checkpoint(ctx); err != nil { // X's row is now in the database file too
				t.Fatal(err)
			}
			if err := k.Destroy(ctx, x); err != nil {
				t.Fatal(err)
			}

			check := func(when string) {
				files := storeFiles(t, path)
				for what, needle := range xRow {
					for f, b := range files {
						if bytes.Contains(b, needle) {
							t.Errorf("%s: X's %s is still in %s", when, what, f)
						}
					}
				}
				// The search works: Y's row is there to be found.
				found := false
				for _, b := range files {
					found = found || bytes.Contains(b, yRow["stored key"])
				}
				if !found {
					t.Errorf("%s: Y's stored key is in no file: the search proves nothing", when)
				}
			}
			check("service running, after destroy")
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			check("store closed")
		})
	}
}

// Why secure_delete: a deleted row of a plain SQLite file survives in the file even
// after a TRUNCATE checkpoint, and does not with secure_delete on. This measures the
// property Destroy relies on, with nothing of ours in between.
func TestSecureDeleteIsWhatRemovesDeletedRows(t *testing.T) {
	for _, c := range []struct {
		secureDelete string
		survives     bool
	}{{"off", true}, {"on", false}} {
		t.Run("secure_delete="+c.secureDelete, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raw.db")
			db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_secure_delete="+c.secureDelete)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			secret := "NEEDLE-7f3a9c-the-deleted-row"
			for _, q := range []string{
				`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`,
				`INSERT INTO t (v) VALUES ('keep me')`,
				`INSERT INTO t (v) VALUES ('` + secret + `')`,
				`PRAGMA wal_checkpoint(TRUNCATE)`,
				`DELETE FROM t WHERE v = '` + secret + `'`,
				`PRAGMA wal_checkpoint(TRUNCATE)`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			found := false
			for _, b := range storeFiles(t, path) {
				found = found || bytes.Contains(b, []byte(secret))
			}
			if found != c.survives {
				t.Errorf("deleted row found in the files: %v; want %v", found, c.survives)
			}
		})
	}
}

// Two processes meeting a sender for the first time at once (two nodes, two first
// messages) agree on one subject and keep one key.
func TestConcurrentFirstSightGivesOneSubject(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "sb.db"))
	keepers := []*Keeper{mustOpen(t, st, testSecret), mustOpen(t, st, testSecret)}
	const n = 16
	ids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			id, err := keepers[i%2].SubjectID(ctx, refX, true)
			ids <- id
			errs <- err
		}()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[<-ids] = true
	}
	var keys int
	if err := st.DB().QueryRow(`SELECT count(*) FROM privacy_keys`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || keys != 1 {
		t.Errorf("%d subject ids and %d keys for one sender; want 1 and 1 (%v)", len(seen), keys, seen)
	}
}

// Erasures tells whoever holds opened values that a subject was forgotten: the channel
// taken before is closed by the next forgetting, once, and a channel taken after waits
// for the one after; forgetting a subject again moves nothing.
func TestErasuresIsClosedByTheNextForgetting(t *testing.T) {
	k := mustOpen(t, openStore(t, filepath.Join(t.TempDir(), "keys.db")), "")
	before := k.Erasures()
	select {
	case <-before:
		t.Fatal("closed before anything was forgotten")
	default:
	}
	k.Forget("subject-1")
	select {
	case <-before:
	default:
		t.Fatal("not closed by the forgetting")
	}
	after := k.Erasures()
	k.Forget("subject-1")
	select {
	case <-after:
		t.Fatal("closed by forgetting the same subject again")
	default:
	}
	k.Forget("subject-2")
	select {
	case <-after:
	default:
		t.Fatal("not closed by the next subject's forgetting")
	}
}
