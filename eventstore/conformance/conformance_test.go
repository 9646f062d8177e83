package conformance_test

import (
	"context"
	"path/filepath"
	"testing"

	"switchboard/eventstore/eventstoretest"
	"switchboard/eventstore/follow"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/eventstore/sqlite"
)

// Both backends declare the same features: checkpoints beside the log and switchboard's
// projections in the store's database.
var features = eventstoretest.Features{Checkpoints: true, SQLProjections: true}

// TestConformance runs the one suite on every backend. PostgreSQL's half is skipped,
// saying why, when SWITCHBOARD_TEST_POSTGRES is not set; SQLite's always runs.
func TestConformance(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		eventstoretest.Run(t, features, func(t *testing.T) eventstoretest.Backend {
			s, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
			if err != nil {
				t.Fatalf("open sqlite store: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close sqlite store: %v", err)
				}
			})
			cps, err := follow.NewSQLCheckpoints(s.DB())
			if err != nil {
				t.Fatal(err)
			}
			return eventstoretest.Backend{Store: s, Checkpoints: cps, DB: s}
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		pgtest.DSN(t)
		eventstoretest.Run(t, features, func(t *testing.T) eventstoretest.Backend {
			s, err := postgres.Open(context.Background(), pgtest.FreshSchema(t))
			if err != nil {
				t.Fatalf("open postgres store: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			cps, err := follow.NewSQLCheckpoints(s.DB())
			if err != nil {
				t.Fatal(err)
			}
			return eventstoretest.Backend{Store: s, Checkpoints: cps, DB: s}
		})
	})
}
