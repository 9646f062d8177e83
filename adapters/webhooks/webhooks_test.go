package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/config"
	"switchboard/adapters/meta"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
)

func caseNamed(t *testing.T, name string) platformCase {
	t.Helper()
	for _, c := range platformCases() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return platformCase{}
}

func TestSlackStaleTimestamp(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "slack")
	body := readFile(t, c.valid)
	for name, skew := range map[string]time.Duration{"old": -6 * time.Minute, "future": 6 * time.Minute} {
		r := c.post(e, body, body, func(req *http.Request) {
			ts := strconv.FormatInt(e.now.Add(skew).Unix(), 10)
			req.Header.Set(slack.TimestampHeader, ts)
			req.Header.Set(slack.SignatureHeader, slack.Sign(testEnv["ACME_SLACK_SECRET"], ts, body))
		})
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s timestamp: status %d, want 401", name, r.status)
		}
	}
	// Within the window (4 minutes old) is fine.
	r := c.post(e, body, body, func(req *http.Request) {
		ts := strconv.FormatInt(e.now.Add(-4*time.Minute).Unix(), 10)
		req.Header.Set(slack.TimestampHeader, ts)
		req.Header.Set(slack.SignatureHeader, slack.Sign(testEnv["ACME_SLACK_SECRET"], ts, body))
	})
	if r.status != http.StatusOK || e.rec.count() != 1 {
		t.Errorf("4-minute-old request: status %d, %d recorded", r.status, e.rec.count())
	}
}

func TestSlackURLVerification(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "slack")
	body := readFile(t, "../slack/testdata/url_verification.json")
	r := c.post(e, body, body)
	if r.status != http.StatusOK || r.body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("url_verification: %d %q %s", r.status, r.body, r.header.Get("Content-Type"))
	}
	// The challenge is echoed only after the signature is verified.
	if r := c.post(e, body, body, c.unsign); r.status != http.StatusUnauthorized || strings.Contains(r.body, "3eZbrw1") {
		t.Errorf("unsigned url_verification: %d %q", r.status, r.body)
	}
}

// A Slack retry carries the same event: it deduplicates through the message id.
func TestSlackRetryDeduplicates(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "slack")
	body := readFile(t, c.valid)
	c.checkOK(t, c.post(e, body, body))
	r := c.post(e, body, body, func(req *http.Request) {
		req.Header.Set(slack.RetryNumHeader, "1")
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	})
	c.checkOK(t, r)
	if e.rec.count() != 1 || e.counter("requests_total", "slack", "duplicate") != 1 {
		t.Errorf("retry: %v recorded", e.rec.ids())
	}
	if !strings.Contains(e.logs.String(), `"slack_retry":"1"`) {
		t.Errorf("retry number not logged: %s", e.logs.String())
	}
}

// Behind a TLS-terminating proxy, Twilio signed the public https URL.
func TestTwilioBehindProxy(t *testing.T) {
	e := newEnv(t)
	body := readFile(t, "../twilio/testdata/sms_text.form")
	form, _ := url.ParseQuery(string(body))
	send := func(signedURL string, headers map[string]string) response {
		req, _ := http.NewRequest(http.MethodPost, e.url("acme-sms"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(testEnv["ACME_TWILIO_TOKEN"], signedURL, form))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		return e.do(req)
	}
	public := "https://hooks.example.com/webhooks/acme-sms"
	if r := send(public, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}); r.status != http.StatusOK {
		t.Errorf("forwarded: %d %s", r.status, r.body)
	}
	// Twilio sometimes signs with the default port.
	if r := send("https://hooks.example.com:443/webhooks/acme-sms", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}); r.status != http.StatusOK {
		t.Errorf("forwarded with :443: %d %s", r.status, r.body)
	}
	if r := send(public, nil); r.status != http.StatusUnauthorized {
		t.Errorf("public URL signature without forwarded headers: %d, want 401", r.status)
	}
	if !strings.Contains(e.logs.String(), "public_url") {
		t.Errorf("the refusal does not point at public_url: %s", e.logs.String())
	}
}

