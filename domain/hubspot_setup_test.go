package domain_test

import (
	"testing"
	"time"

	"switchboard/domain"
)

func setupEvent(t *testing.T, typ string, payload any) domain.RecordedEvent {
	t.Helper()
	e, err := domain.NewEvent("id", typ, payload, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	return domain.RecordedEvent{EventData: e}
}

// TestHubSpotSetupInbox: a channel publishes into its account on the channel registered
// last; an account left on an older channel, or none, gives no inbox.
func TestHubSpotSetupInbox(t *testing.T) {
	reg := func(id string) domain.RecordedEvent {
		return setupEvent(t, domain.EventHubSpotChannelRegistered, domain.HubSpotChannelRegistered{ChannelID: id, Name: "switchboard"})
	}
	acc := func(channel, chID, accID string) domain.RecordedEvent {
		return setupEvent(t, domain.EventHubSpotChannelAccountConnected, domain.HubSpotChannelAccountConnected{Channel: channel, ChannelID: chID, ChannelAccountID: accID})
	}
	cases := []struct {
		name    string
		evs     []domain.RecordedEvent
		channel string
		want    domain.Inbox
		ok      bool
	}{
		{"nothing recorded", nil, "acme-sms", domain.Inbox{}, false},
		{"connected", []domain.RecordedEvent{reg("1001"), acc("acme-sms", "1001", "2001")}, "acme-sms", domain.Inbox{ChannelID: "1001", ChannelAccountID: "2001"}, true},
		{"another channel connected", []domain.RecordedEvent{reg("1001"), acc("acme-tg", "1001", "2001")}, "acme-sms", domain.Inbox{}, false},
		{"reconnected later wins", []domain.RecordedEvent{reg("1001"), acc("acme-sms", "1001", "2001"), acc("acme-sms", "1001", "2009")}, "acme-sms", domain.Inbox{ChannelID: "1001", ChannelAccountID: "2009"}, true},
		{"account on an older channel", []domain.RecordedEvent{reg("1001"), acc("acme-sms", "1001", "2001"), reg("1002")}, "acme-sms", domain.Inbox{}, false},
		{"unknown event skipped", []domain.RecordedEvent{reg("1001"), setupEvent(t, "SomethingLater", map[string]string{}), acc("acme-sms", "1001", "2001")}, "acme-sms", domain.Inbox{ChannelID: "1001", ChannelAccountID: "2001"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := domain.FoldHubSpotSetup(c.evs)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := s.Inbox(c.channel)
			if got != c.want || ok != c.ok {
				t.Fatalf("Inbox(%s) = %+v, %v; want %+v, %v", c.channel, got, ok, c.want, c.ok)
			}
		})
	}
}
