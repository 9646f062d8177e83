package main

import (
	"context"
	"net/http"
	"testing"

	"switchboard/domain"
)

// keyOf folds a match key's stream.
func (s *stack) keyOf(k domain.MatchKey) domain.KeyState {
	s.t.Helper()
	evs, err := s.svc.store.ReadStream(context.Background(), k.Stream(), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		s.t.Fatal(err)
	}
	return ks
}

// The bug of issue 11: after the contact of a known sender is deleted in HubSpot (and
// switchboard heard nothing of it), the next message of that sender was published
// with the deleted contact's id, refused, and dead-lettered, and a retry failed again.
// It must land instead: the key is forgotten, the sender resolved again (an SMS sender
// creates a new contact), and the message published on the new answer.
func TestDeletedContactOfKnownSenderHealsPublication(t *testing.T) {
	s := startStack(t, stackOptions{})
	sender := map[string]any{"phone": "+1 415 555 2671", "first_name": "Ana"}
	s.post(msg("acme-sms", "SMdel1", sender, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMdel1")
	if first.Published == nil || first.ContactID == "" {
		t.Fatalf("first message: published %v, contact %q, dead letter %+v", first.Published, first.ContactID, first.DeadLetter)
	}
	old := first.ContactID
	if err := s.emu.Archive(old); err != nil {
		t.Fatal(err)
	}
	contactsBefore := len(s.emu.Contacts())

	s.post(msg("acme-sms", "SMdel2", sender, "second"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SMdel2")
	if st.DeadLetter != nil {
		t.Fatalf("second message dead-lettered: %+v", st.DeadLetter)
	}
	if st.ContactID == "" || st.ContactID == old {
		t.Fatalf("second message landed on contact %q; want a new contact, not the deleted %s", st.ContactID, old)
	}
	if got := len(s.emu.Contacts()); got != contactsBefore+1 {
		t.Fatalf("contacts: %d after, %d before; want exactly one new contact", got, contactsBefore)
	}
	pubs := s.emu.Published()
	if last := pubs[len(pubs)-1]; last.IntegrationIdempotencyID != st.Published.IdempotencyID || last.AssociateWithContactID != st.ContactID {
		t.Fatalf("last inbox message %+v; want message SMdel2 on contact %s", last, st.ContactID)
	}
	key := first.Identified.MatchKey
	if ks := s.keyOf(key); ks.ContactID != st.ContactID {
		t.Fatalf("match key now resolves to %q; want the new contact %s", ks.ContactID, st.ContactID)
	}
	var forgotten bool
	for _, e := range s.messageEvents("acme-sms", "SMdel2") {
		forgotten = forgotten || e.Type == domain.EventResolutionRevoked
	}
	if !forgotten {
		t.Fatalf("message stream has no %s: the audit cannot tell why the message was resolved twice", domain.EventResolutionRevoked)
	}

	// A third message is sticky on the new contact: no dead letter, no new contact.
	s.post(msg("acme-sms", "SMdel3", sender, "third"), http.StatusAccepted)
	if st3 := s.waitSettled("acme-sms", "SMdel3"); st3.DeadLetter != nil || st3.ContactID != st.ContactID {
		t.Fatalf("third message: contact %q, dead letter %+v; want sticky on %s", st3.ContactID, st3.DeadLetter, st.ContactID)
	}
}
