package meta

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
)

func TestReceiver(t *testing.T) {
	for _, ch := range []config.Channel{{ID: "a", Kind: "sms"}, {ID: "b", Kind: "whatsapp", Provider: "twilio"}, {ID: "c", Kind: "telegram"}} {
		if _, err := NewReceiver(ch); err == nil {
			t.Errorf("a Meta receiver was built for %s/%s", ch.Kind, ch.Provider)
		}
	}
	secrets := map[string]string{"app_secret_env": "app", "verify_token_env": "vt"}
	for kind, body := range map[string]string{
		"whatsapp":  `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"16505551234","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
		"messenger": `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"P1"},"recipient":{"id":"2"},"timestamp":1,"message":{"mid":"m1","text":"hi"}}]}]}`,
		"instagram": `{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"I1"},"recipient":{"id":"2"},"timestamp":1,"message":{"mid":"m1","text":"hi"}}]}]}`,
	} {
		r, err := NewReceiver(config.Channel{ID: "ch", Kind: kind, Secrets: secrets})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/ch", nil)
		req.Header.Set(SignatureHeader, Sign("app", []byte(body)))
		if err := r.Authenticate(req, []byte(body), time.Time{}); err != nil {
			t.Errorf("%s: signed request refused: %v", kind, err)
		}
		if err := r.Authenticate(req, []byte(body+" "), time.Time{}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: tampered body: %v", kind, err)
		}
		b, err := r.Parse([]byte(body))
		if err != nil || len(b.Messages) != 1 {
			t.Errorf("%s: parse: %+v, %v", kind, b, err)
		}
		w := httptest.NewRecorder()
		r.Acknowledge(w, b)
		if w.Code != http.StatusOK {
			t.Errorf("%s: acknowledged with %d; WhatsApp retries anything but 200", kind, w.Code)
		}
		if r.MaxBodyBytes() < 3<<20 {
			t.Errorf("%s: body limit %d under Meta's 3 MB", kind, r.MaxBodyBytes())
		}
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"vt"}, "hub.challenge": {"42"}}
		if c, err := r.Handshake(q); err != nil || c != "42" {
			t.Errorf("%s: handshake %q, %v", kind, c, err)
		}
		q.Set("hub.verify_token", "guess")
		if _, err := r.Handshake(q); err == nil || inbound.IsMalformed(err) {
			t.Errorf("%s: wrong verify token: %v, want a refusal (403)", kind, err)
		}
		q.Del("hub.mode")
		if _, err := r.Handshake(q); !inbound.IsMalformed(err) {
			t.Errorf("%s: not a handshake: %v, want *inbound.Malformed (400)", kind, err)
		}
	}
}
