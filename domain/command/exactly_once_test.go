package command_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/sqlite"
)

// catalog is a fixed configuration: one SMS, one WhatsApp and one Telegram channel.
type catalog struct{}

func (catalog) Channel(id string) (domain.ChannelSettings, bool) {
	yes := true
	chans := map[string]domain.ChannelSettings{
		"sms": {ID: "sms", WorkspaceID: "w", Kind: domain.KindSMS, DefaultRegion: "US", Inbox: domain.Inbox{ChannelID: "1", ChannelAccountID: "2"}},
		"wa":  {ID: "wa", WorkspaceID: "w", Kind: domain.KindWhatsApp, Provider: "cloud", Inbox: domain.Inbox{ChannelID: "1", ChannelAccountID: "3"}},
		"tg": {ID: "tg", WorkspaceID: "w", Kind: domain.KindTelegram, Identifier: domain.IdentifyByUserID, Property: "telegram_user_id",
			AutoCreate: &yes, Inbox: domain.Inbox{ChannelID: "1", ChannelAccountID: "4"}},
	}
	c, ok := chans[id]
	return c, ok
}
func (catalog) BlockList(string) domain.BlockList { return domain.NewBlockList(nil) }
func (catalog) Region(string) string              { return "US" }

type portal struct{ c *hubspot.Client }

func (p portal) Directory(string) (domain.ContactDirectory, error) { return p.c, nil }
func (p portal) Inbox(string) (domain.InboxPublisher, error)       { return p.c, nil }

// clock is a test clock that sleeping advances, so claim leases expire without waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

type fixture struct {
	store *sqlite.Store
	emu   *emulator.Server
	dir   portal
	clock *clock
}

func newFixture(t *testing.T, lag time.Duration) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	emu := emulator.New(emulator.Options{SearchLag: lag})
	emu.DefineProperty("telegram_user_id", false)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", TenSecondLimit: 250, SearchPerSecond: 5})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: st, emu: emu, dir: portal{c}, clock: &clock{now: time.Now()}}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// resolver is one "process": its own handler, with its own in-process key locks, on
// the fixture's clock that sleeping advances.
func (f *fixture) resolver(t *testing.T) *command.ResolveMessageHandler {
	t.Helper()
	return f.resolverOn(t, f.clock.Now, f.clock.Sleep)
}

func (f *fixture) resolverOn(t *testing.T, now func() time.Time, sleep func(context.Context, time.Duration) error) *command.ResolveMessageHandler {
	t.Helper()
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: catalog{}, Directories: f.dir,
		NewID: newID, Now: now, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) record(t *testing.T, channel, id string, s domain.Sender) string {
	t.Helper()
	rec, err := command.NewRecordMessageHandler(f.store, catalog{}, newID, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rec.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{ChannelID: channel, MessageID: id, Sender: s, Text: "hi", Source: "api"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.CorrelationID
}

func (f *fixture) state(t *testing.T, channel, id string) domain.MessageState {
	t.Helper()
	evs, err := f.store.ReadStream(context.Background(), domain.MessageStream(channel, id), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestResolversInSeveralProcessesCreateOneContact runs the messages of one new sender
// through three independent resolvers at once, each message twice (a duplicating
// transport): one contact, one outcome per message, all on that contact.
func TestResolversInSeveralProcessesCreateOneContact(t *testing.T) {
	f := newFixture(t, 0)
	n := 30
	if testing.Short() {
		n = 10
	}
	var streams []string
	for i := range n {
		ch, phone := "sms", "+1 628 555 0100"
		if i%2 == 1 {
			ch, phone = "wa", "16285550100"
		}
		f.record(t, ch, fmt.Sprint(i), domain.Sender{Phone: phone})
		streams = append(streams, domain.MessageStream(ch, fmt.Sprint(i)))
	}
	// Real time: waiters sleeping on a shared fake clock would expire the holder's lease.
	real := func() *command.ResolveMessageHandler { return f.resolverOn(t, time.Now, nil) }
	procs := []*command.ResolveMessageHandler{real(), real(), real()}
	var wg sync.WaitGroup
	for i, s := range streams {
		for dup := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := procs[(i+dup)%len(procs)].Handle(context.Background(), command.ResolveMessage{Stream: s}); err != nil {
					t.Errorf("resolve %s: %v", s, err)
				}
			}()
		}
	}
	wg.Wait()
	if c := f.emu.Contacts(); len(c) != 1 {
		t.Fatalf("%d contacts, want 1", len(c))
	}
	contact := f.emu.Contacts()[0].ID
	created := 0
	for i := range n {
		ch := map[bool]string{true: "wa", false: "sms"}[i%2 == 1]
		st := f.state(t, ch, fmt.Sprint(i))
		if st.ContactID != contact {
			t.Errorf("message %d resolved to %q, want %s", i, st.ContactID, contact)
		}
		if st.Outcome == domain.EventContactCreated {
			created++
		}
		evs, _ := f.store.ReadStream(context.Background(), domain.MessageStream(ch, fmt.Sprint(i)), 0)
		if len(evs) != 3 {
			t.Errorf("message %d has %d events, want 3 (received, identified, one outcome)", i, len(evs))
		}
	}
	if created != 1 {
		t.Errorf("%d ContactCreated outcomes, want 1", created)
	}
}

// TestCrashedClaimIsTakenOverAfterItsLease: a resolver claimed the key and died before
// creating the contact; the next message waits out the lease, then creates one contact.
func TestCrashedClaimIsTakenOverAfterItsLease(t *testing.T) {
	f := newFixture(t, 0)
	key := domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550111"}
	claim, _ := domain.NewEvent(newID(), domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: "dead"}, f.clock.Now(), "dead")
	if _, err := f.store.Append(context.Background(), key.Stream(), domain.NoStream, claim); err != nil {
		t.Fatal(err)
	}
	f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550111"})
	start := f.clock.Now()
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatal(err)
	}
	if waited := f.clock.Now().Sub(start); waited < domain.ClaimLease {
		t.Errorf("took over after %s, before the %s lease ran out", waited, domain.ClaimLease)
	}
	st := f.state(t, "sms", "m1")
	if st.Outcome != domain.EventContactCreated || len(f.emu.Contacts()) != 1 {
		t.Fatalf("outcome %s with %d contacts, want ContactCreated and 1", st.Outcome, len(f.emu.Contacts()))
	}
}

