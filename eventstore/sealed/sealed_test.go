package sealed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
	"switchboard/eventstore/sqlite"
)

type channels map[string]domain.ChannelSettings

func (c channels) Channel(id string) (domain.ChannelSettings, bool) { ch, ok := c[id]; return ch, ok }

var (
	tg  = domain.ChannelSettings{ID: "acme-tg", WorkspaceID: "acme", Kind: domain.KindTelegram, Identifier: domain.IdentifyByUserID, Property: "telegram_user_id"}
	sms = domain.ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: domain.KindSMS, DefaultRegion: "US"}
)

// person is one sender and everything personal the test writes about them.
type person struct {
	userID, username, first, last, email, phone, text, smsText string
	contactID                                                  string
}

var (
	personX = person{userID: "5550123", username: "ana_bxq", first: "Anastasiax", last: "Bentorova", email: "ana.x@example.com",
		phone: "+14155552671", text: "Is my order 7731-XQ ready?", smsText: "Call me about parcel ZQ-88412", contactID: "101"}
	personY = person{userID: "7770456", username: "yuri_kzw", first: "Yurikova", last: "Kawashimax", email: "yuri.y@example.com",
		phone: "+14155550199", text: "Please cancel order 4410-YZ", smsText: "Refund for invoice YV-30917", contactID: "102"}
)

func (p person) tgKey() domain.MatchKey {
	return domain.MatchKey{Workspace: "acme", Lookup: tg.Lookup(), Identifier: p.userID}
}
func (p person) phoneKey() domain.MatchKey {
	return domain.MatchKey{Workspace: "acme", Lookup: sms.Lookup(), Identifier: p.phone}
}
func (p person) tgMessageID() string { return p.userID + ":17" } // Telegram: {chat.id}:{message_id}

// secrets are X's values that a byte search must not find once X is erased. The user
// id and the Telegram message id are not among them: they are still in stream names.
func (p person) secrets() []string {
	return []string{p.username, p.first, p.last, p.email, p.phone, strings.TrimPrefix(p.phone, "+1"), p.text, p.smsText}
}

var clock = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

var eventSeq int

func event(t *testing.T, typ string, payload any) domain.EventData {
	t.Helper()
	eventSeq++
	e, err := domain.NewEvent(fmt.Sprintf("%s-%d", typ, eventSeq), typ, payload, clock, fmt.Sprintf("corr-%d", eventSeq))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func appendAll(t *testing.T, st domain.EventStore, p person) {
	t.Helper()
	ctx := context.Background()
	msg := domain.MessageStream(tg.ID, p.tgMessageID())
	sender := domain.Sender{UserID: p.userID, Username: p.username, FirstName: p.first, LastName: p.last, Email: p.email, Phone: p.phone}
	for _, a := range []struct {
		stream string
		events []domain.EventData
	}{
		{msg, []domain.EventData{
			event(t, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "acme", ChannelID: tg.ID, ChannelKind: tg.Kind,
				MessageID: p.tgMessageID(), SentAt: clock, Sender: sender, Text: p.text, Source: "webhook:telegram"}),
		}},
		{msg, []domain.EventData{
			event(t, domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: tg.ID, Settings: tg, Source: "user_id",
				Raw: p.userID, Identifier: p.userID, MatchKey: p.tgKey(), Searched: []string{"telegram_user_id"}}),
			event(t, domain.EventContactCreated, domain.ContactCreated{MatchKey: p.tgKey(), ContactID: p.contactID,
				Properties: map[string]string{"firstname": p.first, "lastname": p.last, "email": p.email, "telegram_user_id": p.userID},
				Lookups:    []domain.Lookup{{Kind: "search", Query: "telegram_user_id = " + p.userID}}}),
		}},
		{msg, []domain.EventData{
			event(t, domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: "hs-" + p.contactID,
				IdempotencyID: tg.ID + ":" + p.tgMessageID(), ThreadID: tg.ID + ":" + p.userID, ContactID: p.contactID, Attempts: 1}),
		}},
		{p.tgKey().Stream(), []domain.EventData{
			event(t, domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: p.tgKey(), Holder: msg}),
			event(t, domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: p.tgKey(), ContactID: p.contactID, How: "created",
				Properties: map[string]string{"firstname": p.first, "telegram_user_id": p.userID}}),
		}},
		{domain.MessageStream(sms.ID, "SM"+p.contactID), []domain.EventData{
			event(t, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "acme", ChannelID: sms.ID, ChannelKind: sms.Kind,
				MessageID: "SM" + p.contactID, SentAt: clock, Sender: domain.Sender{Phone: p.phone}, Text: p.smsText}),
			event(t, domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: sms.ID, Settings: sms, Source: "phone",
				Raw: p.phone, Identifier: p.phone, MatchKey: p.phoneKey(), Searched: []string{"phone", "mobilephone"}}),
		}},
	} {
		if _, err := st.Append(ctx, a.stream, domain.AnyVersion, a.events...); err != nil {
			t.Fatalf("append %s: %v", a.stream, err)
		}
	}
}

