package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"switchboard/adapters/httpapi"
	"switchboard/domain"
	"switchboard/projections"
)

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", "audit --config F message CHANNEL MESSAGE_ID | sender CHANNEL IDENTIFIER | contact WORKSPACE CONTACT_ID [--json]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	asJSON := fs.Bool("json", false, "print the events as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		fs.Usage()
		return fmt.Errorf("%w: audit takes a subject (message, sender or contact) and two values, got %d arguments", errUsage, len(pos))
	}
	rs, err := openReadSide(ctx, *path)
	if err != nil {
		return err
	}
	defer rs.close()
	cfg, reader := rs.cfg, rs.reader
	subject, a, b := pos[0], pos[1], pos[2]
	var key string
	switch subject {
	case "message":
		key = projections.MessageKey(a, b)
	case "sender":
		ch, ok := cfg.Catalog().Channel(a)
		if !ok {
			return fmt.Errorf("audit: channel %q is not in %s", a, cfg.Path)
		}
		key = projections.SenderKey(a, httpapi.NormalizeIdentifier(ch, b))
	case "contact":
		key = projections.ContactKey(a, b)
	default:
		return fmt.Errorf("%w: audit subject %q: use message, sender or contact", errUsage, subject)
	}
	entries, err := reader.Timeline(ctx, subject, key)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("audit: nothing recorded for %s %s", subject, key)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"subject": subject, "key": key, "events": entries})
	}
	fmt.Fprintf(stdout, "%s %s — %d events\n", subject, key, len(entries))
	for _, e := range entries {
		fmt.Fprintf(stdout, "\n#%d  %s  %s  (%s v%d, correlation %s)\n", e.Position, e.OccurredAt, e.Type, e.Stream, e.Version, e.CorrelationID)
		for _, line := range explain(e) {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
	}
	return nil
}

// explain turns one event into the sentences an auditor reads.
func explain(e projections.Entry) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch e.Type {
	case domain.EventMessageReceived:
		var p domain.MessageReceived
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("received on %s channel %s (workspace %s) via %s, message id %s", p.ChannelKind, p.ChannelID, p.WorkspaceID, orDash(p.Source), p.MessageID)
		add("sender as the channel reported it: %s", describeSender(p.Sender))
		add("text: %q", p.Text)
	case domain.EventSenderIdentified:
		var p domain.SenderIdentified
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("identifier came in as %s %q and was normalized to %q", p.Source, p.Raw, p.Identifier)
		for _, s := range p.Steps {
			add("  - %s", s)
		}
		add("settings applied: %s", describeSettings(p.Settings))
		if p.MatchKey.Identifier != "" {
			add("match key %s, looked up in %s", p.MatchKey, strings.Join(p.Searched, " and "))
		}
	case domain.EventMatchKeyClaimed:
		add("claimed the match key to create a contact (no other resolver may create one meanwhile)")
	case domain.EventMatchKeyCreateAttempted:
		var p domain.MatchKeyCreateAttempted
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		if p.KeyProperty != "" {
			add("sent a contact create to HubSpot carrying create key %s=%s (a later attempt reads the contact by it before creating again)", p.KeyProperty, p.CreateKey)
		} else {
			add("sent a contact create to HubSpot (a later attempt searches again after the search-lag allowance before creating again)")
		}
	case domain.EventMatchKeyClaimReleased:
		var p domain.MatchKeyClaimReleased
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("released the claim on the match key: %s", p.Reason)
	case domain.EventMatchKeyResolved:
		var p domain.MatchKeyResolved
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("match key %s now resolves to contact %s (%s); later messages reuse it without asking HubSpot", p.MatchKey, p.ContactID, p.How)
		if p.How == domain.HowBSUIDWithPhone {
			add("a message carried this BSUID together with phone %s, whose key resolves to that contact; messages with the BSUID alone go on that phone's thread", p.ThreadRef)
		}
	case domain.EventMatchKeyBSUIDRecorded:
		var p domain.MatchKeyBSUIDRecorded
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("the message carried BSUID %q with the number of match key %s (contact %s)", p.BSUID, p.MatchKey, p.ContactID)
		for _, l := range p.Lookups {
			add("HubSpot %s: %s → %d found", l.Kind, l.Query, l.Found)
		}
		switch {
		case p.Written:
			add("wrote it to the contact's empty %s property", p.Property)
		case p.KeptOther:
			add("the contact's %s property holds another value, left as it is (switchboard never overwrites a value)", p.Property)
		default:
			add("the contact's %s property already holds it", p.Property)
		}
		switch {
		case p.Bound:
			add("match key %s now resolves to the same contact: a message with the BSUID alone is the same person, on the same thread", p.BSUIDKey)
		case p.BSUIDKeyContactID != "":
			add("match key %s already resolves to another contact, %s, and was left alone", p.BSUIDKey, p.BSUIDKeyContactID)
		default:
			add("match key %s already resolved to the same contact", p.BSUIDKey)
		}
	case domain.EventMatchKeyForgotten:
		var p domain.MatchKeyForgotten
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("match key %s forgot contact %s: %s", p.MatchKey, p.ContactID, p.Reason)
	case domain.EventContactMatched:
		var p domain.ContactMatched
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("matched existing contact %s via %s on %s", p.ContactID, viaWords(p.Via), orDash(strings.Join(p.MatchedProperties, ", ")))
		if p.ThreadRef != "" {
			add("goes on the inbox thread of %s, the same person's earlier identifier (one person, one thread per channel)", p.ThreadRef)
		}
		out = append(out, describeLookups(p.Lookups, p.Candidates)...)
		out = append(out, describeCited(p.Corrections)...)
		if p.Ambiguous {
			add("AMBIGUOUS: several contacts matched; the oldest (then lowest id) was chosen")
		}
	case domain.EventContactCreated:
		var p domain.ContactCreated
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		out = append(out, describeLookups(p.Lookups, p.Candidates)...)
		out = append(out, describeCited(p.Corrections)...)
		add("created contact %s with %s", p.ContactID, describeProps(p.Properties))
	case domain.EventConversationUnlinked:
		var p domain.ConversationUnlinked
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		out = append(out, describeLookups(p.Lookups, p.Candidates)...)
		out = append(out, describeCited(p.Corrections)...)
		add("left unlinked (%s): %s; the message still lands in the inbox, tied to no contact", p.Reason, p.Detail)
	case domain.EventMessagePublished:
		var p domain.MessagePublished
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		link := "unlinked"
		if p.ContactID != "" {
			link = "linked to contact " + p.ContactID
		}
		add("published to the HubSpot inbox as message %s in thread %s (%s), idempotency id %s, after %d attempt(s)",
			p.HubSpotMessageID, p.ConversationID, link, p.IdempotencyID, p.Attempts)
	case domain.EventDeadLettered:
		var p domain.DeadLettered
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("DEAD LETTER (%s, HTTP %d, %d attempts): %s", p.Stage, p.Status, p.Attempts, p.Reason)
	case domain.EventRetryRequested:
		var p domain.RetryRequested
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("operator (%s) asked to retry the %s", p.RequestedBy, p.Stage)
	}
	out = append(out, explainCorrection(e)...)
	out = append(out, explainContactChange(e)...)
	if len(out) == 0 {
		add("%s", string(e.Data))
	}
	return out
}

