package domain

import (
	"slices"
	"testing"
)

// Rule 11: the WhatsApp equivalences never turn a landline into a mobile. Each row is a
// landline of a quirk country: it normalizes to itself, its variants are itself, and it
// is not the same number as the mobile its digits would make.
func TestQuirksLeaveLandlinesAlone(t *testing.T) {
	tests := []struct {
		name     string
		landline string // as typed
		e164     string
		mobile   string // the mobile a quirk would have made of it
	}{
		{"AR Buenos Aires landline", "+54 11 4321-1234", "+541143211234", "+5491143211234"},
		{"AR Córdoba landline", "+54 351 432-1123", "+543514321123", "+5493514321123"},
		{"AR landline typed nationally", "011 4321-1234", "+541143211234", "+5491143211234"},
		{"BR São Paulo landline", "+55 11 4321-1234", "+551143211234", "+5511943211234"},
		{"BR landline starting 2", "+55 21 2345-6789", "+552123456789", "+5521923456789"},
		// Mexico's plan no longer tells landlines from mobiles (FIXED_LINE_OR_MOBILE):
		// a number without the legacy 1 is already canonical and is never given one.
		{"MX Mexico City landline", "+52 55 4321 1234", "+525543211234", "+5215543211234"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			region := map[byte]string{'0': "AR"}[tc.landline[0]]
			got, err := NormalizePhone(tc.landline, PhoneTyped, region)
			if err != nil {
				t.Fatalf("NormalizePhone(%q): %v", tc.landline, err)
			}
			if got.E164 != tc.e164 || got.Canonical != tc.e164 {
				t.Errorf("NormalizePhone(%q) = e164 %s canonical %s, want both %s (steps %q)", tc.landline, got.E164, got.Canonical, tc.e164, got.Steps)
			}
			if tc.e164[:3] != "+52" {
				if got.Mobile {
					t.Errorf("NormalizePhone(%q).Mobile = true for a landline", tc.landline)
				}
				if vs := PhoneVariants(tc.e164); !slices.Equal(vs, []string{tc.e164}) {
					t.Errorf("PhoneVariants(%s) = %q, want only itself", tc.e164, vs)
				}
				if vs := PhoneVariants(tc.mobile); slices.Contains(vs, tc.e164) {
					t.Errorf("PhoneVariants(%s) = %q holds the landline %s", tc.mobile, vs, tc.e164)
				}
			}
			if same, why := SamePhone(tc.landline, region, tc.mobile); same && tc.e164[:3] != "+52" {
				t.Errorf("SamePhone(stored %q, sender %s) = true (%s): a landline matched a mobile", tc.landline, tc.mobile, why)
			}
		})
	}
}

// Argentine mobiles still meet on +549… in every form phonenumbers reads as a mobile.
func TestArgentineMobileForms(t *testing.T) {
	for _, tc := range []struct{ in, region string }{
		{"+54 9 11 4321-1234", ""}, {"5491143211234", ""}, {"011 15 4321-1234", "AR"}, {"(011) 15-4321-1234", "AR"},
	} {
		if same, why := SamePhone(tc.in, tc.region, "+5491143211234"); !same {
			t.Errorf("SamePhone(%q, %q, +5491143211234) = false: %s", tc.in, tc.region, why)
		}
	}
	if same, why := SamePhone("+54 11 4321-1234", "", "+5491143211234"); same || why != "different number (+54 without the mobile 9 is a landline; rule 11)" {
		t.Errorf("stored landline vs mobile sender: %v %q", same, why)
	}
	// Nor is the landline's number searched for the mobile.
	if nn := NationalNumbers("+5491143211234"); !slices.Equal(nn, []string{"91143211234"}) {
		t.Errorf("NationalNumbers = %q", nn)
	}
}
