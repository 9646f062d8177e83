package command_test

import (
	"context"
	"errors"
	"fmt"
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

// policyCatalog is catalog{} with a create policy for workspace "w".
type policyCatalog struct {
	catalog
	policy domain.CreatePolicy
}

func (c policyCatalog) CreatePolicy(string) domain.CreatePolicy { return c.policy }

const createKeyProperty = "switchboard_key"

// claimFixture is a store, an emulator and a clock shared by the emulator's search lag
// and the resolvers, with the workspace's create policy.
type claimFixture struct {
	*fixture
	cat policyCatalog
	url string
}

func newClaimFixture(t *testing.T, lag time.Duration, policy domain.CreatePolicy, now func() time.Time) *claimFixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: time.Now()}
	if now == nil {
		now = clk.Now
	}
	emu := emulator.New(emulator.Options{SearchLag: lag, Now: now})
	emu.DefineProperty(createKeyProperty, true)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", TenSecondLimit: 250, SearchPerSecond: 5, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &claimFixture{fixture: &fixture{store: st, emu: emu, dir: portal{c}, clock: clk}, cat: policyCatalog{policy: policy}, url: srv.URL}
}

// process is a resolver with a HubSpot client of its own, as another process has.
func (f *claimFixture) process(t *testing.T) *command.ResolveMessageHandler {
	t.Helper()
	c, err := hubspot.New(hubspot.Config{BaseURL: f.url, Token: "t", TenSecondLimit: 250, SearchPerSecond: 5, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: f.cat, Directories: portal{c},
		NewID: newID, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *claimFixture) handler(t *testing.T, now func() time.Time, sleep func(context.Context, time.Duration) error) *command.ResolveMessageHandler {
	t.Helper()
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: f.cat, Directories: f.dir,
		NewID: newID, Now: now, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// failCreates makes every create be applied by HubSpot and its answer lost.
func (f *claimFixture) failCreates(kind string) {
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{kind: 1}, Operations: []string{emulator.OpCreate}})
}

// TestLostCreateAnswerRetriedMakesOneContact is issue 10 item 1: HubSpot creates the
// contact and the answer is lost (a 502 or a reset after the write); the same message
// is retried about 100 ms later, inside HubSpot's search lag. The retry is a new
// attempt: it finds the create recorded as attempted and confirms it — by the create
// key when the workspace has one, else by a search once the search-lag allowance has
// passed — instead of creating a second contact.
func TestLostCreateAnswerRetriedMakesOneContact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  string
		policy domain.CreatePolicy
		lag    time.Duration
		want   string // the message's outcome
	}{
		{name: "create key, 502 after the write", fault: emulator.FaultApply502, policy: domain.CreatePolicy{KeyProperty: createKeyProperty},
			lag: 30 * time.Second, want: domain.EventContactCreated},
		{name: "create key, reset after the write", fault: emulator.FaultApplyReset, policy: domain.CreatePolicy{KeyProperty: createKeyProperty},
			lag: 30 * time.Second, want: domain.EventContactCreated},
		{name: "no create key, lag inside the allowance", fault: emulator.FaultApply502, policy: domain.CreatePolicy{SearchLagAllowance: 2 * time.Second},
			lag: time.Second, want: domain.EventContactMatched},
		{name: "no create key, default allowance", fault: emulator.FaultApplyReset, lag: 5 * time.Second, want: domain.EventContactMatched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t, tc.lag, tc.policy, nil)
			r := f.handler(t, f.clock.Now, f.clock.Sleep)
			f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550301"})
			f.failCreates(tc.fault)
			if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err == nil {
				t.Fatal("the create's answer was lost, yet Handle succeeded")
			}
			if n := len(f.emu.Contacts()); n != 1 {
				t.Fatalf("%d contacts after the lost answer, want 1 (the fault applies the create)", n)
			}
			f.emu.SetFaults(emulator.Faults{})
			_ = f.clock.Sleep(context.Background(), 100*time.Millisecond)
			if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
				t.Fatalf("retry: %v", err)
			}
			cs := f.emu.Contacts()
			if len(cs) != 1 {
				t.Fatalf("%d contacts after the retry, want 1: the retry created a duplicate", len(cs))
			}
			st := f.state(t, "sms", "m1")
			if st.ContactID != cs[0].ID || st.Outcome != tc.want {
				t.Errorf("outcome %s on %s, want %s on %s", st.Outcome, st.ContactID, tc.want, cs[0].ID)
			}
		})
	}
}

// TestTwoProcessesResolvingOneMessageMakeOneContact is issue 10 item 2: two resolvers
// (two processes on one store) handle the same message at once while every create is
// applied and then answered 502; each retries until it succeeds. Neither takes the
// other's claim for its own: one contact.
func TestTwoProcessesResolvingOneMessageMakeOneContact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy domain.CreatePolicy
	}{
		{name: "create key", policy: domain.CreatePolicy{KeyProperty: createKeyProperty}},
		{name: "no create key", policy: domain.CreatePolicy{SearchLagAllowance: 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Real time: waiters sleeping on a shared fake clock would expire leases.
			f := newClaimFixture(t, time.Second, tc.policy, time.Now)
			f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550302"})
			f.failCreates(emulator.FaultApply502)
			procs := []*command.ResolveMessageHandler{f.process(t), f.process(t)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for _, p := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if p.Handle(ctx, command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}) == nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					t.Error("the message never resolved")
				}()
			}
			wg.Wait()
			cs := f.emu.Contacts()
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			if st := f.state(t, "sms", "m1"); st.ContactID != cs[0].ID {
				t.Errorf("message resolved to %q, want %s", st.ContactID, cs[0].ID)
			}
		})
	}
}

