package domain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Phone numbers (SPEC §3 rules 1, 2 and 11).
//
// A phone channel's identifier is the sender's number in E.164, and a HubSpot contact
// matches when its phone or mobilephone is the same number in whatever format a person
// typed. WhatsApp adds three national quirks in which two E.164 strings denote one mobile
// (Mexico's legacy "1", Argentina's mobile "9", Brazil's ninth digit). NormalizePhone maps
// every member of such a class to one Canonical form, which is the match key identifier;
// PhoneVariants and NationalNumbers list the whole class for searching HubSpot, and
// SamePhone confirms a candidate by comparing canonical forms.
//
// Rule 11: the quirks apply to mobile numbers only. A number is rewritten only when
// phonenumbers classes the rewritten form as a (valid) mobile and the number as written
// is not a landline, so a landline is never turned into a mobile and matched to a
// different person.
//
// Argentina is the case where that leaves no rewrite at all: phonenumbers classes every
// +54 number without the 9 as FIXED_LINE (+54 11 4321-1234 is a Buenos Aires landline;
// its metadata cannot tell a landline from a mobile written without its 9, because in
// Argentina the two share one number space and the 9 — "15" in national dialling — is
// what selects the mobile). So an Argentine number is never rewritten: the mobile forms
// phonenumbers itself reads as mobiles (+54 9 11 …, WhatsApp's 549…, the national
// "011 15 …") meet on +549…, and a contact that stores a mobile as "+54 11 …" without
// its 9 is not confirmed: an unlikely over-match of a landline would link a stranger's
// messages, an under-match only adds a contact that a person can merge.

// PhoneSource says how a raw number must be read.
type PhoneSource int

const (
	// PhoneTyped is a number as a person or Twilio wrote it: E.164 ("+14155552671"),
	// international with spaces, dots, dashes, brackets and a "(0)" trunk prefix
	// ("+44 (0)7911 123456"), with the "00" international call prefix, with a
	// "whatsapp:" or "tel:" prefix, or national ("(415) 555-2671"), which needs the
	// default region. Digits without "+" or "00" are a national number of the default
	// region (phonenumbers also accepts the region's own country code in front, as in
	// "1 415 555 2671" for US), never a foreign number in international form: a bare
	// "447911123456" typed in a US workspace is refused; use PhoneWhatsAppID for ids.
	PhoneTyped PhoneSource = iota
	// PhoneWhatsAppID is WhatsApp's wa_id / from (and Twilio's WaId): the international
	// number as digits without "+". It is parsed as "+"+digits and the default region is
	// ignored: parsing "447911123456" with region US would give a different, invalid
	// number (+1 447…).
	PhoneWhatsAppID
)

func (s PhoneSource) String() string {
	switch s {
	case PhoneTyped:
		return "typed"
	case PhoneWhatsAppID:
		return "whatsapp_id"
	}
	return "PhoneSource(" + strconv.Itoa(int(s)) + ")"
}

// PhoneNormalization is the result of NormalizePhone, kept whole for the audit trail.
type PhoneNormalization struct {
	// Input is the raw value as received.
	Input string `json:"input"`
	// E164 is the number as phonenumbers parsed and formatted it, before any WhatsApp
	// quirk (it may be a legacy form such as +5215512345678).
	E164 string `json:"e164"`
	// Canonical is the one representative of the number's WhatsApp-equivalence class:
	// the match key identifier, and the phone written to new contacts. Mexico: without
	// the legacy 1; Argentina: the +549 mobile form; Brazil: with the ninth digit.
	Canonical string `json:"canonical"`
	// Region is the ISO region phonenumbers attributes to Canonical, or the main region
	// of its country code when the number is not valid ("001" for non-geographic
	// codes). Informational only: shared codes (+1, +44, +7) make it unreliable for
	// decisions (channels.md §7.4 pitfall 7).
	Region string `json:"region,omitempty"`
	// Mobile reports that phonenumbers classes Canonical as MOBILE, or as
	// FIXED_LINE_OR_MOBILE where the numbering plan does not tell them apart (NANP,
	// Mexico).
	Mobile bool `json:"mobile"`
	// Valid reports that phonenumbers finds Canonical valid (a number type it knows),
	// which is what HubSpot asks of an HS_PHONE_NUMBER (domain.SenderDelivery). A number
	// that is only possible is accepted all the same (see NormalizePhone).
	Valid bool `json:"valid"`
	// Steps say, in words, what was done to the input.
	Steps []string `json:"steps,omitempty"`
}

