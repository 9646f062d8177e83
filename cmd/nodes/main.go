// Command nodes runs three `switchboard serve` processes on one PostgreSQL schema and
// one NATS JetStream stream with the HubSpot emulator, sends them concurrent signed
// webhooks, kills one with SIGKILL mid-burst, restarts all three one after another
// under load, and checks that nothing acknowledged was lost or published twice, that
// each sender has one contact and that the projections equal a rebuild (issue 15,
// must-show 2 and 4). The Go test in this package runs it under `make test` when
// SWITCHBOARD_TEST_POSTGRES and SWITCHBOARD_TEST_NATS are set.
//
//	go run ./cmd/nodes --dsn 'postgres://…?search_path=live' --rebuild-dsn 'postgres://…?search_path=empty' \
//	    --nats nats://127.0.0.1:4222 --stream nodes
//
// Every process it starts listens on 127.0.0.1; every process it ends, it ends by its
// own pid.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var cfg Config
	flag.StringVar(&cfg.DSN, "dsn", "", "PostgreSQL DSN of an empty schema the nodes share (search_path=SCHEMA)")
	flag.StringVar(&cfg.RebuildDSN, "rebuild-dsn", "", "PostgreSQL DSN of another empty schema of the same database, for the rebuild")
	flag.StringVar(&cfg.NATS, "nats", "nats://127.0.0.1:4222", "NATS server URL")
	flag.StringVar(&cfg.Stream, "stream", "switchboard_nodes", "JetStream stream name")
	flag.Int64Var(&cfg.Seed, "seed", time.Now().UnixNano(), "seed of the plan")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the binary, configurations and logs (default: temporary)")
	flag.Parse()
	if cfg.DSN == "" || cfg.RebuildDSN == "" {
		fmt.Fprintln(os.Stderr, "nodes: --dsn and --rebuild-dsn are required: two empty schemas of one PostgreSQL database")
		os.Exit(2)
	}
	cfg.Progress = os.Stderr
	rep, err := Run(context.Background(), cfg)
	if rep != nil {
		fmt.Println(rep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodes:", err)
		os.Exit(1)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}
