package projections_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// fixtureLog is the log as eventstore/sealed reads it: the projections take their
// events from a domain.EventStore, and the stored stream names and subject ids the
// sealed store fills in are what this test is about, so it serves recorded events as
// they are given. The tables are in a real database.
type fixtureLog struct{ events []domain.RecordedEvent }

func (l *fixtureLog) Append(context.Context, string, domain.ExpectedVersion, ...domain.EventData) (domain.AppendResult, error) {
	return domain.AppendResult{}, errors.New("the fixture log is read-only")
}

func (l *fixtureLog) ReadStream(_ context.Context, stream string, after int64) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	for _, e := range l.events {
		if (e.StreamID == stream || e.Stored() == stream) && e.Version > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *fixtureLog) ReadAll(_ context.Context, after int64, limit int) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	for _, e := range l.events {
		if e.Position > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *fixtureLog) LastPosition(context.Context) (int64, error) {
	if len(l.events) == 0 {
		return 0, nil
	}
	return l.events[len(l.events)-1].Position, nil
}

// erasedPerson is one sender and every personal value the test writes about them.
type erasedPerson struct {
	tag, subject, phone, raw, first, last, contact, merged string
	texts                                                  [3]string
	reason                                                 string
}

var (
	scrubX = erasedPerson{tag: "x", subject: strings.Repeat("a1", 16), phone: "+14155552671", raw: "(415) 555-2671",
		first: "Anastasiax", last: "Bentorova", contact: "101", merged: "103",
		texts:  [3]string{"Is my order 7731-XQ ready?", "Call me about parcel ZQ-88412", "Refund for invoice XV-30917"},
		reason: "Anastasiax confirmed by phone"}
	scrubY = erasedPerson{tag: "y", subject: strings.Repeat("b2", 16), phone: "+14155550199", raw: "(415) 555-0199",
		first: "Yurikova", last: "Kawashimax", contact: "102", merged: "104",
		texts:  [3]string{"Please cancel order 4410-YZ", "Where is parcel YQ-11873", "Invoice YV-55120 is wrong"},
		reason: "Yurikova confirmed by email"}
)

func (p erasedPerson) messageID(i int) string { return fmt.Sprintf("SM%s%d9f4k", p.tag, i) }
func (p erasedPerson) key() domain.MatchKey {
	return domain.MatchKey{Workspace: "ws", Lookup: "phone", Identifier: p.phone}
}

// secrets are the values no projection row may hold once the person is erased.
func (p erasedPerson) secrets() []string {
	out := []string{p.phone, strings.TrimPrefix(p.phone, "+1"), p.raw, p.first, p.last, p.reason, p.key().String()}
	for i, text := range p.texts {
		out = append(out, text, p.messageID(i), domain.MessageStream("sms", p.messageID(i)))
	}
	return out
}

// opaque is a stored stream name as the sealed store makes them.
func opaque(prefix string, n int) string { return fmt.Sprintf("%s:%032x", prefix, n) }

// logBuilder numbers events as the log would.
type logBuilder struct {
	t        *testing.T
	events   []domain.RecordedEvent
	versions map[string]int64
	clock    time.Time
}

func (b *logBuilder) add(stream, stored, subject, corr, typ string, payload any) {
	b.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		b.t.Fatal(err)
	}
	b.versions[stored]++
	b.clock = b.clock.Add(time.Second)
	pos := int64(len(b.events) + 1)
	b.events = append(b.events, domain.RecordedEvent{
		EventData: domain.EventData{ID: fmt.Sprintf("ev-%d", pos), Type: typ, SchemaVersion: 1, OccurredAt: b.clock,
			CorrelationID: corr, Payload: data},
		StreamID: stream, StoredStream: stored, Subject: subject, Version: b.versions[stored], Position: pos, RecordedAt: b.clock,
	})
}

