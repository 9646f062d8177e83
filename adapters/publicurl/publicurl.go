// Package publicurl answers one question for the webhook receivers whose platform signs
// the URL it called (Twilio; HubSpot's signature v3): which URL was that? The
// configuration knows best (a channel's public_url, else the top-level public_url +
// the request path); only without either is the URL rebuilt from the request, and then
// X-Forwarded-Proto and X-Forwarded-Host count only when the request comes from a
// trusted proxy: any client can set them, and a signature made for another host must
// not pass because the client claimed that host.
package publicurl

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// DefaultTrustedProxies are trusted when the configuration names none: a proxy on the
// same machine.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("::1/128"),
}

// Source says where the URL came from, for messages that tell the operator what to fix.
type Source string

// The sources, in the order Resolver tries them.
const (
	FromChannel   Source = "the channel's public_url"
	FromBase      Source = "the top-level public_url + the request path"
	FromForwarded Source = "the request's X-Forwarded-* headers (from a trusted proxy)"
	FromRequest   Source = "the request's Host (no public_url set)"
)

// Resolver rebuilds the URL a platform called. The zero value has no public_url and
// trusts no proxy.
type Resolver struct {
	base    string
	trusted []netip.Prefix
}

// New returns a Resolver with the top-level public_url base ("" for none) and the
// trusted proxies (nil means DefaultTrustedProxies; an empty, non-nil slice trusts no
// one). base must be an absolute http(s) URL; adapters/config validates it first.
func New(base string, trusted []netip.Prefix) (*Resolver, error) {
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("public_url %q is not an absolute http(s) URL", base)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("public_url %q has a query or fragment; give the base URL only", base)
		}
	}
	if trusted == nil {
		trusted = DefaultTrustedProxies
	}
	return &Resolver{base: strings.TrimRight(base, "/"), trusted: trusted}, nil
}

// URL is the URL the platform called for r: channelURL (the channel's public_url, the
// full URL) when set, else the top-level public_url + the request target (path and
// query as sent), else scheme and host from the request — from X-Forwarded-Proto and
// X-Forwarded-Host only when r comes from a trusted proxy — + the request target.
func (p *Resolver) URL(r *http.Request, channelURL string) (string, Source) {
	if channelURL != "" {
		return channelURL, FromChannel
	}
	target := requestTarget(r)
	if p != nil && p.base != "" {
		return p.base + target, FromBase
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host, from := r.Host, FromRequest
	if p != nil && p.Trusted(r.RemoteAddr) {
		if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v != "" {
			scheme, from = strings.ToLower(v), FromForwarded
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
			host, from = v, FromForwarded
		}
	}
	return scheme + "://" + host + target, from
}

// Expected is the URL a platform calls for a request to target (path and query) when
// it is configured as the resolver says: what a test or sample signs.
func (p *Resolver) Expected(channelURL, localBase, target string) string {
	switch {
	case channelURL != "":
		return channelURL
	case p != nil && p.base != "":
		return p.base + target
	}
	return strings.TrimRight(localBase, "/") + target
}

// HasBase reports whether a top-level public_url is set.
func (p *Resolver) HasBase() bool { return p != nil && p.base != "" }

// Trusted reports whether remoteAddr (host:port, as in http.Request.RemoteAddr) is
// inside a trusted proxy's prefix. IPv4-mapped IPv6 addresses count as IPv4.
func (p *Resolver) Trusted(remoteAddr string) bool {
	host := remoteAddr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		host = ap.Addr().String()
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, pre := range p.trusted {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// requestTarget is the path and query exactly as the client sent them: a signature
// covers the bytes Twilio sent, not a re-encoding of them.
func requestTarget(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	// Absolute-form request targets ("POST http://host/path") and requests built
	// in-process (no RequestURI) fall back to the parsed URL.
	return r.URL.RequestURI()
}

// firstValue takes the first of a comma-separated list: with several proxies in a row
// the first one is the one the platform talked to.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
