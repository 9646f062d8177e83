package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A run's writer figures are the difference of two scrapes of serve's /metrics.
func TestWriterFiguresAreTheRunsShareOfTheMetrics(t *testing.T) {
	scrape := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		scrape++
		n := float64(scrape - 1) // the second scrape adds 100 commits of 5 requests each
		fmt.Fprintf(w, "# TYPE switchboard_store_commit_requests histogram\n")
		fmt.Fprintf(w, "switchboard_store_commit_requests_sum %g\nswitchboard_store_commit_requests_count %g\n", 10+500*n, 3+100*n)
		fmt.Fprintf(w, "switchboard_store_writer_wait_seconds_sum %g\nswitchboard_store_writer_wait_seconds_count %g\n", 0.1+n, 10+500*n)
		fmt.Fprintf(w, "switchboard_store_wal_checkpoint_seconds_sum %g\nswitchboard_store_wal_checkpoint_seconds_count %g\n", 0.5+0.2*n, 4+10*n)
		for phase, sec := range map[string]float64{"appends": 0.2, "writes": 0.3, "commit": 0.4} {
			fmt.Fprintf(w, "switchboard_store_commit_phase_seconds_sum{phase=%q} %g\n", phase, 1+sec*n)
			fmt.Fprintf(w, "switchboard_store_commit_phase_seconds_count{phase=%q} %g\n", phase, 3+100*n)
		}
	}))
	defer srv.Close()
	before, err := scrapeWriter(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	after, err := scrapeWriter(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := after.since(before).String()
	want := "100 commits of 5.0 requests; per commit 2.00 ms appends, 3.00 ms other writes, 4.00 ms commit; mean wait 2.00 ms; 10 WAL checkpoints beside it of 20.0 ms"
	if got != want {
		t.Errorf("writer figures\n got %s\nwant %s", got, want)
	}
}