func filesContain(t *testing.T, dbPath string, needle string) []string {
	t.Helper()
	matches, err := filepath.Glob(dbPath + "*")
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(needle)) {
			in = append(in, filepath.Base(m))
		}
	}
	return in
}

// openSealed opens a SQLite log at path, its data keys under secret, and the sealing
// store over both, closed when the test ends.
func openSealed(t *testing.T, path, secret string) (*sqlite.Store, *datakeys.Keeper, *sealed.Store) {
	t.Helper()
	inner, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	keys, err := datakeys.Open(context.Background(), inner, secret)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sealed.NewStore(inner, keys, channels{tg.ID: tg, sms.ID: sms})
	if err != nil {
		t.Fatal(err)
	}
	return inner, keys, st
}

func TestErasedSenderReadsErasedAndLeavesNothingInTheFiles(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "sb.db")
	inner, keys, st := openSealed(t, dbPath, "a master secret for the test")
	appendAll(t, st, personX)
	appendAll(t, st, personY)

	// Nothing personal of anyone is in a stored payload, before any erasure.
	raw, err := inner.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range raw {
		for _, p := range []person{personX, personY} {
			for _, v := range append(p.secrets(), p.userID) {
				if bytes.Contains(e.Payload, []byte(v)) || strings.Contains(e.StreamID, v) {
					t.Errorf("stored %s at %d holds %q in the clear: %s %s", e.Type, e.Position, v, e.StreamID, e.Payload)
				}
			}
		}
	}
	// Read through the store, every stream has the name the application gave it.
	logical := map[string]string{} // stored -> logical
	named, err := st.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range named {
		if e.Stored() != raw[i].StreamID {
			t.Errorf("event %d: stored stream %q, but the store holds it in %q", e.Position, e.Stored(), raw[i].StreamID)
		}
		logical[e.Stored()] = e.StreamID
	}
	xMessage := domain.MessageStream(tg.ID, personX.tgMessageID())
	xKey := personX.tgKey().Stream()
	var xMessageStored, xKeyStored string
	for stored, l := range logical {
		switch l {
		case xMessage:
			xMessageStored = stored
		case xKey:
			xKeyStored = stored
		}
	}
	if xMessageStored == "" || xKeyStored == "" || xMessageStored == xMessage || xKeyStored == xKey {
		t.Fatalf("X's streams read back as %v", logical)
	}

	// Read through the store before the erasure: X is readable, and the opened
	// payloads are remembered — which the erasure must make the store forget.
	before, err := st.ReadStream(ctx, domain.MessageStream(tg.ID, personX.tgMessageID()), 0)
	if err != nil {
		t.Fatal(err)
	}
	var first domain.MessageReceived
	if err := domain.Decode(before[0], &first); err != nil || first.Text != personX.text || first.Sender.Email != personX.email {
		t.Fatalf("X before erasure: %+v, %v", first, err)
	}
	if _, err := st.ReadAll(ctx, 0, 1000); err != nil {
		t.Fatal(err)
	}

	// Erase X: every subject of X's contact (the Telegram key and the phone key).
	for _, k := range []domain.MatchKey{personX.tgKey(), personX.phoneKey()} {
		id, err := keys.SubjectID(ctx, domain.KeySubject(k), false)
		if err != nil {
			t.Fatalf("subject of %s: %v", k.Lookup, err)
		}
		if err := keys.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	// Reading back: X's values are "[erased]", Y's intact, the events otherwise whole.
	all, err := st.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatalf("read after erasure: %v", err)
	}
	if len(all) != len(raw) {
		t.Fatalf("read %d events after erasure, %d before", len(all), len(raw))
	}
	seen := map[string]int{}
	for i, e := range all {
		if e.Type != raw[i].Type || e.CorrelationID != raw[i].CorrelationID || e.Stored() != raw[i].StreamID || !e.OccurredAt.Equal(raw[i].OccurredAt) {
			t.Errorf("event %d changed beyond its personal values: %+v", e.Position, e)
		}
		// X's streams lost their names with X; everyone else's keep them.
		wantName := logical[e.Stored()]
		if e.Stored() == xMessageStored || e.Stored() == xKeyStored || logical[e.Stored()] == personX.phoneKey().Stream() ||
			strings.Contains(logical[e.Stored()], "SM"+personX.contactID) {
			wantName = e.Stored()
		}
		if e.StreamID != wantName {
			t.Errorf("event %d after the erasure is in stream %q; want %q", e.Position, e.StreamID, wantName)
		}
		if e.Type != domain.EventMessageReceived {
			continue
		}
		var m domain.MessageReceived
		if err := domain.Decode(e, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.ChannelID == tg.ID && m.Sender.FirstName == domain.Erased:
			seen["X tg"]++
			if m.Text != domain.Erased || m.Sender.Email != domain.Erased || m.Sender.UserID != domain.Erased || m.MessageID != domain.Erased {
				t.Errorf("X's Telegram message not fully erased: %+v", m)
			}
		case m.ChannelID == tg.ID && m.Sender.FirstName == personY.first:
			seen["Y tg"]++
			if m.Text != personY.text || m.Sender.Email != personY.email || m.MessageID != personY.tgMessageID() {
				t.Errorf("Y's Telegram message damaged: %+v", m)
			}
		case m.ChannelID == sms.ID && m.Text == domain.Erased:
			seen["X sms"]++
		case m.ChannelID == sms.ID && m.Text == personY.smsText && m.Sender.Phone == personY.phone:
			seen["Y sms"]++
		default:
			t.Errorf("unexpected message: %+v", m)
		}
	}
	for _, k := range []string{"X tg", "Y tg", "X sms", "Y sms"} {
		if seen[k] != 1 {
			t.Errorf("%s messages read: %d, want 1 (%v)", k, seen[k], seen)
		}
	}

	// X's streams are found by their logical names no more: nothing leads from X's
	// identifiers to them. Read under their stored names, they read erased.
	for _, l := range []string{xMessage, xKey} {
		if events, err := st.ReadStream(ctx, l, 0); err != nil || len(events) != 0 {
			t.Errorf("X's stream found by its logical name after the erasure: %d events, %v", len(events), err)
		}
	}
	streamOf := func(p person, logicalName, stored string) string {
		if p == personX {
			return stored
		}
		return logicalName
	}
	// The message stream's receipt (no match key: sealed with the message's subject).
	for _, p := range []person{personX, personY} {
		events, err := st.ReadStream(ctx, streamOf(p, domain.MessageStream(tg.ID, p.tgMessageID()), xMessageStored), 0)
		if err != nil {
			t.Fatal(err)
		}
		var pub domain.MessagePublished
		if err := domain.Decode(events[len(events)-1], &pub); err != nil {
			t.Fatal(err)
		}
		want := tg.ID + ":" + p.userID
		if p == personX {
			want = domain.Erased
		}
		if pub.ThreadID != want || pub.ContactID != p.contactID {
			t.Errorf("MessagePublished of %s: thread %q contact %q; want %q, %q", p.first, pub.ThreadID, pub.ContactID, want, p.contactID)
		}
	}

	// Folds keep working on an erased key: it still resolves to its contact, which is
	// not personal, and nothing fails.
	for _, p := range []person{personX, personY} {
		events, err := st.ReadStream(ctx, streamOf(p, p.tgKey().Stream(), xKeyStored), 0)
		if err != nil {
			t.Fatal(err)
		}
		state, err := domain.FoldKey(events)
		if err != nil || state.ContactID != p.contactID {
			t.Errorf("fold of %s's key: %+v, %v", p.first, state, err)
		}
	}

	// A late event on X's erased message stream is recorded, with its personal values
	// erased already.
	late := event(t, domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Reason: "refused " + personX.email, Attempts: 3})
	if _, err := st.Append(ctx, xMessageStored, domain.AnyVersion, late); err != nil {
		t.Fatalf("late append on an erased stream: %v", err)
	}
	lateRead, err := st.ReadStream(ctx, xMessageStored, 0)
	if err != nil {
		t.Fatal(err)
	}
	var dl domain.DeadLettered
	if err := domain.Decode(lateRead[len(lateRead)-1], &dl); err != nil || dl.Reason != domain.Erased {
		t.Errorf("late event on X's erased stream: %+v, %v; want its reason erased", dl, err)
	}
	// Appending to X's logical name now starts a new stream, under a new name: a new
	// message from the same number is a new subject's.
	again := event(t, domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Reason: "refused", Attempts: 1})
	if _, err := st.Append(ctx, xMessage, domain.NoStream, again); err != nil {
		t.Fatalf("append to an erased logical name: %v", err)
	}

	// The byte search, with the service still running and after it stops.
	check := func(when string) {
		for _, v := range personX.secrets() {
			if in := filesContain(t, dbPath, v); len(in) > 0 {
				t.Errorf("%s: X's %q is still in %v", when, v, in)
			}
		}
		// Y's values are there, sealed: each stored ciphertext is found, and opens.
		for _, e := range raw {
			if l := logical[e.StreamID]; !strings.Contains(l, personY.userID) && !strings.Contains(l, "SM"+personY.contactID) {
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(e.Payload, &doc); err != nil {
				t.Fatal(err)
			}
			for _, s := range sealedStrings(doc) {
				if in := filesContain(t, dbPath, s); len(in) == 0 {
					t.Errorf("%s: Y's sealed value %.30s… is in no file: the search proves nothing", when, s)
				}
			}
		}
		if in := filesContain(t, dbPath, personX.userID); len(in) > 0 {
			t.Errorf("%s: X's user id is still in %v", when, in)
		}
	}
	check("running")
	if err := inner.Close(); err != nil {
		t.Fatal(err)
	}
	check("stopped")
}

func sealedStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		if datakeys.IsSealed(v) {
			out = append(out, v)
		}
	case []any:
		for _, x := range v {
			out = append(out, sealedStrings(x)...)
		}
	case map[string]any:
		for _, x := range v {
			out = append(out, sealedStrings(x)...)
		}
	}
	return out
}

func TestNewStoreRefusesMissingDependencies(t *testing.T) {
	if _, err := sealed.NewStore(nil, nil, nil); err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("NewStore(nil...) = %v", err)
	}
}

// Deliveries of one message racing each other (a platform's retry, two nodes) record it
// once: one append wins, every other one is told the stream exists, as on a store that
// names streams by their message id — and there is one stored name, one stream.
func TestRacingFirstAppendsOfAMessageRecordItOnce(t *testing.T) {
	ctx := context.Background()
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	keys, err := datakeys.Open(ctx, inner, "")
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	stores := make([]*sealed.Store, racers)
	for i := range stores {
		// A store each, as processes have: nothing cached in common.
		k, err := datakeys.Open(ctx, inner, "")
		if err != nil {
			t.Fatal(err)
		}
		if stores[i], err = sealed.NewStore(inner, k, channels{sms.ID: sms}); err != nil {
			t.Fatal(err)
		}
	}
	stream := domain.MessageStream(sms.ID, "SM-race")
	errs := make(chan error, racers)
	deliveries := make([]domain.EventData, racers)
	for i := range deliveries {
		deliveries[i] = event(t, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "acme", ChannelID: sms.ID, ChannelKind: sms.Kind,
			MessageID: "SM-race", Sender: domain.Sender{Phone: "+14155552671"}, Text: "once"})
	}
	for i := range racers {
		go func() {
			_, err := stores[i].Append(ctx, stream, domain.NoStream, deliveries[i])
			errs <- err
		}()
	}
	won := 0
	for range racers {
		switch err := <-errs; {
		case err == nil:
			won++
		case errors.Is(err, domain.ErrWrongExpectedVersion):
		default:
			t.Errorf("a racing delivery failed otherwise: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d deliveries recorded the message; want 1", won)
	}
	raw, err := inner.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names int
	if err := inner.DB().QueryRow(`SELECT count(*) FROM privacy_names`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || names != 1 {
		t.Errorf("%d events and %d stream names after the race; want 1 and 1", len(raw), names)
	}
	_ = keys
}

// The store remembers what it appended as its reads will open it, so a read right after
// an append need not open anything. Two appends must not be remembered that way: one
// that carries values sealed already (a store copied event by event), which reads back
// opened, and one made after its subject's erasure, which reads back erased.
func TestReadsRightAfterAnAppendOpenAsAnyReadWould(t *testing.T) {
	ctx := context.Background()
	inner, keys, st := openSealed(t, filepath.Join(t.TempDir(), "sb.db"), "")
	appendAll(t, st, personX)
	text := func(events []domain.RecordedEvent) string {
		t.Helper()
		var m domain.MessageReceived
		if len(events) == 0 || domain.Decode(events[0], &m) != nil {
			t.Fatalf("no message in %v", events)
		}
		return m.Text
	}
	xMessage := domain.MessageStream(tg.ID, personX.tgMessageID())
	read, err := st.ReadStream(ctx, xMessage, 0)
	if err != nil || text(read) != personX.text {
		t.Fatalf("X's message right after its append: %v", err)
	}

	// An event whose values are sealed already, appended as it is stored.
	raw, err := inner.ReadAll(ctx, 0, 1)
	if err != nil || len(raw) != 1 || raw[0].Type != domain.EventMessageReceived {
		t.Fatalf("first stored event: %v %v", raw, err)
	}
	copied := raw[0].EventData
	copied.ID = "copied-message"
	if _, err := st.Append(ctx, "copies", domain.AnyVersion, copied); err != nil {
		t.Fatal(err)
	}
	got, err := st.ReadStream(ctx, "copies", 0)
	if err != nil {
		t.Fatal(err)
	}
	if text(got) != personX.text {
		t.Errorf("an event appended with its values sealed reads back %q; want it opened, %q", text(got), personX.text)
	}

	// After X's erasure, a late event of X's message stream (appended under its stored
	// name, as a follower holding it would) reads erased.
	stored := read[0].Stored()
	id, err := keys.SubjectID(ctx, domain.KeySubject(personX.tgKey()), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadStream(ctx, stored, 0); err != nil { // the store has seen the erasure
		t.Fatal(err)
	}
	late := event(t, domain.EventDeadLettered, domain.DeadLettered{Stage: "publication", Reason: "about " + personX.first})
	if _, err := st.Append(ctx, stored, domain.AnyVersion, late); err != nil {
		t.Fatal(err)
	}
	got, err = st.ReadStream(ctx, stored, 0)
	if err != nil {
		t.Fatal(err)
	}
	var dl domain.DeadLettered
	if err := domain.Decode(got[len(got)-1], &dl); err != nil || dl.Reason != domain.Erased {
		t.Errorf("an event appended after its subject's erasure reads back %q, %v; want %q", dl.Reason, err, domain.Erased)
	}
}

// A payload that is not JSON is refused whole, and nothing of it is stored: the sealing
// leaves it not JSON, and the store below refuses it.
func TestAPayloadThatIsNotJSONIsRefused(t *testing.T) {
	ctx := context.Background()
	inner, _, st := openSealed(t, filepath.Join(t.TempDir(), "sb.db"), "")
	for _, payload := range []string{
		`{"channel_id":"sms","message_id":"SM1","sender":{"phone":"+14155552671"}} trailing`,
		`{"channel_id":"sms","message_id":"SM1","sender":{"phone":"+14155552671"},"text":tru}`,
		`{"channel_id":"sms","message_id":"SM1","sender":{"phone":"+1415555\q"}}`,
	} {
		e := event(t, domain.EventMessageReceived, map[string]string{})
		e.Payload = json.RawMessage(payload)
		if _, err := st.Append(ctx, "plain-stream", domain.AnyVersion, e); err == nil {
			t.Errorf("append of %s succeeded; want it refused", payload)
		}
	}
	if last, err := inner.LastPosition(ctx); err != nil || last != 0 {
		t.Fatalf("the log after the refused appends is at position %d (%v); want nothing stored", last, err)
	}
}

// TestAnErasureEmptiesTheStoresMemoryAtOnce: the store remembers opened payloads and the
// senders' identifiers it found subjects for. When a subject is forgotten (this process's
// erasure, or another's read by the forget-erased reactor), all of that goes at once, not
// at the store's next read or append, which in a quiet process may never come.
func TestAnErasureEmptiesTheStoresMemoryAtOnce(t *testing.T) {
	ctx := context.Background()
	_, keys, st := openSealed(t, filepath.Join(t.TempDir(), "memory.db"), "a master secret")
	appendAll(t, st, personX)
	appendAll(t, st, personY)
	if _, err := st.ReadAll(ctx, 0, 1000); err != nil {
		t.Fatal(err)
	}
	if opened, senders := sealed.Held(st); opened == 0 || senders == 0 {
		t.Fatalf("before the erasure the store holds %d opened payloads and %d senders; the test needs both", opened, senders)
	}
	id, err := keys.SubjectID(ctx, domain.KeySubject(personX.tgKey()), false)
	if err != nil {
		t.Fatal(err)
	}
	keys.Forget(id)
	if opened, senders := sealed.Held(st); opened != 0 || senders != 0 {
		t.Errorf("after X's subject is forgotten the store still holds %d opened payloads and %d senders' identifiers", opened, senders)
	}
	// Y reads as before, opened again from the log.
	got, err := st.ReadStream(ctx, domain.MessageStream(tg.ID, personY.tgMessageID()), 0)
	if err != nil || len(got) == 0 {
		t.Fatalf("Y's message after X's erasure: %d events, %v", len(got), err)
	}
	var m domain.MessageReceived
	if err := domain.Decode(got[0], &m); err != nil || m.Text != personY.text {
		t.Errorf("Y's message after X's erasure reads %q, %v; want %q", m.Text, err, personY.text)
	}
}