// TestCrashAfterCreateFindsTheContact: the holder created the contact in HubSpot and
// died before recording it. The takeover looks up again before creating and links the
// contact the dead holder made (search lag 0 here: with lag, the window is documented).
func TestCrashAfterCreateFindsTheContact(t *testing.T) {
	f := newFixture(t, 0)
	key := domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550122"}
	claim, _ := domain.NewEvent(newID(), domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: "dead"}, f.clock.Now().Add(-time.Hour), "dead")
	if _, err := f.store.Append(context.Background(), key.Stream(), domain.NoStream, claim); err != nil {
		t.Fatal(err)
	}
	made := f.emu.CreateContact(map[string]string{"phone": "+16285550122"})
	f.record(t, "sms", "m1", domain.Sender{Phone: "(628) 555-0122"})
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatal(err)
	}
	st := f.state(t, "sms", "m1")
	if st.Outcome != domain.EventContactMatched || st.ContactID != made || len(f.emu.Contacts()) != 1 {
		t.Fatalf("outcome %s on %s with %d contacts, want ContactMatched on %s and no new contact", st.Outcome, st.ContactID, len(f.emu.Contacts()), made)
	}
}

// TestCrashAfterKeyResolvedRestoresTheCreation: the resolver created the contact and
// bound the key, then died before recording the message's outcome. Running it again
// records ContactCreated for that message, with no second contact and no HubSpot call.
func TestCrashAfterKeyResolvedRestoresTheCreation(t *testing.T) {
	f := newFixture(t, 0)
	corr := f.record(t, "tg", "1:1", domain.Sender{UserID: "4242"})
	contact := f.emu.CreateContact(map[string]string{"telegram_user_id": "4242"})
	key := domain.MatchKey{Workspace: "w", Lookup: "property:telegram_user_id", Identifier: "4242"}
	claim, _ := domain.NewEvent(newID(), domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: corr}, f.clock.Now(), corr)
	res, _ := domain.NewEvent(newID(), domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: contact, How: "created",
		MatchedProperties: []string{"telegram_user_id"}, Properties: map[string]string{"telegram_user_id": "4242"}}, f.clock.Now(), corr)
	if _, err := f.store.Append(context.Background(), key.Stream(), domain.NoStream, claim, res); err != nil {
		t.Fatal(err)
	}
	f.emu.ResetStats()
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("tg", "1:1")}); err != nil {
		t.Fatal(err)
	}
	st := f.state(t, "tg", "1:1")
	if st.Outcome != domain.EventContactCreated || st.ContactID != contact {
		t.Fatalf("outcome %s on %s, want ContactCreated on %s", st.Outcome, st.ContactID, contact)
	}
	if calls := f.emu.Stats().CRMCalls; calls != 0 {
		t.Errorf("%d CRM calls, want 0", calls)
	}
}

// TestPublicationRunTwiceLandsOnce: two publishers race on one message; HubSpot holds
// one inbox message and the stream one MessagePublished.
func TestPublicationRunTwiceLandsOnce(t *testing.T) {
	f := newFixture(t, 0)
	f.record(t, "tg", "5:5", domain.Sender{UserID: "77"})
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("tg", "5:5")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := command.NewPublishMessageHandler(f.store, catalog{}, f.dir, newID, f.clock.Now, nil)
			if err != nil {
				t.Error(err)
				return
			}
			// A lost append race is an error the reactor retries; the retry finds the
			// message published and does nothing.
			for attempt := 1; attempt <= 3; attempt++ {
				if p.Handle(context.Background(), command.PublishMessage{Stream: domain.MessageStream("tg", "5:5"), Attempt: attempt}) == nil {
					return
				}
			}
			t.Error("publication never settled")
		}()
	}
	wg.Wait()
	if n := len(f.emu.Published()); n != 1 {
		t.Errorf("%d inbox messages, want 1", n)
	}
	published := 0
	evs, _ := f.store.ReadStream(context.Background(), domain.MessageStream("tg", "5:5"), 0)
	for _, e := range evs {
		if e.Type == domain.EventMessagePublished {
			published++
		}
	}
	if published != 1 {
		t.Errorf("%d MessagePublished events, want 1", published)
	}
}

