package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
	"switchboard/domain"
	"switchboard/domain/command"
)

// cmdSimulate is the what-if of rule 15: the messages recorded in NEW's store resolved
// again under NEW's settings, HubSpot read-only. It opens no projection: it writes
// nothing to the read side, and only reads the log.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", "simulate --config NEW [--since RFC3339] [--json]", stderr)
	path := fs.String("config", "switchboard.yaml", "the configuration to try (its store holds the recorded messages)")
	sinceFlag := fs.String("since", "", "replay only the messages recorded at or after this time (RFC 3339)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return fmt.Errorf("%w: simulate takes no arguments, got %d", errUsage, len(pos))
	}
	var since time.Time
	if *sinceFlag != "" {
		if since, err = time.Parse(time.RFC3339, *sinceFlag); err != nil {
			fmt.Fprintf(stderr, "switchboard simulate: --since %q is not an RFC 3339 time; use for example 2026-11-26T09:30:00Z\n", *sinceFlag)
			return fmt.Errorf("%w: --since", errUsage)
		}
	}
	cfg, err := config.LoadForStore(*path)
	if err != nil {
		return err
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	dirs := map[string]*command.ReadOnlyDirectory{}
	searchPerSecond := 0.0
	for _, w := range cfg.Workspaces {
		c, err := hubspot.New(hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID,
			TenSecondLimit: w.HubSpot.TenSecondLimit, SearchPerSecond: w.HubSpot.SearchPerSecond,
			ExtraProperties: w.IdentifierProperties()})
		if err != nil {
			return fmt.Errorf("%s: workspace %s: %w", cfg.Path, w.ID, err)
		}
		if dirs[w.ID], err = command.NewReadOnlyDirectory(c); err != nil {
			return err
		}
		if sps := w.HubSpot.SearchPerSecond; sps > 0 && (searchPerSecond == 0 || sps < searchPerSecond) {
			searchPerSecond = sps
		}
	}
	if searchPerSecond == 0 {
		searchPerSecond = hubspot.DefaultSearchPerSecond
	}
	prog := &simProgress{w: stderr}
	sim, err := command.NewSimulator(command.SimulateDeps{Log: st, Catalog: cfg.Catalog(), Directories: dirs,
		SearchPerSecond: searchPerSecond, Progress: prog.update})
	if err != nil {
		return err
	}
	rep, err := sim.Simulate(ctx, since)
	prog.finish()
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printWhatIf(stdout, cfg.Path, since, rep)
	}
	if rep.WriteAttempts > 0 {
		return fmt.Errorf("simulate: %d HubSpot writes were attempted and refused; the report stands, but this is a bug", rep.WriteAttempts)
	}
	return nil
}

// simProgress redraws one line on stderr: messages read and decided, lookups made and
// the time left at HubSpot's search limit.
type simProgress struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	line bool
}

func (p *simProgress) update(s command.SimulateProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Done < s.Total && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.line = time.Now(), true
	switch s.Phase {
	case "reading":
		fmt.Fprintf(p.w, "\rreading the log: %d/%d events%-30s", s.Done, s.Total, "")
	case "lookups":
		fmt.Fprintf(p.w, "\rHubSpot lookups: %d/%d, about %s left at the search limit%-10s", s.Done, s.Total, s.Left.Round(time.Second), "")
	case "deciding":
		fmt.Fprintf(p.w, "\rmessages: %d/%d decided, %d lookups made%-20s", s.Done, s.Total, s.Lookups, "")
	}
}

func (p *simProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line {
		fmt.Fprintln(p.w)
	}
}

func printWhatIf(w io.Writer, path string, since time.Time, r domain.WhatIfReport) {
	window := "Every recorded message"
	if !since.IsZero() {
		window = "The messages recorded since " + since.Format(time.RFC3339)
	}
	changed := r.Messages - r.Unchanged
	fmt.Fprintf(w, "What if %s had applied? %s, replayed with HubSpot read-only:\n\n", path, window)
	fmt.Fprintf(w, "  %6d messages\n  %6d would land where they landed\n  %6d would land elsewhere\n", r.Messages, r.Unchanged, changed)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  %6d skipped (no outcome recorded yet: still resolving or dead-lettered)\n", r.Skipped)
	}
	if r.Erased > 0 {
		fmt.Fprintf(w, "  %6d not replayed: their senders were erased\n", r.Erased)
	}
	for _, c := range r.Changed {
		fmt.Fprintf(w, "\n  %s → %s: %d message(s)\n", c.From, c.To, c.Count)
		for _, e := range c.Examples {
			fmt.Fprintf(w, "    %s/%s: %s → %s\n      %s\n", e.ChannelID, e.MessageID, e.FromContact, e.ToContact, e.Reason)
		}
		if c.Count > len(c.Examples) {
			fmt.Fprintf(w, "    … and %d more\n", c.Count-len(c.Examples))
		}
	}
	fmt.Fprintf(w, "\nHubSpot: %d distinct lookups, %d writes attempted (refused). \"created\" is a contact switchboard created (its id) or would create (new contact).\n",
		r.Lookups, r.WriteAttempts)
}
