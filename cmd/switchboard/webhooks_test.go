package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/meta"
	"switchboard/adapters/samples"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/domain"
)

// sendSample posts a signed sample webhook, optionally tampered with, and returns the
// status.
func (s *stack) sendSample(channel string, sample samples.Sample, tamper func(*http.Request, []byte) []byte) int {
	s.t.Helper()
	ch, _, ok := s.cfg.Channel(channel)
	if !ok {
		s.t.Fatalf("no channel %s", channel)
	}
	req, err := samples.Build(*ch, s.url+"/webhooks/"+channel, sample)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if tamper != nil {
		body = tamper(req, body)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestEveryChannelKindLandsOnTheRightContact sends each platform's own signed webhook
// through the running service and follows it to HubSpot: the events recorded, the
// contact matched or created, and the inbox message.
func TestEveryChannelKindLandsOnTheRightContact(t *testing.T) {
	s := startStack(t, stackOptions{unique: []string{"telegram_user_id"}})
	hour := time.Now().Add(-time.Hour)
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "mobilephone": "(415) 555-2671"}, hour)
	luis := s.emu.CreateContactAt(map[string]string{"firstname": "Luis", "phone": "+52 55 1234 5678"}, hour)
	pia := s.emu.CreateContactAt(map[string]string{"firstname": "Pia", "messenger_psid": "PSID77"}, hour)
	ivo := s.emu.CreateContactAt(map[string]string{"firstname": "Ivo", "instagram_username": "@User_1784"}, hour)
	maya := s.emu.CreateContactAt(map[string]string{"firstname": "Maya", "slack_user_id": "U0MAYA"}, hour)

	cases := []struct {
		channel  string
		sample   samples.Sample
		msgID    string
		outcome  string
		contact  string // "" = the contact the message created
		property string // property a created contact must hold
		value    string
	}{
		{"acme-sms", samples.Sample{From: "+14155552671", MessageID: "SM0001"}, "SM0001", domain.EventContactMatched, ana, "", ""},
		{"acme-wa", samples.Sample{From: "5215512345678", Name: "Luis O", MessageID: "wamid.HBg1"}, "wamid.HBg1", domain.EventContactMatched, luis, "", ""},
		{"acme-wa-twilio", samples.Sample{From: "+447911123456", Name: "Jo Brown", MessageID: "SM0002"}, "SM0002", domain.EventContactCreated, "", "phone", "+447911123456"},
		{"acme-fb", samples.Sample{From: "PSID77", MessageID: "m_fb1"}, "m_fb1", domain.EventContactMatched, pia, "", ""},
		{"acme-ig", samples.Sample{From: "1784", MessageID: "m_ig1"}, "m_ig1", domain.EventContactMatched, ivo, "", ""},
		{"acme-tg", samples.Sample{From: "777001", Username: "rui", Name: "Rui Costa", MessageID: "31"}, "777001:31", domain.EventContactCreated, "", "telegram_user_id", "777001"},
		{"acme-slack", samples.Sample{From: "U0MAYA", MessageID: "1700000000.000100"}, "", domain.EventContactMatched, maya, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.channel, func(t *testing.T) {
			if status := s.sendSample(tc.channel, tc.sample, nil); status != http.StatusOK {
				t.Fatalf("webhook answered %d, want 200", status)
			}
			id := tc.msgID
			if id == "" {
				id = findMessageID(t, s, tc.channel)
			}
			st := s.waitSettled(tc.channel, id)
			if st.Outcome != tc.outcome {
				t.Fatalf("outcome %s, want %s", st.Outcome, tc.outcome)
			}
			contact := tc.contact
			if contact == "" {
				c, ok := s.emu.Contact(st.ContactID)
				if !ok || c.Properties[tc.property] != tc.value {
					t.Fatalf("created contact %+v lacks %s=%s", c, tc.property, tc.value)
				}
				contact = c.ID
			}
			if st.ContactID != contact {
				t.Errorf("resolved to %s, want %s", st.ContactID, contact)
			}
			if st.Received.Source != "webhook:"+string(st.Received.ChannelKind) {
				t.Errorf("source %q", st.Received.Source)
			}
			var found bool
			for _, p := range s.emu.Published() {
				if p.IntegrationIdempotencyID == domain.IdempotencyID(tc.channel, id) {
					found = true
					if p.AssociateWithContactID != contact {
						t.Errorf("inbox message linked to %q, want %s", p.AssociateWithContactID, contact)
					}
				}
			}
			if !found {
				t.Errorf("no inbox message for %s/%s", tc.channel, id)
			}
			// The same request again: success, nothing new.
			before := s.eventCount()
			if status := s.sendSample(tc.channel, tc.sample, nil); status != http.StatusOK {
				t.Errorf("redelivery answered %d, want 200", status)
			}
			if after := s.eventCount(); after != before {
				t.Errorf("redelivery grew the log from %d to %d events", before, after)
			}
		})
	}
	if n := len(s.emu.Contacts()); n != 7 {
		t.Errorf("%d contacts, want the 5 seeded and 2 created", n)
	}
}

