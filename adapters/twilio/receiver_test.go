package twilio

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/config"
)

func TestReceiver(t *testing.T) {
	if _, err := NewReceiver(config.Channel{ID: "tg", Kind: "telegram"}, nil); err == nil {
		t.Error("a Twilio receiver was built for a telegram channel")
	}
	if _, err := NewReceiver(config.Channel{ID: "wa", Kind: "whatsapp", Provider: "cloud"}, nil); err == nil {
		t.Error("a Twilio receiver was built for a WhatsApp Cloud channel")
	}
	ch := config.Channel{ID: "sms", Kind: "sms", Secrets: map[string]string{"auth_token_env": "tok"}}
	r, err := NewReceiver(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"MessageSid": {"SM1"}, "From": {"+14155552671"}, "Body": {"hi"}}
	body := []byte(form.Encode())
	req := httptest.NewRequest(http.MethodPost, "http://hooks.example.com/webhooks/sms", nil)
	req.Header.Set(SignatureHeader, Sign("tok", "http://hooks.example.com/webhooks/sms", form))
	if err := r.Authenticate(req, body, time.Time{}); err != nil {
		t.Errorf("signed request refused: %v", err)
	}
	req.Header.Set(SignatureHeader, Sign("other", "http://hooks.example.com/webhooks/sms", form))
	if err := r.Authenticate(req, body, time.Time{}); err == nil {
		t.Error("a signature made with another token was accepted")
	}
	if err := (&Receiver{channelID: "sms", kind: "sms"}).Authenticate(req, body, time.Time{}); !errors.Is(err, ErrNoAuthToken) {
		t.Errorf("no token: %v, want ErrNoAuthToken", err)
	}
	b, err := r.Parse(body)
	if err != nil || len(b.Messages) != 1 || b.Messages[0].MessageID != "SM1" {
		t.Fatalf("parse: %+v, %v", b, err)
	}
	w := httptest.NewRecorder()
	r.Acknowledge(w, b)
	if w.Code != http.StatusOK || w.Body.String() != EmptyTwiML || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
		t.Errorf("acknowledge: %d %q %s", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
	if r.MaxBodyBytes() != MaxBodyBytes {
		t.Errorf("body limit %d", r.MaxBodyBytes())
	}
}
