package webhooks_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/meta"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/domain"
)

// platformCase describes one kind/provider for the shared receiver tests: how its
// platform signs a request and what its payloads become.
type platformCase struct {
	name        string
	channel     string
	kind        string // metrics label
	contentType string
	// sign adds the platform's signature or secret for body, as the platform computes it.
	sign func(e *env, req *http.Request, body []byte)
	// unsign removes what sign added.
	unsign func(req *http.Request)
	// badSign adds a signature made with the wrong secret.
	badSign func(e *env, req *http.Request, body []byte)
	// tamper changes a signed body; nil where the platform does not sign bodies.
	tamper func(body []byte) []byte

	valid string
	want  domain.InboundMessage
	// several are request bodies that together carry distinct messages; platforms that
	// batch get one body with several messages.
	several     [][]byte
	severalWant int
	ignored     []string
	malformed   []string

	okBody, okContentType string
}

func twilioCase(name, channel, kind, valid string, want domain.InboundMessage, ignored []string) platformCase {
	return platformCase{
		name: name, channel: channel, kind: kind, contentType: "application/x-www-form-urlencoded",
		sign: func(e *env, req *http.Request, body []byte) {
			form, _ := url.ParseQuery(string(body))
			req.Header.Set(twilio.SignatureHeader, twilio.Sign(testEnv["ACME_TWILIO_TOKEN"], req.URL.String(), form))
		},
		unsign: func(req *http.Request) { req.Header.Del(twilio.SignatureHeader) },
		badSign: func(e *env, req *http.Request, body []byte) {
			form, _ := url.ParseQuery(string(body))
			req.Header.Set(twilio.SignatureHeader, twilio.Sign("another-auth-token", req.URL.String(), form))
		},
		tamper: func(body []byte) []byte {
			form, _ := url.ParseQuery(string(body))
			form.Set("Body", form.Get("Body")+" (changed)")
			return []byte(form.Encode())
		},
		valid: valid, want: want,
		several: [][]byte{
			twilioForm(kind, "SM00000000000000000000000000000001", "first"),
			twilioForm(kind, "SM00000000000000000000000000000002", "second"),
			twilioForm(kind, "SM00000000000000000000000000000003", "third"),
		},
		severalWant: 3,
		ignored:     ignored,
		malformed:   []string{"MessageSid=SM1&From=%zz&Body=x", "From=%2B14155552671&Body=no+sid", "MessageSid=SM1&Body=no+sender&From="},
		okBody:      twilio.EmptyTwiML, okContentType: "text/xml",
	}
}

func twilioForm(kind, sid, body string) []byte {
	f := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC00000000000000000000000000000000"},
		"Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "To": {"+14155550100"}, "From": {"+14155552671"}}
	if kind == "whatsapp" {
		f.Set("From", "whatsapp:+14155552671")
		f.Set("WaId", "14155552671")
		f.Set("ProfileName", "Ana Bento")
	}
	return []byte(f.Encode())
}