// watchCreates checks, at the moment each create reaches the directory, that the key's
// stream shows a claim that is live and leaves the create its whole timeout.
type watchCreates struct {
	domain.ContactDirectory
	store domain.EventStore
	key   domain.MatchKey
	now   func() time.Time
	mu    sync.Mutex
	bad   []string
}

func (w *watchCreates) CreateContact(ctx context.Context, p map[string]string) (domain.Contact, error) {
	evs, err := w.store.ReadStream(ctx, w.key.Stream(), 0)
	if err != nil {
		return domain.Contact{}, err
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		return domain.Contact{}, err
	}
	if left := domain.ClaimLease - w.now().Sub(ks.ClaimedAt); ks.ClaimedBy == "" || left < domain.CreateTimeout {
		w.mu.Lock()
		w.bad = append(w.bad, fmt.Sprintf("create sent under the claim of %q with %s of its lease left", ks.ClaimedBy, left))
		w.mu.Unlock()
	}
	return w.ContactDirectory.CreateContact(ctx, p)
}

type watchPortal struct{ w *watchCreates }

func (p watchPortal) Directory(string) (domain.ContactDirectory, error) { return p.w, nil }

// TestLapsedClaimNeverCreates is issue 10 item 2's second half: a message's earlier
// attempt claimed the key and died (a crash, a long HubSpot outage) 44 s ago. The
// message's retry is another attempt: it must not create on that claim, with a second
// of its lease left and no renewal, while a taker-over may create in parallel. It waits
// the lease out, claims afresh and creates under a live claim.
func TestLapsedClaimNeverCreates(t *testing.T) {
	f := newFixture(t, 0)
	corr := f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550303"})
	key := domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550303"}
	// The claim as the earlier attempt of this very message wrote it.
	claim, _ := domain.NewEvent(newID(), domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: key, Holder: corr},
		f.clock.Now().Add(-44*time.Second), corr)
	if _, err := f.store.Append(context.Background(), key.Stream(), domain.NoStream, claim); err != nil {
		t.Fatal(err)
	}
	w := &watchCreates{ContactDirectory: f.dir.c, store: f.store, key: key, now: f.clock.Now}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: catalog{}, Directories: watchPortal{w},
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.bad {
		t.Error(b)
	}
	if st := f.state(t, "sms", "m1"); st.Outcome != domain.EventContactCreated || len(f.emu.Contacts()) != 1 {
		t.Errorf("outcome %s with %d contacts, want ContactCreated and 1", st.Outcome, len(f.emu.Contacts()))
	}
}