func describeLookups(ls []domain.Lookup, cs []domain.CandidateVerdict) []string {
	var out []string
	if len(ls) == 0 {
		out = append(out, "no HubSpot lookup ran")
	}
	for _, l := range ls {
		out = append(out, fmt.Sprintf("HubSpot %s: %s → %d found", l.Kind, l.Query, l.Found))
	}
	for _, c := range cs {
		verdict := "dropped"
		if c.Kept {
			verdict = "kept"
		}
		out = append(out, fmt.Sprintf("  candidate %s (created %s) %s: %s %s", c.ContactID, c.CreatedAt.Format("2006-01-02T15:04:05Z"), verdict, c.Reason, describeProps(c.Values)))
	}
	return out
}

func describeSender(s domain.Sender) string {
	var parts []string
	for _, kv := range [][2]string{{"phone", s.Phone}, {"user_id", s.UserID}, {"username", s.Username}, {"bsuid", s.BSUID},
		{"first_name", s.FirstName}, {"last_name", s.LastName}, {"name", s.DisplayName}, {"email", s.Email}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", kv[0], kv[1]))
		}
	}
	return orDash(strings.Join(parts, " "))
}

func describeSettings(c domain.ChannelSettings) string {
	parts := []string{"kind=" + string(c.Kind)}
	if c.Provider != "" {
		parts = append(parts, "provider="+c.Provider)
	}
	if c.DefaultRegion != "" {
		parts = append(parts, "default_region="+c.DefaultRegion)
	}
	if c.Identifier != "" {
		parts = append(parts, "identifier="+string(c.Identifier), "property="+c.Property)
	}
	parts = append(parts, fmt.Sprintf("creates_contacts=%t", c.CreatesContacts()))
	if c.BSUIDProperty != "" {
		parts = append(parts, "bsuid_property="+c.BSUIDProperty)
	}
	return strings.Join(parts, " ")
}

func describeProps(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func viaWords(via string) string {
	switch via {
	case "match_key":
		return "the match key (sticky: no HubSpot call)"
	case "search":
		return "a HubSpot search"
	case "read_by_property":
		return "a read by unique property"
	case "existing_on_create":
		return "HubSpot's 409 on create (the contact already existed)"
	case "correction":
		return "an operator's link (no HubSpot call)"
	case "create_key":
		return "its create key (an earlier attempt created it and lost HubSpot's answer)"
	}
	return via
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
