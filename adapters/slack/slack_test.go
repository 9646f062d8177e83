package slack

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"switchboard/adapters/inbound/golden"
	"switchboard/domain"
)

// Slack's published example (channels.md §6.2).
const (
	vectorSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	vectorTS     = "1531420618"
	vectorBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	vectorSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignPublishedVector(t *testing.T) {
	if got := Sign(vectorSecret, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("Sign = %s, want %s", got, vectorSig)
	}
	at := time.Unix(1531420618, 0)
	if err := Verify(vectorSecret, vectorTS, vectorSig, []byte(vectorBody), at.Add(4*time.Minute)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	cases := map[string]struct {
		secret, ts, sig, body string
		now                   time.Time
		want                  error
	}{
		"no secret":       {"", vectorTS, vectorSig, vectorBody, at, ErrNoSecret},
		"no signature":    {vectorSecret, vectorTS, "", vectorBody, at, ErrNoSignature},
		"no timestamp":    {vectorSecret, "", vectorSig, vectorBody, at, ErrNoSignature},
		"bad timestamp":   {vectorSecret, "yesterday", vectorSig, vectorBody, at, ErrBadTimestamp},
		"stale":           {vectorSecret, vectorTS, vectorSig, vectorBody, at.Add(5*time.Minute + time.Second), ErrStale},
		"future":          {vectorSecret, vectorTS, vectorSig, vectorBody, at.Add(-5*time.Minute - time.Second), ErrStale},
		"tampered body":   {vectorSecret, vectorTS, vectorSig, vectorBody + "x", at, ErrBadSignature},
		"wrong secret":    {"other", vectorTS, vectorSig, vectorBody, at, ErrBadSignature},
		"other timestamp": {vectorSecret, "1531420619", vectorSig, vectorBody, at, ErrBadSignature},
	}
	for name, c := range cases {
		if err := Verify(c.secret, c.ts, c.sig, []byte(c.body), c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	b, err := Parse("acme-slack", golden.Read(t, "message_im.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.InboundMessage{
		ChannelID: "acme-slack", MessageID: "D024BE91L:1355517523.000005", SentAt: time.Unix(1355517523, 5000).UTC(),
		Sender: domain.Sender{UserID: "U2147483697"}, Text: "Hello hello can you hear me?",
		Source: "webhook:slack", PlatformEventID: "Ev0PV52K21",
	}
	if len(b.Messages) != 1 || b.Messages[0] != want {
		t.Fatalf("got %+v\nwant %+v", b.Messages, want)
	}
	b, err = Parse("acme-slack", golden.Read(t, "url_verification.json"))
	if err != nil || b.Reply != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" || len(b.Messages) != 0 {
		t.Errorf("url_verification: %+v, %v", b, err)
	}
	b, _ = Parse("acme-slack", golden.Read(t, "file_share.json"))
	if len(b.Messages) != 1 || b.Messages[0].Text != "[image]" {
		t.Errorf("file_share: %+v", b)
	}
	for _, name := range []string{"bot_message.json", "app_own_message.json", "message_changed.json", "message_deleted.json",
		"channel_message.json", "app_mention.json", "app_rate_limited.json", "app_uninstalled.json"} {
		b, err := Parse("acme-slack", golden.Read(t, name))
		if err != nil || len(b.Messages) != 0 || len(b.Ignored) != 1 {
			t.Errorf("%s: %+v, %v; want ignored", name, b, err)
		}
	}
	if got := TS(time.Unix(1355517523, 5000)); got != "1355517523.000005" {
		t.Errorf("TS = %s", got)
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"form body":            vectorBody,
		"null":                 "null",
		"no type":              `{"event":{}}`,
		"verification no chal": `{"type":"url_verification"}`,
		"callback no event":    `{"type":"event_callback","event_id":"Ev1"}`,
		"message no ts":        `{"type":"event_callback","event":{"type":"message","channel_type":"im","user":"U1","channel":"D1","text":"x"}}`,
		"event not object":     `{"type":"event_callback","event":"message"}`,
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
			got := map[string]any{"messages": b.Messages, "ignored": b.Ignored, "reply": b.Reply}
			if err != nil {
				got = map[string]any{"error": err.Error()}
			}
			golden.Compare(t, name, got)
		})
	}
}

func FuzzParseSlack(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(vectorBody))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Parse("fuzz", body)
		if err != nil {
			if len(b.Messages) != 0 || b.Reply != "" {
				t.Fatalf("error %v together with a result %+v", err, b)
			}
			return
		}
		if len(b.Messages) > 1 {
			t.Fatalf("one event gave %d messages", len(b.Messages))
		}
		if (len(b.Messages) > 0 || b.Reply != "") && !json.Valid(body) {
			t.Fatalf("result from invalid JSON %q", body)
		}
		for _, m := range b.Messages {
			if !strings.Contains(m.MessageID, ":") || m.Sender.UserID == "" || m.ChannelID != "fuzz" {
				t.Fatalf("incomplete message %+v", m)
			}
			if !utf8.ValidString(m.Text) {
				t.Fatalf("text is not UTF-8: %q", m.Text)
			}
		}
	})
}
