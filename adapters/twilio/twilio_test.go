package twilio

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/adapters/inbound/golden"
	"switchboard/domain"
)

// Twilio's published worked example (channels.md §1.3).
func TestSignPublishedVector(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	const want = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	if got := Sign("12345", u, params); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	for _, variant := range []string{u, "https://mycompany.com:443/myapp.php?foo=1&bar=2"} {
		if !Valid("12345", variant, params, want) {
			t.Errorf("Valid(%s) = false for the published signature", variant)
		}
	}
	tampered := url.Values{}
	for k, v := range params {
		tampered[k] = v
	}
	tampered.Set("Digits", "1235")
	for name, ok := range map[string]bool{
		"wrong token":     Valid("54321", u, params, want),
		"tampered param":  Valid("12345", u, tampered, want),
		"other url":       Valid("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", params, want),
		"empty signature": Valid("12345", u, params, ""),
		"empty token":     Valid("", u, params, Sign("", u, params)),
	} {
		if ok {
			t.Errorf("%s: Valid = true, want false", name)
		}
	}
}

// A repeated key signs its values in sorted order, whatever order they arrived in.
func TestSignRepeatedKeys(t *testing.T) {
	p := url.Values{"MediaUrl1": {"b"}, "MediaUrl0": {"z", "a"}}
	a := Sign("t", "https://x/y", p)
	q := url.Values{"MediaUrl0": {"a", "z"}, "MediaUrl1": {"b"}}
	if b := Sign("t", "https://x/y", q); a != b {
		t.Fatalf("signature depends on value order: %s vs %s", a, b)
	}
}

func TestMessages(t *testing.T) {
	b, err := Parse("acme-wa-twilio", domain.KindWhatsApp, golden.Read(t, "whatsapp_text.form"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 1 {
		t.Fatalf("messages = %d, want 1", len(b.Messages))
	}
	m := b.Messages[0]
	want := domain.InboundMessage{
		ChannelID: "acme-wa-twilio", MessageID: "SMd35dc6b5e27d2858718fd7da213a625f", Text: "Hola",
		Sender: domain.Sender{Phone: "+573003255454", DisplayName: "David Ríos", BSUID: "CO.4480491918930694"},
		Source: "webhook:whatsapp",
	}
	if m != want {
		t.Errorf("got %+v\nwant %+v", m, want)
	}

	b, err = Parse("acme-sms", domain.KindSMS, golden.Read(t, "sms_mms_no_body.form"))
	if err != nil || len(b.Messages) != 1 || b.Messages[0].Text != "[image] [file]" {
		t.Errorf("MMS without body: %+v, %v; want one message with text [image] [file]", b, err)
	}
	for _, name := range []string{"sms_status_delivered.form", "sms_status_queued.form", "whatsapp_status_read.form"} {
		kind := domain.KindSMS
		if strings.HasPrefix(name, "whatsapp") {
			kind = domain.KindWhatsApp
		}
		b, err := Parse("c", kind, golden.Read(t, name))
		if err != nil || len(b.Messages) != 0 || len(b.Ignored) != 1 {
			t.Errorf("%s: %+v, %v; want ignored", name, b, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"bad escape":       "MessageSid=SM1&From=%zz",
		"no MessageSid":    "From=%2B14155552671&Body=hi",
		"no From":          "MessageSid=SM1&Body=hi",
		"bad NumMedia":     "MessageSid=SM1&From=%2B1&NumMedia=lots",
		"whatsapp no addr": "MessageSid=SM1&From=whatsapp%3A&Body=hi",
	} {
		kind := domain.KindSMS
		if strings.HasPrefix(name, "whatsapp") {
			kind = domain.KindWhatsApp
		}
		if b, err := Parse("c", kind, []byte(body)); err == nil {
			t.Errorf("%s: no error, got %+v", name, b)
		}
	}
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.form")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".form")
		t.Run(name, func(t *testing.T) {
			kind := domain.KindSMS
			if strings.HasPrefix(name, "whatsapp") {
				kind = domain.KindWhatsApp
			}
			b, err := Parse("test-channel", kind, golden.Read(t, filepath.Base(f)))
			got := map[string]any{"messages": b.Messages, "ignored": b.Ignored}
			if err != nil {
				got = map[string]any{"error": err.Error()}
			}
			golden.Compare(t, name, got)
		})
	}
}

func FuzzParseTwilio(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.form")
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, strings.HasPrefix(filepath.Base(file), "whatsapp"))
	}
	f.Add([]byte("MessageSid=&From=&Body="), false)
	f.Add([]byte("%"), true)
	f.Fuzz(func(t *testing.T, body []byte, whatsapp bool) {
		kind := domain.KindSMS
		if whatsapp {
			kind = domain.KindWhatsApp
		}
		b, err := Parse("fuzz", kind, body)
		if err != nil {
			if len(b.Messages) != 0 {
				t.Fatalf("error %v together with messages %+v", err, b.Messages)
			}
			return
		}
		form, ferr := url.ParseQuery(string(body))
		if len(b.Messages) > 0 && ferr != nil {
			t.Fatalf("messages from a body that is not a form: %q", body)
		}
		for _, m := range b.Messages {
			if m.MessageID == "" || m.ChannelID != "fuzz" || m.Source == "" {
				t.Fatalf("incomplete message %+v", m)
			}
			if m.Sender.Phone == "" && m.Sender.BSUID == "" {
				t.Fatalf("message without a sender: %+v from %v", m, form)
			}
			if !utf8.ValidString(m.Text) {
				t.Fatalf("text is not UTF-8: %q", m.Text)
			}
		}
	})
}
