package domain

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		source    PhoneSource
		region    string
		e164      string
		canonical string
		mobile    bool
		step      string // one of the steps must contain this
	}{
		// SPEC §3 rule 2 and the brief's examples.
		{"E.164 with spaces", "+1 415 555 2671", PhoneTyped, "US", "+14155552671", "+14155552671", true, "parsed as an international number"},
		{"US national with brackets", "(415) 555-2671", PhoneTyped, "US", "+14155552671", "+14155552671", true, "parsed with default region US"},
		{"US national with dots", "415.555.2671", PhoneTyped, "US", "+14155552671", "+14155552671", true, "default region US"},
		{"US national with trunk 1", "1 415 555 2671", PhoneTyped, "US", "+14155552671", "+14155552671", true, ""},
		{"Twilio WhatsApp From", "whatsapp:+14155238886", PhoneTyped, "", "+14155238886", "+14155238886", true, "removed prefix whatsapp:"},
		{"tel URI", "tel:+1-415-555-2671", PhoneTyped, "", "+14155552671", "+14155552671", true, "removed prefix tel:"},
		{"prefix in capitals", "WhatsApp:+14155238886", PhoneTyped, "", "+14155238886", "+14155238886", true, "removed prefix whatsapp:"},
		{"00 prefix with region GB", "0044 7911 123456", PhoneTyped, "GB", "+447911123456", "+447911123456", true, ""},
		{"00 prefix with region US (IDD 011)", "0044 7911 123456", PhoneTyped, "US", "+447911123456", "+447911123456", true, "leading 00"},
		{"00 prefix without region", "0044 7911 123456", PhoneTyped, "", "+447911123456", "+447911123456", true, "leading 00"},
		{"011 prefix with region US", "011 44 7911 123456", PhoneTyped, "US", "+447911123456", "+447911123456", true, ""},
		{"(0) trunk prefix GB", "+44 (0)7911 123456", PhoneTyped, "", "+447911123456", "+447911123456", true, "(0)"},
		{"(0) trunk prefix DE", "+49 (0)30 1234567", PhoneTyped, "", "+49301234567", "+49301234567", false, "(0)"},
		{"(0) where the country has no trunk prefix", "+34 (0)612 345 678", PhoneTyped, "", "+34612345678", "+34612345678", true, "removed the (0) trunk prefix"},
		{"Italian 0 belongs to the number", "+39 (0)6 1234 5678", PhoneTyped, "", "+390612345678", "+390612345678", false, ""},
		{"GB national", "07911 123456", PhoneTyped, "GB", "+447911123456", "+447911123456", true, "default region GB"},
		{"bracketed plus", "(+44) 7911 123456", PhoneTyped, "", "+447911123456", "+447911123456", true, ""},
		{"fullwidth digits", "＋１ ４１５ ５５５ ２６７１", PhoneTyped, "", "+14155552671", "+14155552671", true, ""},
		{"no-break spaces and dashes", "+1\u00a0415\u2013555\u20132671", PhoneTyped, "", "+14155552671", "+14155552671", true, ""},
		{"region ignored after +", "+14155552671", PhoneTyped, "GB", "+14155552671", "+14155552671", true, ""},
		{"possible but not valid is a sender", "+1 200 555 0100", PhoneTyped, "", "+12005550100", "+12005550100", false, ""},

		// WhatsApp ids: international digits without '+', the region is ignored.
		{"wa_id GB with region US", "447911123456", PhoneWhatsAppID, "US", "+447911123456", "+447911123456", true, "without a default region"},
		{"wa_id US", "14155552671", PhoneWhatsAppID, "", "+14155552671", "+14155552671", true, ""},
		{"wa_id with a stray +", "+447911123456", PhoneWhatsAppID, "", "+447911123456", "+447911123456", true, "ignored the leading +"},
		{"Twilio WaId spaces around", " 573003255454 ", PhoneWhatsAppID, "CO", "+573003255454", "+573003255454", true, ""},

		// Mexico: legacy mobile 1.
		{"MX wa_id legacy 1", "5215512345678", PhoneWhatsAppID, "MX", "+5215512345678", "+525512345678", true, noteMexico},
		{"MX typed legacy 1", "+52 1 55 1234 5678", PhoneTyped, "", "+5215512345678", "+525512345678", true, noteMexico},
		{"MX today's form", "+52 55 1234 5678", PhoneTyped, "", "+525512345678", "+525512345678", true, "parsed as an international number"},
		{"MX toll-free not rewritten", "+52 800 123 4567", PhoneTyped, "", "+528001234567", "+528001234567", false, ""},

		// Argentina: mobile 9.
		{"AR wa_id with 9", "5491123456789", PhoneWhatsAppID, "", "+5491123456789", "+5491123456789", true, ""},
		// Rule 11: without the 9 it is a landline (FIXED_LINE): never rewritten.
		{"AR without 9 is a landline", "+54 11 2345-6789", PhoneTyped, "", "+541123456789", "+541123456789", false, "parsed as an international number"},
		{"AR national mobile with 15", "011 15 2345-6789", PhoneTyped, "AR", "+5491123456789", "+5491123456789", true, ""},
		{"AR toll-free not rewritten", "+54 800 123 4567", PhoneTyped, "", "+548001234567", "+548001234567", false, ""},

		// Brazil: ninth digit.
		{"BR 8-digit mobile gains 9", "+55 11 8765-4321", PhoneTyped, "", "+551187654321", "+5511987654321", true, noteBrazil},
		{"BR wa_id 8-digit mobile", "551187654321", PhoneWhatsAppID, "", "+551187654321", "+5511987654321", true, noteBrazil},
		{"BR 9-digit mobile", "+55 11 98765-4321", PhoneTyped, "", "+5511987654321", "+5511987654321", true, ""},
		{"BR national with area code in brackets", "(11) 98765-4321", PhoneTyped, "BR", "+5511987654321", "+5511987654321", true, ""},
		{"BR 8-digit starting 6", "+55 61 6123-4567", PhoneTyped, "", "+556161234567", "+5561961234567", true, noteBrazil},
		{"BR landline never rewritten", "+55 11 2345-6789", PhoneTyped, "", "+551123456789", "+551123456789", false, ""},
		{"BR landline starting 5", "+55 11 5555-1234", PhoneTyped, "", "+551155551234", "+551155551234", false, ""},
		{"BR mobile whose tail looks like a landline", "+55 11 92345-6789", PhoneTyped, "", "+5511923456789", "+5511923456789", true, ""},
		{"BR unknown area code not rewritten", "+55 20 8765 4321", PhoneTyped, "", "+552087654321", "+552087654321", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.source, tt.region)
			if err != nil {
				t.Fatalf("NormalizePhone(%q, %v, %q): %v", tt.in, tt.source, tt.region, err)
			}
			if got.Input != tt.in {
				t.Errorf("Input = %q, want %q", got.Input, tt.in)
			}
			if got.E164 != tt.e164 {
				t.Errorf("E164 = %q, want %q", got.E164, tt.e164)
			}
			if got.Canonical != tt.canonical {
				t.Errorf("Canonical = %q, want %q (steps %q)", got.Canonical, tt.canonical, got.Steps)
			}
			if got.Mobile != tt.mobile {
				t.Errorf("Mobile = %v, want %v", got.Mobile, tt.mobile)
			}
			if got.Region == "" {
				t.Errorf("Region is empty")
			}
			if tt.step != "" && !slices.ContainsFunc(got.Steps, func(s string) bool { return strings.Contains(s, tt.step) }) {
				t.Errorf("Steps = %q, want one containing %q", got.Steps, tt.step)
			}
			if got.Canonical == got.E164 && quirkNote(got.Steps) != "" {
				t.Errorf("quirk step %q without a rewrite", quirkNote(got.Steps))
			}
		})
	}
}

func TestNormalizePhoneErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		source  PhoneSource
		region  string
		noPhone bool   // errors.Is(err, ErrNoPhoneNumber)
		reason  string // the reason must contain this
	}{
		{"empty", "", PhoneTyped, "US", true, "empty"},
		{"blank", " \t ", PhoneTyped, "US", true, "empty"},
		{"empty wa_id", "", PhoneWhatsAppID, "", true, "empty"},
		{"alphanumeric sender", "ACME", PhoneTyped, "US", true, "alphanumeric sender"},
		{"alphanumeric sender with digits", "ACME2024", PhoneTyped, "US", true, "letters"},
		{"BSUID", "US.13491208655302741918", PhoneWhatsAppID, "", true, "business-scoped user id"},
		{"BSUID typed", "US.13491208655302741918", PhoneTyped, "US", true, "business-scoped user id"},
		{"parent BSUID", "US.ENT.11815799212886844830", PhoneWhatsAppID, "", true, "business-scoped user id"},
		{"BSUID behind Twilio prefix", "whatsapp:CO.4480491918930694", PhoneTyped, "", true, "business-scoped user id"},
		{"zero", "0", PhoneTyped, "US", true, "zeros"},
		{"zeros with plus", "+000 000 0000", PhoneTyped, "", true, "zeros"},
		{"short code", "911", PhoneTyped, "US", true, "too few digits"},
		{"short code 5 digits", "12345", PhoneTyped, "US", true, "too few digits"},
		{"short code with star", "*123#", PhoneTyped, "US", false, "contains"},
		{"only punctuation", "+--", PhoneTyped, "US", true, "no digits"},
		{"prefix only", "whatsapp:", PhoneTyped, "", true, "nothing after the prefix"},
		{"extension", "+1 415 555 2671 ext 12", PhoneTyped, "", true, "no extension"},
		{"national without region", "415 555 2671", PhoneTyped, "", false, "needs the channel's default_region"},
		{"unknown region", "415 555 2671", PhoneTyped, "XX", false, "unknown default region"},
		{"region in lower case", "415 555 2671", PhoneTyped, "us", false, "unknown default region"},
		{"unknown country code", "+999 123456", PhoneTyped, "", false, "unknown country code"},
		{"too long", "+1 415 555 2671 2671", PhoneTyped, "", false, "too many digits"},
		{"foreign number without + typed", "447911123456", PhoneTyped, "US", false, "too many digits"},
		{"local number without area code", "555 2671", PhoneTyped, "US", false, "without its area code"},
		{"wa_id with separators", "44 7911-123456", PhoneWhatsAppID, "", false, "digits only"},
		{"wa_id starting with 0", "07911123456", PhoneWhatsAppID, "GB", false, "starts with the country code"},
		{"second plus", "+1 +415 555 2671", PhoneTyped, "", false, "a + may only come once"},
		{"MX legacy 1 before a non-mobile", "+52 1 800 123 4567", PhoneTyped, "", false, "too many digits"},
		{"invalid UTF-8", "+1 415\xff555 2671", PhoneTyped, "", false, "UTF-8"},
		{"very long", "+1 " + strings.Repeat("5", 200), PhoneTyped, "", false, "too long"},
		{"unknown source", "+14155552671", PhoneSource(7), "", false, "unknown phone source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.source, tt.region)
			if err == nil {
				t.Fatalf("NormalizePhone(%q) = %+v, want an error", tt.in, got)
			}
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PhoneError", err, err)
			}
			if pe.Input != tt.in {
				t.Errorf("PhoneError.Input = %q, want %q", pe.Input, tt.in)
			}
			if errors.Is(err, ErrNoPhoneNumber) != tt.noPhone {
				t.Errorf("errors.Is(%v, ErrNoPhoneNumber) = %v, want %v", err, !tt.noPhone, tt.noPhone)
			}
			if !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", pe.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), pe.Reason) {
				t.Errorf("Error() %q does not say the reason", err.Error())
			}
			if got.Canonical != "" {
				t.Errorf("Canonical = %q on error", got.Canonical)
			}
			if got.Input != tt.in {
				t.Errorf("Input = %q, want %q even on error", got.Input, tt.in)
			}
		})
	}
}