func metaCase(name, channel, kind, valid string, want domain.InboundMessage, several string, severalWant int, ignored []string) platformCase {
	return platformCase{
		name: name, channel: channel, kind: kind, contentType: "application/json",
		sign: func(e *env, req *http.Request, body []byte) {
			req.Header.Set(meta.SignatureHeader, meta.Sign(testEnv["ACME_META_SECRET"], body))
		},
		unsign: func(req *http.Request) { req.Header.Del(meta.SignatureHeader) },
		badSign: func(e *env, req *http.Request, body []byte) {
			req.Header.Set(meta.SignatureHeader, meta.Sign("another-app-secret", body))
		},
		tamper: func(body []byte) []byte { return bytes.Replace(body, []byte(`"text`), []byte(`"text `), 1) },
		valid:  valid, want: want,
		several: [][]byte{mustRead(several)}, severalWant: severalWant,
		ignored:   ignored,
		malformed: []string{`not json`, `null`, `{"object":"` + objectOf(kind) + `","entry":{}}`, `[]`},
	}
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

func objectOf(kind string) string {
	switch kind {
	case "whatsapp":
		return meta.WhatsAppObject
	case "instagram":
		return meta.InstagramObject
	}
	return meta.MessengerObject
}

func telegramUpdate(updateID, messageID int64, text string) []byte {
	return []byte(fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"from":{"id":123456789,"is_bot":false,"first_name":"Ana","username":"anasilva"},"chat":{"id":123456789,"first_name":"Ana","type":"private"},"date":1764238453,"text":%q}}`, updateID, messageID, text))
}

func slackEvent(eventID, ts, text string) []byte {
	return []byte(fmt.Sprintf(`{"token":"x","team_id":"T123ABC456","api_app_id":"A0PNCHHK2","type":"event_callback","event_id":%q,"event_time":1355517523,"event":{"type":"message","channel":"D024BE91L","user":"U2147483697","text":%q,"ts":%q,"event_ts":%q,"channel_type":"im"}}`, eventID, text, ts, ts))
}

func signSlack(e *env, req *http.Request, body []byte, secret string) {
	ts := strconv.FormatInt(e.now.Unix(), 10)
	req.Header.Set(slack.TimestampHeader, ts)
	req.Header.Set(slack.SignatureHeader, slack.Sign(secret, ts, body))
}

func platformCases() []platformCase {
	tw := "../twilio/testdata/"
	me := "../meta/testdata/"
	tg := "../telegram/testdata/"
	sl := "../slack/testdata/"
	return []platformCase{
		twilioCase("sms", "acme-sms", "sms", tw+"sms_text.form", domain.InboundMessage{
			ChannelID: "acme-sms", MessageID: "SMb711289e438f577f230f5837e9c74a08", Text: "St",
			Sender: domain.Sender{Phone: "+31612345678"}, Source: "webhook:sms",
		}, []string{tw + "sms_status_delivered.form", tw + "sms_status_queued.form"}),
		twilioCase("whatsapp-twilio", "acme-wa-twilio", "whatsapp", tw+"whatsapp_text.form", domain.InboundMessage{
			ChannelID: "acme-wa-twilio", MessageID: "SMd35dc6b5e27d2858718fd7da213a625f", Text: "Hola",
			Sender: domain.Sender{Phone: "+573003255454", DisplayName: "David Ríos", BSUID: "CO.4480491918930694"}, Source: "webhook:whatsapp",
		}, []string{tw + "whatsapp_status_read.form"}),
		metaCase("whatsapp-cloud", "acme-wa", "whatsapp", me+"whatsapp_text.json", domain.InboundMessage{
			ChannelID: "acme-wa", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
			SentAt: time.Unix(1749416383, 0).UTC(), Text: "Does it come in another color?",
			Sender: domain.Sender{Phone: "16505551234", DisplayName: "Sheena Nelson"}, Source: "webhook:whatsapp",
		}, me+"whatsapp_multi.json", 3, []string{me + "whatsapp_status.json", me + "whatsapp_reaction.json", me + "whatsapp_system.json",
			me + "whatsapp_unsupported.json", me + "whatsapp_errors.json", me + "whatsapp_other_field.json"}),
		metaCase("messenger", "acme-fb", "messenger", me+"messenger_text.json", domain.InboundMessage{
			ChannelID: "acme-fb", MessageID: "mid.1457764197618:41d102a3e1ae206a38", SentAt: time.UnixMilli(1457764197627).UTC(),
			Text: "hello, world!", Sender: domain.Sender{UserID: "USER_ID"}, Source: "webhook:messenger",
		}, me+"messenger_multi.json", 2, []string{me + "messenger_echo.json", me + "messenger_delivery_read.json", me + "messenger_reaction.json",
			me + "messenger_edit.json", me + "messenger_postback_no_title.json"}),
		metaCase("instagram", "acme-ig", "instagram", me+"instagram_text.json", domain.InboundMessage{
			ChannelID: "acme-ig", MessageID: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTg4MjI2OTk1NjE2MDAwMAZDZD",
			SentAt: time.UnixMilli(1764238519990).UTC(), Text: "Olá! 👋 Do you ship to Lisbon?",
			Sender: domain.Sender{UserID: "1234567890123456"}, Source: "webhook:instagram",
		}, me+"instagram_multi.json", 3, []string{me + "instagram_echo.json", me + "instagram_deleted.json", me + "instagram_seen_reaction.json"}),
		{
			name: "telegram", channel: "acme-tg", kind: "telegram", contentType: "application/json",
			sign: func(e *env, req *http.Request, _ []byte) {
				req.Header.Set(telegram.SecretHeader, testEnv["ACME_TG_SECRET"])
			},
			unsign: func(req *http.Request) { req.Header.Del(telegram.SecretHeader) },
			badSign: func(e *env, req *http.Request, _ []byte) {
				req.Header.Set(telegram.SecretHeader, testEnv["ACME_TG_SECRET"]+"x")
			},
			// Telegram sends a shared secret, not a body signature: nothing to tamper with.
			valid: tg + "private_text.json",
			want: domain.InboundMessage{
				ChannelID: "acme-tg", MessageID: "123456789:1042", SentAt: time.Unix(1764238453, 0).UTC(),
				Sender: domain.Sender{UserID: "123456789", Username: "anasilva", FirstName: "Ana", LastName: "Silva"},
				Text:   "Hi, is my order shipped?", Source: "webhook:telegram", PlatformEventID: "873263421",
			},
			several:     [][]byte{telegramUpdate(900, 2001, "one"), telegramUpdate(901, 2002, "two"), telegramUpdate(902, 2003, "three")},
			severalWant: 3,
			ignored: []string{tg + "edited_message.json", tg + "channel_post.json", tg + "group_message.json", tg + "bot_message.json",
				tg + "service_message.json", tg + "group_new_chat_members.json", tg + "my_chat_member.json", tg + "callback_query.json"},
			malformed: []string{`not json`, `null`, `{"message":{"message_id":1}}`, `{"update_id":"x","message":{"chat":{"id":{}}}}`},
		},
		{
			name: "slack", channel: "acme-slack", kind: "slack", contentType: "application/json",
			sign: func(e *env, req *http.Request, body []byte) { signSlack(e, req, body, testEnv["ACME_SLACK_SECRET"]) },
			unsign: func(req *http.Request) {
				req.Header.Del(slack.SignatureHeader)
			},
			badSign: func(e *env, req *http.Request, body []byte) { signSlack(e, req, body, "another-signing-secret") },
			tamper:  func(body []byte) []byte { return bytes.Replace(body, []byte("Hello"), []byte("Jello"), 1) },
			valid:   sl + "message_im.json",
			want: domain.InboundMessage{
				ChannelID: "acme-slack", MessageID: "D024BE91L:1355517523.000005", SentAt: time.Unix(1355517523, 5000).UTC(),
				Sender: domain.Sender{UserID: "U2147483697"}, Text: "Hello hello can you hear me?",
				Source: "webhook:slack", PlatformEventID: "Ev0PV52K21",
			},
			several: [][]byte{slackEvent("Ev1", "1355517600.000100", "one"), slackEvent("Ev2", "1355517601.000100", "two"),
				slackEvent("Ev3", "1355517602.000100", "three")},
			severalWant: 3,
			ignored: []string{sl + "bot_message.json", sl + "app_own_message.json", sl + "message_changed.json", sl + "message_deleted.json",
				sl + "channel_message.json", sl + "app_mention.json", sl + "app_rate_limited.json", sl + "app_uninstalled.json"},
			malformed: []string{`not json`, `null`, `{"event":{}}`, `{"type":"event_callback"}`, `{"type":"url_verification"}`},
		},
	}
}

// post sends body to the case's channel, signed over signBody (normally body itself).
func (c platformCase) post(e *env, signBody, body []byte, mutate ...func(*http.Request)) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(c.channel), bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", c.contentType)
	c.sign(e, req, signBody)
	for _, m := range mutate {
		m(req)
	}
	return e.do(req)
}

func (c platformCase) checkOK(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.status, r.body)
	}
	if c.okBody != "" && r.body != c.okBody {
		t.Errorf("body %q, want %q", r.body, c.okBody)
	}
	if c.okContentType != "" && !strings.HasPrefix(r.header.Get("Content-Type"), c.okContentType) {
		t.Errorf("Content-Type %q, want %s", r.header.Get("Content-Type"), c.okContentType)
	}
}

func TestReceivers(t *testing.T) {
	for _, c := range platformCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Run("valid message is recorded", func(t *testing.T) {
				e := newEnv(t)
				body := readFile(t, c.valid)
				c.checkOK(t, c.post(e, body, body))
				got, ok := e.rec.get(c.want.ChannelID, c.want.MessageID)
				if !ok || e.rec.count() != 1 {
					t.Fatalf("recorded %v, want only %s", e.rec.ids(), c.want.MessageID)
				}
				if got != c.want {
					t.Errorf("recorded\n %+v\nwant\n %+v", got, c.want)
				}
				if n := e.counter("requests_total", c.kind, "accepted"); n != 1 {
					t.Errorf("requests_total{kind=%s,outcome=accepted} = %v, want 1", c.kind, n)
				}
			})
			t.Run("several messages are each recorded once", func(t *testing.T) {
				e := newEnv(t)
				for _, body := range c.several {
					c.checkOK(t, c.post(e, body, body))
				}
				if n := e.rec.count(); n != c.severalWant {
					t.Fatalf("recorded %d (%v), want %d", n, e.rec.ids(), c.severalWant)
				}
				if e.rec.calls != c.severalWant {
					t.Errorf("recorder called %d times, want %d", e.rec.calls, c.severalWant)
				}
			})
			t.Run("redelivery records nothing new and succeeds", func(t *testing.T) {
				e := newEnv(t)
				bodies := append([][]byte{readFile(t, c.valid)}, c.several...)
				for _, body := range bodies {
					c.checkOK(t, c.post(e, body, body))
				}
				before := e.rec.ids()
				for _, body := range bodies {
					c.checkOK(t, c.post(e, body, body))
				}
				if after := e.rec.ids(); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("redelivery changed the records: %v → %v", before, after)
				}
				if n := e.counter("requests_total", c.kind, "duplicate"); int(n) != len(bodies) {
					t.Errorf("requests_total{outcome=duplicate} = %v, want %d", n, len(bodies))
				}
			})
			t.Run("refused without a valid signature", func(t *testing.T) {
				e := newEnv(t)
				body := readFile(t, c.valid)
				cases := map[string]func() response{
					"missing signature": func() response { return c.post(e, body, body, c.unsign) },
					"wrong secret": func() response {
						return c.post(e, body, body, func(r *http.Request) { c.badSign(e, r, body) })
					},
				}
				if c.tamper != nil {
					cases["tampered body"] = func() response { return c.post(e, body, c.tamper(body)) }
				}
				for name, send := range cases {
					if r := send(); r.status != http.StatusUnauthorized {
						t.Errorf("%s: status %d (%s), want 401", name, r.status, r.body)
					}
				}
				if e.rec.calls != 0 {
					t.Errorf("recorder called %d times on refused requests", e.rec.calls)
				}
				if n := e.counter("requests_total", c.kind, "unauthorized"); int(n) != len(cases) {
					t.Errorf("requests_total{outcome=unauthorized} = %v, want %d", n, len(cases))
				}
			})
			t.Run("malformed body is 400", func(t *testing.T) {
				e := newEnv(t)
				for _, m := range c.malformed {
					if r := c.post(e, []byte(m), []byte(m)); r.status != http.StatusBadRequest {
						t.Errorf("%q: status %d (%s), want 400", m, r.status, r.body)
					}
				}
				if e.rec.calls != 0 {
					t.Errorf("recorder called %d times on malformed bodies", e.rec.calls)
				}
			})
			t.Run("ignored variants are acknowledged", func(t *testing.T) {
				e := newEnv(t)
				for _, path := range c.ignored {
					body := readFile(t, path)
					r := c.post(e, body, body)
					if r.status != http.StatusOK {
						t.Errorf("%s: status %d (%s), want 200", path, r.status, r.body)
					}
				}
				if e.rec.calls != 0 || e.rec.count() != 0 {
					t.Errorf("ignored variants recorded %v", e.rec.ids())
				}
				if n := e.counter("requests_total", c.kind, "ignored"); int(n) != len(c.ignored) {
					t.Errorf("requests_total{outcome=ignored} = %v, want %d", n, len(c.ignored))
				}
			})
		})
	}
}
