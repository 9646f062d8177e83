package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"switchboard/domain"
)

// webhookAuthProblems checks the keys that authenticate signed webhooks: which URL a
// platform called (SPEC §5: the top-level public_url and trusted_proxies, each
// channel's public_url) and the Twilio SharedKey secret. It parses trusted_proxies
// into TrustedProxyPrefixes; a bare address counts as the prefix of that one address.
func (c *Config) webhookAuthProblems(getenv func(string) string) []domain.Problem {
	var ps []domain.Problem
	if msg := publicURLProblem(c.PublicURL, true); msg != "" {
		ps = append(ps, domain.Problem{Key: "public_url", Msg: msg})
	}
	c.TrustedProxyPrefixes = nil
	if c.TrustedProxies != nil {
		c.TrustedProxyPrefixes = make([]netip.Prefix, 0, len(c.TrustedProxies))
	}
	for i, s := range c.TrustedProxies {
		p, err := parseProxy(s)
		if err != nil {
			ps = append(ps, domain.Problem{Key: fmt.Sprintf("trusted_proxies[%d]", i),
				Msg: fmt.Sprintf("%q is not a CIDR; use an address range such as 10.0.0.0/8 or 127.0.0.1/32 (IPv6: ::1/128)", s)})
			continue
		}
		c.TrustedProxyPrefixes = append(c.TrustedProxyPrefixes, p)
	}
	for wi, w := range c.Workspaces {
		for ci, ch := range w.Channels {
			ck := fmt.Sprintf("workspaces[%d].channels[%d]", wi, ci)
			if msg := publicURLProblem(ch.PublicURL, false); msg != "" {
				ps = append(ps, domain.Problem{Key: ck + ".public_url", Msg: msg})
			}
			if ch.SharedKeySecretEnv == "" {
				continue
			}
			twilio := ch.Kind == string(domain.KindSMS) || (ch.Kind == string(domain.KindWhatsApp) && ch.Provider == "twilio")
			switch {
			case !twilio:
				ps = append(ps, domain.Problem{Key: ck + ".shared_key_secret_env",
					Msg: fmt.Sprintf("is not allowed on a %s channel; only Twilio channels (sms, whatsapp with provider twilio) are signed with a SharedKey", ch.Kind)})
			case !c.skipSecrets && getenv(ch.SharedKeySecretEnv) == "":
				ps = append(ps, domain.Problem{Key: ck + ".shared_key_secret_env",
					Msg: fmt.Sprintf("names the environment variable %s, which is not set or empty; export %s (the SharedKey's secret) before starting, or remove the key", ch.SharedKeySecretEnv, ch.SharedKeySecretEnv)})
			}
		}
	}
	return ps
}

func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// publicURLProblem says what is wrong with a public_url ("" when nothing is). The
// top-level one is a base, to which the request path is appended.
func publicURLProblem(s string, base bool) string {
	if s == "" {
		return ""
	}
	example := "https://hooks.example.com/webhooks/acme-sms, the full URL the platform calls"
	if base {
		example = "https://hooks.example.com, the base URL where the platforms reach switchboard (the request path is appended)"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http or https URL; use for example %s", s, example)
	}
	if base && (u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?")) {
		return fmt.Sprintf("%q has a query or fragment; give only scheme, host and an optional path prefix, for example %s", s, example)
	}
	return ""
}
