package main

import (
	"context"
	"testing"
	"time"

	"switchboard/cmd/internal/harness"
)

// TestRebuildRunRebuildsTheStoreItWrote drives the rebuild row end to end on a small
// store: the store the bench writes must be one the built binary accepts and rebuilds.
// It was not: written without the mark of a store whose streams have random names,
// serve's and rebuild's check refused it as a store from before issue 12, and `make
// bench` stopped at its rebuild row.
func TestRebuildRunRebuildsTheStoreItWrote(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the switchboard binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := harness.Build(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rebuildRun(ctx, dir, bin, 2_000, 500)
	if err != nil {
		t.Fatal(err)
	}
	if res.events < 2_000 || len(res.scans) != 2 || res.rebuild <= 0 {
		t.Errorf("rebuild row: %d events, %d scans, rebuild %s; want the store written, scanned twice and rebuilt", res.events, len(res.scans), res.rebuild)
	}
	for _, s := range res.scans {
		if s.rows != res.events {
			t.Errorf("a raw scan read %d rows of %d events", s.rows, res.events)
		}
	}
}