// ErrNoPhoneNumber means the sender has no phone number at all: an empty value, an
// alphanumeric sender id ("ACME"), a WhatsApp business-scoped user id
// ("US.13491208655302741918"), a placeholder of zeros, or a short code. Such a sender
// cannot be matched by phone (rule 1: the conversation is unlinked with that reason).
// Match it with errors.Is; the detail is in a *PhoneError.
var ErrNoPhoneNumber = errors.New("no phone number")

// PhoneError says why a value could not be read as a phone number and what was
// expected. It wraps ErrNoPhoneNumber when the value is not a phone number at all;
// otherwise (a number with too many digits, an unknown country code, a national number
// without a default region) it wraps nothing.
type PhoneError struct {
	Input  string
	Reason string
	// Err is ErrNoPhoneNumber or nil.
	Err error
}

func (e *PhoneError) Error() string {
	return fmt.Sprintf("phone number %q: %s", e.Input, e.Reason)
}

func (e *PhoneError) Unwrap() error { return e.Err }

// maxE164Digits is E.164's limit on a number's digits, country code included.
const maxE164Digits = 15

// maxPhoneInput bounds the input; no phone number, however typed, is this long.
const maxPhoneInput = 128

// NormalizePhone reads raw as a phone number and returns its E.164 and canonical forms.
// On error the result still holds Input and the steps taken so far, for the audit.
//
// defaultRegion (an ISO 3166-1 alpha-2 code, the channel's default_region) is used only
// for PhoneTyped input without "+": a national number needs it and is refused without
// it. Numbers that phonenumbers finds possible but not valid are accepted (they did
// message us: channels.md §7.4 pitfall 6); numbers that are not even possible (too
// short, too long for their country) are refused.
func NormalizePhone(raw string, source PhoneSource, defaultRegion string) (PhoneNormalization, error) {
	p, err := normalizePhone(raw, source, defaultRegion, true)
	return p.PhoneNormalization, err
}

// normalizedPhone is a normalization with the parsed canonical number, for the other
// functions of this file, so that they need not parse it again.
type normalizedPhone struct {
	PhoneNormalization
	canon *phonenumbers.PhoneNumber
	typ   phonenumbers.PhoneNumberType // of canon, when typed
	typed bool
	// zeroNational: Canonical's national significant number is all zeros
	// (+10000000000), a placeholder typed into a form, blocked like "0" (rule 12). The
	// country code alone does not make it a number.
	zeroNational bool
}

func (p *normalizedPhone) numberType() phonenumbers.PhoneNumberType {
	if !p.typed {
		p.typ, p.typed = phonenumbers.GetNumberType(p.canon), true
	}
	return p.typ
}

// normalizePhone is NormalizePhone; without details it leaves Region and Mobile unset,
// which saves two metadata look-ups (about half the cost for +1 numbers).
func normalizePhone(raw string, source PhoneSource, defaultRegion string, details bool) (normalizedPhone, error) {
	p := normalizedPhone{PhoneNormalization: PhoneNormalization{Input: raw}}
	res := &p.PhoneNormalization
	s := strings.TrimSpace(raw)
	if s == "" {
		return p, noPhone(raw, "empty: expected a phone number such as +14155552671")
	}
	if len(s) > maxPhoneInput {
		return p, badPhone(raw, fmt.Sprintf("%d bytes long: too long to be a phone number", len(s)))
	}
	s = stripPhonePrefixes(s, &res.Steps)
	if s == "" {
		return p, noPhone(raw, "nothing after the prefix: expected a phone number such as whatsapp:+14155552671")
	}
	if isBSUID(s) {
		return p, noPhone(raw, "a WhatsApp business-scoped user id (BSUID), not a phone number")
	}
	clean, digits, plus, err := cleanPhone(raw, s)
	if err != nil {
		return p, err
	}

	var n *phonenumbers.PhoneNumber
	switch source {
	case PhoneWhatsAppID:
		n, err = parseWhatsAppID(raw, clean, digits, plus, &res.Steps)
	case PhoneTyped:
		n, err = parseTyped(raw, clean, digits, plus, defaultRegion, &res.Steps)
	default:
		err = badPhone(raw, "unknown phone source "+source.String())
	}
	if err != nil {
		return p, err
	}
	res.E164 = phonenumbers.Format(n, phonenumbers.E164)

	canon, note, typ, typed := canonicalPhone(n)
	if note != "" {
		res.Steps = append(res.Steps, note)
	}
	if err := checkPossible(raw, canon); err != nil {
		return p, err
	}
	c := phonenumbers.Format(canon, phonenumbers.E164)
	if len(c) > 1+maxE164Digits {
		// phonenumbers finds some longer national numbers possible (JP: +81 and 14 digits).
		return p, badPhone(raw, fmt.Sprintf("%d digits: E.164 allows at most %d", len(c)-1, maxE164Digits))
	}
	nsn, err := checkStable(raw, canon, c)
	if err != nil {
		return p, err
	}
	p.canon, p.typ, p.typed = canon, typ, typed
	p.zeroNational = placeholder(nsn)
	res.Canonical = c
	if details {
		cc := int(canon.GetCountryCode())
		if regions := phonenumbers.GetRegionCodesForCountryCode(cc); len(regions) == 1 {
			res.Region = regions[0]
		} else if res.Region = phonenumbers.GetRegionCodeForNumber(canon); res.Region == "" {
			res.Region = phonenumbers.GetRegionCodeForCountryCode(cc)
		}
		// IsValidNumber is a number type other than UNKNOWN: the type is read once for
		// both, and the publisher need not parse the number again.
		res.Mobile = isMobileLike(p.numberType())
		res.Valid = p.numberType() != phonenumbers.UNKNOWN
	}
	return p, nil
}