// steps are what happens to a person, one step a call, so that two people's events
// interleave in the log: three messages (one resolving by a create, one ambiguous and
// dead-lettered, one unlinked), an operator's link and a merge HubSpot reported.
func (p erasedPerson) steps(b *logBuilder, n int) []func() {
	key := p.key()
	keyStream, keyStored := key.Stream(), opaque("matchkey", n*100)
	msg := func(i int) (stream, stored, corr string) {
		return domain.MessageStream("sms", p.messageID(i)), opaque("message", n*100+i+1), fmt.Sprintf("corr-%s-%d", p.tag, i)
	}
	received := func(i int) func() {
		return func() {
			s, st, corr := msg(i)
			b.add(s, st, p.subject, corr, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "ws", ChannelID: "sms",
				ChannelKind: domain.KindSMS, MessageID: p.messageID(i), SentAt: b.clock,
				Sender: domain.Sender{Phone: p.raw, FirstName: p.first, LastName: p.last}, Text: p.texts[i]})
			b.add(s, st, p.subject, corr, domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "sms", Source: "phone",
				Raw: p.raw, Identifier: p.phone, Steps: []string{"parsed " + p.raw}, MatchKey: key, Searched: []string{"phone"}})
		}
	}
	values := map[string]string{"phone": p.phone, "firstname": p.first, "lastname": ""}
	lookups := []domain.Lookup{{Kind: "search", Query: "phone = " + p.phone, Found: 2}}
	candidates := []domain.CandidateVerdict{
		{ContactID: p.contact, CreatedAt: b.clock, Kept: true, Reason: "oldest", Values: values},
		{ContactID: "199", CreatedAt: b.clock, Kept: false, Reason: "newer", Values: values},
	}
	return []func(){
		received(0),
		func() {
			s, st, corr := msg(0)
			b.add(keyStream, keyStored, p.subject, corr, domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key,
				ContactID: p.contact, How: "created", Properties: values})
			b.add(s, st, p.subject, corr, domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: p.contact,
				Properties: values, Lookups: lookups})
			b.add(s, st, p.subject, corr, domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: "hs-" + p.tag,
				ConversationID: "th-" + p.tag, IdempotencyID: p.messageID(0), ThreadID: "sms:" + p.phone, ContactID: p.contact, Attempts: 1})
			// Holds nothing personal, so no subject: it still lives in the person's stream.
			b.add(s, st, "", corr, domain.EventRetryRequested, domain.RetryRequested{Stage: domain.StagePublication, RequestedBy: "cli"})
		},
		received(1),
		func() {
			s, st, corr := msg(1)
			b.add(s, st, p.subject, corr, domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: p.contact,
				Via: "search", Lookups: lookups, Candidates: candidates, Ambiguous: true})
			b.add(s, st, p.subject, corr, domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
				Reason: "HubSpot 400: thread sms:" + p.phone + " refused", Status: 400, Attempts: 3})
		},
		received(2),
		func() {
			s, st, corr := msg(2)
			b.add(s, st, p.subject, corr, domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: domain.UnlinkedNoMatch,
				Detail: "no contact has phone " + p.phone, MatchKey: &key, Lookups: lookups})
		},
		func() {
			b.add(keyStream, keyStored, p.subject, "corr-link-"+p.tag, domain.EventMatchKeyLinked, domain.MatchKeyLinked{MatchKey: key,
				ChannelID: "sms", Raw: p.raw, ContactID: p.contact, Reason: p.reason, RequestedBy: "ops@example.com"})
		},
		func() {
			b.add(keyStream, keyStored, p.subject, "corr-merge-"+p.tag, domain.EventMatchKeyFollowed, domain.MatchKeyFollowedMerge{MatchKey: key,
				From: p.contact, To: p.merged})
		},
	}
}

// keyless is a sender whose number does not parse: no match key, so its message is
// sealed with a sender subject of its own, and it lands unlinked.
var keyless = struct{ subject, raw, first, text, messageID string }{
	subject: strings.Repeat("c3", 16), raw: "ask for Zoltanne at desk 4", first: "Zoltanne",
	text: "Ping me about locker Z-7781", messageID: "SMz19f4k"}

func keylessSecrets() []string {
	return []string{keyless.raw, keyless.first, keyless.text, keyless.messageID, domain.MessageStream("sms", keyless.messageID)}
}

