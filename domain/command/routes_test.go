package command_test

import (
	"context"
	"sync"
	"testing"

	"switchboard/domain"
	"switchboard/domain/command"
)

// recordingResolver passes every command on and keeps it.
type recordingResolver struct {
	mu   sync.Mutex
	cmds []command.ResolveMessage
	next command.CommandHandler[command.ResolveMessage]
}

func (r *recordingResolver) Handle(ctx context.Context, cmd command.ResolveMessage) error {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
	return r.next.Handle(ctx, cmd)
}

func (f *fixture) received(t *testing.T, channel, id string) domain.RecordedEvent {
	t.Helper()
	evs, err := f.store.ReadStream(context.Background(), domain.MessageStream(channel, id), 0)
	if err != nil || len(evs) == 0 || evs[0].Type != domain.EventMessageReceived {
		t.Fatalf("message %s/%s: %d events, %v", channel, id, len(evs), err)
	}
	return evs[0]
}

// The resolver's partition identifies a message's sender; its Handle hands that
// identification to the handler instead of having the number parsed again, once: a
// retry of the event identifies afresh.
func TestResolverHandsThePartitionsIdentificationToItsHandler(t *testing.T) {
	f := newFixture(t, 0)
	seen := &recordingResolver{next: f.resolver(t)}
	route := command.NewResolveRoute(catalog{}, seen)
	f.record(t, "sms", "R1", domain.Sender{Phone: "(628) 555-0101"})
	e := f.received(t, "sms", "R1")

	route.Partition(e)
	for attempt := 1; attempt <= 2; attempt++ {
		if err := route.Handle(context.Background(), e, attempt); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen.cmds) != 2 {
		t.Fatalf("%d commands, want 2", len(seen.cmds))
	}
	if pre := seen.cmds[0].Identified; pre == nil || pre.ID.Identifier != "+16285550101" || pre.Unlinked != nil {
		t.Fatalf("first Handle passed %+v, want the partition's identification of +16285550101", pre)
	}
	if pre := seen.cmds[1].Identified; pre != nil {
		t.Fatalf("the retry passed %+v again, want none (taken once)", pre)
	}
	st := f.state(t, "sms", "R1")
	if st.Identified == nil || st.Identified.Identifier != "+16285550101" || st.Outcome == "" {
		t.Fatalf("message state %+v: want it identified as +16285550101 and resolved", st)
	}
}

// A given identification is taken only when it was made from what the handler would
// identify from; otherwise the handler identifies the sender itself. The given one here
// names another number, so the message's SenderIdentified tells which was used.
func TestResolveTakesAGivenIdentificationOnlyForItsOwnInputs(t *testing.T) {
	sender := domain.Sender{Phone: "(628) 555-0102"}
	sms, _ := catalog{}.Channel("sms")
	other := func(ch domain.ChannelSettings, blocked domain.BlockList, s domain.Sender) *command.Identified {
		id, unlinked := domain.Identify(ch, blocked, domain.Sender{Phone: "+1 628 555 0199"})
		return &command.Identified{Channel: ch, Blocked: blocked, Sender: s, ID: id, Unlinked: unlinked}
	}
	gb := sms
	gb.DefaultRegion = "GB"
	for _, c := range []struct {
		name string
		pre  *command.Identified
		want string
	}{
		{"same inputs: taken", other(sms, domain.NewBlockList(nil), sender), "+16285550199"},
		{"another sender", other(sms, domain.NewBlockList(nil), domain.Sender{Phone: "+1 628 555 0103"}), "+16285550102"},
		{"other channel settings", other(gb, domain.NewBlockList(nil), sender), "+16285550102"},
		{"another block list", other(sms, domain.NewBlockList([]string{"+16285550102"}), sender), "+16285550102"},
		{"none given", nil, "+16285550102"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 0)
			f.record(t, "sms", "R2", sender)
			err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "R2"), Identified: c.pre})
			if err != nil {
				t.Fatal(err)
			}
			if st := f.state(t, "sms", "R2"); st.Identified == nil || st.Identified.Identifier != c.want {
				t.Fatalf("identified as %+v, want %s", st.Identified, c.want)
			}
		})
	}
}