func noPhone(input, reason string) error {
	return &PhoneError{Input: input, Reason: reason, Err: ErrNoPhoneNumber}
}

func badPhone(input, reason string) error {
	return &PhoneError{Input: input, Reason: reason}
}

// phonePrefixes are URI-like prefixes that carry no digits: Twilio's "whatsapp:", RFC 3966
// "tel:", and "sms:".
var phonePrefixes = [...]string{"whatsapp:", "tel:", "sms:"}

func stripPhonePrefixes(s string, steps *[]string) string {
	for again := true; again; {
		again = false
		for _, p := range phonePrefixes {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				*steps = append(*steps, "removed prefix "+p)
				s = strings.TrimSpace(s[len(p):])
				again = true
			}
		}
	}
	return s
}

// isBSUID reports WhatsApp's business-scoped user id shape: an ISO country code, a dot,
// then alphanumerics ("US.13491208655302741918", "US.ENT.11815799212886844830").
func isBSUID(s string) bool {
	if len(s) < 4 || s[2] != '.' {
		return false
	}
	for i := 0; i < 2; i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	for i := 3; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.') {
			return false
		}
	}
	return true
}

// cleanPhone checks that s holds only what people write in phone numbers and returns it
// in ASCII (fullwidth and Arabic-Indic digits become 0-9, every kind of dash, dot,
// bracket and space becomes its ASCII form) with its digits alone, and whether it starts
// with a + (brackets and spaces may come before it). A letter anywhere
// (an alphanumeric sender, "ext 12", a vanity "1-800-FLOWERS") refuses the value: a
// sender's number has no extension, and guessing would over-match.
func cleanPhone(raw, s string) (clean, digits string, plus bool, err error) {
	var cb, db strings.Builder
	cb.Grow(len(s))
	db.Grow(len(s))
	letters := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
		case r >= '０' && r <= '９':
			r = '0' + (r - '０')
		case r >= '\u0660' && r <= '\u0669':
			r = '0' + (r - '\u0660')
		case r >= '\u06F0' && r <= '\u06F9':
			r = '0' + (r - '\u06F0')
		case r == '+' || r == '＋':
			if plus || db.Len() > 0 {
				return "", "", false, badPhone(raw, "a + may only come once, before the country code")
			}
			plus = true
			r = '+'
		case r == '(' || r == '[' || r == '（' || r == '［':
			r = '('
		case r == ')' || r == ']' || r == '）' || r == '］':
			r = ')'
		case r == '-' || r >= '\u2010' && r <= '\u2015' || r == '\u2212' || r == '\u30FC' || r == '－' ||
			r == '~' || r == '\u2053' || r == '\u223C' || r == '～':
			r = '-'
		case r == '.' || r == '．':
			r = '.'
		case r == '/' || r == '／':
			r = '/'
		case r == '\u00AD' || r == '\u200B' || r == '\u2060' || r == '\uFEFF':
			continue // invisible: soft hyphen, zero-width space and joiner, BOM
		case unicode.IsSpace(r):
			r = ' '
		case unicode.IsLetter(r):
			letters = true
			continue
		case r == utf8.RuneError:
			return "", "", false, badPhone(raw, "not valid UTF-8 text")
		default:
			return "", "", false, badPhone(raw, fmt.Sprintf("contains %q at byte %d: a phone number has only digits, a leading +, spaces, dots, dashes, slashes and brackets", r, i))
		}
		cb.WriteRune(r)
		if r >= '0' && r <= '9' {
			db.WriteByte(byte(r))
		}
	}
	digits = db.String()
	switch {
	case letters && digits == "":
		return "", "", false, noPhone(raw, "an alphanumeric sender id (letters, no digits), not a phone number")
	case letters:
		return "", "", false, noPhone(raw, "contains letters: a phone number has only digits, a leading +, spaces, dots, dashes and brackets (no extension)")
	case digits == "":
		return "", "", false, noPhone(raw, "no digits: expected a phone number such as +14155552671")
	case strings.Trim(digits, "0") == "":
		return "", "", false, noPhone(raw, "only zeros: a placeholder, not a phone number")
	}
	return cb.String(), digits, plus, nil
}