// shutdownAfterAnswer is an inbox whose caller is cancelled (a shutdown begins) just
// after HubSpot has answered a publication.
type shutdownAfterAnswer struct {
	c      *hubspot.Client
	cancel context.CancelFunc
}

func (p shutdownAfterAnswer) Inbox(string) (domain.InboxPublisher, error) { return p, nil }
func (p shutdownAfterAnswer) Publish(ctx context.Context, m domain.InboxMessage) (domain.PublishedMessage, error) {
	pub, err := p.c.Publish(ctx, m)
	p.cancel()
	return pub, err
}

// TestPublicationAnsweredAsShutdownBeginsIsRecorded: a shutdown that begins after
// HubSpot answered a publication does not lose the answer. The log records the
// message published, so no later attempt sends it again — which a portal the log is
// copied to (copy-store) would take as a new inbox message.
func TestPublicationAnsweredAsShutdownBeginsIsRecorded(t *testing.T) {
	f := newFixture(t, 0)
	f.record(t, "tg", "6:6", domain.Sender{UserID: "78"})
	stream := domain.MessageStream("tg", "6:6")
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: stream}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := command.NewPublishMessageHandler(f.store, catalog{}, shutdownAfterAnswer{c: f.dir.c, cancel: cancel}, newID, f.clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(ctx, command.PublishMessage{Stream: stream, Attempt: 1}); err != nil {
		t.Errorf("publication answered before the shutdown: %v, want it recorded", err)
	}
	if n := len(f.emu.Published()); n != 1 {
		t.Fatalf("%d inbox messages, want 1", n)
	}
	if st := f.state(t, "tg", "6:6"); st.Published == nil {
		t.Error("HubSpot holds the message but the log does not record it published")
	}
}

// flakyCreates fails the first n creates as HubSpot does when its answer is lost.
type flakyCreates struct {
	domain.ContactDirectory
	fails atomic.Int32
}

func (f *flakyCreates) CreateContact(ctx context.Context, p map[string]string) (domain.Contact, error) {
	if f.fails.Add(-1) >= 0 {
		return domain.Contact{}, errors.New("create outcome unknown: connection dropped")
	}
	return f.ContactDirectory.CreateContact(ctx, p)
}

type flakyPortal struct{ d *flakyCreates }

func (p flakyPortal) Directory(string) (domain.ContactDirectory, error) { return p.d, nil }

// TestWaitingForAClaimDoesNotBlockItsHolder: the holder of a claim whose create failed
// comes back to finish while another message of the same sender, in the same process,
// waits for the claim. The waiter must not hold the key's lock while it waits, or the
// holder is locked out until the claim's lease runs out and the waiter takes over.
func TestWaitingForAClaimDoesNotBlockItsHolder(t *testing.T) {
	f := newFixture(t, 0)
	flaky := &flakyCreates{ContactDirectory: f.dir.c}
	flaky.fails.Store(1)
	// Real time: a fake clock that sleeping advances would let the waiter run the lease
	// out in a busy loop before the holder is scheduled at all.
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: catalog{}, Directories: flakyPortal{flaky},
		NewID: newID, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, "sms", "a", domain.Sender{Phone: "+16285550199"})
	f.record(t, "wa", "b", domain.Sender{Phone: "16285550199"})
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "a")}); err == nil {
		t.Fatal("the first create was meant to fail")
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("wa", "b")}); err != nil {
			t.Errorf("waiter: %v", err)
		}
	}()
	// The holder's retry, while the waiter waits.
	time.Sleep(100 * time.Millisecond)
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "a")}); err != nil {
		t.Fatalf("holder's retry: %v", err)
	}
	wg.Wait()
	if waited := time.Since(start); waited >= domain.ClaimLease {
		t.Errorf("the waiter waited %s, the whole lease: it held the holder out", waited)
	}
	a, b := f.state(t, "sms", "a"), f.state(t, "wa", "b")
	if a.Outcome != domain.EventContactCreated || b.Outcome != domain.EventContactMatched || a.ContactID != b.ContactID || len(f.emu.Contacts()) != 1 {
		t.Errorf("outcomes %s/%s on %s/%s with %d contacts, want one contact created by a and matched by b",
			a.Outcome, b.Outcome, a.ContactID, b.ContactID, len(f.emu.Contacts()))
	}
}
