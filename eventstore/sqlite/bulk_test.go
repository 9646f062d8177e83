package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"switchboard/eventstore/sqlite"
)

// TestBulkConnWidensOnlyItsOwnCache: the rebuild's connection gets the large page
// cache, and the connection goes back to the pool with SQLite's default, so the
// service's connections never hold a rebuild's memory.
func TestBulkConnWidensOnlyItsOwnCache(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "bulk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.DB().SetMaxOpenConns(1) // the pool's one connection is the bulk one
	var before int64
	if err := st.DB().QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	conn, done, err := st.BulkConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bulk int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&bulk); err != nil {
		t.Fatal(err)
	}
	done()
	var after int64
	if err := st.DB().QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if bulk != -256<<10 || after != before {
		t.Errorf("cache_size %d on the pool, %d on the bulk connection, %d on the pool after; want %d, %d, %d", before, bulk, after, before, -256<<10, before)
	}
}