func parseWhatsAppID(raw, clean, digits string, plus bool, steps *[]string) (*phonenumbers.PhoneNumber, error) {
	body := clean
	if plus && body[0] == '+' {
		body = body[1:]
		*steps = append(*steps, "WhatsApp id: ignored the leading +")
	}
	if body != digits {
		return nil, badPhone(raw, "a WhatsApp id is digits only: the country code and number without + or separators, such as 447911123456")
	}
	if digits[0] == '0' {
		return nil, badPhone(raw, "a WhatsApp id starts with the country code, not 0")
	}
	*steps = append(*steps, "WhatsApp id: parsed as +"+digits+" without a default region")
	return parsePhone(raw, "+"+digits, "")
}

// parseTyped reads a typed number. phonenumbers is given the digits alone (after a +
// or the international prefix): cleanPhone has vetted the punctuation, and a short input
// keeps phonenumbers' extension regexp cheap. The one piece of punctuation that means
// something, "(0)", is handled by dropTrunkZero.
func parseTyped(raw, clean, digits string, plus bool, region string, steps *[]string) (*phonenumbers.PhoneNumber, error) {
	idd := !plus && strings.HasPrefix(digits, "00")
	var form phoneForm
	parseRegion := ""
	switch {
	case plus:
		*steps = append(*steps, "parsed as an international number")
		form = formInternational
	case region == "" && idd:
		*steps = append(*steps, "read the leading 00 as the international call prefix (no default region)")
		form = formIDD
	case region == "":
		return nil, badPhone(raw, "a national number (no + and country code) needs the channel's default_region; set it, or write the number as +<country code><number>")
	default:
		if !isPhoneRegion(region) {
			return nil, badPhone(raw, fmt.Sprintf("unknown default region %q: expected an ISO 3166-1 alpha-2 code such as US or GB", region))
		}
		*steps = append(*steps, "parsed with default region "+region)
		form, parseRegion = formNational, region
	}
	n, err := parsePhone(raw, form.of(digits), parseRegion)
	if idd && form == formNational && (err != nil || !phonenumbers.IsPossibleNumber(n)) {
		// A region whose international prefix is not 00 (NANP dials 011): most of the
		// world dials 00, so a number starting 00 is still read as international.
		(*steps)[len(*steps)-1] = "read the leading 00 as the international call prefix (not a " + region + " national number)"
		form, parseRegion = formIDD, ""
		n, err = parsePhone(raw, form.of(digits), parseRegion)
	}
	if err != nil {
		return nil, err
	}
	if strings.Contains(clean, "(0)") {
		n = dropTrunkZero(clean, form, parseRegion, n, steps)
	}
	return n, nil
}

// phoneForm says how the digits of a typed number are handed to phonenumbers.
type phoneForm int

const (
	formNational      phoneForm = iota // as they are, with the default region
	formInternational                  // after a +
	formIDD                            // after the 00 international prefix
)

func (f phoneForm) of(digits string) string {
	switch f {
	case formInternational:
		return "+" + digits
	case formIDD:
		return "+" + strings.TrimPrefix(digits, "00")
	}
	return digits
}

