package webhooks_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/adapters/config"
	"switchboard/adapters/twilio"
	"switchboard/adapters/webhooks"
)

// signedTwilio is a Twilio SMS webhook to target signed for signedURL, as it reaches
// the handler from remote with the given headers.
func signedTwilio(t *testing.T, target, signedURL, remote string, headers map[string]string) *http.Request {
	t.Helper()
	body := readFile(t, "../twilio/testdata/sms_text.form")
	form, _ := url.ParseQuery(string(body))
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(testEnv["ACME_TWILIO_TOKEN"], signedURL, form))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

func serve(h http.Handler, req *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

// Issue 10 item 12: X-Forwarded-Host from a client that is no trusted proxy must not
// choose the URL the signature is checked against, or a request Twilio signed for
// another host (another service on the same account) passes here.
func TestTwilioForgedForwardedHostRefused(t *testing.T) {
	e := newEnv(t)
	h, err := webhooks.New(e.cfg, e.rec, webhooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms", "https://other.example.net/webhooks/acme-sms", "203.0.113.7:40000",
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example.net"})
	if code := serve(h, req); code != http.StatusUnauthorized {
		t.Errorf("signed for another host, forged X-Forwarded-Host from an untrusted address: %d, want 401", code)
	}
	if e.rec.count() != 0 {
		t.Errorf("recorded %v", e.rec.ids())
	}
}

// handlerWith builds the handler of the test configuration with extra top-level keys.
func handlerWith(t *testing.T, topLevel string, logs *syncBuffer) (http.Handler, *recorder) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("switchboard.yaml", append([]byte(topLevel+"\n"), raw...), func(k string) string { return testEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	opts := webhooks.Options{}
	if logs != nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	h, err := webhooks.New(cfg, rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func TestTwilioTrustedProxies(t *testing.T) {
	const public = "https://hooks.example.com/webhooks/acme-sms"
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
	for _, c := range []struct {
		name, topLevel, remote string
		want                   int
	}{
		{"default: IPv4 loopback is trusted", "", "127.0.0.1:5000", http.StatusOK},
		{"default: IPv6 loopback is trusted", "", "[::1]:5000", http.StatusOK},
		{"default: IPv4-mapped loopback is trusted", "", "[::ffff:127.0.0.1]:5000", http.StatusOK},
		{"default: a private address is not", "", "10.1.2.3:5000", http.StatusUnauthorized},
		{"default: a public IPv6 address is not", "", "[2001:db8::7]:5000", http.StatusUnauthorized},
		{"configured CIDR", `trusted_proxies: ["10.0.0.0/8"]`, "10.1.2.3:5000", http.StatusOK},
		{"configured CIDR replaces the default", `trusted_proxies: ["10.0.0.0/8"]`, "127.0.0.1:5000", http.StatusUnauthorized},
		{"configured IPv6 CIDR", `trusted_proxies: ["2001:db8::/32"]`, "[2001:db8::7]:5000", http.StatusOK},
		{"configured IPv6 CIDR, other address", `trusted_proxies: ["2001:db8::/32"]`, "[2001:db9::7]:5000", http.StatusUnauthorized},
		{"an empty list trusts no one", `trusted_proxies: []`, "127.0.0.1:5000", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, rec := handlerWith(t, c.topLevel, nil)
			req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms", public, c.remote, fwd)
			if code := serve(h, req); code != c.want {
				t.Errorf("status %d, want %d", code, c.want)
			}
			if c.want == http.StatusOK && rec.count() != 1 {
				t.Errorf("recorded %v", rec.ids())
			}
		})
	}
	// Without forwarding headers the request's own Host counts, from anywhere.
	h, _ := handlerWith(t, "", nil)
	req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms?x=1", "http://10.0.0.5:8080/webhooks/acme-sms?x=1", "198.51.100.9:1", nil)
	if code := serve(h, req); code != http.StatusOK {
		t.Errorf("signed for the request's own URL: %d", code)
	}
}

func TestTwilioTopLevelPublicURL(t *testing.T) {
	h, rec := handlerWith(t, "public_url: https://hooks.example.com/switchboard/", nil)
	// Twilio called the public base + the path and query the request carries; the
	// forwarding headers of even a trusted proxy no longer matter.
	ok := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms?src=tw", "https://hooks.example.com/switchboard/webhooks/acme-sms?src=tw", "127.0.0.1:1",
		map[string]string{"X-Forwarded-Host": "elsewhere.example.org"})
	if code := serve(h, ok); code != http.StatusOK || rec.count() != 1 {
		t.Errorf("signed for public_url + path: %d, %d recorded", code, rec.count())
	}
	for name, signed := range map[string]string{
		"request's own URL":   "http://10.0.0.5:8080/webhooks/acme-sms?src=tw",
		"forwarded host":      "https://elsewhere.example.org/webhooks/acme-sms?src=tw",
		"public_url, no path": "https://hooks.example.com/switchboard",
	} {
		req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms?src=tw", signed, "127.0.0.1:1", map[string]string{"X-Forwarded-Host": "elsewhere.example.org"})
		if code := serve(h, req); code != http.StatusUnauthorized {
			t.Errorf("signed for the %s: %d, want 401", name, code)
		}
	}
	// A channel's own public_url wins over the top-level one.
	req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms-proxied", "https://hooks.example.com/twilio/acme-sms-proxied", "203.0.113.7:1", nil)
	if code := serve(h, req); code != http.StatusOK {
		t.Errorf("channel public_url: %d", code)
	}
	req = signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-sms-proxied", "https://hooks.example.com/switchboard/webhooks/acme-sms-proxied", "203.0.113.7:1", nil)
	if code := serve(h, req); code != http.StatusUnauthorized {
		t.Errorf("top-level public_url on a channel with its own: %d, want 401", code)
	}
}

// New warns once per Twilio channel that has no public URL of any kind.
func TestTwilioPublicURLWarning(t *testing.T) {
	logs := &syncBuffer{}
	handlerWith(t, "", logs)
	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "no public URL") {
			for _, id := range []string{`"acme-sms"`, `"acme-sms-proxied"`, `"acme-wa-twilio"`, `"acme-wa"`} {
				if strings.Contains(line, `"channel_id":`+id) {
					warned = append(warned, id)
				}
			}
		}
	}
	if strings.Join(warned, " ") != `"acme-sms" "acme-wa-twilio"` {
		t.Errorf("warned for %v, want the two Twilio channels without public_url; logs: %s", warned, logs.String())
	}
	logs = &syncBuffer{}
	handlerWith(t, "public_url: https://hooks.example.com", logs)
	if strings.Contains(logs.String(), "no public URL") {
		t.Errorf("warned although public_url is set: %s", logs.String())
	}
}

// A Twilio account whose Webhook Rule signs with a SharedKey and HMAC-SHA256: the
// channel's shared_key_secret_env verifies it; the Auth Token never does.
func TestTwilioSharedKeySHA256(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "auth_token_env: ACME_TWILIO_TOKEN\n        inbox: {channel_id: \"1001\", channel_account_id: \"2001\"}"
	if !bytes.Contains(raw, []byte(anchor)) {
		t.Fatal("test configuration changed: acme-sms not found")
	}
	raw = bytes.Replace(raw, []byte(anchor), []byte("shared_key_secret_env: ACME_TWILIO_SHARED_KEY\n        "+anchor), 1)
	getenv := func(k string) string {
		if k == "ACME_TWILIO_SHARED_KEY" {
			return "shared-key-secret"
		}
		return testEnv[k]
	}
	cfg, err := config.Parse("switchboard.yaml", raw, getenv)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	h, err := webhooks.New(cfg, rec, webhooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := readFile(t, "../twilio/testdata/sms_text.form")
	form, _ := url.ParseQuery(string(body))
	const target = "http://10.0.0.5:8080/webhooks/acme-sms"
	send := func(key string, alg twilio.Algorithm, settings string) int {
		sig, err := twilio.SignWith(alg, key, target, form)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, sig)
		if settings != "" {
			req.Header.Set(twilio.SignatureSettingsHeader, settings)
		}
		return serve(h, req)
	}
	const settings = "key=webhooks_sharedkey_0123,algorithm=HMAC_SHA256"
	if code := send("shared-key-secret", twilio.HMACSHA256, settings); code != http.StatusOK || rec.count() != 1 {
		t.Errorf("SharedKey HMAC-SHA256: %d, %d recorded", code, rec.count())
	}
	if code := send(testEnv["ACME_TWILIO_TOKEN"], twilio.HMACSHA256, settings); code != http.StatusUnauthorized {
		t.Errorf("settings header, signed with the Auth Token: %d, want 401", code)
	}
	if code := send("shared-key-secret", twilio.HMACSHA256, ""); code != http.StatusUnauthorized {
		t.Errorf("SharedKey signature without the settings header: %d, want 401", code)
	}
	if code := send(testEnv["ACME_TWILIO_TOKEN"], twilio.HMACSHA1, ""); code != http.StatusOK {
		t.Errorf("Auth Token HMAC-SHA1 still accepted: %d", code)
	}
	// A channel without a SharedKey secret refuses SharedKey-signed requests.
	req := signedTwilio(t, "http://10.0.0.5:8080/webhooks/acme-wa-twilio", "http://10.0.0.5:8080/webhooks/acme-wa-twilio", "203.0.113.7:1", map[string]string{twilio.SignatureSettingsHeader: settings})
	if code := serve(h, req); code != http.StatusUnauthorized {
		t.Errorf("no shared_key_secret_env: %d, want 401", code)
	}
}
