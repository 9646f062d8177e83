package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run did and found.
type Report struct {
	Seed    int64
	Elapsed time.Duration
	Dir     string // the run's files, kept when it failed

	Planned, Persons                          int
	Requests, Answered2xx, Answered5xx        int
	NoAnswer, Acknowledged, NeverAcknowledged int
	Kills, EmulatorRestarts                   int
	Faults, HubSpotRequests                   map[string]int

	Contacts, InboxMessages, Unlinked, DeadLettered  int
	Lost, DuplicateLogEntries, DuplicatePublications int
	DuplicateContacts                                int
	ProjectionTables, ProjectionDiffs                int

	// Violations are the broken invariants, one sentence each.
	Violations []string
}

// Failed reports whether an invariant was broken.
func (r *Report) Failed() bool { return len(r.Violations) > 0 }

// Table writes the summary table.
func (r *Report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(tw, "soak summary")
	row("seed", r.Seed)
	row("elapsed", r.Elapsed.Round(time.Millisecond))
	row("messages planned", r.Planned)
	row("persons", r.Persons)
	row("requests sent (retries, duplicates)", r.Requests)
	row("answered 2xx / 5xx / no answer", fmt.Sprintf("%d / %d / %d", r.Answered2xx, r.Answered5xx, r.NoAnswer))
	row("messages acknowledged", r.Acknowledged)
	row("messages never acknowledged", r.NeverAcknowledged)
	row("kill -9 of the service", r.Kills)
	row("emulator restarts", r.EmulatorRestarts)
	row("HubSpot requests", sumCounts(r.HubSpotRequests))
	row("HubSpot faults by kind", formatCounts(r.Faults))
	row("contacts", r.Contacts)
	row("inbox messages", r.InboxMessages)
	row("unlinked conversations", r.Unlinked)
	row("dead letters", r.DeadLettered)
	row("lost messages", r.Lost)
	row("duplicate log entries", r.DuplicateLogEntries)
	row("duplicate publications", r.DuplicatePublications)
	row("duplicate contacts", r.DuplicateContacts)
	row("projections differing from a rebuild", fmt.Sprintf("%d of %d", r.ProjectionDiffs, r.ProjectionTables))
	verdict := "PASS"
	if r.Failed() {
		verdict = fmt.Sprintf("FAIL (%d violations; seed %d)", len(r.Violations), r.Seed)
	}
	row("result", verdict)
	tw.Flush()
	if r.Failed() {
		fmt.Fprintln(w, "violations:")
		for i, v := range r.Violations {
			if i == 30 {
				fmt.Fprintf(w, "  … and %d more\n", len(r.Violations)-30)
				break
			}
			fmt.Fprintln(w, "  -", v)
		}
		if r.Dir != "" {
			fmt.Fprintln(w, "the run's files (store, emulator state, logs):", r.Dir)
		}
	}
}

// Summary is one line naming the broken invariants and the seed, for a test failure.
func (r *Report) Summary() string {
	kinds := map[string]int{}
	for _, v := range r.Violations {
		k, _, _ := strings.Cut(v, ":")
		kinds[k]++
	}
	return fmt.Sprintf("seed %d: %s", r.Seed, formatCounts(kinds))
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
