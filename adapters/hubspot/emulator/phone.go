package emulator

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// The searchable phone properties HubSpot calculates from the free text of phone and
// mobilephone. Only their names are documented (hubspot.md §3 "Phone numbers").
const (
	propSearchablePhone        = "hs_searchable_calculated_phone_number"
	propSearchableMobile       = "hs_searchable_calculated_mobile_number"
	propSearchableIntlPhone    = "hs_searchable_calculated_international_phone_number"
	propSearchableIntlMobile   = "hs_searchable_calculated_international_mobile_number"
	propPhone                  = "phone"
	propMobilePhone            = "mobilephone"
	defaultRegion              = "US"
	internationalAccessPrefix0 = "00"
)

// DerivePhone computes the values the emulator stores in the searchable calculated phone
// properties for the free text a person typed into phone or mobilephone.
//
// This is an INFERENCE: HubSpot documents only that these properties "use the area code
// and local number" and that the country code must not be searched (hubspot.md §3), and
// one observed record shows phone "00004" next to a searchable value "4". The rule here:
//
//   - national: the national significant number (no country code, no trunk prefix) when
//     the text parses as a valid number with region as the default region, or as a valid
//     number once a leading "00" international access prefix is read as "+" (so
//     "0044 7911 123456" in a US portal gives "7911123456"), or as a number written with
//     an explicit country code even if not valid; otherwise the text's digits with
//     leading zeros stripped.
//   - international: the E.164 number without "+" (country code and national number
//     digits) in the parsed cases above, "" in the digits-only fallback.
//
// Both are "" when the text holds no digit.
func DerivePhone(text, region string) (national, international string) {
	if region == "" {
		region = defaultRegion
	}
	digits := onlyDigits(text)
	if digits == "" {
		return "", ""
	}
	n, err := phonenumbers.ParseAndKeepRawInput(text, region)
	if err == nil && phonenumbers.IsValidNumber(n) {
		return fromParsed(n)
	}
	if strings.HasPrefix(digits, internationalAccessPrefix0) && !strings.HasPrefix(strings.TrimSpace(text), "+") {
		if m, err2 := phonenumbers.Parse("+"+digits[len(internationalAccessPrefix0):], "ZZ"); err2 == nil && phonenumbers.IsValidNumber(m) {
			return fromParsed(m)
		}
	}
	if err == nil && n.GetCountryCodeSource() != phonenumbers.PhoneNumber_FROM_DEFAULT_COUNTRY {
		return fromParsed(n)
	}
	return strings.TrimLeft(digits, "0"), ""
}

func fromParsed(n *phonenumbers.PhoneNumber) (national, international string) {
	national = phonenumbers.GetNationalSignificantNumber(n)
	international = strings.TrimPrefix(phonenumbers.Format(n, phonenumbers.E164), "+")
	return national, international
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validE164 reports whether v is a phone number written in E.164 that libphonenumber
// considers valid, as HubSpot requires for an HS_PHONE_NUMBER delivery identifier.
func validE164(v string) bool {
	if !strings.HasPrefix(v, "+") {
		return false
	}
	n, err := phonenumbers.Parse(v, "ZZ")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return false
	}
	return phonenumbers.Format(n, phonenumbers.E164) == v
}
