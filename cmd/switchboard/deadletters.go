package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
)

func cmdDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dead-letters", "dead-letters --config F [retry ID... | retry --all]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	all := fs.Bool("all", false, "with retry: retry every dead letter")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	rs, err := openReadSide(ctx, *path)
	if err != nil {
		return err
	}
	defer rs.close()
	st, reader := rs.store, rs.reader
	letters, err := reader.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		if len(letters) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
		}
		for _, d := range letters {
			fmt.Fprintf(stdout, "%s  %s/%s  %s  HTTP %d  %d attempt(s)  %s\n    %s\n", d.ID, d.ChannelID, d.MessageID, d.Stage, d.Status, d.Attempts, d.OccurredAt, d.Reason)
		}
		return nil
	}
	if pos[0] != "retry" || (len(pos) == 1 && !*all) {
		fs.Usage()
		return fmt.Errorf("%w: use `dead-letters` to list, `dead-letters retry ID...` or `dead-letters retry --all` to retry", errUsage)
	}
	ids := pos[1:]
	if *all {
		ids = ids[:0]
		for _, d := range letters {
			if !d.Erased() {
				ids = append(ids, d.ID)
			}
		}
	}
	retry, err := command.NewRetryDeadLetterHandler(st, newID, time.Now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		d, ok, err := reader.DeadLetter(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("no dead letter with id %q (list them with `switchboard dead-letters`)", id)
		}
		if d.Erased() {
			return domain.Invalid("id", "%q is the dead letter of an erased sender: nothing publishes its message any more", id)
		}
		stage, err := retry.Handle(ctx, command.RetryDeadLetter{Stream: domain.MessageStream(d.ChannelID, d.MessageID), RequestedBy: "cli"})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "retry of the %s of %s/%s requested; a running service picks it up within a second\n", stage, d.ChannelID, d.MessageID)
	}
	return nil
}
