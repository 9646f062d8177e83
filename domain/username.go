package domain

import (
	"strings"
	"unicode"
)

// NormalizeUsername is the form in which usernames compare (SPEC §3 rule 3 and §5):
// case-insensitively and without leading "@", on both sides, so a contact whose
// property holds "@Ana_B" matches the username "ana_b". Surrounding spaces and every
// leading "@" are removed (also when mixed, as in " @ @ana"), and the rest is
// lower-cased with strings.ToLower. It is idempotent. An empty result means no
// username.
func NormalizeUsername(s string) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r == '@' || unicode.IsSpace(r) })
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	return strings.ToLower(s)
}

// NormalizeUserID trims surrounding spaces from a platform user id. Ids are opaque and
// case-sensitive: nothing else is changed.
func NormalizeUserID(s string) string {
	return strings.TrimSpace(s)
}
