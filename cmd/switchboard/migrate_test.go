package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"switchboard/eventstore/postgres/pgtest"
)

// migrateConfig writes a configuration whose store is the SQLite file in dir or, with
// postgresDSN, that PostgreSQL schema.
func migrateConfig(t *testing.T, postgresDSN string) (path string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "switchboard.yaml")
	raw := testConfigWith(filepath.Join(dir, "switchboard.db"), "http://127.0.0.1:9", "http://127.0.0.1:9", stackOptions{postgresDSN: postgresDSN})
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	return path
}

var migratedLine = regexp.MustCompile(`store migrated: (\d+) migrations applied now; versions: (.*)\n`)

// migrateTwice runs `switchboard migrate` on a new database twice: the first run applies
// every set serve applies at start, the second finds nothing to do and changes nothing.
func migrateTwice(t *testing.T, path string, tables func() []string) {
	t.Helper()
	var versions string
	for round, wantApplied := range []bool{true, false} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"migrate", "--config", path}, &stdout, &stderr); code != 0 {
			t.Fatalf("migrate run %d: exit %d, stderr:\n%s", round+1, code, stderr.String())
		}
		m := migratedLine.FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("migrate run %d printed %q, want a line saying what it applied", round+1, stdout.String())
		}
		if applied := m[1] != "0"; applied != wantApplied {
			t.Fatalf("migrate run %d applied %s migrations (stderr %q), want some on the first run and none on the second", round+1, m[1], stderr.String())
		}
		if round == 0 {
			versions = m[2]
			for _, set := range []string{"events ", "checkpoints ", "projections "} {
				if !bytes.Contains([]byte(versions), []byte(set)) {
					t.Errorf("versions %q lack the set %q", versions, set)
				}
			}
		} else if m[2] != versions {
			t.Errorf("second run reports versions %q, first %q", m[2], versions)
		}
		if round == 1 && stderr.Len() != 0 {
			t.Errorf("second run says it applied:\n%s", stderr.String())
		}
	}
	got := map[string]bool{}
	for _, tb := range tables() {
		got[tb] = true
	}
	// One table of each set: the log, the followers' checkpoints and leases, the read side,
	// and the OAuth refresh tokens.
	for _, want := range []string{"events", "checkpoints", "partition_leases", "contact_keys", "audit_messages", "hubspot_refresh_tokens"} {
		if !got[want] {
			t.Errorf("after migrate the database has no table %s (tables: %v)", want, tables())
		}
	}
}

func TestMigrateAppliesEverySetOnceOnSQLite(t *testing.T) {
	path := migrateConfig(t, "")
	migrateTwice(t, path, func() []string {
		db, err := sql.Open("sqlite3", filepath.Join(filepath.Dir(path), "switchboard.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return tableNames(t, db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	})
}

func TestMigrateAppliesEverySetOnceOnPostgres(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	path := migrateConfig(t, dsn)
	migrateTwice(t, path, func() []string {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return tableNames(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	})
}

func tableNames(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}