// A channel with public_url is checked against it, whatever the request looks like.
func TestTwilioPublicURL(t *testing.T) {
	e := newEnv(t)
	body := readFile(t, "../twilio/testdata/sms_mms_no_body.form")
	form, _ := url.ParseQuery(string(body))
	req, _ := http.NewRequest(http.MethodPost, e.url("acme-sms-proxied"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(testEnv["ACME_TWILIO_TOKEN"], "https://hooks.example.com/twilio/acme-sms-proxied", form))
	if r := e.do(req); r.status != http.StatusOK || r.body != twilio.EmptyTwiML {
		t.Fatalf("status %d %q", r.status, r.body)
	}
	m, ok := e.rec.get("acme-sms-proxied", "MM4f7b4e1c2a3d4e5f60718293a4b5c6d7")
	if !ok || m.Text != "[image] [file]" || m.Sender.Phone != "+14155552671" {
		t.Errorf("MMS without body: %+v", m)
	}
}

func TestMetaHandshake(t *testing.T) {
	e := newEnv(t)
	get := func(channel string, q url.Values) response {
		req, _ := http.NewRequest(http.MethodGet, e.url(channel)+"?"+q.Encode(), nil)
		return e.do(req)
	}
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {testEnv["ACME_META_VERIFY"]}, "hub.challenge": {"1158201444"}}
	for _, ch := range []string{"acme-wa", "acme-fb", "acme-ig"} {
		r := get(ch, q)
		if r.status != http.StatusOK || r.body != "1158201444" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q %s", ch, r.status, r.body, r.header.Get("Content-Type"))
		}
	}
	bad := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}}
	if r := get("acme-wa", bad); r.status != http.StatusForbidden || strings.Contains(r.body, "1158") {
		t.Errorf("wrong token: %d %q", r.status, r.body)
	}
	if r := get("acme-wa", url.Values{"hub.challenge": {"1"}}); r.status != http.StatusBadRequest {
		t.Errorf("no hub.mode: %d", r.status)
	}
	if r := get("acme-tg", q); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET on telegram: %d, want 405", r.status)
	}
	if r := get("nope", q); r.status != http.StatusNotFound {
		t.Errorf("GET unknown channel: %d", r.status)
	}
	if n := e.counter("requests_total", "whatsapp", "forbidden"); n != 1 {
		t.Errorf("forbidden counter %v", n)
	}
	if e.rec.calls != 0 {
		t.Errorf("handshakes recorded messages")
	}
}

func TestUnknownChannelAndMethod(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.url("no-such-channel"), strings.NewReader("{}"))
	if r := e.do(req); r.status != http.StatusNotFound || !strings.Contains(r.body, "no-such-channel") {
		t.Errorf("unknown channel: %d %q", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPut, e.url("acme-tg"), strings.NewReader("{}"))
	if r := e.do(req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", r.status)
	}
	if e.counter("requests_total", "unknown", "unknown_channel") != 1 {
		t.Errorf("unknown channel not counted")
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, func(o *webhooks.Options) { o.MaxBodyBytes = 512 })
	c := caseNamed(t, "telegram")
	body := telegramUpdate(1, 1, strings.Repeat("x", 600))
	if r := c.post(e, body, body); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", r.status)
	}
	if e.rec.calls != 0 {
		t.Errorf("recorded an oversized body")
	}
	if e.counter("requests_total", "telegram", "too_large") != 1 {
		t.Errorf("too_large not counted")
	}
}

