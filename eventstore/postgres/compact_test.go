package postgres_test

import (
	"context"
	"strings"
	"testing"

	"switchboard/eventstore/postgres/pgtest"
)

// A table whose lock another transaction holds is not waited for past the lock
// timeout: Compact names it in its error, and still rewrites the others (each gets a
// new file) — a busy table must not keep the rest of an erasure's rows in the files.
func TestCompactRewritesEveryTableItCanLockAndNamesTheOthers(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	s := open(t, dsn)
	ctx := context.Background()
	other := pgtest.Connect(t, dsn)
	if _, err := other.Exec(ctx, `CREATE TABLE busy (v TEXT); CREATE TABLE idle (v TEXT); INSERT INTO busy VALUES ('a'); INSERT INTO idle VALUES ('b')`); err != nil {
		t.Fatal(err)
	}
	file := func(table string) string {
		t.Helper()
		var f string
		if err := s.DB().QueryRowContext(ctx, `SELECT pg_relation_filenode($1::regclass)::text`, table).Scan(&f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	busyBefore, idleBefore := file("busy"), file("idle")

	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT * FROM busy`); err != nil { // a reader's lock, which VACUUM FULL must wait for
		t.Fatal(err)
	}
	err = s.Compact(ctx, "busy", "idle")
	_ = tx.Rollback(ctx)
	if err == nil || !strings.Contains(err.Error(), "busy not rewritten") || strings.Contains(err.Error(), "idle") {
		t.Fatalf("Compact with busy locked: %v; want an error naming busy alone", err)
	}
	if file("busy") != busyBefore {
		t.Error("busy was rewritten though its lock was held")
	}
	if file("idle") == idleBefore {
		t.Error("idle was not rewritten: one busy table held back the others")
	}

	// Once the lock is gone, a later try rewrites it.
	if err := s.Compact(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if file("busy") == busyBefore {
		t.Error("busy was not rewritten once free")
	}
	if err := s.Compact(ctx); err == nil {
		t.Error("Compact of no table: no error")
	}
}