// dropTrunkZero handles "+34 (0)612 345 678": phonenumbers itself drops a "(0)" where
// the country's trunk prefix is 0 (GB, DE, FR, …), but not where the country has none.
// The "(0)" is removed only when the number as parsed is not valid and the number
// without it is: in Italy the 0 belongs to the number ("+39 (0)6 …" is +39 06 …) and
// stays.
func dropTrunkZero(clean string, form phoneForm, region string, n *phonenumbers.PhoneNumber, steps *[]string) *phonenumbers.PhoneNumber {
	if phonenumbers.IsValidNumber(n) {
		if !n.GetItalianLeadingZero() {
			*steps = append(*steps, "removed the (0) trunk prefix")
		}
		return n
	}
	m, err := phonenumbers.Parse(form.of(asciiDigits(strings.Replace(clean, "(0)", "", 1))), region)
	if err != nil || !phonenumbers.IsValidNumber(m) {
		return n
	}
	*steps = append(*steps, "removed the (0) trunk prefix")
	return m
}

func asciiDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func isPhoneRegion(region string) bool {
	return len(region) == 2 && phonenumbers.GetCountryCodeForRegion(region) != 0
}

func parsePhone(raw, s, region string) (*phonenumbers.PhoneNumber, error) {
	n, err := phonenumbers.Parse(s, region)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return nil, badPhone(raw, "unknown country code: expected + followed by a country calling code such as 1, 44 or 55")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return nil, noPhone(raw, "too short to be a phone number (a short code?)")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return nil, badPhone(raw, "too many digits for a phone number (E.164 allows at most 15)")
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return nil, noPhone(raw, "not a phone number")
	}
	return nil, badPhone(raw, err.Error())
}

// checkPossible refuses numbers whose length does not fit their country's plan.
func checkPossible(raw string, n *phonenumbers.PhoneNumber) error {
	cc := strconv.Itoa(int(n.GetCountryCode()))
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.IS_POSSIBLE:
		return nil
	case phonenumbers.TOO_SHORT:
		return noPhone(raw, "too few digits for a +"+cc+" number (a short code or an incomplete number)")
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return badPhone(raw, "a local +"+cc+" number without its area code: expected the full number")
	case phonenumbers.TOO_LONG:
		return badPhone(raw, "too many digits for a +"+cc+" number")
	case phonenumbers.INVALID_COUNTRY_CODE:
		return badPhone(raw, "unknown country code +"+cc)
	}
	return badPhone(raw, "wrong number of digits for a +"+cc+" number")
}

// checkStable refuses a number whose E.164 form c phonenumbers would read back as a
// different number: the match key must normalize to itself. This happens only where the
// national number starts with 0 or with the country's trunk prefix (the parser strips
// it again: "0000001" in AU gives +61000001, read back as +6100001), so only those are
// parsed a second time. It returns the national significant number of what c reads back
// as, which rule 12's all-zeros check reads (identifyPhone) without a parse of its own.
func checkStable(raw string, n *phonenumbers.PhoneNumber, c string) (nsn string, err error) {
	cc := int(n.GetCountryCode())
	nsn = phonenumbers.GetNationalSignificantNumber(n)
	ndd := phonenumbers.GetNddPrefixForRegion(phonenumbers.GetRegionCodeForCountryCode(cc), true)
	if !strings.HasPrefix(nsn, "0") && (ndd == "" || !strings.HasPrefix(nsn, ndd)) {
		return nsn, nil
	}
	m, err := phonenumbers.Parse(c, "")
	if err == nil {
		if again := phonenumbers.Format(m, phonenumbers.E164); again != c {
			err = fmt.Errorf("%s reads back as %s", c, again)
		}
	}
	if err != nil {
		return "", badPhone(raw, "not a usable phone number: its E.164 form is ambiguous ("+err.Error()+")")
	}
	return phonenumbers.GetNationalSignificantNumber(m), nil
}

