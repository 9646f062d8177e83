package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/adapters/httpapi"
	"switchboard/adapters/samples"
	"switchboard/domain"
)

// Issue 10 items 9 and 14 through the command API: a sent_at outside years 0001–9999 in
// UTC and an oversized or control-bearing sender field are refused with 400 naming the
// field (never 500 "may be retried", which a client retries forever), and nothing is
// recorded.
func TestCommandAPIRefusesOutOfBoundsFields(t *testing.T) {
	s := startStack(t, stackOptions{})
	long := strings.Repeat("a", domain.MaxFieldBytes+1)
	cases := []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"year 0000 with an offset", map[string]any{"channel_id": "acme-sms", "message_id": "Y0", "sent_at": "0000-01-01T00:00:00+01:00",
			"sender": map[string]any{"phone": "+14155552671"}}, 400, "sent_at"},
		{"year 9999 with an offset", map[string]any{"channel_id": "acme-sms", "message_id": "Y9", "sent_at": "9999-12-31T23:59:59-01:00",
			"sender": map[string]any{"phone": "+14155552671"}}, 400, "sent_at"},
		{"oversized bsuid", map[string]any{"channel_id": "acme-wa", "message_id": "B1",
			"sender": map[string]any{"phone": "+14155552671", "bsuid": "US." + long}}, 400, "sender.bsuid"},
		{"oversized first name", map[string]any{"channel_id": "acme-sms", "message_id": "N1",
			"sender": map[string]any{"phone": "+14155552671", "first_name": long}}, 400, "sender.first_name"},
		{"NUL in a user id", map[string]any{"channel_id": "acme-tg", "message_id": "U1",
			"sender": map[string]any{"user_id": "777\x00001"}}, 400, "sender.user_id"},
		{"control character in a username", map[string]any{"channel_id": "acme-ig", "message_id": "U2",
			"sender": map[string]any{"username": "ana\x1b[31m"}}, 400, "sender.username"},
		{"NUL in a message id", map[string]any{"channel_id": "acme-sms", "message_id": "SM\x00",
			"sender": map[string]any{"phone": "+14155552671"}}, 400, "message_id"},
		{"newline in a last name", map[string]any{"channel_id": "acme-sms", "message_id": "N2",
			"sender": map[string]any{"phone": "+14155552671", "last_name": "Bento\nDELETE"}}, 400, "sender.last_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.do("POST", "/v1/messages", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var e struct {
				Error struct{ Code, Field, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Field != tc.field || e.Error.Message == "" {
				t.Errorf("error %s, want one naming %s", body, tc.field)
			}
		})
	}
	if n := s.eventCount(); n != 0 {
		t.Errorf("%d events recorded from refused input, want 0", n)
	}
	// The bounds in range still pass.
	s.post(map[string]any{"channel_id": "acme-sms", "message_id": "OK1", "sent_at": "0001-01-01T00:00:00Z",
		"sender": map[string]any{"phone": "+14155552671", "first_name": strings.Repeat("é", domain.MaxFieldBytes/2)}}, http.StatusAccepted)
}

// A body over the command API's limit is 413, like the webhooks answer.
func TestCommandAPIOversizedBodyIs413(t *testing.T) {
	s := startStack(t, stackOptions{})
	big := fmt.Sprintf(`{"channel_id":"acme-sms","message_id":"1","sender":{"phone":"+14155552671"},"text":%q}`, strings.Repeat("x", 2<<20))
	status, body := s.do("POST", "/v1/messages", big)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %.200s", status, body)
	}
	if !strings.Contains(string(body), "larger than") {
		t.Errorf("body %s does not say why", body)
	}
}

// Issue 10 item 14 from a platform: a 300 KB WhatsApp profile name with a NUL in it is
// not refused (the message would be acknowledged and lost) but cleaned and cut to
// MaxFieldBytes at a rune boundary, and that is the name the created contact gets.
func TestWebhookDisplayNameIsBounded(t *testing.T) {
	s := startStack(t, stackOptions{})
	name := "Ana\x00" + strings.Repeat("é", 150_000)
	if status := s.sendSample("acme-wa-twilio", samples.Sample{From: "+447911123456", Name: name, MessageID: "SMBIG1"}, nil); status != http.StatusOK {
		t.Fatalf("webhook: status %d", status)
	}
	st := s.waitSettled("acme-wa-twilio", "SMBIG1")
	if st.Outcome != domain.EventContactCreated {
		t.Fatalf("outcome %s, want ContactCreated", st.Outcome)
	}
	c, ok := s.emu.Contact(st.ContactID)
	if !ok {
		t.Fatalf("contact %s not in the emulator", st.ContactID)
	}
	first := c.Properties["firstname"]
	if len(first) > domain.MaxFieldBytes || !utf8.ValidString(first) || strings.ContainsRune(first, 0) || !strings.HasPrefix(first, "Anaé") {
		t.Errorf("firstname is %d bytes (%.20q…), want at most %d valid UTF-8 bytes without NUL, starting Anaé", len(first), first, domain.MaxFieldBytes)
	}
	for _, e := range s.messageEvents("acme-wa-twilio", "SMBIG1") {
		if len(e.Payload) > 4096 {
			t.Errorf("event %s is %d bytes: the name was recorded whole", e.Type, len(e.Payload))
		}
	}
}

// Issue 10 item 14: /v1/events answers within MaxEventsResponseBytes however large the
// events are, says it stopped short, and paging on from next_after reads every event
// once.
func TestEventsFeedIsBounded(t *testing.T) {
	s := startStack(t, stackOptions{})
	const n = 80
	text := strings.Repeat("x", 60<<10)
	for i := 0; i < n; i++ {
		s.post(msg("acme-tg-quiet", fmt.Sprint(9000+i), map[string]any{"user_id": fmt.Sprint(4000 + i)}, text), http.StatusAccepted)
	}
	s.waitPublished(n)
	last := s.eventCount()

	type feed struct {
		Events []struct {
			Position int64 `json:"position"`
		} `json:"events"`
		NextAfter int64 `json:"next_after"`
		Truncated bool  `json:"truncated"`
	}
	var seen []int64
	after, pages, truncated := int64(0), 0, false
	for {
		status, body := s.do("GET", fmt.Sprintf("/v1/events?after=%d&limit=1000", after), nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %.300s", status, body)
		}
		if len(body) > httpapi.MaxEventsResponseBytes+256<<10 {
			t.Fatalf("page %d is %d bytes, want at most about %d", pages, len(body), httpapi.MaxEventsResponseBytes)
		}
		var f feed
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		truncated = truncated || f.Truncated
		if len(f.Events) == 0 {
			break
		}
		for _, e := range f.Events {
			seen = append(seen, e.Position)
		}
		after, pages = f.NextAfter, pages+1
	}
	if !truncated || pages < 2 {
		t.Errorf("%d pages, truncated %v: over %d MB of events should not fit one answer", pages, truncated, n*60>>10)
	}
	if int64(len(seen)) < last {
		t.Errorf("paging read %d events, the log holds at least %d", len(seen), last)
	}
	for i, p := range seen {
		if p != int64(i+1) {
			t.Fatalf("event %d has position %d: paging skipped or repeated one", i, p)
		}
	}
	if status, body := s.do("GET", "/v1/events?limit=1001", nil); status != http.StatusBadRequest || !strings.Contains(string(body), `"limit"`) {
		t.Errorf("limit=1001: %d %s, want 400 naming limit", status, body)
	}
}