func keylessSteps(b *logBuilder) {
	s, st, corr := domain.MessageStream("sms", keyless.messageID), opaque("message", 301), "corr-z"
	b.add(s, st, keyless.subject, corr, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "ws", ChannelID: "sms",
		ChannelKind: domain.KindSMS, MessageID: keyless.messageID, SentAt: b.clock,
		Sender: domain.Sender{Phone: keyless.raw, FirstName: keyless.first}, Text: keyless.text})
	b.add(s, st, keyless.subject, corr, domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "sms", Source: "phone",
		Raw: keyless.raw, Steps: []string{"no phone number in " + keyless.raw}, MatchKey: domain.MatchKey{Workspace: "ws", Lookup: "phone"}})
	b.add(s, st, keyless.subject, corr, domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: domain.UnlinkedNoPhone,
		Detail: keyless.raw + " is no phone number"})
	b.add(s, st, keyless.subject, corr, domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication,
		Reason: "HubSpot 400 for " + keyless.first, Status: 400, Attempts: 2})
}

// eraseEvent is e as the log reads it once its subject is erased.
func eraseEvent(t *testing.T, e domain.RecordedEvent) domain.RecordedEvent {
	t.Helper()
	payload, err := domain.ErasePersonal(e.Type, e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	e.StreamID, e.Payload = e.Stored(), payload
	return e
}

// queryRows runs q and returns its column names and every row's values ([]byte as
// string).
func queryRows(t *testing.T, db *sql.DB, q string) (cols []string, out [][]any) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if cols, err = rows.Columns(); err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, out
}

