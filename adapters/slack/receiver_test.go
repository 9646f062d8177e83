package slack

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
)

func TestReceiver(t *testing.T) {
	if _, err := NewReceiver(config.Channel{ID: "tg", Kind: "telegram"}); err == nil {
		t.Error("a Slack receiver was built for a telegram channel")
	}
	r, err := NewReceiver(config.Channel{ID: "sl", Kind: "slack", Secrets: map[string]string{"signing_secret_env": "sec"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	body := []byte(`{"type":"url_verification","challenge":"c-1"}`)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/sl", nil)
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign("sec", ts, body))
	if err := r.Authenticate(req, body, now); err != nil {
		t.Errorf("signed request refused: %v", err)
	}
	if err := r.Authenticate(req, body, now.Add(6*time.Minute)); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	b, err := r.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r.Acknowledge(w, b)
	if w.Code != http.StatusOK || w.Body.String() != "c-1" {
		t.Errorf("url_verification answer: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	r.Acknowledge(w, inbound.Batch{})
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("event answer: %d %q", w.Code, w.Body.String())
	}
	if attrs := r.LogAttrs(req); attrs != nil {
		t.Errorf("attributes of a first delivery: %v", attrs)
	}
	req.Header.Set(RetryNumHeader, "2")
	req.Header.Set(RetryReasonHeader, "http_timeout")
	if attrs := r.LogAttrs(req); len(attrs) != 2 || attrs[0].Value.String() != "2" || attrs[1].Value.String() != "http_timeout" {
		t.Errorf("retry attributes: %v", attrs)
	}
	if r.MaxBodyBytes() <= 1<<20 {
		t.Errorf("body limit %d: a 40,000-character message written twice needs more than 1 MiB", r.MaxBodyBytes())
	}
}