// findMessageID returns the only message recorded on a channel (Slack's id is built
// from the DM channel the sample invents).
func findMessageID(t *testing.T, s *stack, channel string) string {
	t.Helper()
	var id string
	waitFor(t, "a message on "+channel, 10*time.Second, func() bool {
		evs, err := s.svc.store.ReadAll(t.Context(), 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if rest, ok := strings.CutPrefix(e.StreamID, "message:"+channel+":"); ok {
				id = rest
				return true
			}
		}
		return false
	})
	return id
}

// TestForgedWebhooksRecordNothing: for every kind, a tampered body, a missing or
// wrong signature (or secret), and a stale Slack timestamp are refused with 401 and
// leave the log as it was.
func TestForgedWebhooksRecordNothing(t *testing.T) {
	s := startStack(t, stackOptions{})
	signatureHeader := map[string]string{
		"acme-sms": "X-Twilio-Signature", "acme-wa-twilio": "X-Twilio-Signature", "acme-wa": "X-Hub-Signature-256",
		"acme-fb": "X-Hub-Signature-256", "acme-ig": "X-Hub-Signature-256", "acme-tg": "X-Telegram-Bot-Api-Secret-Token",
		"acme-slack": "X-Slack-Signature",
	}
	from := map[string]string{"acme-sms": "+14155552671", "acme-wa-twilio": "+14155552671", "acme-wa": "14155552671",
		"acme-fb": "PSID1", "acme-ig": "1784", "acme-tg": "5", "acme-slack": "U1"}
	forgeries := map[string]func(*http.Request, []byte) []byte{
		"tampered body": func(r *http.Request, b []byte) []byte {
			if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != "" {
				r.Header.Set("X-Telegram-Bot-Api-Secret-Token", "guess") // no body signature: forge the secret
				return b
			}
			return bytes.Replace(b, []byte("hello"), []byte("hellO"), 1)
		},
		"missing signature": func(r *http.Request, b []byte) []byte {
			for _, h := range signatureHeader {
				r.Header.Del(h)
			}
			return b
		},
		"wrong signature": func(r *http.Request, b []byte) []byte {
			for _, h := range signatureHeader {
				if v := r.Header.Get(h); v != "" {
					r.Header.Set(h, strings.Repeat("0", len(v)))
				}
			}
			return b
		},
	}
	for channel := range signatureHeader {
		for name, forge := range forgeries {
			t.Run(channel+"/"+name, func(t *testing.T) {
				if status := s.sendSample(channel, samples.Sample{From: from[channel], Text: "hello"}, forge); status != http.StatusUnauthorized {
					t.Errorf("answered %d, want 401", status)
				}
			})
		}
	}
	t.Run("acme-slack/stale timestamp", func(t *testing.T) {
		stale := samples.Sample{From: "U1", Text: "hello", Now: time.Now().Add(-6 * time.Minute)}
		if status := s.sendSample("acme-slack", stale, nil); status != http.StatusUnauthorized {
			t.Errorf("answered %d, want 401", status)
		}
	})
	if n := s.eventCount(); n != 0 {
		t.Errorf("forged webhooks recorded %d events, want 0", n)
	}
}

