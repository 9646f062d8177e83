package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"switchboard/eventstore/postgres/pgtest"
)

// TestThreeNodesSurviveAKillAndARollingRestart is issue 15's must-show 2 and 4: three
// real `switchboard serve` processes on one PostgreSQL schema and one NATS stream take
// concurrent signed webhooks from new senders on every node, lose one node to kill -9
// mid-burst (its unanswered requests go to the others) and are then restarted one by
// one with SIGTERM under continuous load. Every acknowledged message is published once,
// every sender has one contact, every node is ready, and the projections equal a
// rebuild of the log.
func TestThreeNodesSurviveAKillAndARollingRestart(t *testing.T) {
	natsURL := os.Getenv("SWITCHBOARD_TEST_NATS")
	if natsURL == "" {
		t.Skip("SWITCHBOARD_TEST_NATS is not set: the three-node test needs NATS with JetStream (e.g. nats://127.0.0.1:4222)")
	}
	dsn := pgtest.FreshSchema(t)
	rebuildDSN := pgtest.FreshSchema(t)
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	stream := "sbtest_" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		if nc, err := nats.Connect(natsURL); err == nil {
			if js, err := nc.JetStream(); err == nil {
				_ = js.DeleteStream(stream)
			}
			nc.Close()
		}
	})
	seed := int64(15)
	if v := os.Getenv("SWITCHBOARD_NODES_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("SWITCHBOARD_NODES_SEED=%q: want an integer", v)
		}
		seed = n
	}
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{DSN: dsn, RebuildDSN: rebuildDSN, NATS: natsURL, Stream: stream, Seed: seed,
		Race: raceEnabled, Progress: &progress})
	t.Logf("%s", progress.String())
	if err != nil {
		t.Fatalf("the run could not be carried out: %v", err)
	}
	t.Logf("%s", rep)
	if rep.Kills != 1 || rep.RollingRestarts != 3 {
		t.Errorf("%d kills and %d graceful restarts, want 1 and 3", rep.Kills, rep.RollingRestarts)
	}
	if rep.Acknowledged < 42 {
		t.Errorf("only %d messages acknowledged; the burst alone has 42", rep.Acknowledged)
	}
	if rep.Failed() {
		t.Fatalf("%d violations (logs in %s)", len(rep.Violations), rep.Dir)
	}
}