// TestConflictOnEmailSaysEmail is issue 10 item 5: a new phone sender gives an email
// that another contact (with another number) already holds. HubSpot answers the create
// 409; the message goes on that contact, and the outcome, the key's event and what the
// publication tells HubSpot all say the match was on email, not phone.
func TestConflictOnEmailSaysEmail(t *testing.T) {
	f := newClaimFixture(t, 0, domain.CreatePolicy{KeyProperty: createKeyProperty}, nil)
	other := f.emu.CreateContact(map[string]string{"email": "ana@example.com", "phone": "+1 628 555 0999"})
	rec, err := command.NewRecordMessageHandler(f.store, f.cat, newID, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{ChannelID: "sms", MessageID: "m1",
		Sender: domain.Sender{Phone: "+16285550304", Email: "Ana@Example.com"}, Text: "hi", Source: "api"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.handler(t, f.clock.Now, f.clock.Sleep).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatal(err)
	}
	st := f.state(t, "sms", "m1")
	if st.Outcome != domain.EventContactMatched || st.ContactID != other || len(f.emu.Contacts()) != 1 {
		t.Fatalf("outcome %s on %s with %d contacts, want ContactMatched on %s and no new contact", st.Outcome, st.ContactID, len(f.emu.Contacts()), other)
	}
	if fmt.Sprint(st.Matched) != "[email]" {
		t.Errorf("message matched on %v, want [email]", st.Matched)
	}
	evs, err := f.store.ReadStream(context.Background(), domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550304"}.Stream(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		t.Fatal(err)
	}
	if ks.ContactID != other || fmt.Sprint(ks.MatchedProperties) != "[email]" {
		t.Errorf("key resolved to %s on %v, want %s on [email]", ks.ContactID, ks.MatchedProperties, other)
	}
	pub, err := command.NewPublishMessageHandler(f.store, f.cat, f.dir, newID, f.clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Handle(context.Background(), command.PublishMessage{Stream: domain.MessageStream("sms", "m1"), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	msgs := f.emu.Published()
	if len(msgs) != 1 {
		t.Fatalf("%d inbox messages, want 1", len(msgs))
	}
	if got := fmt.Sprint(publishedMatch(msgs[0])); got != "[email]" {
		t.Errorf("HubSpot was told the contact matched on %s, want [email]", got)
	}
}

func publishedMatch(m emulator.PublishedMessage) []string {
	var out []string
	for _, c := range m.PreResolvedContacts {
		out = append(out, c.ContactPropertiesLeadingToMatch...)
	}
	return out
}

// cancelOnCreate ends the caller's context (a shutdown) the moment the create is sent.
type cancelOnCreate struct {
	domain.ContactDirectory
	cancel context.CancelFunc
}

func (c *cancelOnCreate) CreateContact(ctx context.Context, p map[string]string) (domain.Contact, error) {
	c.cancel()
	return c.ContactDirectory.CreateContact(ctx, p)
}

type cancelPortal struct{ d *cancelOnCreate }

func (p cancelPortal) Directory(string) (domain.ContactDirectory, error) { return p.d, nil }

// TestShutdownDuringACreateRecordsItsAnswer: the service shuts down (the resolver's
// context ends) while a create is in flight. The create is not cut off: HubSpot's
// answer binds the key, so the message's next run restores its ContactCreated with no
// second create.
func TestShutdownDuringACreateRecordsItsAnswer(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550305"})
	ctx, cancel := context.WithCancel(context.Background())
	dir := &cancelOnCreate{ContactDirectory: f.dir.c, cancel: cancel}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: catalog{}, Directories: cancelPortal{dir},
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Handle(ctx, command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")})
	if n := len(f.emu.Contacts()); n != 1 {
		t.Fatalf("%d contacts after the shutdown, want 1: the create was cut off", n)
	}
	evs, err := f.store.ReadStream(context.Background(), domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550305"}.Stream(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		t.Fatal(err)
	}
	if ks.ContactID != f.emu.Contacts()[0].ID {
		t.Fatalf("the key resolves to %q, want the created contact %s: the create's answer was not recorded", ks.ContactID, f.emu.Contacts()[0].ID)
	}
	if err := f.resolver(t).Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatal(err)
	}
	if st := f.state(t, "sms", "m1"); st.Outcome != domain.EventContactCreated || st.ContactID != ks.ContactID || len(f.emu.Contacts()) != 1 {
		t.Errorf("outcome %s on %s with %d contacts, want ContactCreated on %s and 1", st.Outcome, st.ContactID, len(f.emu.Contacts()), ks.ContactID)
	}
}

// lateCreates loses the first create's answer and applies that create only when the
// next one is sent: a write HubSpot queued, carried out after the confirmation read.
type lateCreates struct {
	domain.ContactDirectory
	emu     *emulator.Server
	mu      sync.Mutex
	pending map[string]string
	calls   int
}

func (l *lateCreates) CreateContact(ctx context.Context, p map[string]string) (domain.Contact, error) {
	l.mu.Lock()
	l.calls++
	first, late := l.calls == 1, l.pending
	if first {
		l.pending = p
	}
	l.mu.Unlock()
	if first {
		return domain.Contact{}, errors.New("create outcome unknown: the connection dropped")
	}
	if late != nil {
		l.emu.CreateContact(late)
	}
	return l.ContactDirectory.CreateContact(ctx, p)
}

type latePortal struct{ l *lateCreates }

func (p latePortal) Directory(string) (domain.ContactDirectory, error) { return p.l, nil }

// TestLateCreateIsRecognisedByItsCreateKey: the first create's answer is lost and
// HubSpot carries it out only after the retry's confirmation read found nothing. The
// retry's create carries the same create key, HubSpot answers 409 with the contact the
// first create made, and the resolver records it as the contact it created.
func TestLateCreateIsRecognisedByItsCreateKey(t *testing.T) {
	f := newClaimFixture(t, 30*time.Second, domain.CreatePolicy{KeyProperty: createKeyProperty}, nil)
	l := &lateCreates{ContactDirectory: f.dir.c, emu: f.emu}
	r, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: f.store, Catalog: f.cat, Directories: latePortal{l},
		NewID: newID, Now: f.clock.Now, Sleep: f.clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, "sms", "m1", domain.Sender{Phone: "+16285550306"})
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err == nil {
		t.Fatal("the first create was meant to lose its answer")
	}
	if err := r.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", "m1")}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	cs := f.emu.Contacts()
	if len(cs) != 1 {
		t.Fatalf("%d contacts, want 1", len(cs))
	}
	st := f.state(t, "sms", "m1")
	if st.Outcome != domain.EventContactCreated || st.ContactID != cs[0].ID {
		t.Errorf("outcome %s on %s, want ContactCreated on %s", st.Outcome, st.ContactID, cs[0].ID)
	}
	evs, err := f.store.ReadStream(context.Background(), domain.MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+16285550306"}.Stream(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		t.Fatal(err)
	}
	if ks.ContactID != cs[0].ID || ks.How != "created" {
		t.Errorf("key resolved to %s (%s), want %s (created)", ks.ContactID, ks.How, cs[0].ID)
	}
}
