package main

import (
	"strings"
	"testing"
	"time"

	"switchboard/adapters/loaddriver"
)

// The several-nodes rows sum the three drivers' rates, take the worst p99 and count
// every error, against the one SQLite node.
func TestNodesTableSumsTheThreeNodes(t *testing.T) {
	rep := func(rate, p99 float64, errs int) loaddriver.Report {
		r := loaddriver.Report{AckPerSec: rate, AckLatency: loaddriver.Latency{P99: p99}}
		if errs > 0 {
			r.Errors = map[string]int{"status 503": errs}
		}
		return r
	}
	n := nodesResult{clients: 30, duration: 5 * time.Second, one: rep(600, 100, 0),
		three: []loaddriver.Report{rep(100, 200, 1), rep(110, 250, 0), rep(90, 150, 2)}}
	got := n.table()
	for _, want := range []string{"| one serve on SQLite | 600 | 100.0 ms | 0 |", "| three serve on PostgreSQL + NATS (sum; worst p99) | 300 (0.50 × one SQLite node) | 250.0 ms | 3 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}
