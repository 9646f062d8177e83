package main

import (
	"slices"
	"testing"

	"switchboard/eventstore/datakeys"
	"switchboard/projections"
)

// logOwnTables are the store's tables an erasure writes nothing personal to: the log
// (sealed), the followers' checkpoints and leases, the migrations' record, the
// business's own HubSpot refresh tokens (made when OAuth first stores one), and the
// statements of the indexes a rebuild dropped.
var logOwnTables = []string{"checkpoints", "events", "hubspot_refresh_tokens", "nodes", "partition_leases", "rebuild_deferred_indexes", "schema_migrations"}

// TestCompactionNamesEveryTableAnErasureWrites: the tables PostgreSQL rewrites after an
// erasure (the data keys' and the read side's) are every table of a store but the log's
// own, so a table added later is not left holding old row versions unnoticed.
func TestCompactionNamesEveryTableAnErasureWrites(t *testing.T) {
	cfgPath, _ := offlineConfig(t)
	st := openSealedForTest(t, cfgPath)
	defer st.Close()
	if err := catchUpProjections(t.Context(), st); err != nil { // creates the read side's tables
		t.Fatal(err)
	}
	var personal []string
	for _, name := range tableNames(t, st.DB(), `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`) {
		if !slices.Contains(logOwnTables, name) {
			personal = append(personal, name)
		}
	}
	named := append(datakeys.Tables(), projections.Tables()...)
	slices.Sort(named)
	if !slices.Equal(personal, named) {
		t.Errorf("the store's tables beside the log's own are %v; the compaction names %v", personal, named)
	}
}
