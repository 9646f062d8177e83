package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// Must-show 6 of issue 11: what lost webhooks did not say — a deletion, a merge, a
// phone edit — is found by `switchboard reconcile`, run beside the service; a contact
// that did not change keeps its key.
func TestReconcileFindsWhatLostWebhooksDidNotSay(t *testing.T) {
	s := startStack(t, stackOptions{})
	past := time.Now().Add(-time.Hour)
	kept := s.emu.CreateContactAt(map[string]string{"firstname": "Kept", "phone": "+1 415 555 4001"}, past)
	edited := s.emu.CreateContactAt(map[string]string{"firstname": "Edited", "phone": "+1 415 555 4002"}, past)
	senders := map[string]string{"SMk": "+14155554001", "SMe": "+14155554002", "SMd": "+14155554003", "SMm": "+14155554004"}
	first := map[string]domain.MessageState{}
	for id, phone := range senders {
		s.post(msg("acme-sms", id+"1", map[string]any{"phone": phone}, "first"), http.StatusAccepted)
	}
	for id := range senders {
		first[id] = s.waitSettled("acme-sms", id+"1")
	}
	if first["SMk"].ContactID != kept || first["SMe"].ContactID != edited {
		t.Fatalf("first messages on %s and %s, want %s and %s", first["SMk"].ContactID, first["SMe"].ContactID, kept, edited)
	}
	// HubSpot changes three contacts and its webhooks are lost.
	if err := s.emu.UpdateContact(edited, map[string]string{"phone": "+1 212 555 0100"}); err != nil {
		t.Fatal(err)
	}
	if err := s.emu.Archive(first["SMd"].ContactID); err != nil {
		t.Fatal(err)
	}
	survivor := s.emu.CreateContact(map[string]string{"firstname": "Survivor"})
	if _, err := s.emu.Merge(survivor, first["SMm"].ContactID); err != nil {
		t.Fatal(err)
	}
	before := s.emu.Stats()

	var out, errb bytes.Buffer
	if code := run([]string{"reconcile", "--config", s.configPath}, &out, &errb); code != 0 {
		t.Fatalf("reconcile exited %d: %s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "workspace acme: 4 match keys of 4 contacts checked; 1 contacts deleted, 1 merged, 1 edited; 2 keys forgotten, 1 followed") {
		t.Fatalf("reconcile said: %s", out.String())
	}
	if !strings.Contains(errb.String(), "reconcile acme") || !strings.Contains(errb.String(), "4/4") {
		t.Fatalf("no progress on stderr: %q", errb.String())
	}
	after := s.emu.Stats()
	if n := after.Requests[emulator.OpBatchRead] - before.Requests[emulator.OpBatchRead]; n != 1 {
		t.Fatalf("%d batch reads for 4 contacts, want 1", n)
	}
	if n := after.Requests[emulator.OpSearch] - before.Requests[emulator.OpSearch]; n != 0 {
		t.Fatalf("reconcile searched %d times; it reads by id only", n)
	}

	keyOf := func(id string) domain.KeyState { return s.keyOf(first[id].Identified.MatchKey) }
	if ks := keyOf("SMk"); ks.ContactID != kept {
		t.Fatalf("unchanged contact's key: %+v", ks)
	}
	if ks := keyOf("SMe"); ks.Resolved() {
		t.Fatalf("edited contact's key still resolves: %+v", ks)
	}
	if ks := keyOf("SMd"); ks.Resolved() {
		t.Fatalf("deleted contact's key still resolves: %+v", ks)
	}
	if ks := keyOf("SMm"); ks.ContactID != survivor {
		t.Fatalf("merged contact's key: %+v, want the survivor %s", ks, survivor)
	}
	// Within 2 s the service acts on it: the deleted sender's next message creates a
	// new contact without the publication having to heal; the merged one lands on the survivor.
	s.post(msg("acme-sms", "SMd2", map[string]any{"phone": senders["SMd"]}, "again"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMm2", map[string]any{"phone": senders["SMm"]}, "again"), http.StatusAccepted)
	d2, m2 := s.waitSettled("acme-sms", "SMd2"), s.waitSettled("acme-sms", "SMm2")
	if d2.Outcome != domain.EventContactCreated || d2.ContactID == first["SMd"].ContactID || len(d2.Revoked) != 0 {
		t.Fatalf("deleted sender's next message: %s on %s (revoked %v)", d2.Outcome, d2.ContactID, d2.Revoked)
	}
	if m2.ContactID != survivor {
		t.Fatalf("merged sender's next message on %s, want %s", m2.ContactID, survivor)
	}

	// A second pass finds nothing more to do.
	out.Reset()
	if code := run([]string{"reconcile", "--config", s.configPath, "--workspace", "acme"}, &out, &errb); code != 0 {
		t.Fatalf("second reconcile exited %d", code)
	}
	if !strings.Contains(out.String(), "0 keys forgotten, 0 followed") {
		t.Fatalf("second pass said: %s", out.String())
	}
	if code := run([]string{"reconcile", "--config", s.configPath, "--workspace", "nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown workspace exited %d, want 2", code)
	}
}

// serve runs the pass every hubspot.reconcile_every.
func TestServeReconcilesEvery(t *testing.T) {
	s := startStack(t, stackOptions{hubspotKeys: ", reconcile_every: 1s"})
	s.post(msg("acme-sms", "SMp1", map[string]any{"phone": "+1 415 555 4005"}, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMp1")
	if err := s.emu.Archive(first.ContactID); err != nil {
		t.Fatal(err)
	}
	s.waitKey("the periodic pass to forget the deleted contact's key", first.Identified.MatchKey,
		func(ks domain.KeyState) bool { return !ks.Resolved() })
}