func isMobileLike(t phonenumbers.PhoneNumberType) bool {
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// Country calling codes with WhatsApp quirks.
const (
	ccMexico    = 52
	ccArgentina = 54
	ccBrazil    = 55
)

// Quirk notes, kept for the audit trail.
const (
	noteMexico = "Mexico: removed legacy mobile 1 after +52"
	noteBrazil = "Brazil: added ninth digit to 8-digit mobile"
)

// canonicalPhone maps n to its class representative and says what it changed.
//   - Mexico: +52 1 + 10 digits → +52 + 10 digits, when the 10-digit form is a mobile
//     (or fixed-or-mobile: Mexico's plan no longer tells them apart).
//   - Argentina: never (see the top of this file): +54 + 10 digits is FIXED_LINE.
//   - Brazil: +55 + area + 8 digits starting 6-9 → +55 + area + 9 + 8 digits, when that
//     is a valid MOBILE. A subscriber number starting 2-5 is a landline: never touched.
func canonicalPhone(n *phonenumbers.PhoneNumber) (c *phonenumbers.PhoneNumber, note string, typ phonenumbers.PhoneNumberType, typed bool) {
	if n.GetItalianLeadingZero() {
		return n, "", 0, false
	}
	nsn := n.GetNationalNumber()
	switch n.GetCountryCode() {
	case ccMexico:
		// 1 followed by 10 digits.
		if nsn >= 1e10 && nsn < 2e10 {
			c := phoneNumber(ccMexico, nsn-1e10)
			if typ := phonenumbers.GetNumberType(c); isMobileLike(typ) {
				return c, noteMexico, typ, true
			}
		}
	case ccBrazil:
		// 2-digit area code + 8-digit subscriber starting 6-9.
		if nsn >= 1e9 && nsn < 1e10 {
			if sub := nsn % 1e8; sub >= 6e7 {
				c := phoneNumber(ccBrazil, (nsn-sub)*10+9e8+sub)
				if typ := phonenumbers.GetNumberType(c); typ == phonenumbers.MOBILE {
					return c, noteBrazil, typ, true
				}
			}
		}
	}
	return n, "", 0, false
}

func phoneNumber(cc int32, nsn uint64) *phonenumbers.PhoneNumber {
	return &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nsn}
}

// PhoneVariants returns every E.164 form equivalent to the number under WhatsApp's
// quirks, the canonical form first: for +525512345678, [+525512345678, +5215512345678];
// for the Brazilian mobile +5511987654321, [+5511987654321, +551187654321]; for a
// landline, just itself. A non-canonical input is normalized first; an input that is not
// a phone number in international form gives nil.
func PhoneVariants(canonical string) []string {
	p, err := normalizePhone(canonical, PhoneTyped, "", false)
	if err != nil {
		return nil
	}
	return phoneVariants(&p)
}

// phoneVariants lists the class of a normalized number, its canonical form first.
func phoneVariants(p *normalizedPhone) []string {
	out := []string{p.Canonical}
	n := p.canon
	if n.GetItalianLeadingZero() {
		return out
	}
	nsn := n.GetNationalNumber()
	switch n.GetCountryCode() {
	case ccMexico:
		if nsn >= 1e9 && nsn < 1e10 && isMobileLike(p.numberType()) {
			out = append(out, "+521"+strconv.FormatUint(nsn, 10))
		}
	case ccBrazil:
		// area code + 9 + subscriber starting 6-9
		if nsn >= 1e10 && nsn < 1e11 && nsn%1e9 >= 96e7 && p.numberType() == phonenumbers.MOBILE {
			area, sub := nsn/1e9, nsn%1e8
			out = append(out, "+55"+strconv.FormatUint(area*1e8+sub, 10))
		}
	}
	return out
}

// NationalNumbers returns the national numbers of every variant of the number: digits
// without the country code and without leading zeros, deduplicated, the canonical
// form's first. These are what HubSpot's hs_searchable_calculated_* phone properties
// hold ("HubSpot only uses the area code and local number"), so they drive the search;
// a hit must still be confirmed with SamePhone, since another country can share the
// digits. Where the number itself begins with 0 (Italy: +39 06…), the form with the 0
// follows the form without it, because HubSpot's handling of such numbers is not
// documented. An input that is not a phone number gives nil.
func NationalNumbers(canonical string) []string {
	p, err := normalizePhone(canonical, PhoneTyped, "", false)
	if err != nil {
		return nil
	}
	vs := phoneVariants(&p)
	ccLen := 1 + len(strconv.Itoa(int(p.canon.GetCountryCode())))
	out := make([]string, 0, len(vs)+1)
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, v := range vs {
		nsn := v[ccLen:]
		add(strings.TrimLeft(nsn, "0"))
		add(nsn)
	}
	return out
}

// argentineWithoutNine returns the national digits of an Argentine mobile without its
// mobile 9 ("1123456789" for +5491123456789): the same digits as a landline's.
func argentineWithoutNine(p *normalizedPhone) (string, bool) {
	nsn := p.canon.GetNationalNumber()
	if p.canon.GetCountryCode() != ccArgentina || nsn < 9e10 || nsn >= 1e11 || p.numberType() != phonenumbers.MOBILE {
		return "", false
	}
	return strconv.FormatUint(nsn-9e10, 10), true
}

