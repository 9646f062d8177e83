package main

import (
	"net/http"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/adapters/samples"
	"switchboard/domain"
)

// Issue 10 item 4: a contact whose phone was typed with a label, an extension or
// invisible bidi marks is found by the search and must be confirmed, not duplicated.
// Each SMS comes through the signed Twilio webhook.
func TestStoredPhoneWithLabelOrExtensionMatches(t *testing.T) {
	s := startStack(t, stackOptions{})
	hour := time.Now().Add(-time.Hour)
	cases := []struct {
		stored, from, sid string
	}{
		{"415-555-2671 (cell)", "+14155552671", "SMLABEL1"},
		{"+1 415 555 2672 ext. 12", "+14155552672", "SMEXT1"},
		// The value ends with U+202C as well; the emulator does not find that
		// one (its searchable value keeps the country code when a trailing format
		// character defeats its parse: a fidelity gap of the emulator, not of
		// switchboard, whose confirmation of it TestSamePhoneReadsStoredValuesLeniently
		// covers). The leading mark alone still needs the lenient reading.
		{"\u202d+1 (415) 555\u20112673", "+14155552673", "SMBIDI1"},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		// The emulator's searchable value is what its search finds the contact by.
		if nat, _ := emulator.DerivePhone(tc.stored, "US"); nat != tc.from[2:] {
			t.Errorf("emulator: searchable phone of %q is %q, want %q (the search would miss it)", tc.stored, nat, tc.from[2:])
		}
		ids[tc.sid] = s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "phone": tc.stored}, hour)
	}
	before := len(s.emu.Contacts())
	for _, tc := range cases {
		if status := s.sendSample("acme-sms", samples.Sample{From: tc.from, MessageID: tc.sid}, nil); status != http.StatusOK {
			t.Fatalf("webhook %s: status %d", tc.sid, status)
		}
	}
	for _, tc := range cases {
		st := s.waitSettled("acme-sms", tc.sid)
		if st.Outcome != domain.EventContactMatched || st.ContactID != ids[tc.sid] {
			t.Errorf("SMS from %s (contact phone %q): %s %s, want ContactMatched %s", tc.from, tc.stored, st.Outcome, st.ContactID, ids[tc.sid])
		}
	}
	if n := len(s.emu.Contacts()); n != before {
		t.Errorf("%d contacts after the messages, want %d: a duplicate was created", n, before)
	}
}
