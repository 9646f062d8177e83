package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	seed := fs.Int64("seed", time.Now().UnixNano()%1_000_000, "seed of every random choice (a failing run prints it; rerun with it)")
	duration := fs.Duration("duration", 2*time.Minute, "length of the traffic phase")
	rate := fs.Float64("rate", 4, "distinct messages per second")
	killEvery := fs.Duration("kill-every", 4*time.Second, "mean time between kill -9 of the service")
	restartEvery := fs.Duration("emulator-restart-every", 30*time.Second, "mean time between restarts of the emulator (0: none)")
	faultRate := fs.Float64("fault-rate", 0.2, "share of HubSpot calls that fail")
	applyShare := fs.Float64("apply-share", 0.25, "share of the failures that apply the write, then fail")
	stallShare := fs.Float64("stall-share", 0.05, "share of the failures that stall past the client's timeout")
	lag := fs.Duration("search-lag", 5*time.Second, "how long HubSpot's search lags its writes")
	noKey := fs.Bool("no-create-key", false, "run the service without hubspot.create_key_property (lost creates are confirmed by a search after the allowance)")
	allowance := fs.Duration("search-lag-allowance", 0, "the service's hubspot.search_lag_allowance (0: its default, 10s)")
	dups := fs.Float64("duplicates", 0.1, "share of messages delivered twice at the same moment")
	redeliver := fs.Float64("redeliveries", 0.05, "share of messages delivered again after their acknowledgement")
	conc := fs.Int("concurrency", 32, "requests in flight at most")
	race := fs.Bool("race", false, "build the service with the race detector")
	settle := fs.Duration("settle", 3*time.Minute, "how long to wait after the traffic for every acknowledged message to land")
	keep := fs.Bool("keep", false, "keep the run's directory even when it passes")
	settleFaults := fs.Bool("settle-with-faults", false, "keep HubSpot's faults on while waiting for the acknowledged messages to land (default: a healthy HubSpot bounds the wait)")
	_ = fs.Parse(os.Args[1:])

	kills := 0
	if *killEvery > 0 {
		kills = int(*duration / *killEvery)
	}
	restarts := 0
	if *restartEvery > 0 {
		restarts = int(*duration / *restartEvery)
	}
	cfg := Config{
		Seed: *seed, Messages: max(1, int(duration.Seconds()**rate)), Span: *duration, Concurrency: *conc,
		Kills: kills, EmulatorRestarts: restarts, FaultRate: *faultRate, ApplyShare: *applyShare, StallShare: *stallShare,
		SearchLag: *lag, NoCreateKey: *noKey, SearchLagAllowance: *allowance, DuplicateShare: *dups, RedeliverShare: *redeliver, SettleTimeout: *settle, Race: *race,
		KeepDir: *keep, SettleWithFaults: *settleFaults, Progress: os.Stderr,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.Table(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: seed %d: %v\n", *seed, err)
		os.Exit(2)
	}
	if rep.Failed() {
		fmt.Fprintf(os.Stderr, "soak: FAILED with seed %d (rerun: make soak SEED=%d DURATION=%s)\n", rep.Seed, rep.Seed, *duration)
		os.Exit(1)
	}
}
