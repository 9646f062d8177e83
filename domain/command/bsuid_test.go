package command_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/sqlite"
)

// bsuidCatalog adds "wa-b", a WhatsApp channel with a bsuid_property, to catalog.
type bsuidCatalog struct{ catalog }

func (c bsuidCatalog) Channel(id string) (domain.ChannelSettings, bool) {
	if id == "wa-b" {
		return domain.ChannelSettings{ID: "wa-b", WorkspaceID: "w", Kind: domain.KindWhatsApp, Provider: "cloud", BSUIDProperty: "whatsapp_bsuid",
			Inbox: domain.Inbox{ChannelID: "1", ChannelAccountID: "5"}}, true
	}
	return c.catalog.Channel(id)
}

// newBSUIDFixture is the exactly-once fixture with wa-b, whose HubSpot client does not
// retry (so the emulator's faults reach the resolver at once).
func newBSUIDFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	emu := emulator.New(emulator.Options{})
	emu.DefineProperty("whatsapp_bsuid", false)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", TenSecondLimit: 250, SearchPerSecond: 5, MaxAttempts: 1,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: st, emu: emu, dir: portal{c}, clock: &clock{now: time.Now()}}
}

func (f *fixture) resolveOn(t *testing.T, r *command.ResolveMessageHandler, id string, s domain.Sender) domain.MessageState {
	t.Helper()
	rec, err := command.NewRecordMessageHandler(f.store, bsuidCatalog{}, newID, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{ChannelID: "wa-b", MessageID: id, Sender: s,
		Text: "hi", Source: "api"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("wa-b", id)}); err != nil {
		t.Fatalf("resolve %s: %v", id, err)
	}
	st := f.state(t, "wa-b", id)
	if st.Outcome == "" || st.DeadLetter != nil {
		t.Fatalf("message %s unresolved: %+v", id, st)
	}
	return st
}

func (f *fixture) bsuidResolver(t *testing.T) *command.ResolveMessageHandler {
	t.Helper()
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: bsuidCatalog{}, Directories: f.dir,
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) keyEvents(t *testing.T, k domain.MatchKey, typ string) int {
	t.Helper()
	evs, err := f.store.ReadStream(context.Background(), k.Stream(), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

var (
	anaPhone    = domain.MatchKey{Workspace: "w", Lookup: domain.LookupPhone, Identifier: "+14155552671"}
	anaBSUIDKey = domain.MatchKey{Workspace: "w", Lookup: "property:whatsapp_bsuid", Identifier: "US.77"}
)

// TestBSUIDWriteFailureStillBindsTheKey: HubSpot refusing the BSUID write does not hold
// the message, and the BSUID's key is bound anyway — a BSUID-only message is the same
// person — while the phone key records nothing, so the next message writes it (rule 14).
func TestBSUIDWriteFailureStillBindsTheKey(t *testing.T) {
	f := newBSUIDFixture(t)
	r := f.bsuidResolver(t)
	first := f.resolveOn(t, r, "m1", domain.Sender{Phone: "14155552671"})
	if first.Outcome != domain.EventContactCreated {
		t.Fatalf("first message %s, want ContactCreated", first.Outcome)
	}
	contact := first.ContactID

	f.emu.SetFaults(emulator.Faults{Rate: 1, Kinds: []string{emulator.Fault503}, Operations: []string{emulator.OpUpdate}})
	both := f.resolveOn(t, r, "m2", domain.Sender{Phone: "14155552671", BSUID: "US.77"})
	if both.Outcome != domain.EventContactMatched || both.ContactID != contact {
		t.Fatalf("phone+BSUID under a failing write: %s on %s, want ContactMatched on %s", both.Outcome, both.ContactID, contact)
	}
	if c, _ := f.emu.Contact(contact); c.Properties["whatsapp_bsuid"] != "" {
		t.Fatalf("the write was refused, yet the contact holds %q", c.Properties["whatsapp_bsuid"])
	}
	if n := f.keyEvents(t, anaBSUIDKey, domain.EventMatchKeyResolved); n != 1 {
		t.Errorf("%d resolutions of the BSUID key, want it bound once", n)
	}
	if n := f.keyEvents(t, anaPhone, domain.EventMatchKeyBSUIDRecorded); n != 0 {
		t.Errorf("%d records on the phone key after a failed write, want 0 (so the next message tries again)", n)
	}
	only := f.resolveOn(t, r, "m3", domain.Sender{BSUID: "US.77"})
	if only.ContactID != contact || only.ThreadRef != "+14155552671" {
		t.Errorf("BSUID-only message on %s, thread ref %q; want %s on the phone's thread", only.ContactID, only.ThreadRef, contact)
	}

	f.emu.SetFaults(emulator.Faults{})
	f.resolveOn(t, r, "m4", domain.Sender{Phone: "14155552671", BSUID: "US.77"})
	if c, _ := f.emu.Contact(contact); c.Properties["whatsapp_bsuid"] != "US.77" {
		t.Errorf("next phone+BSUID message left whatsapp_bsuid %q, want it written", c.Properties["whatsapp_bsuid"])
	}
	if n := f.keyEvents(t, anaPhone, domain.EventMatchKeyBSUIDRecorded); n != 1 {
		t.Errorf("%d records on the phone key, want 1", n)
	}
	if n := f.keyEvents(t, anaBSUIDKey, domain.EventMatchKeyResolved); n != 1 {
		t.Errorf("%d resolutions of the BSUID key, want the first bind only", n)
	}
	if n := len(f.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}

// TestBSUIDRecordedOnceByConcurrentResolvers: messages with phone and BSUID of a known
// sender, resolved at once by three "processes", bind the BSUID key once and record it
// on the phone key once.
func TestBSUIDRecordedOnceByConcurrentResolvers(t *testing.T) {
	f := newBSUIDFixture(t)
	first := f.resolveOn(t, f.bsuidResolver(t), "m0", domain.Sender{Phone: "14155552671"})
	rs := []*command.ResolveMessageHandler{f.bsuidResolver(t), f.bsuidResolver(t), f.bsuidResolver(t)}
	rec, err := command.NewRecordMessageHandler(f.store, bsuidCatalog{}, newID, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 12 {
		id := "c" + string(rune('a'+i))
		ids = append(ids, id)
		if _, err := rec.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{ChannelID: "wa-b", MessageID: id,
			Sender: domain.Sender{Phone: "+1 415 555 2671", BSUID: "US.77"}, Text: "hi", Source: "api"}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rs[i%len(rs)].Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("wa-b", id)}); err != nil {
				t.Errorf("resolve %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if st := f.state(t, "wa-b", id); st.ContactID != first.ContactID {
			t.Errorf("%s on %q, want %s", id, st.ContactID, first.ContactID)
		}
	}
	if n := f.keyEvents(t, anaBSUIDKey, domain.EventMatchKeyResolved); n != 1 {
		t.Errorf("%d resolutions of the BSUID key, want 1", n)
	}
	if n := f.keyEvents(t, anaPhone, domain.EventMatchKeyBSUIDRecorded); n != 1 {
		t.Errorf("%d records on the phone key, want 1", n)
	}
	if c, _ := f.emu.Contact(first.ContactID); c.Properties["whatsapp_bsuid"] != "US.77" {
		t.Errorf("whatsapp_bsuid %q", c.Properties["whatsapp_bsuid"])
	}
}
