package domain

import (
	"strings"
	"testing"
)

// Rule 2: a contact's phone matches "in whatever human format it was typed into
// HubSpot", labels, extensions and invisible marks included. Sender input stays strict.
func TestSamePhoneReadsStoredValuesLeniently(t *testing.T) {
	tests := []struct {
		stored, region, sender string
		same                   bool
	}{
		// The three values.
		{"415-555-2671 (cell)", "US", "+14155552671", true},
		{"+1 415 555 2672 ext. 12", "US", "+14155552672", true},
		{"\u202d+1 (415) 555\u20112673\u202c", "US", "+14155552673", true},
		// Labels in brackets, before or after the number.
		{"(415) 555-2671 [work]", "US", "+14155552671", true},
		{"+44 7911 123456 (mobile, evenings)", "", "+447911123456", true},
		{"415.555.2671 cell", "US", "+14155552671", true},
		{"Cell: +1 415 555 2671", "", "+14155552671", true},
		{"mobile +44 (0)7911 123456", "", "+447911123456", true},
		{"Tel. 07911 123456", "GB", "+447911123456", true},
		// Extensions in every common spelling.
		{"+1 415 555 2671 x12", "", "+14155552671", true},
		{"+1 415 555 2671x12", "", "+14155552671", true},
		{"+1 415 555 2671 #12", "", "+14155552671", true},
		{"+1 415 555 2671 extension 12", "", "+14155552671", true},
		{"+1 415 555 2671 Ext 12", "", "+14155552671", true},
		{"+1-415-555-2671;ext=12", "", "+14155552671", true},
		{"tel:+1-415-555-2671;ext=12", "", "+14155552671", true},
		{"+1 415 555 2671, ext. 12", "", "+14155552671", true},
		// Invisible marks of every kind: bidi embeddings and isolates, marks, joiners.
		{"\u2066+44 7911 123456\u2069", "", "+447911123456", true},
		{"\u200e+1 415 555 2671\u200f", "", "+14155552671", true},
		{"+1\u200d415\u200c555\u20622671", "", "+14155552671", true},
		{"\u202b447911123456\u202c", "US", "+447911123456", true},
		// The number before the label still has to be the sender's.
		{"415-555-2670 (cell)", "US", "+14155552671", false},
		{"+44 415 555 2671 (cell)", "", "+14155552671", false},
		{"+1 415 555 2672 ext. 12", "", "+141555526721", false},
		// Letters inside the digits are not a label: a vanity number is not read.
		{"1-800-FLOWERS", "US", "+18003569377", false},
		{"+1 415 FLOWERS", "US", "+14153569377", false},
		{"(cell)", "US", "+14155552671", false},
		{"ext. 12", "US", "+14155552671", false},
	}
	for _, tc := range tests {
		same, why := SamePhone(tc.stored, tc.region, tc.sender)
		if same != tc.same {
			t.Errorf("SamePhone(%q, %q, %s) = %v (%s), want %v", tc.stored, tc.region, tc.sender, same, why, tc.same)
		}
		if same && tc.stored != "" && !strings.HasPrefix(why, "same number") {
			t.Errorf("SamePhone(%q) reason %q", tc.stored, why)
		}
	}
}

// The lenient reading is for stored values only: a sender's number with a label, an
// extension or a bidi mark is still refused.
func TestSenderPhoneStaysStrict(t *testing.T) {
	for _, in := range []string{"415-555-2671 (cell)", "+1 415 555 2672 ext. 12", "\u202d+1 (415) 555\u20112673\u202c", "Cell: +14155552671"} {
		if got, err := NormalizePhone(in, PhoneTyped, "US"); err == nil {
			t.Errorf("NormalizePhone(%q) = %s, want a refusal", in, got.Canonical)
		}
	}
}

func TestStoredPhoneText(t *testing.T) {
	tests := []struct{ in, number, note string }{
		{"+1 415 555 2671", "+1 415 555 2671", ""},
		{"(415) 555-2671", "(415) 555-2671", ""},
		{"+44 (0)7911 123456", "+44 (0)7911 123456", ""},
		{"415-555-2671 (cell)", "415-555-2671", "a label"},
		{"+1 415 555 2672 ext. 12", "+1 415 555 2672", "an extension"},
		{"\u202d+1 (415) 555\u20112673\u202c", "+1 (415) 555\u20112673", "invisible marks"},
		{"Cell: +1 415 555 2671", "+1 415 555 2671", "a label"},
		{"+1-415-555-2671;ext=12", "+1-415-555-2671", "an extension"},
		{"+1 415 555 2671 #12", "+1 415 555 2671", "an extension"},
		{"+1 415 555 2671x12", "+1 415 555 2671", "an extension"},
		{"1-800-FLOWERS", "1-800-FLOWERS", ""},
		{"ACME", "ACME", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		number, notes := storedPhoneText(tc.in)
		if number != tc.number || !strings.Contains(strings.Join(notes, ", "), tc.note) || (tc.note == "") != (len(notes) == 0) {
			t.Errorf("storedPhoneText(%q) = %q, %q; want %q, %q", tc.in, number, notes, tc.number, tc.note)
		}
	}
}
