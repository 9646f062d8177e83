package command_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
)

type observed struct {
	mu  sync.Mutex
	got []string
}

func (o *observed) ObserveHandler(kind, name, outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, kind+" "+name+" "+outcome)
}

// NewApp wraps every handler with the metrics decorator: each command and query is
// observed once, by its name and outcome, without the handler knowing.
func TestAppObservesEveryCommandAndQuery(t *testing.T) {
	f := newFixture(t, 0)
	m := &observed{}
	app, err := command.NewApp(command.AppDeps{Store: f.store, Catalog: catalog{}, Directories: f.dir, Inboxes: f.dir,
		NewID: newID, Now: f.clock.Now, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := app.Inbound().Handle(ctx, domain.InboundMessage{ChannelID: "tg", MessageID: "1:1", Sender: domain.Sender{UserID: "9"}, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Inbound().Handle(ctx, domain.InboundMessage{ChannelID: "nope", MessageID: "1"}); err == nil {
		t.Fatal("a message on an unknown channel was recorded")
	}
	stream := domain.MessageStream("tg", "1:1")
	if err := app.Commands.ResolveMessage.Handle(ctx, command.ResolveMessage{Stream: stream}); err != nil {
		t.Fatal(err)
	}
	if err := app.Commands.PublishMessage.Handle(ctx, command.PublishMessage{Stream: stream, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := app.Queries.Message.Handle(ctx, command.GetMessage{ChannelID: "tg", MessageID: "1:1"})
	if err != nil || st.Published == nil {
		t.Fatalf("message state %+v (%v), want published", st, err)
	}
	if _, err := app.Commands.RetryDeadLetter.Handle(ctx, command.RetryDeadLetter{Stream: stream, RequestedBy: "test"}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("retry of a message without dead letter: %v, want not found", err)
	}
	want := []string{"command record_message ok", "command record_message error", "command resolve_message ok",
		"command publish_message ok", "query get_message ok", "command retry_dead_letter error"}
	if len(m.got) != len(want) {
		t.Fatalf("observed %v, want %v", m.got, want)
	}
	for i := range want {
		if m.got[i] != want[i] {
			t.Errorf("observation %d = %q, want %q", i, m.got[i], want[i])
		}
	}
}

// The routes hold what cmd/switchboard used to: which events each handler accepts.
func TestRoutesAcceptTheirEvents(t *testing.T) {
	f := newFixture(t, 0)
	app, err := command.NewApp(command.AppDeps{Store: f.store, Catalog: catalog{}, Directories: f.dir, Inboxes: f.dir, NewID: newID, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	retry := func(stage string) domain.RecordedEvent {
		e, _ := domain.NewEvent("e", domain.EventRetryRequested, domain.RetryRequested{Stage: stage}, time.Now(), "c")
		return domain.RecordedEvent{EventData: e, StreamID: "message:tg:1"}
	}
	of := func(typ string) domain.RecordedEvent {
		return domain.RecordedEvent{EventData: domain.EventData{Type: typ, Payload: []byte(`{}`)}, StreamID: "message:tg:1"}
	}
	resolve, publish := app.Routes.Resolve, app.Routes.Publish
	for _, c := range []struct {
		e                 domain.RecordedEvent
		resolves, publish bool
	}{
		{of(domain.EventMessageReceived), true, false},
		{of(domain.EventSenderIdentified), false, false},
		{of(domain.EventContactMatched), false, true},
		{of(domain.EventContactCreated), false, true},
		{of(domain.EventConversationUnlinked), false, true},
		{of(domain.EventMessagePublished), false, false},
		{of(domain.EventDeadLettered), false, false},
		{retry(domain.StageResolution), true, false},
		{retry(domain.StagePublication), false, true},
	} {
		if got := resolve.Accept(c.e); got != c.resolves {
			t.Errorf("resolver accepts %s (%s) = %v, want %v", c.e.Type, c.e.Payload, got, c.resolves)
		}
		if got := publish.Accept(c.e); got != c.publish {
			t.Errorf("publisher accepts %s (%s) = %v, want %v", c.e.Type, c.e.Payload, got, c.publish)
		}
	}
	if resolve.Name() != "resolver" || publish.Name() != "publisher" {
		t.Errorf("route names %q and %q: renaming them replays the log", resolve.Name(), publish.Name())
	}
}
