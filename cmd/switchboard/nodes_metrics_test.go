package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var bucketsHeld = regexp.MustCompile(`(?m)^switchboard_reactor_buckets_held\{reactor="resolver"\} (\d+)$`)

// Each node's /metrics names the node (the name it leases under) and how many of each
// reactor's buckets it holds: once the shares settle the two nodes hold all 16
// between them, and each holds some.
func TestMetricsNameTheNodeAndTheBucketsItHolds(t *testing.T) {
	a, b := twoNodes(t)
	for name, n := range map[string]*stack{"a": a, "b": b} {
		_, body := n.do("GET", "/metrics", nil)
		want := fmt.Sprintf("switchboard_node_info{node=%q} 1\n", n.svc.leases.Node())
		if !regexp.MustCompile(regexp.QuoteMeta(want)).Match(body) {
			t.Errorf("node %s's /metrics lacks %q", name, want)
		}
	}
	held := func(n *stack) int {
		_, body := n.do("GET", "/metrics", nil)
		m := bucketsHeld.FindSubmatch(body)
		if m == nil {
			return -1
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	waitFor(t, "the two nodes' buckets_held to add up to 16, each holding some", 20*time.Second, func() bool {
		ha, hb := held(a), held(b)
		return ha > 0 && hb > 0 && ha+hb == 16
	})
	if got, want := held(a), len(heldBuckets(t, a)); got != want {
		t.Errorf("node a reports %d buckets held; partition_leases gives it %d", got, want)
	}
}

var commitPhaseCount = regexp.MustCompile(`(?m)^switchboard_store_commit_phase_seconds_count\{phase="(appends|commit)"\} (\d+)$`)

// A service on SQLite shows its writer's commits on /metrics: a recorded message is at
// least one commit with appends in it.
func TestMetricsShowTheStoreWritersCommits(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.post(map[string]any{"channel_id": "acme-sms", "message_id": "SMmetrics1", "sender": map[string]any{"phone": "+14155552671"}, "text": "hi"}, http.StatusAccepted)
	_, body := s.do("GET", "/metrics", nil)
	counts := map[string]int{}
	for _, m := range commitPhaseCount.FindAllSubmatch(body, -1) {
		counts[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	if counts["appends"] < 1 || counts["commit"] < counts["appends"] {
		t.Errorf("commit phases on /metrics %v: want at least one commit with appends, and a commit phase for each", counts)
	}
	for _, name := range []string{"switchboard_store_writer_wait_seconds_count", "switchboard_store_commit_requests_count"} {
		if !regexp.MustCompile(`(?m)^` + name + ` [1-9]`).Match(body) {
			t.Errorf("/metrics lacks %s, or counts nothing", name)
		}
	}
}
