package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseBenchReadsMetricsAndPackages(t *testing.T) {
	out := `goos: linux
pkg: switchboard/eventstore/sqlite
BenchmarkRawInsertOneEvent-2   	    2000	    319218 ns/op	      3133 events/s	     512 B/op	      12 allocs/op
BenchmarkReadAll-2             	     300	   3577958 ns/op
PASS
pkg: switchboard/domain/command
BenchmarkCommandKnownSender    	    1000	   1281124 ns/op	       780.5 commands/s
ok  	switchboard/domain/command	3.1s
`
	rs := parseBench(out)
	if len(rs) != 3 {
		t.Fatalf("parsed %d results: %+v", len(rs), rs)
	}
	raw, ok := find(rs, "BenchmarkRawInsertOneEvent")
	if !ok || raw.Pkg != "switchboard/eventstore/sqlite" || raw.N != 2000 || raw.Metrics["events/s"] != 3133 ||
		raw.Metrics["ns/op"] != 319218 || raw.Metrics["allocs/op"] != 12 {
		t.Errorf("raw insert: %+v", raw)
	}
	cmd, _ := find(rs, "BenchmarkCommandKnownSender")
	if cmd.Pkg != "switchboard/domain/command" || cmd.Metrics["commands/s"] != 780.5 {
		t.Errorf("command: %+v", cmd)
	}
	if _, ok := rawCeiling(rs, rawGroup); ok {
		t.Error("a ceiling for a benchmark the output lacks")
	}
}

func TestTableRatiosAgainstTheCeilingOfTheSameRun(t *testing.T) {
	r := &results{machine: "test", dir: "/tmp/x",
		rawBefore: parseBench("BenchmarkRawInsertOneEvent-2 100 500000 ns/op 2000 events/s\nBenchmarkRawGroupCommit-2 10 1000000 ns/op 80000 events/s\n"),
		hot:       parseBench("BenchmarkAppendOneEvent-2 100 550000 ns/op 1800 events/s\n")}
	tab := r.table()
	for _, want := range []string{"| raw SQLite | `BenchmarkRawGroupCommit` | 80,000 events/s (1,000,000 ns/op) | 40.000 × RawInsertOneEvent |",
		"`BenchmarkAppendOneEvent` () | 550,000 ns/op, 1,800 events/s | 0.900 × RawInsertOneEvent |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

// TestTableWithoutGroupCommitUsesTheOneEventCeiling: before BenchmarkRawGroupCommit
// exists the table says so and the load runs are measured against one-event commits.
func TestTableWithoutGroupCommitUsesTheOneEventCeiling(t *testing.T) {
	r := &results{machine: "test", dir: "/tmp/x",
		rawBefore: parseBench("BenchmarkRawInsertOneEvent-2 100 500000 ns/op 2000 events/s\n")}
	r.load = []loadResult{{stack: "lifted", name: "known", lifted: true, eventsPerMsg: 4}}
	r.load[0].rep.AckPerSec = 250
	r.load[0].rep.AckLatency.P99 = 5
	tab := r.table()
	for _, want := range []string{"`BenchmarkRawGroupCommit` | not in this tree", "| 0.500 × RawInsertOneEvent (events/s) |", "p99 = 10 raw commits"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

// TestRebuildRowsRatioToTheRawScanOfTheSameRun: the rebuild's rate is divided by the
// raw scan measured before it on the same store, and the target is named.
func TestRebuildRowsRatioToTheRawScanOfTheSameRun(t *testing.T) {
	r := &results{machine: "test", dir: "/tmp/x", rebuild: &rebuildResult{events: 1_000_000, eventsPerMessage: 4.02, scanPage: 5000,
		scans:   []scanResult{{rows: 1_000_000, took: 4 * time.Second}, {rows: 1_000_000, took: 5 * time.Second}},
		rebuild: 20 * time.Second}}
	tab := r.table()
	for _, want := range []string{
		"| rebuild (1,000,000 events, 4.02 per message) | raw scan of the events table (pages of 5000) | 250,000 events/s (4.00 s) | 1.000 × raw scan |",
		"| `switchboard rebuild` (all projections, sealed log) | 50,000 events/s (20.00 s) | 0.200 × raw scan (target 0.5) |",
		"| raw scan again, after the rebuild | 200,000 events/s (5.00 s) | 0.800 × raw scan |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}
