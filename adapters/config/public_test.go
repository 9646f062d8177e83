package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPublicURLAndTrustedProxies(t *testing.T) {
	c, err := Parse("s.yaml", []byte("public_url: https://hooks.example.com/sb\ntrusted_proxies: [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::1/32\"]\n"+valid), secrets)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if c.PublicURL != "https://hooks.example.com/sb" || len(c.TrustedProxyPrefixes) != 3 {
		t.Fatalf("public_url %q, prefixes %v", c.PublicURL, c.TrustedProxyPrefixes)
	}
	for i, p := range want {
		if c.TrustedProxyPrefixes[i] != p {
			t.Errorf("prefix %d = %v, want %v", i, c.TrustedProxyPrefixes[i], p)
		}
	}
	// Absent: nil (the loopback default applies); an empty list trusts no one.
	if c, err := Parse("s.yaml", []byte(valid), secrets); err != nil || c.TrustedProxyPrefixes != nil {
		t.Errorf("absent trusted_proxies: %v, %v", c.TrustedProxyPrefixes, err)
	}
	if c, err := Parse("s.yaml", []byte("trusted_proxies: []\n"+valid), secrets); err != nil || c.TrustedProxyPrefixes == nil || len(c.TrustedProxyPrefixes) != 0 {
		t.Errorf("empty trusted_proxies: %#v, %v", c.TrustedProxyPrefixes, err)
	}
}

func TestPublicURLProblems(t *testing.T) {
	bad := "public_url: hooks.example.com\ntrusted_proxies: [\"10.0.0.0/33\", \"localhost\"]\n" + strings.NewReplacer(
		"auth_token_env: TW,", "auth_token_env: TW, public_url: \"/webhooks/acme-sms\", shared_key_secret_env: NOPE,",
		"secret_token_env: TG,", "secret_token_env: TG, shared_key_secret_env: TG,",
	).Replace(valid)
	_, err := Parse("bad.yaml", []byte(bad), secrets)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`bad.yaml: public_url: "hooks.example.com" is not an absolute http or https URL; use for example https://hooks.example.com`,
		`bad.yaml: trusted_proxies[0]: "10.0.0.0/33" is not a CIDR; use an address range such as 10.0.0.0/8`,
		`bad.yaml: trusted_proxies[1]: "localhost" is not a CIDR`,
		`bad.yaml: workspaces[0].channels[0].public_url: "/webhooks/acme-sms" is not an absolute http or https URL`,
		`bad.yaml: workspaces[0].channels[0].shared_key_secret_env: names the environment variable NOPE, which is not set`,
		`bad.yaml: workspaces[0].channels[1].shared_key_secret_env: is not allowed on a telegram channel`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Parse("q.yaml", []byte("public_url: https://h.example/?a=1\n"+valid), secrets); err == nil || !strings.Contains(err.Error(), "q.yaml: public_url: \"https://h.example/?a=1\" has a query or fragment") {
		t.Errorf("base with a query: %v", err)
	}
}

func TestSharedKeySecretResolved(t *testing.T) {
	c, err := Parse("s.yaml", []byte(strings.Replace(valid, "auth_token_env: TW,", "auth_token_env: TW, shared_key_secret_env: SK,", 1)),
		env(map[string]string{"ADMIN": "a", "HS": "h", "TW": "t", "TG": "g", "SK": "sk"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Workspaces[0].Channels[0].Secret("shared_key_secret_env"); got != "sk" {
		t.Errorf("shared_key_secret_env resolved to %q", got)
	}
}