// tableRows reads every row of every projection table as text, sorted.
func tableRows(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, p := range projections.All() {
		for _, table := range p.Tables() {
			cols, rows := queryRows(t, db, `SELECT * FROM `+table)
			for _, vals := range rows {
				fields := make([]string, len(cols))
				for i, v := range vals {
					fields[i] = fmt.Sprintf("%s=%v", cols[i], v)
				}
				out = append(out, table+": "+strings.Join(fields, " | "))
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestErasureScrubsProjectionsLikeARebuild(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		erasureScrubsLikeARebuild(t, func(t *testing.T) (projections.Database, []string) {
			path := filepath.Join(t.TempDir(), "read.db")
			st, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, []string{path, path + "-wal", path + "-shm"}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		erasureScrubsLikeARebuild(t, func(t *testing.T) (projections.Database, []string) {
			st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, nil
		})
	})
}

// Two people write; X is erased. The live read side is scrubbed on SubjectErased, and
// must then equal a read side rebuilt from the erased log: nothing of X left (in the
// tables, and in the database's files where open names them: the log is not in them),
// all of Y kept, and X's contact's audit still telling what happened, with "[erased]"
// values.
func erasureScrubsLikeARebuild(t *testing.T, open func(t *testing.T) (projections.Database, []string)) {
	ctx := context.Background()
	b := &logBuilder{t: t, versions: map[string]int64{}, clock: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)}
	xs, ys := scrubX.steps(b, 1), scrubY.steps(b, 2)
	for i := range xs {
		xs[i]()
		ys[i]()
		if i == 2 {
			keylessSteps(b)
		}
	}
	log := &fixtureLog{events: b.events}

	liveDB, files := open(t)
	live, err := projections.NewRunner(liveDB, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := strings.Join(tableRows(t, liveDB.DB()), "\n")
	for _, s := range append(scrubX.secrets(), keylessSecrets()...) {
		if !strings.Contains(before, s) {
			t.Fatalf("the live read side holds no %q before the erasure: the test would prove nothing", s)
		}
	}

	// X and the keyless sender are erased: from now on the log reads their events
	// erased (their streams by their stored names, an event that holds nothing personal
	// included), and the erasures and a late event of X (already erased when appended)
	// follow.
	erased := map[string]bool{scrubX.subject: true, keyless.subject: true}
	erasedStreams := map[string]bool{}
	for i, e := range log.events {
		if erased[e.Subject] {
			erasedStreams[e.Stored()] = true
		}
		if erased[e.Subject] || erasedStreams[e.Stored()] {
			log.events[i] = eraseEvent(t, e)
		}
	}
	b.events = log.events
	for _, subject := range []string{scrubX.subject, keyless.subject} {
		b.add(domain.ErasureStream(subject), domain.ErasureStream(subject), strings.Repeat("e3", 16), "corr-erase-"+subject,
			domain.EventSubjectErased, domain.SubjectErased{SubjectID: subject, Trigger: domain.ErasedByOperator,
				Reason: "GDPR request of 2026-11-30", RequestedBy: "cli"})
	}
	b.add(domain.MessageStream("sms", scrubX.messageID(0)), opaque("message", 101), scrubX.subject, "corr-x-0",
		domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Reason: "thread sms:" + scrubX.phone + " gone", Attempts: 1})
	late := len(b.events) - 1
	b.events[late] = eraseEvent(t, b.events[late])
	log.events = b.events
	if _, err := live.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	scrubbed := tableRows(t, liveDB.DB())
	text := strings.Join(scrubbed, "\n")

	// (a) nothing of X nor of the keyless sender, (b) all of Y.
	for _, s := range append(scrubX.secrets(), keylessSecrets()...) {
		for _, row := range scrubbed {
			if strings.Contains(row, s) {
				t.Errorf("after X's erasure a row still holds %q: %s", s, row)
			}
		}
	}
	for _, s := range scrubY.secrets() {
		if !strings.Contains(text, s) {
			t.Errorf("after X's erasure no row holds Y's %q any more", s)
		}
	}

	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range append(scrubX.secrets(), keylessSecrets()...) {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("after X's erasure %s still holds %q", filepath.Base(f), s)
			}
		}
	}
	auditAfterErasure(t, liveDB.DB())

	// (c) the scrubbed tables are what a rebuild over the erased log writes: on a new
	// database, and by a rebuild of the live one.
	fresh, _ := open(t)
	rebuilt, err := projections.NewRunner(fresh, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuilt.CatchUp(ctx); err != nil {
		t.Fatalf("projecting the erased log: %v", err)
	}
	diffRows(t, "the scrubbed live tables", "a rebuild on a new database", scrubbed, tableRows(t, fresh.DB()))
	if err := live.Rebuild(ctx, nil, nil); err != nil {
		t.Fatalf("rebuilding over the erased log: %v", err)
	}
	diffRows(t, "the scrubbed live tables", "a rebuild of the scrubbed database", scrubbed, tableRows(t, liveDB.DB()))

}

// auditAfterErasure checks the audit of db once X is erased: X's contact's timeline
// still lists what happened to X's messages, erased; X's sender and message timelines
// are gone; Y's are untouched.
func auditAfterErasure(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	// (d) X's contact's audit still lists what happened to X's messages, erased.
	entries, err := projections.NewReader(db).Timeline(ctx, projections.SubjectContact, projections.ContactKey("ws", scrubX.contact))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, e := range entries {
		types[e.Type]++
		if e.Type == domain.EventMessageReceived && !strings.Contains(string(e.Data), `"message_id":"[erased]"`) {
			t.Errorf("X's message reads %s in the contact's audit, want its message id %q", e.Data, domain.Erased)
		}
		if strings.HasPrefix(e.Stream, "message:sms:") || strings.HasPrefix(e.Stream, "matchkey:ws:") {
			t.Errorf("X's audit entry at %d names the stream %q, want its stored name", e.Position, e.Stream)
		}
		if e.CorrelationID == "" || e.OccurredAt == "" {
			t.Errorf("X's audit entry at %d lost its correlation id or time: %+v", e.Position, e)
		}
	}
	for typ, n := range map[string]int{domain.EventMessageReceived: 2, domain.EventSenderIdentified: 2, domain.EventMatchKeyResolved: 1,
		domain.EventContactCreated: 1, domain.EventContactMatched: 1, domain.EventMatchKeyLinked: 1} {
		if types[typ] != n {
			t.Errorf("the audit of X's contact lists %d %s, want %d (it lists %v)", types[typ], typ, n, types)
		}
	}
	// Y's sender and message timelines are untouched, X's sender timeline is gone.
	reader := projections.NewReader(db)
	for _, c := range []struct {
		subject, key string
		some         bool
	}{
		{projections.SubjectSender, projections.SenderKey("sms", scrubY.phone), true},
		{projections.SubjectMessage, projections.MessageKey("sms", scrubY.messageID(1)), true},
		{projections.SubjectSender, projections.SenderKey("sms", scrubX.phone), false},
		{projections.SubjectMessage, projections.MessageKey("sms", scrubX.messageID(1)), false},
		{projections.SubjectMessage, projections.MessageKey("sms", domain.Erased), false},
	} {
		got, err := reader.Timeline(ctx, c.subject, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if (len(got) > 0) != c.some {
			t.Errorf("audit %s %s lists %d events, want some: %v", c.subject, c.key, len(got), c.some)
		}
	}
}

// diffRows reports every row that one of the two sides, named want and got, lacks.
func diffRows(t *testing.T, want, got string, wantRows, gotRows []string) {
	t.Helper()
	in := func(rows []string) map[string]bool {
		m := map[string]bool{}
		for _, r := range rows {
			m[r] = true
		}
		return m
	}
	w, g := in(wantRows), in(gotRows)
	for _, r := range wantRows {
		if !g[r] {
			t.Errorf("in %s, not in %s:\n  %s", want, got, r)
		}
	}
	for _, r := range gotRows {
		if !w[r] {
			t.Errorf("in %s, not in %s:\n  %s", got, want, r)
		}
	}
}

// A contact's erasure erases the subjects of the messages resolved to it: a message
// sealed with its sender's own subject (it came with a user id only and identified to a
// username's key later) and one sealed with the contact's own key are the contact's; a
// message sealed with a key an operator has since bound to another contact is that
// contact's person's, and stays.
func TestMessageSubjectsOfAContactAreThoseOfItsMessagesButNotOfKeysBoundElsewhere(t *testing.T) {
	ctx := context.Background()
	b := &logBuilder{t: t, versions: map[string]int64{}, clock: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)}
	key := func(user string) domain.MatchKey {
		return domain.MatchKey{Workspace: "ws", Lookup: "property:instagram_username", Identifier: user}
	}
	message := func(n int, subject, user, contact string) {
		stream, stored, corr := domain.MessageStream("ig", fmt.Sprint("m", n)), opaque("message", n), fmt.Sprint("corr-", n)
		b.add(stream, stored, subject, corr, domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "ws", ChannelID: "ig",
			ChannelKind: domain.KindInstagram, MessageID: fmt.Sprint("m", n), Sender: domain.Sender{UserID: fmt.Sprint("178414", n)}, Text: "hi"})
		b.add(stream, stored, subject, corr, domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "ig", Source: "username",
			Raw: user, Identifier: user, MatchKey: key(user)})
		b.add(stream, stored, subject, corr, domain.EventContactMatched, domain.ContactMatched{MatchKey: key(user), ContactID: contact, Via: "search"})
	}
	bind := func(n int, subject, user, contact string) {
		b.add(key(user).Stream(), opaque("matchkey", n), subject, fmt.Sprint("corr-key-", n), domain.EventMatchKeyResolved,
			domain.MatchKeyResolved{MatchKey: key(user), ContactID: contact, How: "matched"})
	}
	const senderSubject, ownKey, movedKey = "s-sender-of-m1", "s-key-ana", "s-key-bea"
	bind(1, ownKey, "ana", "101")
	bind(2, movedKey, "bea", "101")
	message(1, senderSubject, "ana", "101") // came with a user id only
	message(2, ownKey, "ana", "101")
	message(3, movedKey, "bea", "101")
	bind(2, movedKey, "bea", "202") // an operator moved bea's key to contact 202
	message(4, "s-other", "cyd", "303")

	path := filepath.Join(t.TempDir(), "read.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	runner, err := projections.NewRunner(st, &fixtureLog{events: b.events}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := projections.NewReader(st.DB()).MessageSubjectsOfContact(ctx, "ws", "101")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ownKey, senderSubject}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("subjects of contact 101's messages = %v, want %v", got, want)
	}
}