// SamePhone reports whether storedText, a phone value from a HubSpot contact as a
// person typed it ("+1 (415) 555-2671", "415.555.2671", "0044 7911 123456",
// "+44 (0)7911 123456", "07911 123456" with region GB), is the same number as
// canonical, under the WhatsApp equivalences; region is the channel's default_region,
// used for stored values written without a country code. The reason is for the audit
// trail: "same number", "different country code (…)", "different number",
// "unparseable: …".
//
// A stored value the strict reading refuses is read again as storedPhoneText says: its
// invisible marks, labels and extension set aside ("415-555-2671 (cell)",
// "+1 415 555 2672 ext. 12", "\u202d+1 (415) 555\u20112673\u202c").
//
// National digits alone never match: US 415 555 2671 and UK +44 4155552671 differ.
// A stored value of bare international digits ("447911123456", as some tools write
// WhatsApp ids into HubSpot) that cannot be read as a national number is compared as a
// WhatsApp id; it matches only if it is exactly the sender's number.
func SamePhone(storedText, region, canonical string) (bool, string) {
	want, err := normalizePhone(canonical, PhoneTyped, "", false)
	if err != nil {
		return false, "sender number unusable: " + phoneReason(err)
	}
	got, err := normalizePhone(storedText, PhoneTyped, region, false)
	text, lenient := storedText, ""
	if err != nil {
		// Rule 2: a stored value is read leniently once the strict reading fails.
		if number, notes := storedPhoneText(storedText); len(notes) > 0 {
			text, lenient = number, "stored with "+strings.Join(notes, " and ")+", set aside"
			if g, lerr := normalizePhone(number, PhoneTyped, region, false); lerr == nil {
				got, err = g, nil
			}
		}
	}
	if err != nil {
		if alt, ok := bareInternational(text); ok && alt.Canonical == want.Canonical {
			return true, "same number (" + joinNotes("stored without +", lenient) + ")"
		}
		return false, "unparseable: " + phoneReason(err)
	}
	if got.Canonical == want.Canonical {
		if note := joinNotes(quirkNote(got.Steps), lenient); note != "" {
			return true, "same number (" + note + ")"
		}
		return true, "same number"
	}
	if gotCC, wantCC := got.canon.GetCountryCode(), want.canon.GetCountryCode(); gotCC != wantCC {
		return false, fmt.Sprintf("different country code (+%d, not +%d)", gotCC, wantCC)
	}
	if without, ok := argentineWithoutNine(&want); ok && strconv.FormatUint(got.canon.GetNationalNumber(), 10) == without {
		return false, "different number (+54 without the mobile 9 is a landline; rule 11)"
	}
	return false, "different number"
}

// bareInternational reads s as a WhatsApp id when it is digits only (surrounding spaces
// aside) and does not start with 0.
func bareInternational(s string) (PhoneNormalization, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '0' {
		return PhoneNormalization{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return PhoneNormalization{}, false
		}
	}
	p, err := normalizePhone(s, PhoneWhatsAppID, "", false)
	return p.PhoneNormalization, err == nil
}

