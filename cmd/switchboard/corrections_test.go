package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

// correct posts one correction to the API and returns the status and body.
func (s *stack) correct(kind, channel, identifier, contact, reason string) (int, []byte) {
	s.t.Helper()
	return s.do("POST", "/v1/corrections", map[string]string{"kind": kind, "channel_id": channel, "identifier": identifier,
		"contact_id": contact, "reason": reason})
}

// cli runs one switchboard command line against the stack's configuration.
func (s *stack) cli(args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{args[0], "--config", s.configPath}, args[1:]...)
	code = run(full, &out, &errOut)
	return code, out.String(), errOut.String()
}

// outcomeEvent decodes the resolution event of a message.
func (s *stack) outcomeEvent(channel, id string) (string, map[string]json.RawMessage) {
	s.t.Helper()
	for _, e := range s.messageEvents(channel, id) {
		switch e.Type {
		case domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
			var p map[string]json.RawMessage
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				s.t.Fatal(err)
			}
			return e.Type, p
		}
	}
	s.t.Fatalf("message %s/%s has no outcome", channel, id)
	return "", nil
}

func citedOf(t *testing.T, p map[string]json.RawMessage) []domain.CitedCorrection {
	t.Helper()
	var cs []domain.CitedCorrection
	if raw, ok := p["corrections"]; ok {
		if err := json.Unmarshal(raw, &cs); err != nil {
			t.Fatal(err)
		}
	}
	return cs
}

