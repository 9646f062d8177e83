package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCheckFields(t *testing.T) {
	long := strings.Repeat("a", MaxFieldBytes+1)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		m     InboundMessage
		field string // "" = accepted
	}{
		{"plain", InboundMessage{ChannelID: "c", MessageID: "1", Sender: Sender{Phone: "+14155552671", FirstName: "Ana"}}, ""},
		{"first year", InboundMessage{SentAt: at("0001-01-01T00:00:00Z")}, ""},
		{"last second", InboundMessage{SentAt: at("9999-12-31T23:59:59Z")}, ""},
		{"year 0000 with an offset", InboundMessage{SentAt: at("0000-01-01T00:00:00+01:00")}, "sent_at"},
		{"year 0000 in UTC", InboundMessage{SentAt: at("0000-06-01T00:00:00Z")}, "sent_at"},
		{"year 9999 with an offset", InboundMessage{SentAt: at("9999-12-31T23:59:59-01:00")}, "sent_at"},
		{"year 1 with an offset that stays in it", InboundMessage{SentAt: at("0001-01-01T01:00:00+01:00")}, ""},
		{"bsuid too long", InboundMessage{Sender: Sender{BSUID: "US." + long}}, "sender.bsuid"},
		{"display name too long from the API", InboundMessage{Source: "api", Sender: Sender{DisplayName: long}}, "sender.display_name"},
		{"display name too long, no source", InboundMessage{Sender: Sender{DisplayName: long}}, "sender.display_name"},
		{"display name too long from a webhook", InboundMessage{Source: "webhook:whatsapp", Sender: Sender{DisplayName: long}}, ""},
		{"platform event id too long", InboundMessage{PlatformEventID: long}, "platform_event_id"},
		{"channel id too long", InboundMessage{ChannelID: long}, "channel_id"},
		{"NUL in a user id", InboundMessage{Sender: Sender{UserID: "1\x002"}}, "sender.user_id"},
		{"NUL in a user id from a webhook", InboundMessage{Source: "webhook:telegram", Sender: Sender{UserID: "1\x002"}}, "sender.user_id"},
		{"escape in a username", InboundMessage{Sender: Sender{Username: "ana\x1b"}}, "sender.username"},
		{"C1 control in a phone", InboundMessage{Sender: Sender{Phone: "+1415\u0085"}}, "sender.phone"},
		{"DEL in an email", InboundMessage{Sender: Sender{Email: "a@b\x7f"}}, "sender.email"},
		{"newline in a message id", InboundMessage{MessageID: "1\n"}, "message_id"},
		{"tab in a first name from the API", InboundMessage{Source: "api", Sender: Sender{FirstName: "A\tB"}}, "sender.first_name"},
		{"invalid UTF-8 in a bsuid", InboundMessage{Sender: Sender{BSUID: "US.\xff"}}, "sender.bsuid"},
		{"control characters in names from a webhook", InboundMessage{Source: "webhook:telegram", Sender: Sender{FirstName: "A\x00na", LastName: "B\xffento\n"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			err := m.CheckFields()
			var de *Error
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &de) || de.Code != CodeInvalid || de.Field != tc.field):
				t.Fatalf("error %v, want an invalid %s", err, tc.field)
			}
		})
	}
}

// A platform's timestamp outside years 0001–9999 does not lose the message: it is
// dropped, and the message recorded as received now.
func TestCheckFieldsDropsAPlatformsImpossibleTime(t *testing.T) {
	for _, ts := range []string{"0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"} {
		at, _ := time.Parse(time.RFC3339, ts)
		m := InboundMessage{Source: "webhook:slack", SentAt: at}
		if err := m.CheckFields(); err != nil || !m.SentAt.IsZero() {
			t.Errorf("%s from a webhook: %v, sent_at %v; want accepted with no sent_at", ts, err, m.SentAt)
		}
	}
}

// Names from a webhook are cleaned, not refused, and end up within the bounds.
func TestCheckFieldsCleansPlatformNames(t *testing.T) {
	m := InboundMessage{Source: "webhook:whatsapp", Sender: Sender{
		DisplayName: "Ana\x00 " + strings.Repeat("é", 200_000), FirstName: " Ana\r\nMaria\x07 ", LastName: "B\xffento"}}
	if err := m.CheckFields(); err != nil {
		t.Fatal(err)
	}
	if d := m.Sender.DisplayName; len(d) > MaxFieldBytes || !utf8.ValidString(d) || !strings.HasPrefix(d, "Ana é") || len(d) < MaxFieldBytes-1 {
		t.Errorf("display name %d bytes %.12q…", len(d), d)
	}
	if m.Sender.FirstName != "Ana  Maria" || m.Sender.LastName != "B\uFFFDento" {
		t.Errorf("names %q %q", m.Sender.FirstName, m.Sender.LastName)
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ana Bento", "Ana Bento"},
		{"", ""},
		{"\x00", ""},
		{"Ana\tBento", "Ana Bento"},
		{"Ana\u200bBento", "Ana\u200bBento"}, // a format character is no control character
		{strings.Repeat("a", MaxFieldBytes) + "b", strings.Repeat("a", MaxFieldBytes)},
		{strings.Repeat("a", MaxFieldBytes-1) + "é", strings.Repeat("a", MaxFieldBytes-1)}, // é would straddle the limit
		{strings.Repeat("漢", 100), strings.Repeat("漢", MaxFieldBytes/3)},
	}
	for _, tc := range tests {
		if got := CleanName(tc.in); got != tc.want {
			t.Errorf("CleanName(%.40q) = %.40q (%d bytes), want %.40q", tc.in, got, len(got), tc.want)
		}
	}
}

// A contact is never created with a name over the bounds, wherever the name came from
// (a profile API fills names after the message was checked).
func TestNewContactPropertiesBoundsNames(t *testing.T) {
	props := NewContactProperties(ChannelSettings{}, Identification{Property: "telegram_user_id", Identifier: "7"},
		Sender{DisplayName: "Ana\x00" + strings.Repeat("x", 300_000)})
	if f := props["firstname"]; len(f) != MaxFieldBytes || strings.ContainsRune(f, 0) {
		t.Errorf("firstname %d bytes %.10q", len(f), f)
	}
}
