package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/adapters/samples"
	"switchboard/domain"
)

// bsuidStep is one WhatsApp Cloud message of a sender who moves from a phone number to a
// business-scoped user id (SPEC §3 rule 14).
type bsuidStep struct {
	from, bsuid, id string
}

// sendBSUIDSteps sends the steps one after the other on acme-wa, each settled before the
// next, and returns their settled states.
func sendBSUIDSteps(t *testing.T, s *stack, steps []bsuidStep) []domain.MessageState {
	t.Helper()
	var out []domain.MessageState
	for _, st := range steps {
		if status := s.sendSample("acme-wa", samples.Sample{From: st.from, BSUID: st.bsuid, Name: "Ana B", MessageID: st.id}, nil); status != http.StatusOK {
			t.Fatalf("webhook %s answered %d, want 200", st.id, status)
		}
		out = append(out, s.waitSettled("acme-wa", st.id))
	}
	return out
}

// publishedOf returns the inbox message of acme-wa's message id.
func publishedOf(t *testing.T, s *stack, id string) emulator.PublishedMessage {
	t.Helper()
	for _, p := range s.emu.Published() {
		if p.IntegrationIdempotencyID == domain.IdempotencyID("acme-wa", id) {
			return p
		}
	}
	t.Fatalf("no inbox message for acme-wa/%s", id)
	return emulator.PublishedMessage{}
}

// assertOnePersonOneThread checks that every message landed on contact, published in one
// HubSpot thread.
func assertOnePersonOneThread(t *testing.T, s *stack, contact string, states []domain.MessageState) {
	t.Helper()
	var thread, itid string
	for i, st := range states {
		if st.DeadLetter != nil {
			t.Fatalf("message %s dead-lettered: %s", st.Received.MessageID, st.DeadLetter.Reason)
		}
		if st.ContactID != contact {
			t.Errorf("message %s (%s) resolved to contact %q, want %s", st.Received.MessageID, st.Outcome, st.ContactID, contact)
		}
		p := publishedOf(t, s, st.Received.MessageID)
		if p.AssociateWithContactID != contact {
			t.Errorf("inbox message of %s linked to %q, want %s", st.Received.MessageID, p.AssociateWithContactID, contact)
		}
		if i == 0 {
			thread, itid = p.ConversationsThreadID, p.IntegrationThreadID
			continue
		}
		if p.ConversationsThreadID != thread || p.IntegrationThreadID != itid {
			t.Errorf("message %s went to thread %s (integration thread %s), want the first message's %s (%s): rule 9, the thread follows the person",
				st.Received.MessageID, p.ConversationsThreadID, p.IntegrationThreadID, thread, itid)
		}
	}
}

// TestWhatsAppBSUIDRecordedOnStickyPath: a sender first known by phone (the match key
// resolves, so later messages take the sticky path), then writing with phone and BSUID,
// then with the BSUID alone, is one contact — the BSUID written to it — and one thread
// (issue 10 items 3 and 10).
func TestWhatsAppBSUIDRecordedOnStickyPath(t *testing.T) {
	s := startStack(t, stackOptions{})
	const bsuid = "US.13491208655302741918"
	states := sendBSUIDSteps(t, s, []bsuidStep{
		{from: "14155552671", id: "wamid.B1"},
		{from: "14155552671", bsuid: bsuid, id: "wamid.B2"},
		{bsuid: bsuid, id: "wamid.B3"},
	})
	if states[0].Outcome != domain.EventContactCreated {
		t.Fatalf("first message: %s, want ContactCreated", states[0].Outcome)
	}
	contact := states[0].ContactID
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1: the BSUID-only message is the same person", n)
	}
	if c, _ := s.emu.Contact(contact); c.Properties["whatsapp_bsuid"] != bsuid {
		t.Errorf("contact %s has whatsapp_bsuid %q, want %q (rule 14)", contact, c.Properties["whatsapp_bsuid"], bsuid)
	}
	assertOnePersonOneThread(t, s, contact, states)
	if p := decodeMatched(t, s, states[2]); p.Via != "match_key" || p.ThreadRef != "+14155552671" {
		t.Errorf("BSUID-only message matched via %q on thread ref %q: want the BSUID key bound with the phone, sticky", p.Via, p.ThreadRef)
	}
	// The phone key says once what was done; a fourth message with both adds no key event.
	ch, _ := s.cfg.Catalog().Channel("acme-wa")
	phoneKey := domain.MatchKey{Workspace: "acme", Lookup: domain.LookupPhone, Identifier: "+14155552671"}
	recorded := keyEventsOf(t, s, phoneKey, domain.EventMatchKeyBSUIDRecorded)
	if len(recorded) != 1 {
		t.Fatalf("%d MatchKeyBSUIDRecorded on the phone key, want 1", len(recorded))
	}
	var rec domain.MatchKeyBSUIDRecorded
	if err := domain.Decode(recorded[0], &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.Written || !rec.Bound || rec.ContactID != contact || rec.BSUIDKey != domain.BSUIDKey(ch, bsuid) {
		t.Errorf("recorded %+v: want written and bound on %s", rec, contact)
	}
	// The audit says what the phone+BSUID message did, and why the BSUID-only one went
	// where it went.
	for id, wants := range map[string][]string{
		"wamid.B2": {"MatchKeyBSUIDRecorded", "HubSpot read: contact " + contact + ", property whatsapp_bsuid", "wrote it to the contact's empty whatsapp_bsuid property",
			"now resolves to the same contact: a message with the BSUID alone is the same person, on the same thread"},
		"wamid.B3": {"via the match key (sticky: no HubSpot call)", "goes on the inbox thread of +14155552671"},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"audit", "--config", s.configPath, "message", "acme-wa", id}, &out, &errOut); code != 0 {
			t.Fatalf("audit %s exited %d: %s", id, code, errOut.String())
		}
		for _, want := range wants {
			if !strings.Contains(out.String(), want) {
				t.Errorf("audit of %s lacks %q:\n%s", id, want, out.String())
			}
		}
	}
	keyEvents := func() int {
		return len(keyEventsOf(t, s, phoneKey, "")) + len(keyEventsOf(t, s, domain.BSUIDKey(ch, bsuid), ""))
	}
	before := keyEvents()
	sendBSUIDSteps(t, s, []bsuidStep{{from: "14155552671", bsuid: bsuid, id: "wamid.B4"}})
	if after := keyEvents(); after != before {
		t.Errorf("a fourth message with phone and BSUID grew the keys from %d to %d events, want none (sticky, rule 7)", before, after)
	}
}

