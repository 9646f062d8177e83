package telegram

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
)

func TestReceiver(t *testing.T) {
	if _, err := NewReceiver(config.Channel{ID: "sl", Kind: "slack"}); err == nil {
		t.Error("a Telegram receiver was built for a slack channel")
	}
	r, err := NewReceiver(config.Channel{ID: "tg", Kind: "telegram", Secrets: map[string]string{"secret_token_env": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/tg", nil)
	for header, want := range map[string]error{"s3cret": nil, "": ErrNoToken, "guess": ErrWrongSecret} {
		req.Header.Set(SecretHeader, header)
		if err := r.Authenticate(req, nil, time.Time{}); !errors.Is(err, want) {
			t.Errorf("secret %q: %v, want %v", header, err, want)
		}
	}
	w := httptest.NewRecorder()
	r.Acknowledge(w, mustParse(t, r))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("acknowledge: %d %q (Telegram runs a method given in the answer)", w.Code, w.Body.String())
	}
}

func mustParse(tb testing.TB, r *Receiver) inbound.Batch {
	tb.Helper()
	b, err := r.Parse([]byte(`{"update_id":1,"message":{"message_id":2,"from":{"id":3,"first_name":"A"},"chat":{"id":3,"type":"private"},"date":1,"text":"hi"}}`))
	if err != nil || len(b.Messages) != 1 || b.Messages[0].MessageID != "3:2" {
		tb.Fatalf("parse: %+v, %v", b, err)
	}
	return b
}
