package meta

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/adapters/inbound"
	"switchboard/adapters/inbound/golden"
	"switchboard/domain"
)

// The vector of channels.md §2.2 (computed, Meta publishes none).
func TestSignVector(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	const want = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
	if got := Sign("test_app_secret", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if err := Verify("test_app_secret", body, want); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify("test_app_secret", body, strings.ToUpper(want[:7])+strings.ToUpper(want[7:])); err != nil {
		t.Errorf("upper-case hex refused: %v", err)
	}
	cases := map[string]struct {
		secret, header string
		body           []byte
		want           error
	}{
		"no secret":    {"", want, body, ErrNoSecret},
		"no header":    {"test_app_secret", "", body, ErrNoSignature},
		"sha1 header":  {"test_app_secret", "sha1=abc", body, ErrSignatureFormat},
		"not hex":      {"test_app_secret", "sha256=zz", body, ErrSignatureFormat},
		"wrong secret": {"other", want, body, ErrBadSignature},
		"tampered":     {"test_app_secret", want, []byte(`{"object":"whatsapp_business_account","entry":[{}]}`), ErrBadSignature},
	}
	for name, c := range cases {
		if err := Verify(c.secret, c.body, c.header); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestHandshake(t *testing.T) {
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"tok"}, "hub.challenge": {"1158201444"}}
	if c, err := Handshake(q, "tok"); err != nil || c != "1158201444" {
		t.Fatalf("Handshake = %q, %v", c, err)
	}
	if _, err := Handshake(q, "other"); !errors.Is(err, ErrWrongToken) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := Handshake(q, ""); !errors.Is(err, ErrNoVerifyToken) {
		t.Errorf("no token configured: %v", err)
	}
	q.Set("hub.mode", "unsubscribe")
	if _, err := Handshake(q, "tok"); !errors.Is(err, ErrNotSubscribe) {
		t.Errorf("mode: %v", err)
	}
}

func TestWhatsAppSenders(t *testing.T) {
	b := mustParse(t, ParseWhatsApp, "whatsapp_multi.json")
	if len(b.Messages) != 3 {
		t.Fatalf("messages = %d, want 3 (%+v)", len(b.Messages), b)
	}
	// Profiles match by wa_id, not by position.
	if s := b.Messages[0].Sender; s.Phone != "5511987654321" || s.DisplayName != "João Pereira" {
		t.Errorf("first sender %+v", s)
	}
	if s := b.Messages[1].Sender; s.Phone != "16505551234" || s.DisplayName != "Sheena Nelson" {
		t.Errorf("second sender %+v", s)
	}
	if m := b.Messages[2]; m.Text != "This one" || m.SentAt.Unix() != 1749416392 {
		t.Errorf("caption message %+v", m)
	}
	b = mustParse(t, ParseWhatsApp, "whatsapp_bsuid_only.json")
	if len(b.Messages) != 1 {
		t.Fatalf("bsuid only: %+v", b)
	}
	if s := b.Messages[0].Sender; s.Phone != "" || s.BSUID != "US.13491208655302741918" || s.DisplayName != "Ana B" || s.Username != "ana.b" {
		t.Errorf("bsuid-only sender %+v", s)
	}
	b = mustParse(t, ParseWhatsApp, "whatsapp_bsuid_and_phone.json")
	if s := b.Messages[0].Sender; s.Phone != "919810218674" || s.BSUID != "IN.1410018717833190" || s.DisplayName != "Krish Thakur" {
		t.Errorf("phone+bsuid sender %+v", s)
	}
	b = mustParse(t, ParseWhatsApp, "whatsapp_media_no_caption.json")
	var texts []string
	for _, m := range b.Messages {
		texts = append(texts, m.Text)
	}
	if got := strings.Join(texts, "|"); got != "[image]|[audio]|Yes, please|[location]" {
		t.Errorf("texts = %s", got)
	}
	for _, name := range []string{"whatsapp_status.json", "whatsapp_reaction.json", "whatsapp_system.json", "whatsapp_unsupported.json", "whatsapp_errors.json", "whatsapp_other_field.json"} {
		if b := mustParse(t, ParseWhatsApp, name); len(b.Messages) != 0 || len(b.Ignored) == 0 {
			t.Errorf("%s: %+v, want only ignored items", name, b)
		}
	}
}

func TestMessaging(t *testing.T) {
	b := mustParse(t, ParseMessenger, "messenger_multi.json")
	if len(b.Messages) != 2 || len(b.Ignored) != 1 || b.Ignored[0] != "echo" {
		t.Fatalf("messenger multi: %+v", b)
	}
	want := domain.InboundMessage{ChannelID: "test-channel", MessageID: "m_AbCdEf0123456789aaaa", SentAt: b.Messages[0].SentAt,
		Sender: domain.Sender{UserID: "24012345678901234"}, Text: "Hi, is my order ready?", Source: "webhook:messenger"}
	if b.Messages[0] != want || b.Messages[0].SentAt.UnixMilli() != 1764238452990 {
		t.Errorf("got %+v", b.Messages[0])
	}
	if b.Messages[1].Text != "[image]" {
		t.Errorf("attachment text %q", b.Messages[1].Text)
	}
	if b := mustParse(t, ParseMessenger, "messenger_postback_title.json"); len(b.Messages) != 1 || b.Messages[0].Text != "Get Started" {
		t.Errorf("postback with title: %+v", b)
	}
	// An Instagram payload on a Messenger channel is a misconfiguration: acknowledged.
	if b := mustParse(t, ParseMessenger, "instagram_text.json"); len(b.Messages) != 0 {
		t.Errorf("instagram on messenger: %+v", b)
	}
	b = mustParse(t, ParseInstagram, "instagram_text.json")
	if len(b.Messages) != 1 || b.Messages[0].Text != "Olá! 👋 Do you ship to Lisbon?" || b.Messages[0].Source != "webhook:instagram" || b.Messages[0].Sender.UserID != "1234567890123456" {
		t.Errorf("instagram text: %+v", b)
	}
	for name, parse := range map[string]func(string, []byte) (inbound.Batch, error){
		"messenger_echo.json": ParseMessenger, "messenger_delivery_read.json": ParseMessenger,
		"messenger_reaction.json": ParseMessenger, "messenger_edit.json": ParseMessenger,
		"messenger_postback_no_title.json": ParseMessenger, "instagram_echo.json": ParseInstagram,
		"instagram_deleted.json": ParseInstagram, "instagram_seen_reaction.json": ParseInstagram,
	} {
		if b := mustParse(t, parse, name); len(b.Messages) != 0 || len(b.Ignored) == 0 {
			t.Errorf("%s: %+v, want only ignored items", name, b)
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `object=page`,
		"null":              `null`,
		"array":             `[{"object":"page"}]`,
		"entry not array":   `{"object":"page","entry":{}}`,
		"message no mid":    `{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"message":{"text":"hi"}}]}]}`,
		"message no sender": `{"object":"page","entry":[{"messaging":[{"message":{"mid":"m1","text":"hi"}}]}]}`,
		"trailing garbage":  `{"object":"page"}}`,
	} {
		if b, err := ParseMessenger("c", []byte(body)); err == nil || !inbound.IsMalformed(err) {
			t.Errorf("messenger %s: %+v, %v; want a Malformed error", name, b, err)
		}
	}
	for name, body := range map[string]string{
		"value not object": `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":[]}]}]}`,
		"message no id":    `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","type":"text","text":{"body":"x"}}]}}]}]}`,
		"message no from":  `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w1","type":"text","text":{"body":"x"}}]}}]}]}`,
		"bad timestamp":    `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w1","from":"1","timestamp":"soon"}]}}]}]}`,
	} {
		if b, err := ParseWhatsApp("c", []byte(body)); err == nil {
			t.Errorf("whatsapp %s: %+v; want an error", name, b)
		}
	}
}

var parsers = map[string]func(string, []byte) (inbound.Batch, error){
	"whatsapp": ParseWhatsApp, "messenger": ParseMessenger, "instagram": ParseInstagram,
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		prefix, _, _ := strings.Cut(name, "_")
		t.Run(name, func(t *testing.T) {
			b, err := parsers[prefix]("test-channel", golden.Read(t, filepath.Base(f)))
			got := map[string]any{"messages": b.Messages, "ignored": b.Ignored}
			if err != nil {
				got = map[string]any{"error": err.Error()}
			}
			golden.Compare(t, name, got)
		})
	}
}

func FuzzParseWhatsApp(f *testing.F)  { fuzzParser(f, "whatsapp") }
func FuzzParseMessenger(f *testing.F) { fuzzParser(f, "messenger") }
func FuzzParseInstagram(f *testing.F) { fuzzParser(f, "instagram") }

// fuzzParser seeds with every testdata payload (of all three platforms: they share
// shapes) and checks that the parser never panics and that whatever it returns is
// recordable: messages only from a JSON object, each with an id and a sender.
func fuzzParser(f *testing.F, prefix string) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	parse := parsers[prefix]
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parse("fuzz", body)
		if err != nil {
			if len(b.Messages) != 0 {
				t.Fatalf("error %v together with messages", err)
			}
			return
		}
		if len(b.Messages) > 0 && !json.Valid(body) {
			t.Fatalf("messages from invalid JSON %q", body)
		}
		for _, m := range b.Messages {
			if strings.TrimSpace(m.MessageID) == "" || m.ChannelID != "fuzz" || m.Source != "webhook:"+prefix {
				t.Fatalf("incomplete message %+v", m)
			}
			if m.Sender.Phone == "" && m.Sender.BSUID == "" && m.Sender.UserID == "" {
				t.Fatalf("message without a sender: %+v", m)
			}
			if !utf8.ValidString(m.Text) {
				t.Fatalf("text is not UTF-8: %q", m.Text)
			}
		}
	})
}

func mustParse(t *testing.T, parse func(string, []byte) (inbound.Batch, error), name string) inbound.Batch {
	t.Helper()
	b, err := parse("test-channel", golden.Read(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}
