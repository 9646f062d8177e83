package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// cmdCorrect runs link, never-link and unpin (rule 13). What it records takes effect
// in a running service at once: the resolver reads corrections from the match key's
// stream, the same stream this command appends to.
func cmdCorrect(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	kind := map[string]domain.CorrectionKind{"link": domain.CorrectLink, "never-link": domain.CorrectNeverLink, "unpin": domain.CorrectUnpin}[name]
	synopsis := name + " --config F CHANNEL IDENTIFIER CONTACT_ID --reason \"...\""
	if kind == domain.CorrectUnpin {
		synopsis = "unpin --config F CHANNEL IDENTIFIER [CONTACT_ID] [--reason \"...\"]"
	}
	fs := newFlags(name, synopsis, stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	reason := fs.String("reason", "", "why (required for link and never-link; the audit shows it with every message it decides)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	want := "CHANNEL IDENTIFIER CONTACT_ID"
	if kind == domain.CorrectUnpin {
		want = "CHANNEL IDENTIFIER [CONTACT_ID]"
	}
	if len(pos) < 2 || len(pos) > 3 || (kind != domain.CorrectUnpin && len(pos) != 3) {
		fs.Usage()
		return fmt.Errorf("%w: %s takes %s, got %d arguments", errUsage, name, want, len(pos))
	}
	req := domain.CorrectionRequest{Kind: kind, ChannelID: pos[0], Identifier: pos[1], Reason: *reason, RequestedBy: cliUser()}
	if len(pos) == 3 {
		req.ContactID = pos[2]
	}
	rs, err := openReadSide(ctx, *path)
	if err != nil {
		return err
	}
	defer rs.close()
	h, err := command.NewCorrectMatchKeyHandler(rs.store, rs.cfg.Catalog(), newID, time.Now)
	if err != nil {
		return err
	}
	rec, err := h.Handle(ctx, command.CorrectMatchKey{Request: req})
	if domain.ErrorCode(err) == domain.CodeInvalid {
		// Bad input is bad usage (exit 2), and says what was expected.
		fmt.Fprintf(stderr, "switchboard %s: %v\n", name, err)
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	what := map[domain.CorrectionKind]string{
		domain.CorrectLink:      "now resolves to contact " + req.ContactID + " without a search",
		domain.CorrectNeverLink: "will never resolve to contact " + req.ContactID,
		domain.CorrectUnpin:     "resolves by the rules again (the next message searches HubSpot)",
	}[kind]
	fmt.Fprintf(stdout, "%s %s %s (match key %s)\nrecorded at position %d, correlation %s, requested by %s\n",
		req.ChannelID, rec.MatchKey.Identifier, what, rec.MatchKey, rec.Position, rec.CorrelationID, req.RequestedBy)
	return nil
}

// cliUser names who asked on the command line: the operating system's user.
func cliUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return "cli:" + n
	}
	return "cli"
}

func cmdCorrections(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("corrections", "corrections --config F [--json]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	asJSON := fs.Bool("json", false, "print the corrections as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return fmt.Errorf("%w: corrections takes no arguments, got %d", errUsage, len(pos))
	}
	rs, err := openReadSide(ctx, *path)
	if err != nil {
		return err
	}
	defer rs.close()
	rows, err := rs.reader.Corrections(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"corrections": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no corrections in force")
		return nil
	}
	for _, c := range rows {
		verb := map[string]string{"link": "LINK      ", "never_link": "NEVER LINK"}[c.Kind]
		fmt.Fprintf(stdout, "%s  %s %s → contact %s  (%s, by %s, #%d)\n    %s\n", verb, c.ChannelID, c.Identifier, c.ContactID,
			c.OccurredAt, c.RequestedBy, c.Position, strings.TrimSpace(c.Reason))
	}
	return nil
}

// describeCited says which operators' corrections decided a message's outcome.
func describeCited(cs []domain.CitedCorrection) []string {
	var out []string
	for _, c := range cs {
		what := "link to contact " + c.ContactID
		if c.Kind == domain.CorrectNeverLink {
			what = "never link to contact " + c.ContactID
		}
		out = append(out, fmt.Sprintf("decided by an operator's correction: %s, requested by %s (event %s at #%d): %q",
			what, orDash(c.RequestedBy), orDash(c.EventID), c.Position, c.Reason))
	}
	return out
}

// explainCorrection turns a correction event into the sentences an auditor reads.
func explainCorrection(e projections.Entry) []string {
	switch e.Type {
	case domain.EventMatchKeyLinked:
		var p domain.MatchKeyLinked
		if json.Unmarshal(e.Data, &p) != nil {
			return nil
		}
		return []string{fmt.Sprintf("operator (%s) linked %q on %s (match key %s) to contact %s: %q; later messages land there without a search",
			p.RequestedBy, p.Raw, p.ChannelID, p.MatchKey, p.ContactID, p.Reason)}
	case domain.EventMatchKeyNeverLinked:
		var p domain.MatchKeyNeverLinked
		if json.Unmarshal(e.Data, &p) != nil {
			return nil
		}
		return []string{fmt.Sprintf("operator (%s) forbade linking %q on %s (match key %s) to contact %s: %q; a binding to it is removed",
			p.RequestedBy, p.Raw, p.ChannelID, p.MatchKey, p.ContactID, p.Reason)}
	case domain.EventMatchKeyUnpinned:
		var p domain.MatchKeyUnpinned
		if json.Unmarshal(e.Data, &p) != nil {
			return nil
		}
		out := []string{fmt.Sprintf("operator (%s) unpinned %q on %s (match key %s)%s; the next message resolves by the rules",
			p.RequestedBy, p.Raw, p.ChannelID, p.MatchKey, map[bool]string{true: ": " + fmt.Sprintf("%q", p.Reason), false: ""}[p.Reason != ""])}
		for _, r := range p.Removed {
			out = append(out, fmt.Sprintf("  removed %s to contact %s (event %s): %q", r.Kind, r.ContactID, orDash(r.EventID), r.Reason))
		}
		return out
	}
	return nil
}
