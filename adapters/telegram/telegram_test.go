package telegram

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/adapters/inbound/golden"
	"switchboard/domain"
)

func TestVerifySecret(t *testing.T) {
	cases := []struct {
		secret, header string
		want           error
	}{
		{"s3cr3t_T0ken-x", "s3cr3t_T0ken-x", nil},
		{"s3cr3t_T0ken-x", "", ErrNoToken},
		{"s3cr3t_T0ken-x", "s3cr3t_T0ken-y", ErrWrongSecret},
		{"s3cr3t_T0ken-x", "s3cr3t_T0ken", ErrWrongSecret},
		{"", "anything", ErrNoSecret},
	}
	for _, c := range cases {
		if err := VerifySecret(c.secret, c.header); !errors.Is(err, c.want) {
			t.Errorf("VerifySecret(%q, %q) = %v, want %v", c.secret, c.header, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	b, err := Parse("acme-tg", golden.Read(t, "private_text.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.InboundMessage{
		ChannelID: "acme-tg", MessageID: "123456789:1042", SentAt: b.Messages[0].SentAt,
		Sender: domain.Sender{UserID: "123456789", Username: "anasilva", FirstName: "Ana", LastName: "Silva"},
		Text:   "Hi, is my order shipped?", Source: "webhook:telegram", PlatformEventID: "873263421",
	}
	if len(b.Messages) != 1 || b.Messages[0] != want || b.Messages[0].SentAt.Unix() != 1764238453 {
		t.Fatalf("got %+v\nwant %+v", b.Messages, want)
	}
	if MessageID(123456789, 1042) != want.MessageID {
		t.Errorf("MessageID helper disagrees with Parse")
	}
	// 52-bit user ids survive exactly.
	b, _ = Parse("acme-tg", golden.Read(t, "private_sticker.json"))
	if len(b.Messages) != 1 || b.Messages[0].Sender.UserID != "7000000001234" || b.Messages[0].Text != "[sticker]" {
		t.Errorf("sticker: %+v", b)
	}
	for _, name := range []string{"edited_message.json", "channel_post.json", "group_message.json", "bot_message.json",
		"service_message.json", "group_new_chat_members.json", "my_chat_member.json", "callback_query.json"} {
		b, err := Parse("acme-tg", golden.Read(t, name))
		if err != nil || len(b.Messages) != 0 || len(b.Ignored) != 1 {
			t.Errorf("%s: %+v, %v; want ignored", name, b, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       "update_id=1",
		"null":           "null",
		"no update_id":   `{"message":{"message_id":1,"from":{"id":1},"chat":{"id":1,"type":"private"},"text":"x"}}`,
		"string from.id": `{"update_id":1,"message":{"message_id":1,"from":{"id":{}},"chat":{"id":1,"type":"private"},"text":"x"}}`,
		"float id":       `{"update_id":1.5}`,
		"no chat id":     `{"update_id":1,"message":{"message_id":1,"from":{"id":1},"chat":{"type":"private"},"text":"x"}}`,
	} {
		if b, err := Parse("c", []byte(body)); err == nil {
			t.Errorf("%s: %+v; want an error", name, b)
		}
	}
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := Parse("test-channel", golden.Read(t, filepath.Base(f)))
			got := map[string]any{"messages": b.Messages, "ignored": b.Ignored}
			if err != nil {
				got = map[string]any{"error": err.Error()}
			}
			golden.Compare(t, name, got)
		})
	}
}

func FuzzParseTelegram(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(`{"update_id":0}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Parse("fuzz", body)
		if err != nil {
			if len(b.Messages) != 0 {
				t.Fatalf("error %v together with messages", err)
			}
			return
		}
		if len(b.Messages) > 1 {
			t.Fatalf("one update gave %d messages", len(b.Messages))
		}
		if len(b.Messages) > 0 && !json.Valid(body) {
			t.Fatalf("messages from invalid JSON %q", body)
		}
		for _, m := range b.Messages {
			if !strings.Contains(m.MessageID, ":") || m.Sender.UserID == "" || m.PlatformEventID == "" {
				t.Fatalf("incomplete message %+v", m)
			}
			if !utf8.ValidString(m.Text) || m.Text == "" {
				t.Fatalf("bad text %q", m.Text)
			}
		}
	})
}
