package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"switchboard/adapters/config"
	"switchboard/cmd/internal/rebuildbench"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// rebuildBenchEvents is the store BenchmarkRebuild rebuilds: enough batches that a
// rebuild's fixed costs (opening the store, emptying the tables) stay small, few enough
// to write in seconds. `make bench` measures a store of a million (cmd/bench).
const rebuildBenchEvents = 20_000

// BenchmarkRebuild measures `switchboard rebuild` of a store of known senders' traffic,
// sealed as serve writes it (cmd/internal/rebuildbench), beside the raw scan of the same
// events table: the two sub-benchmarks' events/s are the ratio issue 14 sets a target
// for (the rebuild at half the raw scan's rate at least).
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	dsn := filepath.Join(dir, "rebuild.db")
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig(dsn, "http://127.0.0.1:1", "http://127.0.0.1:1")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.LoadForStore(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	events, err := rebuildbench.Fill(ctx, st, cfg.Catalog(), rebuildbench.Traffic{Events: rebuildBenchEvents,
		Channels: []string{"acme-sms", "acme-wa", "acme-wa-twilio"}, Workspace: "acme", Senders: 200, Writers: 64})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw_scan", func(b *testing.B) {
		plain, err := sqlite.Open(dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer plain.Close()
		for b.Loop() {
			n, err := rebuildbench.RawScan(ctx, plain.DB(), projections.RebuildBatch)
			if err != nil || n != events {
				b.Fatalf("raw scan read %d rows (%v), want %d", n, err, events)
			}
		}
		b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("switchboard_rebuild", func(b *testing.B) {
		for b.Loop() {
			if err := cmdRebuild(ctx, []string{"--config", cfgPath}, io.Discard, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
