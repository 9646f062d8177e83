package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"switchboard/adapters/config"
	"switchboard/eventstore/postgres/pgtest"
)

// The projections take the PostgreSQL store's read-side lock through the sealed log
// every command opens: without it nodes sharing the database deadlocked (cmd/nodes,
// after the erasure merge).
func TestSealedLogOnPostgresOffersTheReadSideLock(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	raw := "store: {driver: postgres, dsn: \"" + dsn + "\"}\nworkspaces:\n  - id: w\n    hubspot: {base_url: \"http://127.0.0.1:1\", token_env: HS}\n" +
		"    channels:\n      - {id: w-sms, kind: sms, default_region: US, auth_token_env: TW, inbox: {channel_id: \"1\", channel_account_id: \"2\"}}\n"
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadForStore(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	locker, ok := st.(interface {
		LockTx(ctx context.Context, tx *sql.Tx, name string) error
	})
	if !ok {
		t.Fatalf("%T does not offer LockTx: projections on a shared PostgreSQL would run without their lock", st)
	}
	tx, err := st.DB().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := locker.LockTx(context.Background(), tx, "projections"); err != nil {
		t.Fatal(err)
	}
}
