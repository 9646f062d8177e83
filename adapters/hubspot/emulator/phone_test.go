package emulator_test

import (
	"testing"

	"switchboard/adapters/hubspot/emulator"
)

func TestDerivePhone(t *testing.T) {
	tests := []struct {
		text, region   string
		national, intl string
	}{
		{"(415) 555-2671", "US", "4155552671", "14155552671"},
		{"+1 (415) 555-2671", "US", "4155552671", "14155552671"},
		{"415.555.2671", "US", "4155552671", "14155552671"},
		{"1-415-555-2671", "US", "4155552671", "14155552671"},
		{"+44 (0)7911 123456", "US", "7911123456", "447911123456"},
		{"0044 7911 123456", "US", "7911123456", "447911123456"},
		{"011 44 7911 123456", "US", "7911123456", "447911123456"},
		{"07911 123456", "GB", "7911123456", "447911123456"},
		{"0044 7911 123456", "GB", "7911123456", "447911123456"},
		{"+33 6 12 34 56 78", "US", "612345678", "33612345678"},
		{"4155552671 ext. 12", "US", "4155552671", "14155552671"},
		// Not valid anywhere: digits, leading zeros stripped (the observed "00004" → "4").
		{"00004", "US", "4", ""},
		{"555-0000 x", "US", "5550000", ""},
		// A national number from another country, typed into a US portal.
		{"07911 123456", "US", "7911123456", ""},
		// Explicit country code but not valid today (Mexico's legacy mobile 1): kept as parsed.
		{"+52 1 55 1234 5678", "US", "15512345678", "5215512345678"},
		{"", "US", "", ""},
		{"n/a", "US", "", ""},
		{"(415) 555-2671", "", "4155552671", "14155552671"},
	}
	for _, tc := range tests {
		t.Run(tc.region+" "+tc.text, func(t *testing.T) {
			nat, intl := emulator.DerivePhone(tc.text, tc.region)
			if nat != tc.national || intl != tc.intl {
				t.Errorf("DerivePhone(%q, %q) = %q, %q; want %q, %q", tc.text, tc.region, nat, intl, tc.national, tc.intl)
			}
		})
	}
}

func TestCalculatedPhonePropertiesAreSearchable(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	a := f.create(map[string]string{"phone": "+1 (415) 555-2671"})
	b := f.create(map[string]string{"mobilephone": "0044 7911 123456"})
	f.create(map[string]string{"phone": "415.555.0000"})

	r := f.do("GET", "/crm/v3/objects/contacts/"+a+"?properties=phone,hs_searchable_calculated_phone_number,hs_searchable_calculated_mobile_number", nil)
	f.expect(r, 200)
	p := props(r.json(t))
	if p["phone"] != "+1 (415) 555-2671" || p["hs_searchable_calculated_phone_number"] != "4155552671" || p["hs_searchable_calculated_mobile_number"] != nil {
		t.Fatalf("properties %v", p)
	}
	got := f.searchIDs(map[string]any{"filterGroups": []group{
		{Filters: []filter{{PropertyName: "hs_searchable_calculated_phone_number", Operator: "EQ", Value: "4155552671"}}},
		{Filters: []filter{{PropertyName: "hs_searchable_calculated_mobile_number", Operator: "EQ", Value: "7911123456"}}},
	}})
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("search = %v, want [%s %s]", got, a, b)
	}
	// The free text is compared as typed: the E.164 form does not find "(415)…".
	if got := f.searchIDs(map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "phone", Operator: "EQ", Value: "+14155552671"}}}}}); len(got) != 0 {
		t.Fatalf("EQ on phone matched %v", got)
	}
	// Calculated properties are read-only.
	r = f.do("PATCH", "/crm/v3/objects/contacts/"+a, map[string]any{"properties": map[string]string{"hs_searchable_calculated_phone_number": "1"}})
	f.expect(r, 400)
}
