package command_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
	"switchboard/eventstore/sqlite"
)

type contactKeys map[string][]domain.MatchKey

func (c contactKeys) KeysOf(_ context.Context, ws, contactID string) ([]domain.MatchKey, error) {
	return c[ws+"/"+contactID], nil
}

// MessageSubjectsOf: these tests' messages are sealed with their keys' subjects.
func (c contactKeys) MessageSubjectsOf(context.Context, string, string) ([]string, error) {
	return nil, nil
}

type erasureFixture struct {
	store  domain.EventStore
	keys   *datakeys.Keeper
	record *command.RecordMessageHandler
	erase  *command.EraseSubjectsHandler
	// stored is each message's stream as the store keeps it: after an erasure nothing
	// leads from the message id to it, and the test reads it as an auditor holding
	// the stored name (from the log) does.
	stored map[string]string
}

func newErasureFixture(t *testing.T) *erasureFixture {
	t.Helper()
	ctx := context.Background()
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	keys, err := datakeys.Open(ctx, inner, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sealed.NewStore(inner, keys, catalog{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := command.NewRecordMessageHandler(st, catalog{}, newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	er, err := command.NewEraseSubjectsHandler(st, keys, newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &erasureFixture{store: st, keys: keys, record: rec, erase: er, stored: map[string]string{}}
}

func (f *erasureFixture) send(t *testing.T, channel, messageID string, s domain.Sender, text string) {
	t.Helper()
	if _, err := f.record.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{
		ChannelID: channel, MessageID: messageID, Sender: s, Text: text}}); err != nil {
		t.Fatal(err)
	}
	events, err := f.store.ReadStream(context.Background(), domain.MessageStream(channel, messageID), 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("read %s/%s: %d events, %v", channel, messageID, len(events), err)
	}
	f.stored[channel+"/"+messageID] = events[0].Stored()
}

func (f *erasureFixture) received(t *testing.T, channel, messageID string) domain.MessageReceived {
	t.Helper()
	events, err := f.store.ReadStream(context.Background(), f.stored[channel+"/"+messageID], 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("read %s/%s: %d events, %v", channel, messageID, len(events), err)
	}
	var m domain.MessageReceived
	if err := domain.Decode(events[0], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEraseSenderByChannelAndIdentifier(t *testing.T) {
	ctx := context.Background()
	f := newErasureFixture(t)
	f.send(t, "sms", "SM-x", domain.Sender{Phone: "+1 415 555 2671", FirstName: "Xenia"}, "X writes by SMS")
	f.send(t, "sms", "SM-y", domain.Sender{Phone: "+1 415 555 0199", FirstName: "Yannick"}, "Y writes by SMS")

	// The operator types the number their own way: it is read as the channel reads it.
	cmd, err := command.SenderErasure(catalog{}, "sms", "(415) 555-2671", "GDPR request received by email", "operator")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.erase.Handle(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Erased != 1 || rec.AlreadyGone != 1 { // the key; the number as typed was never a subject
		t.Errorf("receipt %+v; want 1 erased (the phone key) and 1 already gone", rec)
	}
	if x := f.received(t, "sms", "SM-x"); x.Text != domain.Erased || x.Sender.Phone != domain.Erased || x.Sender.FirstName != domain.Erased {
		t.Errorf("X after erasure: %+v", x)
	}
	if y := f.received(t, "sms", "SM-y"); y.Text != "Y writes by SMS" || y.Sender.FirstName != "Yannick" {
		t.Errorf("Y after X's erasure: %+v", y)
	}

	// The erasure is in the log, naming the subject by its random id only.
	all, err := f.store.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var erased []domain.RecordedEvent
	for _, e := range all {
		if e.Type == domain.EventSubjectErased {
			erased = append(erased, e)
		}
	}
	if len(erased) != 1 {
		t.Fatalf("%d SubjectErased events; want 1", len(erased))
	}
	var p domain.SubjectErased
	if err := domain.Decode(erased[0], &p); err != nil {
		t.Fatal(err)
	}
	if erased[0].StreamID != domain.ErasureStream(p.SubjectID) || strings.Contains(erased[0].StreamID, "2671") ||
		p.Trigger != domain.ErasedByOperator || p.Reason != "GDPR request received by email" || erased[0].CorrelationID != rec.CorrelationID {
		t.Errorf("SubjectErased %s: %+v", erased[0].StreamID, p)
	}

	// Erasing again is erasing once: nothing left to destroy, nothing recorded.
	again, err := f.erase.Handle(ctx, cmd)
	if err != nil || again.Erased != 0 || again.AlreadyGone != 2 {
		t.Errorf("second erasure: %+v, %v", again, err)
	}

	// X writing again afterwards is a new subject, readable, unrelated to the erased one.
	f.send(t, "sms", "SM-x2", domain.Sender{Phone: "+14155552671"}, "X is back")
	if x := f.received(t, "sms", "SM-x2"); x.Text != "X is back" {
		t.Errorf("X's new message: %+v", x)
	}
}

func TestEraseContactErasesEveryKeyResolvedToIt(t *testing.T) {
	ctx := context.Background()
	f := newErasureFixture(t)
	f.send(t, "sms", "SM-1", domain.Sender{Phone: "+14155552671"}, "by SMS")
	f.send(t, "tg", "tg-1", domain.Sender{UserID: "90001", FirstName: "Xenia"}, "by Telegram")
	f.send(t, "tg", "tg-2", domain.Sender{UserID: "90002"}, "someone else")
	keys := contactKeys{"w/101": {
		{Workspace: "w", Lookup: "phone", Identifier: "+14155552671"},
		{Workspace: "w", Lookup: "property:telegram_user_id", Identifier: "90001"},
	}}
	cmd, err := command.ContactErasure(ctx, keys, "w", "101", domain.ErasedByHubSpotPrivacyDeletion, "evt-9", "HubSpot privacy deletion", "hubspot")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.erase.Handle(ctx, cmd)
	if err != nil || rec.Erased != 2 {
		t.Fatalf("receipt %+v, %v; want 2 erased", rec, err)
	}
	for _, m := range []struct{ ch, id string }{{"sms", "SM-1"}, {"tg", "tg-1"}} {
		if got := f.received(t, m.ch, m.id); got.Text != domain.Erased {
			t.Errorf("%s/%s after the contact's erasure: %+v", m.ch, m.id, got)
		}
	}
	if got := f.received(t, "tg", "tg-2"); got.Text != "someone else" {
		t.Errorf("another contact's message: %+v", got)
	}
}

func TestEraseRefusesWithoutReasonAndRecordsNothing(t *testing.T) {
	ctx := context.Background()
	f := newErasureFixture(t)
	f.send(t, "sms", "SM-1", domain.Sender{Phone: "+14155552671"}, "hello")
	for _, c := range []struct {
		name string
		cmd  command.EraseSubjects
	}{
		{"no reason", command.EraseSubjects{Trigger: domain.ErasedByOperator, RequestedBy: "op"}},
		{"no requester", command.EraseSubjects{Trigger: domain.ErasedByOperator, Reason: "asked"}},
		{"unknown trigger", command.EraseSubjects{Trigger: "whim", Reason: "asked", RequestedBy: "op"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cmd.Subjects = []domain.Subject{domain.KeySubject(domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+14155552671"})}
			_, err := f.erase.Handle(ctx, c.cmd)
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Errorf("err = %v; want a domain error naming the field", err)
			}
		})
	}
	if got := f.received(t, "sms", "SM-1"); got.Text != "hello" {
		t.Errorf("a refused erasure erased: %+v", got)
	}
	if _, err := command.SenderErasure(catalog{}, "nope", "+14155552671", "r", "op"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("unknown channel: %v", err)
	}
}
