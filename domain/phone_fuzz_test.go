package domain

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// fuzzRegions are the default regions FuzzNormalizePhone picks from: none, the quirk
// countries, shared-code and trunk-prefix countries, Italy's significant 0, an unknown
// code and a lower-case one.
var fuzzRegions = []string{"", "US", "GB", "MX", "AR", "BR", "DE", "IT", "IN", "AU", "RU", "JP", "XX", "us"}

// FuzzNormalizePhone: never panics; a success yields a canonical "+digits" that
// normalizes to itself from both sources, whose variants all normalize to it, which
// SamePhone accepts, and whose national numbers carry no "+"; an error is a *PhoneError.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+1 415 555 2671", "(415) 555-2671", "415.555.2671", "whatsapp:+14155238886",
		"0044 7911 123456", "+44 (0)7911 123456", "07911 123456", "447911123456",
		"5215512345678", "+52 55 1234 5678", "5491123456789", "+54 11 2345-6789",
		"55 11 8765-4321", "55 11 98765-4321", "55 11 2345-6789", "55 11 92345-6789",
		"ACME", "US.13491208655302741918", "", "0", "+39 (0)6 1234 5678", "tel:+1-415-555-2671",
		"+1 000 000 0000", "+44 0000 000000", "+61 0000000", "+39 000 0000", "0000000000",
	} {
		for i := range fuzzRegions[:7] {
			f.Add(s, i%2 == 1, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, raw string, whatsAppID bool, regionIndex uint8) {
		source := PhoneTyped
		if whatsAppID {
			source = PhoneWhatsAppID
		}
		region := fuzzRegions[int(regionIndex)%len(fuzzRegions)]
		checkPhoneProperties(t, raw, source, region)
		// Random text rarely is a number: its digits alone, as a WhatsApp id, often are.
		if d := asciiDigits(raw); d != raw && d != "" {
			checkPhoneProperties(t, d, PhoneWhatsAppID, region)
		}
	})
}

func checkPhoneProperties(t *testing.T, raw string, source PhoneSource, region string) {
	t.Helper()
	got, err := NormalizePhone(raw, source, region)
	if err != nil {
		var pe *PhoneError
		if !errors.As(err, &pe) {
			t.Fatalf("NormalizePhone(%q, %v, %q): error %v is %T, want *PhoneError", raw, source, region, err, err)
		}
		if pe.Reason == "" || pe.Input != raw {
			t.Fatalf("NormalizePhone(%q): PhoneError %+v", raw, pe)
		}
		if got.Canonical != "" {
			t.Fatalf("NormalizePhone(%q): Canonical %q with error %v", raw, got.Canonical, err)
		}
		// Whatever the error, the comparison must not panic either.
		SamePhone(raw, region, "+14155552671")
		return
	}
	c := got.Canonical
	checkCanonicalShape(t, raw, c)
	if np, _ := normalizePhone(raw, source, region, false); np.zeroNational != zeroNationalByParsing(c) {
		t.Fatalf("NormalizePhone(%q) = %q: all-zeros national number %v, but %v parsing %q again", raw, c, np.zeroNational, !np.zeroNational, c)
	}
	if got.Valid != validE164(c) {
		t.Fatalf("NormalizePhone(%q) = %q: Valid %v, but %v parsing %q again (the publisher's check before Valid was kept)", raw, c, got.Valid, !got.Valid, c)
	}
	if !strings.HasPrefix(got.E164, "+") {
		t.Fatalf("NormalizePhone(%q).E164 = %q", raw, got.E164)
	}
	for _, step := range got.Steps {
		if !utf8.ValidString(step) {
			t.Fatalf("step %q is not UTF-8", step)
		}
	}

	again, err := NormalizePhone(c, PhoneTyped, "")
	if err != nil || again.Canonical != c {
		t.Fatalf("NormalizePhone(%q) = %q, but NormalizePhone(%q) = %q, %v", raw, c, c, again.Canonical, err)
	}
	if again, err := NormalizePhone(c[1:], PhoneWhatsAppID, region); err != nil || again.Canonical != c {
		t.Fatalf("as a WhatsApp id, %q normalizes to %q, %v", c[1:], again.Canonical, err)
	}
	if again, err := NormalizePhone(got.E164, PhoneTyped, ""); err != nil || again.Canonical != c {
		t.Fatalf("E164 %q of %q normalizes to %q, %v; want %q", got.E164, raw, again.Canonical, err, c)
	}

	vs := PhoneVariants(c)
	if len(vs) == 0 || vs[0] != c {
		t.Fatalf("PhoneVariants(%q) = %q", c, vs)
	}
	for _, v := range vs {
		if n, err := NormalizePhone(v, PhoneTyped, ""); err != nil || n.Canonical != c {
			t.Fatalf("variant %q of %q normalizes to %q, %v", v, c, n.Canonical, err)
		}
	}
	for _, nn := range NationalNumbers(c) {
		if nn == "" || strings.Trim(nn, "0123456789") != "" {
			t.Fatalf("NationalNumbers(%q) holds %q", c, nn)
		}
	}
	if same, why := SamePhone(c, "", c); !same {
		t.Fatalf("SamePhone(%q, %q) = false, %q", c, c, why)
	}
	if source == PhoneTyped {
		if same, why := SamePhone(raw, region, c); !same {
			t.Fatalf("SamePhone(%q, %q, %q) = false, %q", raw, region, c, why)
		}
	}
}