// A WhatsApp batch over 1 MiB (Meta allows 3 MB) is accepted with the default limit.
func TestWhatsAppLargeBatchWithinMetaLimit(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "whatsapp-cloud")
	long := strings.Repeat("a", 60*1024)
	var msgs []string
	for i := 0; i < 20; i++ {
		msgs = append(msgs, `{"from":"16505551234","id":"wamid.big`+strconv.Itoa(i)+`","timestamp":"1749416383","type":"text","text":{"body":"`+long+`"}}`)
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[` + strings.Join(msgs, ",") + `]}}]}]}`)
	if len(body) <= webhooks.DefaultMaxBodyBytes {
		t.Fatalf("test body too small: %d", len(body))
	}
	c.checkOK(t, c.post(e, body, body))
	if e.rec.count() != 20 {
		t.Errorf("recorded %d, want 20", e.rec.count())
	}
}

// The recorder failing makes the platform retry; the retry records what was missing
// and nothing twice.
func TestRecorderFailureIsRetried(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "whatsapp-cloud")
	body := c.several[0]
	e.rec.failOn["wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAwMgA="] = errors.New("disk full")
	if r := c.post(e, body, body); r.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", r.status)
	}
	if n := e.rec.count(); n != 1 {
		t.Fatalf("recorded %d before the failure, want 1", n)
	}
	delete(e.rec.failOn, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAwMgA=")
	c.checkOK(t, c.post(e, body, body))
	if n := e.rec.count(); n != 3 {
		t.Errorf("recorded %d after the retry, want 3", n)
	}
	if e.counter("requests_total", "whatsapp", "error") != 1 || e.counter("messages_total", "whatsapp", "duplicate") != 1 {
		t.Errorf("metrics: error=%v duplicate=%v", e.counter("requests_total", "whatsapp", "error"), e.counter("messages_total", "whatsapp", "duplicate"))
	}
}

// A message the recorder refuses as invalid is acknowledged so the platform does not
// retry it forever, and logged.
func TestRecorderInvalidIsAcknowledged(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "telegram")
	body := readFile(t, c.valid)
	e.rec.failAll = domain.Invalid("text", "is 70000 bytes long; at most 65536 are accepted")
	if r := c.post(e, body, body); r.status != http.StatusOK {
		t.Fatalf("status %d, want 200", r.status)
	}
	if e.counter("requests_total", "telegram", "invalid") != 1 || e.counter("messages_total", "telegram", "invalid") != 1 {
		t.Errorf("invalid not counted")
	}
	if !strings.Contains(e.logs.String(), "70000 bytes") {
		t.Errorf("the refusal is not logged: %s", e.logs.String())
	}
}

// Logs name the channel and the correlation id of each recorded message; its message id,
// which may embed the sender's number or chat id, only at debug level.
func TestLogs(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "messenger")
	body := readFile(t, c.valid)
	c.checkOK(t, c.post(e, body, body))
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["msg"] == "message recorded" {
			found = rec["channel_id"] == "acme-fb" && rec["correlation_id"] == "corr-mid.1457764197618:41d102a3e1ae206a38" &&
				rec["kind"] == "messenger"
		}
		if rec["level"] != "DEBUG" && rec["message_id"] != nil {
			t.Errorf("a %s line names the message id: %s", rec["level"], line)
		}
	}
	if !found {
		t.Errorf("no 'message recorded' log with channel and correlation id:\n%s", e.logs.String())
	}
}

// A channel whose secret is missing refuses everything instead of accepting unsigned
// requests.
func TestMissingSecretRefuses(t *testing.T) {
	cfg := &config.Config{Workspaces: []config.Workspace{{ID: "acme", Channels: []config.Channel{
		{ID: "tg", Kind: "telegram"}, {ID: "wa", Kind: "whatsapp", Provider: "cloud"},
		{ID: "sms", Kind: "sms"}, {ID: "sl", Kind: "slack"},
	}}}}
	rec := newRecorder()
	h, err := webhooks.New(cfg, rec, webhooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for ch, hdr := range map[string][2]string{
		"tg":  {telegram.SecretHeader, ""},
		"wa":  {meta.SignatureHeader, meta.Sign("", []byte(`{}`))},
		"sms": {twilio.SignatureHeader, "x"},
		"sl":  {slack.SignatureHeader, slack.Sign("", "1", []byte(`{}`))},
	} {
		req, _ := http.NewRequest(http.MethodPost, "/webhooks/"+ch, strings.NewReader(`{}`))
		if hdr[1] != "" {
			req.Header.Set(hdr[0], hdr[1])
		}
		req.Header.Set(slack.TimestampHeader, "1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s without secret: %d, want 401", ch, w.Code)
		}
	}
	if rec.calls != 0 {
		t.Errorf("recorded without a secret")
	}
}

func TestNewRefuses(t *testing.T) {
	cfg := loadConfig(t)
	if _, err := webhooks.New(nil, newRecorder(), webhooks.Options{}); err == nil {
		t.Error("nil config accepted")
	}
	if _, err := webhooks.New(cfg, nil, webhooks.Options{}); err == nil {
		t.Error("nil recorder accepted")
	}
	bad := &config.Config{Workspaces: []config.Workspace{{ID: "a", Channels: []config.Channel{{ID: "x", Kind: "fax"}}}}}
	if _, err := webhooks.New(bad, newRecorder(), webhooks.Options{}); err == nil || !strings.Contains(err.Error(), "fax") {
		t.Errorf("unknown kind: %v", err)
	}
	// Two handlers on one registry share the collectors.
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		if _, err := webhooks.New(cfg, newRecorder(), webhooks.Options{Registerer: reg}); err != nil {
			t.Fatalf("handler %d: %v", i, err)
		}
	}
}

// NewProfiles passes senders of kinds without a profile API through without a call.
func TestProfilesDispatch(t *testing.T) {
	cfg := loadConfig(t)
	calls := 0
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return nil, errors.New("no network in this test")
	})}
	p := webhooks.NewProfiles(cfg, client)
	for _, id := range []string{"acme-sms", "acme-wa", "acme-wa-twilio", "acme-tg"} {
		ch, w, _ := cfg.Channel(id)
		in := domain.Sender{Phone: "+14155552671", UserID: "1"}
		s, err := p.CompleteSender(context.Background(), ch.Settings(w.ID), in)
		if err != nil || s != in {
			t.Errorf("%s: %+v, %v", id, s, err)
		}
	}
	if calls != 0 {
		t.Errorf("%d profile requests for kinds without a profile API", calls)
	}
	// Messenger does ask (and here fails: the error reaches the caller, without the token).
	ch, w, _ := cfg.Channel("acme-fb")
	_, err := p.CompleteSender(context.Background(), ch.Settings(w.ID), domain.Sender{UserID: "1"})
	if err == nil || calls != 1 {
		t.Errorf("messenger lookup: %v after %d calls", err, calls)
	} else if strings.Contains(err.Error(), testEnv["ACME_FB_TOKEN"]) {
		t.Errorf("error leaks the page token: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
