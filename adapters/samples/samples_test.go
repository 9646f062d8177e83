package samples_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/samples"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
	"switchboard/domain/command"
)

var testEnv = map[string]string{
	"ACME_HUBSPOT_TOKEN": "hs-token", "ACME_TWILIO_TOKEN": "twilio-auth-token", "ACME_META_SECRET": "meta-app-secret",
	"ACME_META_VERIFY": "meta-verify-token", "ACME_FB_TOKEN": "fb-page-token", "ACME_IG_TOKEN": "ig-token",
	"ACME_TG_SECRET": "tg-secret_token-1", "ACME_SLACK_SECRET": "slack-signing-secret", "ACME_SLACK_BOT": "xoxb-test",
}

type recorder struct {
	mu   sync.Mutex
	msgs map[string]domain.InboundMessage
}

func (r *recorder) Handle(_ context.Context, m domain.InboundMessage) (command.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := m.ChannelID + "/" + m.MessageID
	if _, ok := r.msgs[key]; ok {
		return command.Receipt{CorrelationID: "c-" + key, Duplicate: true}, nil
	}
	r.msgs[key] = m
	return command.Receipt{CorrelationID: "c-" + key}, nil
}

func (r *recorder) only(t *testing.T) domain.InboundMessage {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 {
		t.Fatalf("recorded %d messages, want 1: %v", len(r.msgs), r.msgs)
	}
	for _, m := range r.msgs {
		return m
	}
	return domain.InboundMessage{}
}

func setup(t *testing.T) (*config.Config, *recorder, *httptest.Server) {
	t.Helper()
	cfg, err := config.Load("../webhooks/testdata/switchboard.yaml", func(k string) string { return testEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{msgs: map[string]domain.InboundMessage{}}
	h, err := webhooks.New(cfg, rec, webhooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return cfg, rec, srv
}

func send(t *testing.T, srv *httptest.Server, req *http.Request) int {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Logf("answer: %s", b)
	}
	return resp.StatusCode
}

// Every kind's sample passes its receiver's signature check and records what was sent.
func TestSamplesAreAccepted(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	cases := []struct {
		channel string
		sample  samples.Sample
		check   func(m domain.InboundMessage) bool
	}{
		{"acme-sms", samples.Sample{From: "+14155552671", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.Phone == "+14155552671" && strings.HasPrefix(m.MessageID, "SM")
		}},
		{"acme-sms-proxied", samples.Sample{From: "+14155552671", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.Phone == "+14155552671"
		}},
		{"acme-wa", samples.Sample{From: "5215512345678", Name: "Ana Bento", Text: "¿Tienen envío? 🚚", MessageID: "wamid.sample1"}, func(m domain.InboundMessage) bool {
			return m.Sender.Phone == "5215512345678" && m.Sender.DisplayName == "Ana Bento" && m.MessageID == "wamid.sample1" && m.Text == "¿Tienen envío? 🚚" && m.SentAt.Equal(now)
		}},
		{"acme-wa", samples.Sample{BSUID: "US.13491208655302741918", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.Phone == "" && m.Sender.BSUID == "US.13491208655302741918"
		}},
		{"acme-wa-twilio", samples.Sample{From: "+5215512345678", Name: "Ana Bento", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.Phone == "+5215512345678" && m.Sender.DisplayName == "Ana Bento"
		}},
		{"acme-fb", samples.Sample{From: "24012345678901234", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.UserID == "24012345678901234" && m.Source == "webhook:messenger"
		}},
		{"acme-ig", samples.Sample{From: "1234567890123456", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.UserID == "1234567890123456" && m.Source == "webhook:instagram"
		}},
		{"acme-tg", samples.Sample{From: "123456789", Username: "@ana_b", Name: "Ana Bento", Text: "hi", MessageID: "42"}, func(m domain.InboundMessage) bool {
			return m.MessageID == "123456789:42" && m.Sender.Username == "ana_b" && m.Sender.FirstName == "Ana" && m.Sender.LastName == "Bento"
		}},
		{"acme-slack", samples.Sample{From: "U2147483697", Text: "hi"}, func(m domain.InboundMessage) bool {
			return m.Sender.UserID == "U2147483697" && strings.HasPrefix(m.MessageID, "D") && m.PlatformEventID != ""
		}},
	}
	for _, c := range cases {
		t.Run(c.channel, func(t *testing.T) {
			cfg, rec, srv := setup(t)
			ch, _, ok := cfg.Channel(c.channel)
			if !ok {
				t.Fatalf("no channel %s", c.channel)
			}
			c.sample.Now = now
			req, err := samples.Build(*ch, srv.URL+"/webhooks/"+c.channel, c.sample)
			if err != nil {
				t.Fatal(err)
			}
			// On acme-sms-proxied the sample signs the channel's public_url, as Twilio does.
			if status := send(t, srv, req); status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			m := rec.only(t)
			if !c.check(m) || m.ChannelID != c.channel {
				t.Errorf("recorded %+v", m)
			}
			// The same sample again is a redelivery.
			req, _ = samples.Build(*ch, srv.URL+"/webhooks/"+c.channel, c.sample)
			if status := send(t, srv, req); status != http.StatusOK {
				t.Fatalf("redelivery status %d", status)
			}
			rec.only(t)
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	cfg, _, _ := setup(t)
	tg, _, _ := cfg.Channel("acme-tg")
	if _, err := samples.Build(*tg, "http://x/webhooks/acme-tg", samples.Sample{From: "ana"}); err == nil || !strings.Contains(err.Error(), "numeric") {
		t.Errorf("non-numeric telegram id: %v", err)
	}
	sms, _, _ := cfg.Channel("acme-sms")
	if _, err := samples.Build(*sms, "http://x/webhooks/acme-sms", samples.Sample{}); err == nil || !strings.Contains(err.Error(), "From is required") {
		t.Errorf("no From: %v", err)
	}
	noSecret := *sms
	noSecret.Secrets = nil
	if _, err := samples.Build(noSecret, "http://x/webhooks/acme-sms", samples.Sample{From: "+1"}); err == nil || !strings.Contains(err.Error(), "auth_token_env") {
		t.Errorf("no secret: %v", err)
	}
}

// Meta escapes non-ASCII text as \uXXXX and signs those bytes; the sample does the same
// so that a receiver which re-encoded JSON before checking would fail here.
func TestMetaSampleEscapesLikeMeta(t *testing.T) {
	cfg, _, _ := setup(t)
	wa, _, _ := cfg.Channel("acme-wa")
	req, err := samples.Build(*wa, "http://x/webhooks/acme-wa", samples.Sample{From: "16505551234", Text: "Olá 👋"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	for _, b := range body {
		if b >= 0x80 {
			t.Fatalf("body is not ASCII: %s", body)
		}
	}
	if !strings.Contains(string(body), `Ol\u00e1 \ud83d\udc4b`) {
		t.Errorf("text not escaped as Meta does: %s", body)
	}
}