// zeroNationalByParsing is rule 12's all-zeros check as it was before normalizePhone
// kept its answer: parse the canonical form again and read its national significant
// number.
func zeroNationalByParsing(e164 string) bool {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return false
	}
	return placeholder(phonenumbers.GetNationalSignificantNumber(n))
}

// FuzzNormalizeUsername: idempotent, no leading space or @, already lower-case, and
// the same with any number of leading @ or surrounding spaces added.
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"@Ana_B", "ana_b", "  @@Ana ", "", "@", "İstanbul", "ẞig", "@ ana", "\u00a0@x\u00a0", "\xff@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := NormalizeUsername(s)
		if again := NormalizeUsername(got); again != got {
			t.Fatalf("NormalizeUsername(%q) = %q, but NormalizeUsername(%q) = %q", s, got, got, again)
		}
		if strings.HasPrefix(got, "@") || strings.TrimSpace(got) != got {
			t.Fatalf("NormalizeUsername(%q) = %q keeps a leading @ or spaces", s, got)
		}
		if strings.ToLower(got) != got {
			t.Fatalf("NormalizeUsername(%q) = %q is not lower-case", s, got)
		}
		if other := NormalizeUsername(" @@" + s + " "); other != got {
			t.Fatalf("NormalizeUsername with extra @ = %q, want %q", other, got)
		}
		if id := NormalizeUserID(s); id != strings.TrimSpace(s) {
			t.Fatalf("NormalizeUserID(%q) = %q", s, id)
		}
	})
}

// FuzzStoredPhone: reading a stored value leniently never panics, removes every
// invisible mark, never adds or reorders a digit (the digits kept are the first digits
// of the input), reads its own result back unchanged, and whatever number it finds is
// one SamePhone confirms for that stored value when the strict reading refuses it.
func FuzzStoredPhone(f *testing.F) {
	for _, s := range []string{
		"415-555-2671 (cell)", "+1 415 555 2672 ext. 12", "\u202d+1 (415) 555\u20112673\u202c",
		"Cell: +1 415 555 2671", "(work) 07911 123456", "+1-415-555-2671;ext=12", "+1 415 555 2671 #12",
		"+1 415 555 2671x12", "+44 (0)7911 123456", "1-800-FLOWERS", "ACME", "", "(", "x1", ",", "\u2066\u2069",
		"tel:+1-415-555-2671;ext=12", "mobile +44 7911 123456 (evenings, ext 3)", "（cell）＋１ ４１５ ５５５ ２６７１",
	} {
		for i := range fuzzRegions[:4] {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, in string, regionIndex uint8) {
		region := fuzzRegions[int(regionIndex)%len(fuzzRegions)]
		out, notes := storedPhoneText(in)
		if strings.IndexFunc(out, isFormatRune) >= 0 {
			t.Fatalf("storedPhoneText(%q) = %q keeps an invisible mark", in, out)
		}
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("storedPhoneText(%q) = %q is not UTF-8", in, out)
		}
		if d, din := digitRunes(out), digitRunes(in); !strings.HasPrefix(din, d) {
			t.Fatalf("storedPhoneText(%q) = %q: digits %q are not a prefix of %q", in, out, d, din)
		}
		if again, more := storedPhoneText(out); again != out || len(more) > 0 {
			t.Fatalf("storedPhoneText(%q) = %q, then %q %q", in, out, again, more)
		}
		if len(notes) == 0 && out != strings.TrimSpace(in) {
			t.Fatalf("storedPhoneText(%q) = %q with no note", in, out)
		}
		if _, strict := NormalizePhone(in, PhoneTyped, region); strict == nil {
			return // SamePhone reads it strictly
		}
		if n, err := NormalizePhone(out, PhoneTyped, region); err == nil {
			if same, why := SamePhone(in, region, n.Canonical); !same {
				t.Fatalf("storedPhoneText(%q) = %q, which is %s, but SamePhone refuses it: %s", in, out, n.Canonical, why)
			}
		}
	})
}

func digitRunes(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
