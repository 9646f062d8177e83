// Package twilio reads Twilio Programmable Messaging webhooks: inbound SMS/MMS and
// WhatsApp through Twilio. It verifies X-Twilio-Signature, turns the form into
// domain.InboundMessage commands and signs sample requests the same way Twilio does.
// The HTTP flow (body limit, recording, answers) lives in adapters/webhooks.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf16"
)

// The signature scheme below is twilio-node's (lib/webhooks/webhooks.js of twilio 6.3.1,
// getExpectedTwilioSignature, validateRequest, validateRequestWithBody and the webhook
// middleware): where Twilio's documentation is less precise, the helper library Twilio
// ships is the authority, and testdata/vectors.json holds requests it signed.

// SignatureHeader carries Base64(HMAC(key, URL + sorted parameters)).
const SignatureHeader = "X-Twilio-Signature"

// SignatureSettingsHeader is present when a Webhook Rule made Twilio sign with a
// SharedKey instead of the account's Auth Token: "key=<SharedKey id>,algorithm=<name>".
const SignatureSettingsHeader = "X-Twilio-Webhooks-Signature-Settings"

// Algorithm is the HMAC a signature was made with, named as Twilio names it.
type Algorithm string

// The algorithms twilio-node 6 verifies.
const (
	HMACSHA1   Algorithm = "HMAC_SHA1"
	HMACSHA256 Algorithm = "HMAC_SHA256"
)

// Errors of Verify, for callers that tell the operator what to fix.
var (
	ErrMissingSignature     = errors.New("X-Twilio-Signature header is missing")
	ErrNoAuthToken          = errors.New("the channel has no Twilio Auth Token configured (auth_token_env)")
	ErrNoSharedKey          = errors.New("this webhook is signed with a Twilio SharedKey (X-Twilio-Webhooks-Signature-Settings) and the channel has no SharedKey secret configured (shared_key_secret_env)")
	ErrUnsupportedAlgorithm = errors.New("unsupported webhook signature algorithm; Twilio's helper libraries verify HMAC_SHA1 and HMAC_SHA256")
	ErrMismatch             = errors.New("X-Twilio-Signature does not match")
)

// AlgorithmOf reads the algorithm named in an X-Twilio-Webhooks-Signature-Settings
// value. A missing header, or one that names none, means HMAC_SHA1 (the Auth Token
// signature). Like twilio-node, the name is returned as written; Supported says
// whether it can be checked.
func AlgorithmOf(settings string) Algorithm {
	for _, part := range strings.Split(settings, ",") {
		name, value, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(name) == "algorithm" {
			if v := strings.TrimSpace(value); v != "" {
				return Algorithm(v)
			}
		}
	}
	return HMACSHA1
}

func (a Algorithm) hash() func() hash.Hash {
	switch strings.ToUpper(string(a)) {
	case "", string(HMACSHA1):
		return sha1.New
	case string(HMACSHA256):
		return sha256.New
	}
	return nil
}

// Supported reports whether signatures of this algorithm can be checked (names
// compare case-insensitively, as in twilio-node).
func (a Algorithm) Supported() bool { return a.hash() != nil }

// Sign computes the HMAC-SHA1 X-Twilio-Signature Twilio sends when it signs with the
// account's Auth Token (see SignWith).
func Sign(authToken, fullURL string, params url.Values) string {
	s, _ := SignWith(HMACSHA1, authToken, fullURL, params)
	return s
}

// SignWith computes X-Twilio-Signature as twilio-node's getExpectedTwilioSignature
// does: the URL exactly as given, then the parameters sorted by name, each name
// followed by each of its distinct values in sorted order (a value repeated under one
// name is signed once), no separators; HMAC keyed by key (the Auth Token, or the
// SharedKey secret) with the algorithm's hash; standard Base64 with padding. Names
// and values sort as JavaScript sorts strings, by UTF-16 code unit.
func SignWith(alg Algorithm, key, fullURL string, params url.Values) (string, error) {
	h := alg.hash()
	if h == nil {
		return "", fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, string(alg))
	}
	mac := hmac.New(h, []byte(key))
	mac.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sortJS(names)
	for _, name := range names {
		for _, v := range distinctSorted(params[name]) {
			mac.Write([]byte(name))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Valid reports whether signature is the Auth Token HMAC-SHA1 signature of the
// request (see ValidWith).
func Valid(authToken, fullURL string, params url.Values, signature string) bool {
	return ValidWith(HMACSHA1, authToken, fullURL, params, signature)
}

// ValidWith reports whether signature is Twilio's signature of a form-encoded request
// to fullURL, trying the forms of the URL twilio-node's validateRequest tries: the
// URL as received without and with the scheme's default port, then the URL as the
// WHATWG URL parser normalizes it (which percent-encodes, say, ' as %27), without and
// with the port, each also with its query string re-encoded as Node's legacy
// querystring module does (which decodes %27 back to '). An empty key or signature is
// never valid.
func ValidWith(alg Algorithm, key, fullURL string, params url.Values, signature string) bool {
	if key == "" || signature == "" || !alg.Supported() {
		return false
	}
	ok := 0
	for _, u := range urlCandidates(fullURL) {
		want, _ := SignWith(alg, key, u, params)
		// Compare every candidate: the time taken must not tell which one matched.
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(signature))
	}
	return ok == 1
}

// ValidBody checks a webhook whose body is not a form (application/json): Twilio then
// signs only the URL, which carries bodySHA256, the hex SHA-256 of the body, in its
// query (twilio-node's validateRequestWithBody).
func ValidBody(alg Algorithm, key, fullURL string, body []byte, signature string) bool {
	if !ValidWith(alg, key, fullURL, nil, signature) {
		return false
	}
	want, ok := bodyHashParam(fullURL)
	if !ok {
		return false
	}
	got := sha256.Sum256(body)
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(got[:])), []byte(want)) == 1
}