func joinNotes(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

func quirkNote(steps []string) string {
	for _, s := range steps {
		if s == noteMexico || s == noteBrazil {
			return s
		}
	}
	return ""
}

func phoneReason(err error) string {
	var pe *PhoneError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return err.Error()
}

// Notes of storedPhoneText, for the audit trail.
const (
	storedInvisible = "invisible marks"
	storedLabel     = "a label"
	storedExtension = "an extension"
)

// storedPhoneText reads a phone value the way a person left it on a contact (rule 2:
// "whatever human format it was typed into HubSpot") and returns the number part, with
// notes saying what was set aside: invisible marks (bidi embeddings and isolates such as
// U+202D…U+202C, which copying from a right-to-left page adds, zero-width joiners and
// every other format character), a label in brackets or separated by a space before or
// after the number ("Cell: …", "… (cell)", "… work"), and an extension ("ext. 12",
// "x12", "extension 12", "#12", ";ext=12", ", 12").
//
// Only stored values are read this way: they are not sender input, and refusing them
// turns a contact that holds the sender's number into a duplicate. A sender's number
// stays strict (cleanPhone). Letters run into the digits ("1-800-FLOWERS", "2671cell")
// are neither label nor extension and are left for the strict reading to refuse. The
// result still has to be a whole number of the sender's: nothing here adds a digit.
func storedPhoneText(s string) (number string, notes []string) {
	note := func(n string) {
		for _, o := range notes {
			if o == n {
				return
			}
		}
		notes = append(notes, n)
	}
	if strings.IndexFunc(s, isFormatRune) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isFormatRune(r) {
				return -1
			}
			return r
		}, s)
		note(storedInvisible)
	}
	t := strings.TrimSpace(s)
	// Leading labels: "Cell: ", "Tel. ", "(work) "; never one with a digit, so that
	// every digit kept is one of the number's first digits.
	for t != "" {
		r, _ := utf8.DecodeRuneInString(t)
		if end := bracketEnd(t); end > 0 && hasLetter(t[:end]) && !hasDigit(t[:end]) {
			t = strings.TrimSpace(t[end:])
			note(storedLabel)
			continue
		}
		if !unicode.IsLetter(r) {
			break
		}
		i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && r != '.' && r != ':' && r != '-' })
		if i < 0 {
			break // letters only: not a phone number, left to the strict reading
		}
		if sep, _ := utf8.DecodeLastRuneInString(t[:i]); sep != ':' && sep != '.' && !unicode.IsSpace(rune(t[i])) {
			break
		}
		t = strings.TrimSpace(t[i:])
		note(storedLabel)
	}
	// The number ends where a label or an extension begins; what is left is read again,
	// since cutting may leave a bracket unclosed ("+44 (0#1)" → "+44 (0").
	for {
		cut, kind := storedPhoneCut(t)
		if kind == "" {
			break
		}
		t = strings.TrimRightFunc(t[:cut], func(r rune) bool {
			return unicode.IsSpace(r) || r == '-' || r == '.' || r == '/' || r == ':' || isOpenBracket(r)
		})
		note(kind)
	}
	return t, notes
}

// storedPhoneCut returns where in t a label or an extension begins, and which it is;
// kind is "" when t has neither.
func storedPhoneCut(t string) (cut int, kind string) {
	prev := rune(0)
	for i, r := range t {
		switch {
		case r == '#' || r == ';' || r == '＃':
			return i, storedExtension
		case r == ',':
			if extensionAt(strings.TrimLeft(t[i+1:], " ")) {
				return i, storedExtension
			}
			return i, storedLabel
		case isOpenBracket(r) && i > 0:
			if end := bracketEnd(t[i:]); end < 0 || hasLetter(t[i:i+end]) {
				return i, storedLabel
			}
		case unicode.IsLetter(r):
			if extensionAt(t[i:]) {
				return i, storedExtension
			}
			if unicode.IsSpace(prev) || prev == ')' || prev == ']' {
				return i, storedLabel
			}
			return 0, "" // letters run into the number: left to the strict reading
		}
		prev = r
	}
	return 0, ""
}

// isFormatRune reports the invisible characters of Unicode category Cf (bidi marks,
// embeddings and isolates, zero-width joiners, the BOM, the soft hyphen).
func isFormatRune(r rune) bool { return unicode.Is(unicode.Cf, r) }

func isOpenBracket(r rune) bool { return r == '(' || r == '[' || r == '（' || r == '［' }

// bracketEnd returns the length of the bracketed group s starts with, closing bracket
// included; 0 when s does not start with a bracket, -1 when it is not closed.
func bracketEnd(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if !isOpenBracket(r) {
		return 0
	}
	i := strings.IndexFunc(s[n:], func(r rune) bool { return r == ')' || r == ']' || r == '）' || r == '］' })
	if i < 0 {
		return -1
	}
	_, m := utf8.DecodeRuneInString(s[n+i:])
	return n + i + m
}

func hasLetter(s string) bool { return strings.IndexFunc(s, unicode.IsLetter) >= 0 }

func hasDigit(s string) bool { return strings.IndexFunc(s, unicode.IsDigit) >= 0 }

// extensionAt reports that s starts with an extension: "x", "ext", "extn" or
// "extension" (any case), then optional ".", ":", "=" or spaces, then a digit.
func extensionAt(s string) bool {
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if i <= 0 {
		return false
	}
	switch strings.ToLower(s[:i]) {
	case "x", "ext", "extn", "extension":
	default:
		return false
	}
	rest := strings.TrimLeft(s[i:], ".:= ")
	r, _ := utf8.DecodeRuneInString(rest)
	return unicode.IsDigit(r)
}
