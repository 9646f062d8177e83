package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"switchboard/adapters/config"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// cmdErase runs `switchboard erase` (SPEC §3 rule 17): the data keys of one sender, or
// of every sender resolved to a contact, are destroyed, and their values read
// "[erased]" everywhere from then on.
//
// Values recorded before serve sealed them (issue 12) have no data key: they stay
// readable, and an erasure that finds no key says so.
func cmdErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("erase", `erase --config F CHANNEL IDENTIFIER --reason "..."
       switchboard erase --config F --contact WORKSPACE CONTACT_ID --reason "..."`, stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	reason := fs.String("reason", "", "why (required; it stays in the log after the person is gone, so do not name them)")
	byContact := fs.Bool("contact", false, "erase every sender resolved to the HubSpot contact WORKSPACE CONTACT_ID")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		want := "CHANNEL IDENTIFIER"
		if *byContact {
			want = "WORKSPACE CONTACT_ID"
		}
		return fmt.Errorf("%w: erase takes %s, got %d arguments", errUsage, want, len(pos))
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
	log, ok := st.(*sealedLog)
	if !ok {
		return fmt.Errorf("erase: the store of %s does not seal personal values", cfg.Path)
	}
	reportCompaction(log, stderr, nil)
	catalog := cfg.Catalog()
	h, err := command.NewEraseSubjectsHandler(log, log.keys, newID, time.Now)
	if err != nil {
		return err
	}

	var cmd command.EraseSubjects
	what := ""
	if *byContact {
		what = "the senders of contact " + pos[1] + " of workspace " + pos[0]
		cmd, err = contactErasure(ctx, log, pos[0], pos[1], *reason)
	} else {
		what = "sender " + pos[1] + " of channel " + pos[0]
		cmd, err = command.SenderErasure(catalog, pos[0], pos[1], *reason, cliUser())
	}
	if err == nil {
		var rec command.ErasureReceipt
		if rec, err = h.Handle(ctx, cmd); err == nil {
			// The projections scrub what they derived from the erased events when they
			// apply the erasure: now, rather than when serve next catches up (a
			// serve running beside applies the same events at most once).
			if err := catchUpProjections(ctx, log); err != nil {
				return fmt.Errorf("erase: the data keys are destroyed, but the projections still hold the person's values until serve or rebuild catches up: %w", err)
			}
			// A flush that serve's readers held up (SQLite's WAL) or that did not get a
			// table's lock in time (PostgreSQL's rewrite) fails the first run after the
			// keys are gone; running the command again must still finish it.
			if c, ok := log.logStore.(interface{ Checkpoint(context.Context) error }); ok {
				if err := c.Checkpoint(ctx); err != nil {
					return fmt.Errorf("erase: the data keys are destroyed, but copies may remain in the store's files (SQLite's WAL, PostgreSQL's old row versions); run the command again when the service is idle: %w", err)
				}
			}
			if rec.Erased == 0 {
				fmt.Fprintf(stdout, "nothing to erase: switchboard holds no data key for %s (never seen, or erased already)\n", what)
				return nil
			}
			fmt.Fprintf(stdout, "erased %s: %d data key(s) destroyed, correlation %s, requested by %s\n"+
				"their values read [erased] from now on; HubSpot keeps its own copy of the contact until it is deleted there\n",
				what, rec.Erased, rec.CorrelationID, cliUser())
			return nil
		}
	}
	if domain.ErrorCode(err) == domain.CodeInvalid {
		fmt.Fprintf(stderr, "switchboard erase: %v\n", err)
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return fmt.Errorf("erase: %w", err)
}

func catchUpProjections(ctx context.Context, st logStore) error {
	runner, err := projections.NewRunner(st, st, nil)
	if err != nil {
		return err
	}
	if _, err := runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up projections: %w", err)
	}
	return nil
}

// contactErasure finds the contact's match keys in the identifier cache, caught up
// through the sealed log so that it holds the identifiers the keys were sealed under.
func contactErasure(ctx context.Context, st logStore, workspace, contactID, reason string) (command.EraseSubjects, error) {
	if err := catchUpProjections(ctx, st); err != nil {
		return command.EraseSubjects{}, err
	}
	return command.ContactErasure(ctx, contactKeysOf{projections.NewReader(st.DB())}, workspace, contactID,
		domain.ErasedByOperator, "", reason, cliUser())
}

type contactKeysOf struct{ r *projections.Reader }

func (c contactKeysOf) MessageSubjectsOf(ctx context.Context, workspace, contactID string) ([]string, error) {
	return c.r.MessageSubjectsOfContact(ctx, workspace, contactID)
}

func (c contactKeysOf) KeysOf(ctx context.Context, workspace, contactID string) ([]domain.MatchKey, error) {
	rows, err := c.r.KeysOfContact(ctx, workspace, contactID)
	if err != nil {
		return nil, err
	}
	out := make([]domain.MatchKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, domain.MatchKey{Workspace: r.Workspace, Lookup: r.Lookup, Identifier: r.Identifier})
	}
	return out, nil
}