// hasBodyHash is twilio-node's test for a JSON-bodied webhook: the URL mentions
// bodySHA256 anywhere after its first character.
func hasBodyHash(fullURL string) bool { return strings.Index(fullURL, "bodySHA256") > 0 }

// bodyHashParam is the first bodySHA256 value of the URL's query, decoded as the
// WHATWG URLSearchParams decodes it.
func bodyHashParam(fullURL string) (string, bool) {
	n, ok := normalizeURL(fullURL)
	if !ok {
		return "", false
	}
	_, query, found := strings.Cut(n, "?")
	if !found {
		return "", false
	}
	query, _, _ = strings.Cut(query, "#")
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		if formDecode(name) == "bodySHA256" {
			return formDecode(value), true
		}
	}
	return "", false
}

// Keys are the secrets that verify one Twilio channel's webhooks.
type Keys struct {
	// AuthToken verifies the default signature (HMAC-SHA1 with the account's Auth Token).
	AuthToken string
	// SharedKeySecret verifies webhooks a Webhook Rule signs with a SharedKey (those
	// carry X-Twilio-Webhooks-Signature-Settings).
	SharedKeySecret string
}

// Verify authenticates one Twilio webhook that reached signedURL, as twilio-node's
// webhook middleware does: a request with X-Twilio-Webhooks-Signature-Settings is
// checked with the SharedKey secret and the algorithm the header names, any other
// with the Auth Token and HMAC-SHA1; a URL carrying bodySHA256 is checked with the
// raw body, any other with the body's form parameters. A body that is not a form
// comes back as ParseForm's error (*platform.Malformed).
func Verify(keys Keys, signedURL string, header http.Header, body []byte) error {
	sig := header.Get(SignatureHeader)
	if sig == "" {
		return ErrMissingSignature
	}
	settings := header.Get(SignatureSettingsHeader)
	key := keys.AuthToken
	if settings != "" {
		key = keys.SharedKeySecret
	}
	switch {
	case settings != "" && key == "":
		return ErrNoSharedKey
	case key == "":
		return ErrNoAuthToken
	}
	alg := AlgorithmOf(settings)
	if !alg.Supported() {
		return fmt.Errorf("%w: the request names %q", ErrUnsupportedAlgorithm, string(alg))
	}
	if hasBodyHash(signedURL) {
		if !ValidBody(alg, key, signedURL, body, sig) {
			return fmt.Errorf("%w the URL %s (%s) and the body's bodySHA256", ErrMismatch, signedURL, alg)
		}
		return nil
	}
	form, err := ParseForm(body)
	if err != nil {
		return err
	}
	if !ValidWith(alg, key, signedURL, form, sig) {
		return fmt.Errorf("%w the parameters signed for %s (%s)", ErrMismatch, signedURL, alg)
	}
	return nil
}

// distinctSorted is Array.from(new Set(values)).sort().
func distinctSorted(values []string) []string {
	if len(values) < 2 {
		return values
	}
	seen := make(map[string]bool, len(values))
	out := make([]string, 0, len(values))
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sortJS(out)
	return out
}

// sortJS sorts as JavaScript's default Array.prototype.sort: by UTF-16 code units,
// which differs from Go's byte order when a string holds characters above U+FFFF
// next to ones in U+E000–U+FFFF.
func sortJS(s []string) {
	sort.SliceStable(s, func(i, j int) bool { return lessUTF16(s[i], s[j]) })
}

func lessUTF16(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return a < b
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