func TestPhoneVariants(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"+525512345678", []string{"+525512345678", "+5215512345678"}},
		{"+5215512345678", []string{"+525512345678", "+5215512345678"}}, // normalized first
		{"+528001234567", []string{"+528001234567"}},                    // toll-free: no mobile 1
		{"+5491123456789", []string{"+5491123456789"}},                  // rule 11: +541123456789 is a landline
		{"+541123456789", []string{"+541123456789"}},
		{"+548001234567", []string{"+548001234567"}},
		{"+5511987654321", []string{"+5511987654321", "+551187654321"}},
		{"+551187654321", []string{"+5511987654321", "+551187654321"}},
		{"+5511923456789", []string{"+5511923456789"}}, // 2345-6789 would be a landline
		{"+551123456789", []string{"+551123456789"}},   // landline
		{"+14155552671", []string{"+14155552671"}},
		{"+447911123456", []string{"+447911123456"}},
		{"+390612345678", []string{"+390612345678"}},
		{"", nil},
		{"ACME", nil},
		{"4155552671", nil}, // not international
	}
	for _, tt := range tests {
		if got := PhoneVariants(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("PhoneVariants(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNationalNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"+14155552671", []string{"4155552671"}},
		{"+447911123456", []string{"7911123456"}},
		{"+525512345678", []string{"5512345678", "15512345678"}},
		{"+5491123456789", []string{"91123456789"}}, // rule 11: 1123456789 is a landline's
		{"+5511987654321", []string{"11987654321", "1187654321"}},
		{"+551123456789", []string{"1123456789"}},
		{"+390612345678", []string{"612345678", "0612345678"}},
		{"+4407911123456", []string{"7911123456"}}, // a stray trunk 0 is dropped on parsing
		{"nonsense", nil},
	}
	for _, tt := range tests {
		if got := NationalNumbers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("NationalNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSamePhone(t *testing.T) {
	tests := []struct {
		stored, region, canonical string
		same                      bool
		reason                    string // the reason must contain this
	}{
		// SPEC §3 rule 2: whatever format a person typed into HubSpot.
		{"+1 (415) 555-2671", "US", "+14155552671", true, "same number"},
		{"+1 (415) 555-2671", "", "+14155552671", true, "same number"},
		{"(415) 555-2671", "US", "+14155552671", true, "same number"},
		{"415.555.2671", "US", "+14155552671", true, "same number"},
		{"1-415-555-2671", "US", "+14155552671", true, "same number"},
		{"0044 7911 123456", "US", "+447911123456", true, "same number"},
		{"0044 7911 123456", "GB", "+447911123456", true, "same number"},
		{"+44 (0)7911 123456", "", "+447911123456", true, "same number"},
		{"+44 (0)7911 123456", "US", "+447911123456", true, "same number"},
		{"07911 123456", "GB", "+447911123456", true, "same number"},
		{"  +44 7911 123456  ", "", "+447911123456", true, "same number"},
		{"447911123456", "US", "+447911123456", true, "stored without +"},

		// WhatsApp equivalences, both ways.
		{"+52 55 1234 5678", "", "+525512345678", true, "same number"},
		{"+52 1 55 1234 5678", "", "+525512345678", true, noteMexico},
		{"55 1234 5678", "MX", "+525512345678", true, "same number"},
		{"+54 11 2345-6789", "", "+5491123456789", false, "landline; rule 11"},
		{"+54 9 11 2345-6789", "", "+5491123456789", true, "same number"},
		{"+55 11 8765-4321", "", "+5511987654321", true, noteBrazil},
		{"+55 11 98765-4321", "", "+5511987654321", true, "same number"},
		{"(11) 8765-4321", "BR", "+5511987654321", true, noteBrazil},
		// The canonical argument may be any member of the class.
		{"+52 55 1234 5678", "", "+5215512345678", true, "same number"},
		{"+55 11 98765-4321", "", "+551187654321", true, "same number"},

		// Rule 11: a Brazilian landline is never a mobile.
		{"+55 11 2345-6789", "", "+5511923456789", false, "different number"},
		{"+55 11 92345-6789", "", "+551123456789", false, "different number"},
		// Same national digits, different country.
		{"415 555 2671", "US", "+444155552671", false, "different country code (+1, not +44)"},
		{"+44 4155552671", "", "+14155552671", false, "different country code (+44, not +1)"},
		{"4155552671", "GB", "+14155552671", false, "different country code"},
		{"+1 415 555 2672", "", "+14155552671", false, "different number"},
		{"447911123456", "US", "+447911123457", false, "unparseable"},

		{"", "US", "+14155552671", false, "unparseable: empty"},
		{"call me", "US", "+14155552671", false, "unparseable"},
		{"415 555 2671", "", "+14155552671", false, "unparseable: a national number"},
		// Rule 2 (issue 10 item 4): a stored extension is set aside, not a reason to refuse.
		{"+1 415 555 2671 ext 3", "", "+14155552671", true, "stored with an extension"},
		{"+14155552671", "", "ACME", false, "sender number unusable"},
	}
	for _, tt := range tests {
		same, reason := SamePhone(tt.stored, tt.region, tt.canonical)
		if same != tt.same || !strings.Contains(reason, tt.reason) {
			t.Errorf("SamePhone(%q, %q, %q) = %v, %q; want %v, %q", tt.stored, tt.region, tt.canonical, same, reason, tt.same, tt.reason)
		}
	}
}

func TestPhoneErrorIs(t *testing.T) {
	_, err := NormalizePhone("ACME", PhoneTyped, "US")
	if !errors.Is(err, ErrNoPhoneNumber) {
		t.Fatalf("alphanumeric sender: %v is not ErrNoPhoneNumber", err)
	}
	wrapped := errors.Join(errors.New("identify sender"), err)
	if !errors.Is(wrapped, ErrNoPhoneNumber) {
		t.Errorf("wrapped error lost ErrNoPhoneNumber")
	}
	_, err = NormalizePhone("415 555 2671", PhoneTyped, "")
	if errors.Is(err, ErrNoPhoneNumber) {
		t.Errorf("missing region is a configuration problem, not a missing number: %v", err)
	}
	if want := `phone number "415 555 2671": a national number`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
	}
}

// phoneSamples generates numbers from phonenumbers' example numbers of every region and
// type, with the last digits replaced at random, plus MX, AR and BR mobiles and
// landlines in every form the quirks produce.
func phoneSamples(t testing.TB, n int) []*phonenumbers.PhoneNumber {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.VOIP}
	var bases []*phonenumbers.PhoneNumber
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for _, r := range regions {
		for _, typ := range types {
			if ex := phonenumbers.GetExampleNumberForType(r, typ); ex != nil {
				bases = append(bases, ex)
			}
		}
	}
	var out []*phonenumbers.PhoneNumber
	for len(out) < n {
		base := bases[rng.IntN(len(bases))]
		e := phonenumbers.Format(base, phonenumbers.E164)
		// Replace up to 4 trailing digits.
		k := 1 + rng.IntN(4)
		b := []byte(e)
		for i := len(b) - k; i < len(b); i++ {
			b[i] = byte('0' + rng.IntN(10))
		}
		num, err := phonenumbers.Parse(string(b), "")
		if err != nil {
			continue
		}
		out = append(out, num)
	}
	// Quirk countries: random subscribers.
	for i := 0; i < n/4; i++ {
		var s string
		switch i % 5 {
		case 0: // MX mobile, legacy form
			s = "+521" + digitsN(rng, "55", 10)
		case 1: // AR without 9
			s = "+54" + digitsN(rng, []string{"11", "351", "2214"}[rng.IntN(3)], 10)
		case 2: // BR 8-digit
			s = "+55" + digitsN(rng, []string{"11", "21", "61", "85"}[rng.IntN(4)]+string(rune('2'+rng.IntN(8))), 10)
		case 3: // BR 9-digit
			s = "+55" + digitsN(rng, []string{"11", "21", "61", "85"}[rng.IntN(4)]+"9"+string(rune('2'+rng.IntN(8))), 11)
		case 4: // AR with 9
			s = "+549" + digitsN(rng, "11", 10)
		}
		num, err := phonenumbers.Parse(s, "")
		if err != nil {
			t.Fatalf("sample %q: %v", s, err)
		}
		out = append(out, num)
	}
	return out
}

func digitsN(rng *rand.Rand, prefix string, n int) string {
	b := []byte(prefix)
	for len(b) < n {
		b = append(b, byte('0'+rng.IntN(10)))
	}
	return string(b)
}

func phoneSampleCount() int {
	if testing.Short() {
		return 300
	}
	return 1500
}

// Properties over generated numbers: normalization is idempotent and agrees across
// input formats, every variant normalizes to the canonical form, SamePhone is reflexive,
// and NationalNumbers never carries the country code.
func TestPhoneProperties(t *testing.T) {
	for _, num := range phoneSamples(t, phoneSampleCount()) {
		region := phonenumbers.GetRegionCodeForNumber(num)
		if region == "" || region == "001" {
			region = phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
		}
		e164 := phonenumbers.Format(num, phonenumbers.E164)
		first, err := NormalizePhone(e164, PhoneTyped, "")
		if err != nil {
			// Not every generated number is possible; those are refused, never panic.
			continue
		}
		c := first.Canonical
		checkCanonicalShape(t, e164, c)

		// Idempotent, and the same whatever the source or format.
		forms := []struct {
			in     string
			source PhoneSource
			region string
		}{
			{c, PhoneTyped, ""},
			{c, PhoneTyped, "US"},
			{c[1:], PhoneWhatsAppID, ""},
			{e164[1:], PhoneWhatsAppID, "GB"},
			{"whatsapp:" + e164, PhoneTyped, ""},
			{phonenumbers.Format(num, phonenumbers.INTERNATIONAL), PhoneTyped, ""},
			{phonenumbers.Format(num, phonenumbers.RFC3966), PhoneTyped, ""},
		}
		// The national form, where phonenumbers reads its own national format back
		// (v1.8.1 formats Argentine mobiles as "09 15-2345-6789", dropping the area
		// code: a library bug that is not ours to test).
		if national := phonenumbers.Format(num, phonenumbers.NATIONAL); region != "001" && phonenumbers.IsValidNumber(num) && roundTrips(national, region, e164) {
			forms = append(forms, struct {
				in     string
				source PhoneSource
				region string
			}{national, PhoneTyped, region})
		}
		for _, f := range forms {
			got, err := NormalizePhone(f.in, f.source, f.region)
			if err != nil {
				t.Errorf("%s: NormalizePhone(%q, %v, %q): %v", e164, f.in, f.source, f.region, err)
				continue
			}
			if got.Canonical != c {
				t.Errorf("%s: NormalizePhone(%q, %v, %q).Canonical = %q, want %q", e164, f.in, f.source, f.region, got.Canonical, c)
			}
		}

		vs := PhoneVariants(c)
		if len(vs) == 0 || vs[0] != c {
			t.Errorf("PhoneVariants(%q) = %q: want the canonical form first", c, vs)
		}
		if !slices.Contains(vs, first.E164) {
			t.Errorf("PhoneVariants(%q) = %q: misses the parsed form %q", c, vs, first.E164)
		}
		for _, v := range vs {
			got, err := NormalizePhone(v, PhoneTyped, "")
			if err != nil || got.Canonical != c {
				t.Errorf("variant %q of %q normalizes to %q, %v", v, c, got.Canonical, err)
			}
			if same, why := SamePhone(v, "", c); !same {
				t.Errorf("SamePhone(variant %q, %q) = false, %q", v, c, why)
			}
		}
		if !first.Mobile && len(vs) > 1 {
			t.Errorf("%q is not a mobile but has variants %q (rule 11)", c, vs)
		}

		if same, why := SamePhone(c, "", c); !same {
			t.Errorf("SamePhone(%q, %q) = false, %q", c, c, why)
		}
		if same, why := SamePhone(phonenumbers.Format(num, phonenumbers.INTERNATIONAL), region, c); !same {
			t.Errorf("SamePhone(international %q, %q) = false, %q", phonenumbers.Format(num, phonenumbers.INTERNATIONAL), c, why)
		}

		cc := strconv.Itoa(int(num.GetCountryCode()))
		nns := NationalNumbers(c)
		if len(nns) == 0 {
			t.Errorf("NationalNumbers(%q) is empty", c)
		}
		for _, nn := range nns {
			if nn == "" || strings.Trim(nn, "0123456789") != "" {
				t.Errorf("NationalNumbers(%q) holds %q: want digits", c, nn)
			}
			// The country code is what was removed: the national number plus the
			// country code (and leading zeros the search form dropped) is a variant.
			if !slices.ContainsFunc(vs, func(v string) bool {
				rest, ok := strings.CutPrefix(v, "+"+cc)
				return ok && strings.HasSuffix(rest, nn) && strings.Trim(rest[:len(rest)-len(nn)], "0") == ""
			}) {
				t.Errorf("NationalNumbers(%q) holds %q, which with +%s is no variant of %q", c, nn, cc, vs)
			}
		}
		if strings.HasPrefix(nns[0], "0") {
			t.Errorf("NationalNumbers(%q)[0] = %q has a leading zero", c, nns[0])
		}
	}
}

func roundTrips(s, region, e164 string) bool {
	n, err := phonenumbers.Parse(s, region)
	return err == nil && phonenumbers.Format(n, phonenumbers.E164) == e164
}

// Rule 11 over every Brazilian area code: an 8-digit subscriber starting 2-5 is a
// landline, never rewritten and never the same as the number with a 9 in front; one
// starting 6-9 gains the 9 wherever phonenumbers knows the area code.
func TestBrazilNinthDigitAllAreas(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rewritten := 0
	for area := 11; area <= 99; area++ {
		for first := 2; first <= 9; first++ {
			sub := strconv.Itoa(first) + digitsN(rng, "", 7)
			eight := "+55" + strconv.Itoa(area) + sub
			nine := "+55" + strconv.Itoa(area) + "9" + sub
			got, err := NormalizePhone(eight, PhoneTyped, "")
			if err != nil {
				t.Fatalf("%s: %v", eight, err)
			}
			if got.E164 != eight {
				// No such area code: phonenumbers reads "90" as a carrier selection code.
				continue
			}
			same, why := SamePhone(eight, "", nine)
			if first <= 5 {
				if got.Canonical != eight || len(PhoneVariants(eight)) != 1 || same {
					t.Errorf("landline %s: canonical %s, variants %q, same as %s: %v (%s)", eight, got.Canonical, PhoneVariants(eight), nine, same, why)
				}
				continue
			}
			if got.Canonical == eight {
				continue // unknown area code: left alone
			}
			rewritten++
			if got.Canonical != nine || !same || !got.Mobile {
				t.Errorf("mobile %s: canonical %s (want %s), same: %v (%s)", eight, got.Canonical, nine, same, why)
			}
			if vs := PhoneVariants(nine); !slices.Equal(vs, []string{nine, eight}) {
				t.Errorf("PhoneVariants(%s) = %q", nine, vs)
			}
		}
	}
	if rewritten < 60*4 {
		t.Errorf("only %d 8-digit mobiles gained their 9: phonenumbers knows ~67 area codes", rewritten)
	}
}

// Mexico and Argentina over many random subscribers: Mexico's quirk forms meet;
// Argentina's landline digits never meet the mobile's (rule 11).
func TestMexicoArgentinaEquivalence(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	arMobiles := 0
	defer func() {
		if arMobiles < 100 {
			t.Errorf("only %d of 300 random Argentine numbers were valid mobiles", arMobiles)
		}
	}()
	for i := 0; i < 300; i++ {
		mx := digitsN(rng, []string{"55", "33", "81", "222", "664"}[i%5], 10)
		today, legacy := "+52"+mx, "+521"+mx
		a, errA := NormalizePhone(legacy[1:], PhoneWhatsAppID, "US")
		b, errB := NormalizePhone(today, PhoneTyped, "")
		if errA != nil || errB != nil {
			t.Fatalf("%s / %s: %v / %v", legacy, today, errA, errB)
		}
		if b.Mobile && (a.Canonical != today || b.Canonical != today) {
			t.Errorf("MX %s and %s: canonical %s and %s, want %s", legacy, today, a.Canonical, b.Canonical, today)
		}

		ar := digitsN(rng, []string{"11", "351", "2214", "341"}[i%4], 10)
		withNine, without := "+549"+ar, "+54"+ar
		c, errC := NormalizePhone(withNine[1:], PhoneWhatsAppID, "")
		d, errD := NormalizePhone(without, PhoneTyped, "")
		if errC != nil || errD != nil {
			t.Fatalf("%s / %s: %v / %v", withNine, without, errC, errD)
		}
		// Rule 11: without its 9 the number is a landline (phonenumbers: FIXED_LINE),
		// never rewritten into the mobile and never the same number as it.
		if d.Canonical != without || d.Mobile {
			t.Errorf("AR %s was rewritten to %s (mobile %v)", without, d.Canonical, d.Mobile)
		}
		if !c.Mobile {
			continue
		}
		if c.Canonical != withNine {
			t.Errorf("AR %s: canonical %s, want itself", withNine, c.Canonical)
		}
		if same, why := SamePhone("+54 "+ar[:2]+" "+ar[2:], "", c.Canonical); same {
			t.Errorf("AR stored landline %s matched the mobile %s: %s", without, withNine, why)
		}
		arMobiles++
	}
}

func checkCanonicalShape(t testing.TB, in, c string) {
	t.Helper()
	if len(c) < 2 || c[0] != '+' || strings.Trim(c[1:], "0123456789") != "" || len(c) > 16 {
		t.Fatalf("NormalizePhone(%q).Canonical = %q: want + and at most 15 digits", in, c)
	}
}

func TestPhoneConcurrent(t *testing.T) {
	// Parse, Format and GetNumberType share phonenumbers' regexp cache.
	inputs := []string{"5215512345678", "5491123456789", "551187654321", "447911123456", "14155552671"}
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				in := inputs[(g+i)%len(inputs)]
				n, err := NormalizePhone(in, PhoneWhatsAppID, "")
				if err != nil {
					t.Errorf("%s: %v", in, err)
					return
				}
				if same, _ := SamePhone(n.E164, "", n.Canonical); !same {
					t.Errorf("%s: not the same as its canonical form", in)
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	cases := []struct {
		name, in string
		source   PhoneSource
		region   string
	}{
		{"e164", "+14155552671", PhoneTyped, ""},
		{"national_US", "(415) 555-2671", PhoneTyped, "US"},
		{"twilio_whatsapp", "whatsapp:+447911123456", PhoneTyped, ""},
		{"wa_id_MX_legacy", "5215512345678", PhoneWhatsAppID, ""},
		{"typed_BR_8digit", "+55 11 8765-4321", PhoneTyped, ""},
		{"typed_AR_no9", "+54 11 2345-6789", PhoneTyped, ""},
		{"alphanumeric", "ACME", PhoneTyped, "US"},
	}
	// The raw ceiling: what phonenumbers alone costs for the same input (ceilings.md).
	b.Run("raw_parse_format", func(b *testing.B) {
		for b.Loop() {
			n, _ := phonenumbers.Parse("+14155552671", "")
			_ = phonenumbers.Format(n, phonenumbers.E164)
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = NormalizePhone(c.in, c.source, c.region)
			}
		})
	}
	// A sender's whole identification: one parse since rule 12's check reads the
	// normalization's own (it parsed the canonical form again before).
	sms := ChannelSettings{ID: "sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	b.Run("Identify_national_US", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Identify(sms, BlockList{}, Sender{Phone: "(415) 555-2671"})
		}
	})
	b.Run("SamePhone", func(b *testing.B) {
		for b.Loop() {
			SamePhone("+1 (415) 555-2671", "US", "+14155552671")
		}
	})
	b.Run("NationalNumbers_BR", func(b *testing.B) {
		for b.Loop() {
			NationalNumbers("+5511987654321")
		}
	})
}
