package hubspot

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func openTokenDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawToken(t *testing.T, db *sql.DB, ws string) string {
	t.Helper()
	var v string
	if err := db.QueryRow(`SELECT refresh_token FROM hubspot_refresh_tokens WHERE workspace = ?`, ws).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSQLTokenStoreKeepsAndReplacesTokens(t *testing.T) {
	ctx := context.Background()
	db := openTokenDB(t)
	s := NewSQLTokenStore(db, "")
	if _, ok, err := s.LoadRefreshToken(ctx, "acme"); ok || err != nil {
		t.Fatalf("empty store: ok %v err %v", ok, err)
	}
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	for _, tok := range []string{"rt-1", "rt-2"} {
		if err := s.SaveRefreshToken(ctx, "acme", StoredRefreshToken{RefreshToken: tok, Seed: "s", PortalID: "62515", UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Another store on the same database (a restart) reads what the first kept.
	got, ok, err := NewSQLTokenStore(db, "").LoadRefreshToken(ctx, "acme")
	if err != nil || !ok || got.RefreshToken != "rt-2" || got.Seed != "s" || got.PortalID != "62515" || !got.UpdatedAt.Equal(at) {
		t.Fatalf("loaded %+v ok %v err %v", got, ok, err)
	}
}

func TestSQLTokenStoreSealsTokensWithTheSecretKey(t *testing.T) {
	ctx := context.Background()
	db := openTokenDB(t)
	sealed := NewSQLTokenStore(db, "a-long-enough-secret-key")
	if err := sealed.SaveRefreshToken(ctx, "acme", StoredRefreshToken{RefreshToken: "rt-secret"}); err != nil {
		t.Fatal(err)
	}
	if raw := rawToken(t, db, "acme"); strings.Contains(raw, "rt-secret") || !strings.HasPrefix(raw, sealedPrefix) {
		t.Fatalf("stored in the clear: %q", raw)
	}
	if got, _, err := sealed.LoadRefreshToken(ctx, "acme"); err != nil || got.RefreshToken != "rt-secret" {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	for name, s := range map[string]*SQLTokenStore{"another key": NewSQLTokenStore(db, "another-secret-key-0000"), "no key": NewSQLTokenStore(db, "")} {
		if _, _, err := s.LoadRefreshToken(ctx, "acme"); err == nil || !strings.Contains(err.Error(), "secret_key_env") {
			t.Errorf("%s: err = %v, want one naming secret_key_env", name, err)
		}
	}
	// A sealed row copied to another workspace does not open there.
	if _, err := db.Exec(`INSERT INTO hubspot_refresh_tokens SELECT 'beta', refresh_token, seed, portal_id, updated_at FROM hubspot_refresh_tokens WHERE workspace = 'acme'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sealed.LoadRefreshToken(ctx, "beta"); err == nil {
		t.Error("a token sealed for acme opened for beta")
	}
	// A token kept before the key was set still loads, and is sealed on the next save.
	plain := NewSQLTokenStore(db, "")
	_ = plain.SaveRefreshToken(ctx, "gamma", StoredRefreshToken{RefreshToken: "rt-old"})
	if got, _, err := sealed.LoadRefreshToken(ctx, "gamma"); err != nil || got.RefreshToken != "rt-old" {
		t.Fatalf("plain row with a key: %+v, %v", got, err)
	}
}
