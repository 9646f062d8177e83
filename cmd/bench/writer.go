package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// writerStats is what serve's SQLite writer reports on /metrics
// (eventstore/sqlite/metrics.go), summed since serve started: a run's share is the
// difference of two scrapes.
type writerStats struct {
	commits, requests  float64
	waits, waitSeconds float64
	phaseSeconds       map[string]float64 // appends, writes, commit
	// checkpoints and checkpointSeconds are the WAL's background checkpoints, beside
	// the writer (eventstore/sqlite/wal.go).
	checkpoints, checkpointSeconds float64
}

var writerLine = regexp.MustCompile(`(?m)^switchboard_store_(writer_wait_seconds|commit_requests|commit_phase_seconds|wal_checkpoint_seconds)_(sum|count)(?:\{phase="(\w+)"\})? (\S+)$`)

// scrapeWriter reads the writer's sums from serve's /metrics at base.
func scrapeWriter(base string) (writerStats, error) {
	body, err := readMetrics(base)
	if err != nil {
		return writerStats{}, fmt.Errorf("scrape the writer's metrics: %w", err)
	}
	w := writerStats{phaseSeconds: map[string]float64{}}
	for _, m := range writerLine.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return writerStats{}, fmt.Errorf("scrape the writer's metrics: %q: %w", m[0], err)
		}
		switch m[1] + "_" + m[2] {
		case "commit_requests_count":
			w.commits = v
		case "commit_requests_sum":
			w.requests = v
		case "writer_wait_seconds_count":
			w.waits = v
		case "writer_wait_seconds_sum":
			w.waitSeconds = v
		case "commit_phase_seconds_sum":
			w.phaseSeconds[m[3]] = v
		case "wal_checkpoint_seconds_count":
			w.checkpoints = v
		case "wal_checkpoint_seconds_sum":
			w.checkpointSeconds = v
		}
	}
	return w, nil
}

// since is w less an earlier scrape.
func (w writerStats) since(before writerStats) writerStats {
	d := writerStats{commits: w.commits - before.commits, requests: w.requests - before.requests,
		waits: w.waits - before.waits, waitSeconds: w.waitSeconds - before.waitSeconds, phaseSeconds: map[string]float64{},
		checkpoints: w.checkpoints - before.checkpoints, checkpointSeconds: w.checkpointSeconds - before.checkpointSeconds}
	for k, v := range w.phaseSeconds {
		d.phaseSeconds[k] = v - before.phaseSeconds[k]
	}
	return d
}

// String gives a run's writer figures: how many commits, how many requests shared
// each, where a commit's time went, how long a request waited to be taken, and the
// WAL's checkpoints beside it.
func (w writerStats) String() string {
	if w.commits <= 0 {
		return "no commits reported"
	}
	perCommit := func(phase string) float64 { return w.phaseSeconds[phase] / w.commits * 1e3 }
	wait := 0.0
	if w.waits > 0 {
		wait = w.waitSeconds / w.waits * 1e3
	}
	ckpt := "no WAL checkpoint beside it"
	if w.checkpoints > 0 {
		ckpt = fmt.Sprintf("%.0f WAL checkpoints beside it of %.1f ms", w.checkpoints, w.checkpointSeconds/w.checkpoints*1e3)
	}
	return fmt.Sprintf("%.0f commits of %.1f requests; per commit %.2f ms appends, %.2f ms other writes, %.2f ms commit; mean wait %.2f ms; %s",
		w.commits, w.requests/w.commits, perCommit("appends"), perCommit("writes"), perCommit("commit"), wait, ckpt)
}
