package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"switchboard/eventstore/postgres/pgtest"
)

// twoNodes runs two services on one PostgreSQL log and one NATS stream, polling the log
// only once an hour: whatever they do past their start, they learn of through NATS.
func twoNodes(t *testing.T) (a, b *stack) {
	t.Helper()
	url := os.Getenv("SWITCHBOARD_TEST_NATS")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS is not set: the several-nodes suite needs NATS with JetStream (e.g. nats://127.0.0.1:4222)")
	}
	dsn := pgtest.FreshSchema(t)
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	stream := "sbtest_" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		if nc, err := nats.Connect(url); err == nil {
			if js, err := nc.JetStream(); err == nil {
				_ = js.DeleteStream(stream)
			}
			nc.Close()
		}
	})
	a = startStack(t, stackOptions{postgresDSN: dsn, pollEvery: time.Hour,
		bus: fmt.Sprintf("bus: {driver: nats, url: %q, stream: %q}\n", url, stream)})
	return a, a.anotherNode()
}

// A message accepted by one node is resolved and published, and every node's
// projections learn of it at once, with followers that never poll.
func TestNodesLearnOfEachOthersAppendsThroughNATS(t *testing.T) {
	a, b := twoNodes(t)
	a.post(msg("acme-sms", "SM-node-a", map[string]any{"phone": "+1 415 555 0101"}, "from node a"), http.StatusAccepted)
	if got := a.waitPublished(1); got[0].Text != "from node a" {
		t.Fatalf("published %+v", got)
	}
	last := a.eventCount()
	for name, n := range map[string]*stack{"a": a, "b": b} {
		waitFor(t, "node "+name+"'s projections to reach the log's end", 10*time.Second, func() bool {
			for _, p := range n.svc.runner.Positions() {
				if p < last {
					return false
				}
			}
			return true
		})
	}
}

// The same new sender writes on SMS and WhatsApp at once, half of the messages reaching
// each node: one contact, and each message in its inbox once.
func TestTwoNodesConcurrentFirstMessagesMakeOneContact(t *testing.T) {
	a, b := twoNodes(t)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		node, ch := a, "acme-sms"
		if i%2 == 1 {
			node = b
		}
		if i%3 == 0 {
			ch = "acme-wa"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			node.post(msg(ch, fmt.Sprintf("m%d", i), map[string]any{"phone": "+1 415 555 0199"}, fmt.Sprintf("hello %d", i)), http.StatusAccepted)
		}()
	}
	wg.Wait()
	published := a.waitPublished(n)
	seen := map[string]int{}
	for _, p := range published {
		seen[p.Text]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("hello %d", i)]; c != 1 {
			t.Errorf("message %d published %d times", i, c)
		}
	}
	contacts := 0
	for _, c := range a.emu.Contacts() {
		if c.Properties["phone"] == "+14155550199" {
			contacts++
		}
	}
	if contacts != 1 {
		t.Fatalf("%d contacts for one new sender across two nodes, want 1", contacts)
	}
}

// A node that stops hands its share of the work over: messages it accepted and had not
// published yet land through the other node, each once.
func TestANodeThatStopsLeavesItsWorkToTheOthers(t *testing.T) {
	a, b := twoNodes(t)
	// Let the shares settle (a renewal gives half the buckets to b).
	waitFor(t, "both nodes to hold buckets", 20*time.Second, func() bool {
		return len(heldBuckets(t, a)) > 0 && len(heldBuckets(t, b)) > 0
	})
	const n = 8
	for i := range n {
		b.post(msg("acme-sms", fmt.Sprintf("left-%d", i), map[string]any{"phone": fmt.Sprintf("+1 415 555 02%02d", i)}, fmt.Sprintf("left %d", i)), http.StatusAccepted)
	}
	b.stop()
	published := a.waitPublished(n)
	seen := map[string]int{}
	for _, p := range published {
		seen[p.Text]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("left %d", i)]; c != 1 {
			t.Errorf("message %d published %d times", i, c)
		}
	}
}

// heldBuckets reads which buckets of the resolver a node leases now.
func heldBuckets(t *testing.T, s *stack) []int {
	t.Helper()
	rows, err := s.svc.events.DB().Query(`SELECT bucket FROM partition_leases WHERE reactor = 'resolver' AND owner = $1 AND expires_at > $2`,
		s.svc.leases.Node(), time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var bs []int
	for rows.Next() {
		var b int
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return bs
}
