// Command bench is `make bench`: in one go, on one disk, it measures the raw SQLite
// ceilings, runs the Go benchmarks of the hot paths, and drives the built switchboard
// binary (`serve` with `dev hubspot`) with `dev load` in four sender mixes, then prints
// one table with each figure and its ratio to the raw ceiling measured in the same run.
//
// The machine is shared and noisy: a figure means something only against the ceiling
// measured beside it, which is why both come from the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"switchboard/cmd/internal/harness"
	"switchboard/projections"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "working directory for the binary, the stores and the logs (default: a new directory under var/bench)")
	flag.StringVar(&o.rawBench, "raw", "^Benchmark(RawInsertOneEvent|RawGroupCommit)$", "-bench regexp of the raw SQLite ceilings in ./eventstore/sqlite/ (a benchmark the regexp names but the tree lacks is simply absent)")
	flag.StringVar(&o.rawTime, "raw-benchtime", "1s", "-benchtime of the raw ceilings")
	flag.StringVar(&o.goBenchTime, "benchtime", "1s", "-benchtime of the hot-path Go benchmarks")
	flag.StringVar(&o.goBenchPkgs, "packages", "./domain/ ./domain/command/ ./eventstore/sqlite/ ./eventstore/datakeys/", "packages of the hot-path Go benchmarks (space-separated)")
	flag.DurationVar(&o.loadDuration, "load-duration", 5*time.Second, "how long each closed-loop or constant-rate load run sends")
	flag.IntVar(&o.clients, "clients", 32, "concurrency of the closed-loop load runs")
	flag.Float64Var(&o.rate, "rate", 1000, "offered messages/s of the open-loop known-sender run")
	flag.BoolVar(&o.skipGo, "skip-go-bench", false, "skip the hot-path Go benchmarks")
	flag.BoolVar(&o.skipLoad, "skip-load", false, "skip the load runs")
	flag.BoolVar(&o.skipBacklog, "skip-backlog", false, "skip the backlog run (a backlog held, then published at HubSpot's pace: about a minute)")
	flag.BoolVar(&o.onlyBacklog, "only-backlog", false, "of the load runs, make only the backlog run")
	flag.StringVar(&o.loadRuns, "load-runs", "", "regexp of the load runs to make, matched against their names (e.g. 'all known senders'); default all")
	flag.StringVar(&o.postgres, "postgres", "", "PostgreSQL DSN of a database the bench may create a schema in: adds one node on SQLite against three on PostgreSQL and NATS (issue 15)")
	flag.StringVar(&o.nats, "nats", "nats://127.0.0.1:4222", "NATS server of the several-nodes runs (with -postgres)")
	flag.IntVar(&o.rebuildEvents, "rebuild-events", 1_000_000, "events of the store `switchboard rebuild` is measured on against a raw scan of it (0: no rebuild row)")
	flag.IntVar(&o.rebuildPage, "rebuild-page", projections.RebuildBatch, "rows per page of the raw scan (by default the size of the rebuild's own pages)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	dir                      string
	rawBench, rawTime        string
	goBenchTime, goBenchPkgs string
	loadDuration             time.Duration
	clients                  int
	rate                     float64
	skipGo, skipLoad         bool
	skipBacklog, onlyBacklog bool
	loadRuns                 string
	postgres, nats           string
	rebuildEvents            int
	rebuildPage              int
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	if _, err := os.Stat("cmd/switchboard"); err != nil {
		return fmt.Errorf("run from the repository's root (`make bench`): it builds ./cmd/switchboard and benchmarks ./eventstore/sqlite/")
	}
	if o.dir == "" {
		o.dir = filepath.Join("var", "bench", began.UTC().Format("20060102-150405"))
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	progress("working in %s", dir)
	res := &results{began: began, dir: dir}
	res.machine = machine()

	progress("raw SQLite ceilings (%s)", o.rawBench)
	raw, err := goBench(ctx, dir, o.rawBench, o.rawTime, "./eventstore/sqlite/")
	if err != nil {
		return err
	}
	res.rawBefore = raw
	if !o.skipGo {
		progress("hot-path Go benchmarks (%s)", o.goBenchPkgs)
		hot, err := goBench(ctx, dir, ".", o.goBenchTime, splitFields(o.goBenchPkgs)...)
		if err != nil {
			return err
		}
		res.hot = hot
	}
	var bin string
	if !o.skipLoad || o.rebuildEvents > 0 {
		progress("building switchboard")
		if bin, err = harness.Build(ctx, dir, false); err != nil {
			return err
		}
	}
	if o.rebuildEvents > 0 {
		if res.rebuild, err = rebuildRun(ctx, dir, bin, o.rebuildEvents, o.rebuildPage); err != nil {
			return err
		}
	}
	if !o.skipLoad {
		if !o.onlyBacklog {
			if res.load, err = loadRuns(ctx, dir, bin, o); err != nil {
				return err
			}
		}
		if !o.skipBacklog {
			if res.backlog, err = backlogRun(ctx, dir, bin); err != nil {
				return err
			}
		}
		if o.postgres != "" && !o.onlyBacklog {
			if res.nodes, err = nodesRuns(ctx, dir, bin, o.postgres, o.nats, o); err != nil {
				return err
			}
		}
		progress("raw SQLite ceilings again, after the load runs")
		if res.rawAfter, err = goBench(ctx, dir, o.rawBench, o.rawTime, "./eventstore/sqlite/"); err != nil {
			return err
		}
	}
	res.elapsed = time.Since(began)
	table := res.table()
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(table), 0o644); err != nil {
		return err
	}
	progress("done in %s; the table is also in %s", res.elapsed.Round(time.Second), filepath.Join(dir, "bench.md"))
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}