// Issue 13, must-show 1 (phone): a never-link stops the match search would make, the
// next message creates a contact, and its audit — API and CLI — cites the correction.
func TestNeverLinkStopsAMatchAndThePhoneChannelCreates(t *testing.T) {
	s := startStack(t, stackOptions{})
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "mobilephone": "(415) 555-2671"}, time.Now().Add(-time.Hour))
	s.post(msg("acme-sms", "SM1", map[string]any{"phone": "+14155552671"}, "hi"), http.StatusAccepted)
	if st := s.waitSettled("acme-sms", "SM1"); st.ContactID != ana {
		t.Fatalf("first message resolved to %q, want %s", st.ContactID, ana)
	}
	status, body := s.correct("never_link", "acme-sms", "(415) 555-2671", ana, "a shared shop phone, not Ana's")
	if status != http.StatusCreated {
		t.Fatalf("never_link: %d %s", status, body)
	}
	var rec struct {
		CorrelationID string `json:"correlation_id"`
		Position      int64  `json:"position"`
	}
	if err := json.Unmarshal(body, &rec); err != nil || rec.CorrelationID == "" || rec.Position == 0 {
		t.Fatalf("receipt %s: want {correlation_id, position}", body)
	}
	s.post(msg("acme-sms", "SM2", map[string]any{"phone": "+1 415 555 2671", "first_name": "Bo"}, "again"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SM2")
	if st.Outcome != domain.EventContactCreated || st.ContactID == ana || st.ContactID == "" {
		t.Fatalf("after never-link: %s %s, want a new contact (not %s)", st.Outcome, st.ContactID, ana)
	}
	_, p := s.outcomeEvent("acme-sms", "SM2")
	cited := citedOf(t, p)
	if len(cited) != 1 || cited[0].Kind != domain.CorrectNeverLink || cited[0].ContactID != ana || cited[0].Position != rec.Position ||
		cited[0].EventID == "" || !strings.Contains(cited[0].Reason, "shared shop phone") || !strings.HasPrefix(cited[0].RequestedBy, "api:") {
		t.Errorf("ContactCreated cites %+v, want the never-link of %s at #%d", cited, ana, rec.Position)
	}
	waitFor(t, "projections", 10*time.Second, func() bool {
		last := s.eventCount()
		for _, pos := range s.svc.runner.Positions() {
			if pos < last {
				return false
			}
		}
		return true
	})
	_, audit := s.do("GET", "/v1/messages/acme-sms/SM2", nil)
	if !bytes.Contains(audit, []byte(`"never_link"`)) || !bytes.Contains(audit, []byte("shared shop phone")) {
		t.Errorf("audit API of SM2 does not cite the never-link: %s", audit)
	}
	code, out, errOut := s.cli("audit", "message", "acme-sms", "SM2")
	if code != 0 || !strings.Contains(out, "decided by an operator's correction: never link to contact "+ana) {
		t.Errorf("audit CLI (exit %d, %s) does not cite the correction:\n%s", code, errOut, out)
	}
	code, out, _ = s.cli("audit", "sender", "acme-sms", "4155552671")
	if code != 0 || !strings.Contains(out, "forbade linking") {
		t.Errorf("sender audit does not show the correction event:\n%s", out)
	}
}

// Issue 13, must-show 1 (messenger without auto_create): after a never-link the next
// message lands unlinked, citing it; the CLI records it as the OS user.
func TestNeverLinkOnMessengerLeavesTheNextMessageUnlinked(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.emu.CreateContactAt(map[string]string{"firstname": "Cy", "messenger_psid": "psid-77"}, time.Now().Add(-time.Hour))
	s.post(msg("acme-fb", "mid.1", map[string]any{"user_id": "psid-77"}, "hi"), http.StatusAccepted)
	if st := s.waitSettled("acme-fb", "mid.1"); st.ContactID != c {
		t.Fatalf("first message resolved to %q, want %s", st.ContactID, c)
	}
	code, out, errOut := s.cli("never-link", "acme-fb", "psid-77", c, "--reason", "psid reused by a page admin")
	if code != 0 {
		t.Fatalf("never-link exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "will never resolve to contact "+c) {
		t.Errorf("never-link said %q", out)
	}
	s.post(msg("acme-fb", "mid.2", map[string]any{"user_id": "psid-77"}, "again"), http.StatusAccepted)
	st := s.waitSettled("acme-fb", "mid.2")
	if st.Outcome != domain.EventConversationUnlinked {
		t.Fatalf("after never-link: %s %s, want unlinked", st.Outcome, st.ContactID)
	}
	_, p := s.outcomeEvent("acme-fb", "mid.2")
	if cited := citedOf(t, p); len(cited) != 1 || cited[0].ContactID != c || !strings.HasPrefix(cited[0].RequestedBy, "cli") {
		t.Errorf("ConversationUnlinked cites %+v, want the CLI's never-link of %s", cited, c)
	}
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1: messenger without auto_create never creates", n)
	}
}

// Issue 13, must-show 2: link pins a Telegram user id to a contact search would not
// find; the next message lands there with no CRM call, at once, and both the link and a
// never-link survive `rebuild` and a restart.
func TestLinkPinsATelegramUserAndSurvivesRebuildAndRestart(t *testing.T) {
	s := startStack(t, stackOptions{})
	// Search would not find her: her Telegram id is not on the contact.
	owner := s.emu.CreateContactAt(map[string]string{"firstname": "Dee", "email": "dee@example.com"}, time.Now().Add(-time.Hour))
	other := s.emu.CreateContactAt(map[string]string{"firstname": "Eve", "telegram_user_id": "5550123"}, time.Now().Add(-2*time.Hour))
	code, _, errOut := s.cli("link", "acme-tg", " 5550123", owner, "--reason", "Dee writes from her son's account")
	if code != 0 {
		t.Fatalf("link exited %d: %s", code, errOut)
	}
	if code, _, errOut := s.cli("never-link", "acme-tg", "5550123", other, "--reason", "Eve is the son's teacher"); code != 0 {
		t.Fatalf("never-link exited %d: %s", code, errOut)
	}
	crm := s.emu.Stats().CRMCalls
	s.post(msg("acme-tg", "1:1", map[string]any{"user_id": "5550123"}, "hi"), http.StatusAccepted)
	st := s.waitSettled("acme-tg", "1:1")
	if st.Outcome != domain.EventContactMatched || st.ContactID != owner {
		t.Fatalf("linked message: %s %s, want ContactMatched %s", st.Outcome, st.ContactID, owner)
	}
	if n := s.emu.Stats().CRMCalls; n != crm {
		t.Errorf("%d CRM calls for a linked message, want none", n-crm)
	}
	_, p := s.outcomeEvent("acme-tg", "1:1")
	var via string
	_ = json.Unmarshal(p["via"], &via)
	if cited := citedOf(t, p); via != "correction" || len(cited) != 1 || cited[0].Kind != domain.CorrectLink || cited[0].ContactID != owner {
		t.Errorf("ContactMatched via %q cites %+v, want via correction citing the link", via, cited)
	}
	if pub := s.waitPublished(1); len(pub) != 1 || pub[0].AssociateWithContactID != owner {
		t.Errorf("publication %+v, want linked to %s", pub, owner)
	}
	listed := func() string {
		_, body := s.do("GET", "/v1/corrections", nil)
		return string(body)
	}
	waitFor(t, "the corrections listing", 10*time.Second, func() bool {
		l := listed()
		return strings.Contains(l, `"kind": "link"`) && strings.Contains(l, `"kind": "never_link"`)
	})
	before := listed()

	s.stop()
	if code, _, errOut := s.cli("rebuild"); code != 0 {
		t.Fatalf("rebuild exited %d: %s", code, errOut)
	}
	code, out, _ := s.cli("corrections")
	if code != 0 || !strings.Contains(out, "LINK") || !strings.Contains(out, "NEVER LINK") || !strings.Contains(out, "son's account") {
		t.Errorf("corrections after rebuild (exit %d):\n%s", code, out)
	}
	s.start()
	if after := listed(); after != before {
		t.Errorf("GET /v1/corrections changed across rebuild and restart:\nbefore %s\nafter %s", before, after)
	}
	crm = s.emu.Stats().CRMCalls
	s.post(msg("acme-tg", "1:2", map[string]any{"user_id": "5550123"}, "after restart"), http.StatusAccepted)
	if st := s.waitSettled("acme-tg", "1:2"); st.ContactID != owner {
		t.Errorf("after rebuild and restart: %s %s, want %s", st.Outcome, st.ContactID, owner)
	}
	if n := s.emu.Stats().CRMCalls; n != crm {
		t.Errorf("%d CRM calls after restart, want none", n-crm)
	}
}

// Issue 13, must-show 3: unpin returns to rule-based resolution; one pin whatever the
// spelling; bad requests are refused with a clear message (400, exit 2) and record
// nothing.
func TestUnpinAndRefusedCorrections(t *testing.T) {
	s := startStack(t, stackOptions{})
	owner := s.emu.CreateContactAt(map[string]string{"firstname": "Fay"}, time.Now().Add(-time.Hour))
	found := s.emu.CreateContactAt(map[string]string{"firstname": "Gil", "mobilephone": "+1 415 555 2671"}, time.Now().Add(-time.Hour))
	if status, body := s.correct("link", "acme-sms", "+1 (415) 555-2671", owner, "Fay's shop"); status != http.StatusCreated {
		t.Fatalf("link: %d %s", status, body)
	}
	s.post(msg("acme-wa", "wamid.1", map[string]any{"phone": "14155552671"}, "hola"), http.StatusAccepted)
	if st := s.waitSettled("acme-wa", "wamid.1"); st.ContactID != owner {
		t.Fatalf("a link made on SMS holds on WhatsApp (one phone key): got %s %s, want %s", st.Outcome, st.ContactID, owner)
	}
	// Unpinned by another spelling of the same number: one pin.
	code, out, errOut := s.cli("unpin", "acme-sms", "4155552671", "--reason", "Fay sold the shop")
	if code != 0 || !strings.Contains(out, "resolves by the rules again") {
		t.Fatalf("unpin exited %d: %s %s", code, out, errOut)
	}
	searches := s.emu.Stats().Requests["search"]
	s.post(msg("acme-sms", "SM1", map[string]any{"phone": "(415) 555-2671"}, "hi"), http.StatusAccepted)
	if st := s.waitSettled("acme-sms", "SM1"); st.Outcome != domain.EventContactMatched || st.ContactID != found {
		t.Errorf("after unpin: %s %s, want the search's match %s", st.Outcome, st.ContactID, found)
	}
	if n := s.emu.Stats().Requests["search"]; n <= searches {
		t.Errorf("no search after unpin: the key must resolve by the rules again")
	}
	// The listing is a projection: it shows the unpin once the runner has applied it.
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = s.do("GET", "/v1/corrections", nil)
		if !strings.Contains(string(body), `"kind"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(string(body), `"kind"`) {
		t.Errorf("corrections in force after unpin: %s", body)
	}

	events := s.eventCount()
	refused := []struct {
		name, kind, channel, ident, contact, reason, field string
	}{
		{"unknown channel", "link", "acme-nope", "5550123", owner, "r", "channel_id"},
		{"blocked number, typed another way", "link", "acme-sms", "(555) 010-0000", owner, "r", "identifier"},
		{"blocked username", "never_link", "acme-ig", "@Test_User", owner, "r", "identifier"},
		{"all zeros", "link", "acme-tg", "0", owner, "r", "identifier"},
		{"no reason", "link", "acme-tg", "5550123", owner, " ", "reason"},
		{"no contact", "never_link", "acme-tg", "5550123", "", "r", "contact_id"},
		{"not a phone number", "link", "acme-sms", "ACME", owner, "r", "identifier"},
		{"unknown kind", "pin", "acme-tg", "5550123", owner, "r", "kind"},
	}
	for _, tc := range refused {
		status, body := s.correct(tc.kind, tc.channel, tc.ident, tc.contact, tc.reason)
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		_ = json.Unmarshal(body, &e)
		if status != http.StatusBadRequest || e.Error.Field != tc.field || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, status, body, tc.field)
		}
	}
	if status, body := s.correct("unpin", "acme-tg", "5550123", "", ""); status != http.StatusNotFound {
		t.Errorf("unpin with nothing in force: %d %s, want 404", status, body)
	}
	for _, args := range [][]string{
		{"link", "acme-nope", "1", owner, "--reason", "r"},
		{"link", "acme-sms", "+15550100000", owner, "--reason", "r"},
		{"link", "acme-tg", "5550123", owner},
		{"never-link", "acme-tg", "5550123"},
	} {
		code, _, errOut := s.cli(args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (%q), want 2 with a message", args, code, errOut)
		}
	}
	if n := s.eventCount(); n != events {
		t.Errorf("%d events recorded by refused corrections, want 0", n-events)
	}
}

// With a unique identifier property (what `hubspot setup` creates), the never-linked
// contact is the only one that may hold the identifier: HubSpot answers the create
// with 409 naming it. The never-link still wins — the message lands unlinked, citing
// it — and the sender's next message is not held up by the attempt's claim.
func TestNeverLinkHoldsWhenHubSpotNamesTheContactOnCreate(t *testing.T) {
	s := startStack(t, stackOptions{unique: []string{"telegram_user_id"}})
	c := s.emu.CreateContactAt(map[string]string{"firstname": "Hal", "telegram_user_id": "4242"}, time.Now().Add(-time.Hour))
	s.post(msg("acme-tg", "1:1", map[string]any{"user_id": "4242"}, "hi"), http.StatusAccepted)
	if st := s.waitSettled("acme-tg", "1:1"); st.ContactID != c {
		t.Fatalf("first message resolved to %q, want %s", st.ContactID, c)
	}
	if status, body := s.correct("never_link", "acme-tg", "4242", c, "a bot shares this account"); status != http.StatusCreated {
		t.Fatalf("never_link: %d %s", status, body)
	}
	for i, id := range []string{"1:2", "1:3"} {
		start := time.Now()
		s.post(msg("acme-tg", id, map[string]any{"user_id": "4242"}, "again"), http.StatusAccepted)
		st := s.waitSettled("acme-tg", id)
		if st.ContactID == c || st.Outcome != domain.EventConversationUnlinked {
			t.Errorf("message %d after never-link: %s %s, want unlinked (never %s)", i+2, st.Outcome, st.ContactID, c)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("message %d took %s: it waited out a claim", i+2, took.Round(time.Second))
		}
		if _, p := s.outcomeEvent("acme-tg", id); len(citedOf(t, p)) == 0 {
			t.Errorf("message %d's outcome cites no correction: %v", i+2, p)
		}
	}
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}
