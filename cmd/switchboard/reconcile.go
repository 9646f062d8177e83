package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"switchboard/domain/command"
)

// cmdReconcile re-checks the cached match keys against HubSpot (rule 7) and records
// what a lost webhook did not say. It is safe beside a running service: every change
// is an expected-version append on the key's stream, as the service's own are.
func cmdReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reconcile", "reconcile --config F [--workspace ID]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	only := fs.String("workspace", "", "reconcile this workspace only (default: every workspace)")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return usageError(stderr, fmt.Errorf("reconcile takes no arguments, got %q", strings.Join(pos, " ")))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return usageError(stderr, err)
	}
	var workspaces []string
	for _, w := range cfg.Workspaces {
		if *only == "" || w.ID == *only {
			workspaces = append(workspaces, w.ID)
		}
	}
	if len(workspaces) == 0 {
		return usageError(stderr, fmt.Errorf("--workspace %q is not a workspace of %s", *only, cfg.Path))
	}
	svc, err := newService(cfg, serviceOptions{Logger: newLogger(stderr, *level)})
	if err != nil {
		return err
	}
	defer svc.close()
	if _, err := svc.runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up projections: %w", err)
	}
	for _, ws := range workspaces {
		bar := &progressBar{w: stderr}
		rep, err := svc.reconcile(ctx, ws, func(done, total int) { bar.update("reconcile "+ws, int64(done), int64(total)) })
		bar.finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workspace %s: %d match keys of %d contacts checked; %d contacts deleted, %d merged, %d edited; %d keys forgotten, %d followed to a survivor\n",
			ws, rep.Keys, rep.Contacts, rep.Deleted, rep.Merged, rep.Edited, rep.Forgotten, rep.Followed)
	}
	return nil
}

// reconcile runs one pass over workspace ws.
func (s *service) reconcile(ctx context.Context, ws string, progress func(done, total int)) (command.ReconcileReport, error) {
	h, err := command.NewReconcileHandler(s.reader, s.hubspot, s.changes)
	if err != nil {
		return command.ReconcileReport{}, err
	}
	return h.Handle(ctx, command.Reconcile{Workspace: ws, CorrelationID: newID(), Progress: progress})
}

// runReconcilers runs the pass of every workspace that sets hubspot.reconcile_every,
// that often, until ctx ends. A failed pass is logged and tried again at the next tick.
func (s *service) runReconcilers(ctx context.Context, wg *sync.WaitGroup) {
	for _, w := range s.cfg.Workspaces {
		every := w.HubSpot.ReconcileEvery
		if every <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				start := time.Now()
				rep, err := s.reconcile(ctx, w.ID, nil)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Error("reconciliation pass failed; tried again at the next tick", "workspace", w.ID, "error", err)
					}
					continue
				}
				s.log.Info("reconciliation pass done", "workspace", w.ID, "keys", rep.Keys, "contacts", rep.Contacts,
					"deleted", rep.Deleted, "merged", rep.Merged, "edited", rep.Edited, "forgotten", rep.Forgotten,
					"followed", rep.Followed, "took", time.Since(start).Round(time.Millisecond).String())
			}
		}()
	}
}

// usageError says what was wrong (main prints nothing for usage errors) and makes the
// command exit 2.
func usageError(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "switchboard reconcile:", err)
	return fmt.Errorf("%w: %v", errUsage, err)
}