// TestOneRequestWithSeveralMessages: WhatsApp's real-shaped payload carrying several
// messages (and a status) records each message once, through the real log; the same
// request delivered again records nothing and still answers 200.
func TestOneRequestWithSeveralMessages(t *testing.T) {
	s := startStack(t, stackOptions{})
	body, err := os.ReadFile("../../adapters/meta/testdata/whatsapp_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		req, _ := http.NewRequest("POST", s.url+"/webhooks/acme-wa", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", meta.Sign(testEnv["META_SECRET"], body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	received := func() int {
		evs, err := s.svc.store.ReadAll(t.Context(), 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == domain.EventMessageReceived {
				n++
			}
		}
		return n
	}
	if status := post(); status != http.StatusOK {
		t.Fatalf("answered %d, want 200", status)
	}
	const want = 3 // the file holds three customer messages and one delivery status
	if got := received(); got != want {
		t.Fatalf("%d messages recorded, want %d (each message of the request once)", got, want)
	}
	if status := post(); status != http.StatusOK {
		t.Fatalf("redelivery answered %d, want 200", status)
	}
	if got := received(); got != want {
		t.Errorf("redelivery recorded %d messages in all, want still %d", got, want)
	}
}

// TestRecordedPlatformPayloadsLandInHubSpot feeds each platform's real-shaped text
// payload kept in testdata/, signed exactly as the platform signs it, through the
// running service, and follows it to the HubSpot inbox.
func TestRecordedPlatformPayloadsLandInHubSpot(t *testing.T) {
	s := startStack(t, stackOptions{})
	formSigner := func(r *http.Request, body []byte) {
		params, err := twilio.ParseForm(body)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(twilio.SignatureHeader, twilio.Sign(testEnv["TWILIO_TOKEN"], r.URL.String(), params))
	}
	metaSigner := func(r *http.Request, body []byte) {
		r.Header.Set(meta.SignatureHeader, meta.Sign(testEnv["META_SECRET"], body))
	}
	cases := []struct {
		channel, file string
		sign          func(*http.Request, []byte)
		outcome       string
	}{
		{"acme-sms", "../../adapters/twilio/testdata/sms_text.form", formSigner, domain.EventContactCreated},
		{"acme-wa-twilio", "../../adapters/twilio/testdata/whatsapp_text.form", formSigner, domain.EventContactCreated},
		{"acme-wa", "../../adapters/meta/testdata/whatsapp_text.json", metaSigner, domain.EventContactCreated},
		{"acme-fb", "../../adapters/meta/testdata/messenger_text.json", metaSigner, domain.EventConversationUnlinked},
		{"acme-ig", "../../adapters/meta/testdata/instagram_text.json", metaSigner, domain.EventContactCreated},
		{"acme-tg", "../../adapters/telegram/testdata/private_text.json", func(r *http.Request, _ []byte) {
			r.Header.Set(telegram.SecretHeader, testEnv["TG_SECRET"])
		}, domain.EventContactCreated},
		{"acme-slack", "../../adapters/slack/testdata/message_im.json", func(r *http.Request, body []byte) {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			r.Header.Set("X-Slack-Request-Timestamp", ts)
			r.Header.Set(slack.SignatureHeader, slack.Sign(testEnv["SLACK_SECRET"], ts, body))
		}, domain.EventConversationUnlinked},
	}
	for _, tc := range cases {
		t.Run(tc.channel, func(t *testing.T) {
			body, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", s.url+"/webhooks/"+tc.channel, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			tc.sign(req, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answered %d, want 200", resp.StatusCode)
			}
			id := findMessageID(t, s, tc.channel)
			st := s.waitSettled(tc.channel, id)
			if st.Outcome != tc.outcome {
				t.Fatalf("outcome %s, want %s", st.Outcome, tc.outcome)
			}
			if tc.outcome == domain.EventContactCreated {
				if _, ok := s.emu.Contact(st.ContactID); !ok {
					t.Errorf("contact %s is not in HubSpot", st.ContactID)
				}
			}
			for _, p := range s.emu.Published() {
				if p.IntegrationIdempotencyID == domain.IdempotencyID(tc.channel, id) {
					if p.AssociateWithContactID != st.ContactID {
						t.Errorf("inbox message linked to %q, want %q", p.AssociateWithContactID, st.ContactID)
					}
					return
				}
			}
			t.Errorf("no inbox message for %s/%s", tc.channel, id)
		})
	}
}

// TestProfileAPIRefusalDeadLetters: an Instagram channel that resolves by username
// cannot learn it when the Graph API refuses its token; the message waits in the
// dead-letter list with the reason instead of being resolved by a wrong identifier.
func TestProfileAPIRefusalDeadLetters(t *testing.T) {
	s := startStack(t, stackOptions{profiles: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`))
	})})
	if status := s.sendSample("acme-ig", samples.Sample{From: "1784", MessageID: "m_ig9"}, nil); status != http.StatusOK {
		t.Fatalf("webhook answered %d", status)
	}
	st := s.waitSettled("acme-ig", "m_ig9")
	if st.DeadLetter == nil || st.DeadLetter.Stage != domain.StageResolution || !strings.Contains(st.DeadLetter.Reason, "Invalid OAuth access token") {
		t.Fatalf("dead letter %+v, want the resolution refused by the Graph API", st.DeadLetter)
	}
	if st.Outcome != "" || len(s.emu.Contacts()) != 0 {
		t.Errorf("outcome %q with %d contacts: nothing may be resolved without the username", st.Outcome, len(s.emu.Contacts()))
	}
}
