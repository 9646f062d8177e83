// Package twilio reads Twilio Programmable Messaging webhooks: inbound SMS/MMS and
// WhatsApp through Twilio. It verifies X-Twilio-Signature, turns the form into
// domain.InboundMessage commands and signs sample requests the same way Twilio does.
// The HTTP flow (body limit, recording, answers) lives in adapters/webhooks.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader carries Base64(HMAC-SHA1(auth token, URL + sorted params)).
const SignatureHeader = "X-Twilio-Signature"

// Sign computes the X-Twilio-Signature of a request to fullURL with the POST
// parameters params, as Twilio does: the exact URL it called (scheme, host, path and
// query), then every parameter as name+value, the name+value strings sorted (as
// twilio-go does, which differs from sorting by name only when a name repeats or
// prefixes another), no separators, HMAC-SHA1 keyed by the account's auth token,
// standard Base64 with padding.
func Sign(authToken, fullURL string, params url.Values) string {
	pairs := make([]string, 0, len(params))
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, k+v)
		}
	}
	sort.Strings(pairs)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, p := range pairs {
		mac.Write([]byte(p))
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Valid reports whether signature is Twilio's signature of the request. Like twilio-go
// it accepts the URL with and without the default port, because Twilio's own signing
// is inconsistent about ":443"/":80". An empty token or signature is never valid.
func Valid(authToken, fullURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	ok := 0
	for _, u := range urlVariants(fullURL) {
		// Compare every variant: the time taken must not tell which one matched.
		ok |= subtle.ConstantTimeCompare([]byte(Sign(authToken, u, params)), []byte(signature))
	}
	return ok == 1
}

// urlVariants returns fullURL as given, with the scheme's default port added and with
// the port removed (without duplicates).
func urlVariants(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if u.Port() == "" {
		port := "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
		with := *u
		with.Host = net.JoinHostPort(u.Hostname(), port)
		add(with.String())
	} else {
		without := *u
		without.Host = u.Hostname()
		if strings.Contains(without.Host, ":") { // IPv6 literal
			without.Host = "[" + without.Host + "]"
		}
		add(without.String())
	}
	return out
}

// RequestURL rebuilds the URL Twilio called from the request as it reached us:
// scheme from X-Forwarded-Proto (else TLS or not), host from X-Forwarded-Host (else
// Host), then the request target exactly as sent. A proxy that also rewrites the path
// cannot be undone here: such deployments set the channel's public_url instead.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstHeaderValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
		scheme = strings.ToLower(p)
	}
	host := r.Host
	if h := firstHeaderValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		// Absolute-form request targets ("POST http://host/path") and requests built
		// in-process (no RequestURI) fall back to the parsed URL.
		target = r.URL.RequestURI()
	}
	return scheme + "://" + host + target
}

// firstHeaderValue takes the first of a comma-separated list: with several proxies in
// a row the first one is the one the platform talked to.
func firstHeaderValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
