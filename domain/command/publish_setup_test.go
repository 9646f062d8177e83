package command_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
)

// setupCatalog is catalog with the inbox ids of every channel but keep removed, as in
// a configuration that leaves them to `hubspot setup`.
type setupCatalog struct {
	catalog
	keep string
}

func (c setupCatalog) Channel(id string) (domain.ChannelSettings, bool) {
	ch, ok := c.catalog.Channel(id)
	if id != c.keep {
		ch.Inbox = domain.Inbox{}
	}
	return ch, ok
}

// TestPublicationUsesTheAccountSetupRecorded: a channel without inbox ids publishes
// into the channel account recorded on the workspace's HubSpot stream; before one is
// recorded its message is a dead letter that says to run setup; inbox ids in the
// configuration win over a recorded account.
func TestPublicationUsesTheAccountSetupRecorded(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	cat := setupCatalog{keep: "sms"}
	p, err := command.NewPublishMessageHandler(f.store, cat, f.dir, newID, f.clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: cat, Directories: f.dir,
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	send := func(channel, id string, s domain.Sender) domain.MessageState {
		t.Helper()
		f.record(t, channel, id, s)
		stream := domain.MessageStream(channel, id)
		if err := r.Handle(ctx, command.ResolveMessage{Stream: stream}); err != nil {
			t.Fatal(err)
		}
		if err := p.Handle(ctx, command.PublishMessage{Stream: stream, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		return f.state(t, channel, id)
	}

	st := send("tg", "1:1", domain.Sender{UserID: "77"})
	if st.DeadLetter == nil || !strings.Contains(st.DeadLetter.Reason, "hubspot setup") || st.Published != nil {
		t.Fatalf("before setup: %+v, want a dead letter that says to run hubspot setup", st.DeadLetter)
	}

	var evs []domain.EventData
	for _, e := range []struct {
		typ     string
		payload any
	}{
		{domain.EventHubSpotChannelRegistered, domain.HubSpotChannelRegistered{ChannelID: "1001", Name: "switchboard"}},
		{domain.EventHubSpotChannelAccountConnected, domain.HubSpotChannelAccountConnected{Channel: "tg", ChannelID: "1001", ChannelAccountID: "2006", InboxID: "9"}},
		{domain.EventHubSpotChannelAccountConnected, domain.HubSpotChannelAccountConnected{Channel: "sms", ChannelID: "1001", ChannelAccountID: "2999", InboxID: "9"}},
	} {
		ev, err := domain.NewEvent(newID(), e.typ, e.payload, time.Now(), "setup")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := f.store.Append(ctx, domain.HubSpotStream("w"), domain.NoStream, evs...); err != nil {
		t.Fatal(err)
	}

	if st := send("tg", "1:2", domain.Sender{UserID: "77"}); st.Published == nil {
		t.Fatalf("after setup: not published: %+v", st.DeadLetter)
	}
	if st := send("sms", "SM1", domain.Sender{Phone: "+14155552671"}); st.Published == nil {
		t.Fatalf("sms: not published: %+v", st.DeadLetter)
	}
	pubs := f.emu.Published()
	if len(pubs) != 2 {
		t.Fatalf("%d publications, want 2: %+v", len(pubs), pubs)
	}
	if a := pubs[0].ChannelID + "/" + pubs[0].ChannelAccountID; a != "1001/2006" {
		t.Errorf("telegram published to %s, want the recorded 1001/2006", a)
	}
	if a := pubs[1].ChannelID + "/" + pubs[1].ChannelAccountID; a != "1/2" {
		t.Errorf("sms published to %s, want the configuration's 1/2 (ids given there win)", a)
	}
}

// refusingInbox refuses every publication as HubSpot refuses a value it will not take:
// its error text names the answer, its detail quotes the value.
type refusingInbox struct{}

type refusal struct{}

func (refusal) Error() string {
	return "HubSpot answered 400 Bad Request (VALIDATION_ERROR) [correlation id c-1]"
}
func (refusal) Detail() string { return "+14155552671 is not a valid phone number" }
func (refusal) Is(target error) bool {
	return target == domain.ErrPermanent
}

func (refusingInbox) Inbox(string) (domain.InboxPublisher, error) { return refusingInbox{}, nil }
func (refusingInbox) Publish(context.Context, domain.InboxMessage) (domain.PublishedMessage, error) {
	return domain.PublishedMessage{}, refusal{}
}

// A publication HubSpot refuses for good is a dead letter whose reason keeps HubSpot's
// own words (sealed, erasable), while the log line that reports it names nobody.
func TestRefusedPublicationRecordsHubSpotsWordsAndLogsNone(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := command.NewPublishMessageHandler(f.store, catalog{}, refusingInbox{}, newID, f.clock.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: catalog{}, Directories: f.dir,
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, "sms", "SM1", domain.Sender{Phone: "+14155552671"})
	stream := domain.MessageStream("sms", "SM1")
	if err := r.Handle(ctx, command.ResolveMessage{Stream: stream}); err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(ctx, command.PublishMessage{Stream: stream, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	st := f.state(t, "sms", "SM1")
	if st.DeadLetter == nil || !strings.Contains(st.DeadLetter.Reason, "VALIDATION_ERROR") || !strings.Contains(st.DeadLetter.Reason, "is not a valid phone number") {
		t.Fatalf("dead letter %+v: want HubSpot's answer and its message", st.DeadLetter)
	}
	if !strings.Contains(logs.String(), "publication failed for good") {
		t.Fatalf("no log line of the failure: %s", logs.String())
	}
	if strings.Contains(logs.String(), "4155552671") {
		t.Errorf("an info-level log names the sender: %s", logs.String())
	}
}
