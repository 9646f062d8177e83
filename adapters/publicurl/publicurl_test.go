package publicurl

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func mustNew(t *testing.T, base string, trusted ...string) *Resolver {
	t.Helper()
	var ps []netip.Prefix
	if trusted != nil {
		ps = []netip.Prefix{}
		for _, s := range trusted {
			ps = append(ps, netip.MustParsePrefix(s))
		}
	}
	r, err := New(base, ps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestURL(t *testing.T) {
	type req struct {
		target, host, remote string
		tls                  bool
		headers              map[string]string
	}
	fwd := map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "hooks.example.com, 10.0.0.1"}
	for _, c := range []struct {
		name       string
		r          *Resolver
		channelURL string
		req        req
		want       string
		from       Source
	}{
		{"plain request", mustNew(t, ""), "", req{"/webhooks/acme-sms?x=1", "10.0.0.5:8080", "198.51.100.1:1", false, nil},
			"http://10.0.0.5:8080/webhooks/acme-sms?x=1", FromRequest},
		{"TLS", mustNew(t, ""), "", req{"/w", "hooks.example.com", "198.51.100.1:1", true, nil}, "https://hooks.example.com/w", FromRequest},
		{"forwarded from a trusted proxy, first value", mustNew(t, "", "192.0.2.0/24"), "", req{"/webhooks/acme-sms?x=1", "10.0.0.5:8080", "192.0.2.1:1234", false, fwd},
			"https://hooks.example.com/webhooks/acme-sms?x=1", FromForwarded},
		{"forwarded from loopback by default", mustNew(t, ""), "", req{"/w", "10.0.0.5", "127.0.0.1:9", false, fwd}, "https://hooks.example.com/w", FromForwarded},
		{"forwarded from IPv6 loopback by default", mustNew(t, ""), "", req{"/w", "10.0.0.5", "[::1]:9", false, fwd}, "https://hooks.example.com/w", FromForwarded},
		{"forwarded from an untrusted client is ignored", mustNew(t, ""), "", req{"/w", "10.0.0.5", "192.0.2.1:1234", false, fwd}, "http://10.0.0.5/w", FromRequest},
		{"no proxies trusted", mustNew(t, "", []string{}...), "", req{"/w", "10.0.0.5", "127.0.0.1:9", false, fwd}, "http://10.0.0.5/w", FromRequest},
		{"IPv6 prefix", mustNew(t, "", "2001:db8::/32"), "", req{"/w", "10.0.0.5", "[2001:db8::1]:443", false, fwd}, "https://hooks.example.com/w", FromForwarded},
		{"IPv6 outside the prefix", mustNew(t, "", "2001:db8::/32"), "", req{"/w", "10.0.0.5", "[2001:db9::1]:443", false, fwd}, "http://10.0.0.5/w", FromRequest},
		{"IPv6 with a zone", mustNew(t, "", "fe80::/10"), "", req{"/w", "h", "[fe80::1%eth0]:443", false, fwd}, "https://hooks.example.com/w", FromForwarded},
		{"top-level public_url + target", mustNew(t, "https://hooks.example.com/sb/"), "", req{"/webhooks/acme-sms?x=O'B", "10.0.0.5", "127.0.0.1:9", false, fwd},
			"https://hooks.example.com/sb/webhooks/acme-sms?x=O'B", FromBase},
		{"channel public_url first", mustNew(t, "https://hooks.example.com"), "https://other.example.com/tw", req{"/w", "10.0.0.5", "127.0.0.1:9", false, fwd},
			"https://other.example.com/tw", FromChannel},
		{"nil resolver", nil, "", req{"/w", "10.0.0.5", "127.0.0.1:9", false, fwd}, "http://10.0.0.5/w", FromRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", c.req.target, nil)
			r.Host, r.RemoteAddr = c.req.host, c.req.remote
			r.TLS = nil
			if c.req.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range c.req.headers {
				r.Header.Set(k, v)
			}
			got, from := c.r.URL(r, c.channelURL)
			if got != c.want || from != c.from {
				t.Errorf("URL = %s (%s), want %s (%s)", got, from, c.want, c.from)
			}
		})
	}
}

func TestTrusted(t *testing.T) {
	r := mustNew(t, "")
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "[::ffff:127.0.0.1]:80": true, "127.0.0.1": true,
		"127.0.0.2:80": false, "10.0.0.1:80": false, "[::2]:80": false, "": false, "pipe": false,
	} {
		if got := r.Trusted(addr); got != want {
			t.Errorf("Trusted(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestNewRefusesBadBase(t *testing.T) {
	for _, base := range []string{"hooks.example.com", "ftp://hooks.example.com", "https://", "https://h/?x=1", "https://h/#f"} {
		if _, err := New(base, nil); err == nil {
			t.Errorf("New(%q) accepted", base)
		}
	}
}

func TestExpected(t *testing.T) {
	if got := mustNew(t, "https://h.example/sb/").Expected("", "http://127.0.0.1:8080", "/webhooks/x"); got != "https://h.example/sb/webhooks/x" {
		t.Errorf("base: %s", got)
	}
	if got := mustNew(t, "").Expected("", "http://127.0.0.1:8080/", "/webhooks/x"); got != "http://127.0.0.1:8080/webhooks/x" {
		t.Errorf("local: %s", got)
	}
	if got := mustNew(t, "https://h.example").Expected("https://c.example/x", "", "/webhooks/x"); got != "https://c.example/x" {
		t.Errorf("channel: %s", got)
	}
}