// decodeMatched returns the ContactMatched of a settled message (zero when it has none).
func decodeMatched(t *testing.T, s *stack, st domain.MessageState) domain.ContactMatched {
	t.Helper()
	var p domain.ContactMatched
	for _, e := range s.messageEvents("acme-wa", st.Received.MessageID) {
		if e.Type == domain.EventContactMatched {
			if err := domain.Decode(e, &p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return p
}

// keyEventsOf returns the key's events of type typ ("" for all).
func keyEventsOf(t *testing.T, s *stack, key domain.MatchKey, typ string) []domain.RecordedEvent {
	t.Helper()
	evs, err := s.svc.store.ReadStream(t.Context(), key.Stream(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []domain.RecordedEvent
	for _, e := range evs {
		if typ == "" || e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// TestWhatsAppBSUIDOnlyKeepsThePhoneThread: a sender matched by phone to an existing
// contact (the BSUID written on the matched path), then writing with the BSUID alone,
// keeps the thread of the phone messages (rule 9, issue 10 item 10).
func TestWhatsAppBSUIDOnlyKeepsThePhoneThread(t *testing.T) {
	s := startStack(t, stackOptions{})
	const bsuid = "US.55501234567890"
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "mobilephone": "(415) 555-2671"}, time.Now().Add(-time.Hour))
	states := sendBSUIDSteps(t, s, []bsuidStep{
		{from: "14155552671", bsuid: bsuid, id: "wamid.C1"},
		{bsuid: bsuid, id: "wamid.C2"},
		{from: "14155552671", id: "wamid.C3"},
	})
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want the seeded one", n)
	}
	if c, _ := s.emu.Contact(ana); c.Properties["whatsapp_bsuid"] != bsuid {
		t.Errorf("contact %s has whatsapp_bsuid %q, want %q (rule 14)", ana, c.Properties["whatsapp_bsuid"], bsuid)
	}
	assertOnePersonOneThread(t, s, ana, states)
}

// TestWhatsAppBSUIDNeverOverwritten: a contact whose BSUID property already holds a value
// keeps it (rule 5), and the sender's BSUID-only messages still reach that contact.
func TestWhatsAppBSUIDNeverOverwritten(t *testing.T) {
	s := startStack(t, stackOptions{})
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "phone": "+14155552671", "whatsapp_bsuid": "US.OLD1"}, time.Now().Add(-time.Hour))
	states := sendBSUIDSteps(t, s, []bsuidStep{
		{from: "14155552671", id: "wamid.D1"},
		{from: "14155552671", bsuid: "US.NEW2", id: "wamid.D2"},
		{bsuid: "US.NEW2", id: "wamid.D3"},
	})
	if c, _ := s.emu.Contact(ana); c.Properties["whatsapp_bsuid"] != "US.OLD1" {
		t.Errorf("whatsapp_bsuid %q, want the value a person put there kept (rule 5)", c.Properties["whatsapp_bsuid"])
	}
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want the seeded one", n)
	}
	assertOnePersonOneThread(t, s, ana, states)
}
