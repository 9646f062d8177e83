package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// whatIfSender is one sender of the recorded traffic, with where the log says its
// messages landed and where the test expects the replay under NEW to land them.
type whatIfSender struct {
	channel string
	kind    domain.ChannelKind
	sender  domain.Sender
	// recorded: "matched", "created" (first message created contact, the rest matched
	// it) or "unlinked"; contact is the recorded contact.
	recorded string
	contact  string
	oldKey   domain.MatchKey
	// change is the report's "from→to" for its messages, "" when unchanged.
	change string
}

// Issue 13, must-show 4: simulate on a store of 10,000 recorded messages, with a
// changed identifier on one channel (Telegram: user_id → username) and a changed
// auto_create on another (Messenger: false → true), reports the counts this test
// computes on its own, makes no write call to HubSpot and keeps within its search
// limit.
func TestSimulateReportsWhatOtherSettingsWouldChange(t *testing.T) {
	total := 10000
	if testing.Short() {
		total = 1500
	}
	dir := t.TempDir()
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	for _, p := range []string{"instagram_username", "messenger_psid", "telegram_user_id", "telegram_username", "slack_user_id", "whatsapp_bsuid"} {
		emu.DefineProperty(p, false)
	}
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	dsn := filepath.Join(dir, "switchboard.db")
	old := testConfig(dsn, hs.URL, "http://127.0.0.1:1")
	newCfg := strings.Replace(old, "{id: acme-tg, kind: telegram, identifier: user_id, property: telegram_user_id,",
		"{id: acme-tg, kind: telegram, identifier: username, property: telegram_username,", 1)
	newCfg = strings.Replace(newCfg, "property: messenger_psid, auto_create: false", "property: messenger_psid, auto_create: true", 1)
	if newCfg == old || strings.Count(newCfg, "telegram_username") != 1 {
		t.Fatal("the NEW configuration did not change as the test means")
	}
	newPath := filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(newPath, []byte(newCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range testEnv {
		t.Setenv(k, v)
	}

	// The senders, and the contacts HubSpot holds for them now.
	at := time.Now().Add(-30 * 24 * time.Hour)
	var senders []*whatIfSender
	tgKey := func(uid string) domain.MatchKey {
		return domain.MatchKey{Workspace: "acme", Lookup: "property:telegram_user_id", Identifier: uid}
	}
	for i := range 10 {
		uid, name := fmt.Sprintf("70%02d", i), fmt.Sprintf("tg_user_%d", i)
		// A: one contact holds both ids: the same under NEW.
		c := emu.CreateContactAt(map[string]string{"telegram_user_id": "1" + uid, "telegram_username": "a" + name}, at)
		senders = append(senders, &whatIfSender{channel: "acme-tg", kind: domain.KindTelegram, sender: domain.Sender{UserID: "1" + uid, Username: "a" + name},
			recorded: "matched", contact: c, oldKey: tgKey("1" + uid)})
		// B: the user id is on one contact, the username on another: NEW moves it.
		c1 := emu.CreateContactAt(map[string]string{"telegram_user_id": "2" + uid}, at)
		emu.CreateContactAt(map[string]string{"telegram_username": "b" + name}, at)
		senders = append(senders, &whatIfSender{channel: "acme-tg", kind: domain.KindTelegram, sender: domain.Sender{UserID: "2" + uid, Username: "b" + name},
			recorded: "matched", contact: c1, oldKey: tgKey("2" + uid), change: "matched→matched"})
		// C: switchboard created the contact by user id; NEW would create another.
		c2 := emu.CreateContactAt(map[string]string{"telegram_user_id": "3" + uid, "firstname": "C"}, at.Add(time.Hour))
		senders = append(senders, &whatIfSender{channel: "acme-tg", kind: domain.KindTelegram, sender: domain.Sender{UserID: "3" + uid, Username: "c" + name},
			recorded: "created", contact: c2, oldKey: tgKey("3" + uid), change: "created→created"})
		psid := fmt.Sprintf("psid-%d", i)
		// Messenger A: a contact holds the psid. B: none; auto_create was off.
		cf := emu.CreateContactAt(map[string]string{"messenger_psid": "a" + psid}, at)
		senders = append(senders, &whatIfSender{channel: "acme-fb", kind: domain.KindMessenger, sender: domain.Sender{UserID: "a" + psid},
			recorded: "matched", contact: cf, oldKey: domain.MatchKey{Workspace: "acme", Lookup: "property:messenger_psid", Identifier: "a" + psid}})
		senders = append(senders, &whatIfSender{channel: "acme-fb", kind: domain.KindMessenger, sender: domain.Sender{UserID: "b" + psid},
			recorded: "unlinked", oldKey: domain.MatchKey{Workspace: "acme", Lookup: "property:messenger_psid", Identifier: "b" + psid}, change: "unlinked→created"})
	}
	for i := range 5 {
		// SMS is unchanged: a match stays, a contact switchboard created stays created.
		p1, p2 := fmt.Sprintf("+1415555%04d", 1000+i), fmt.Sprintf("+1415555%04d", 2000+i)
		c := emu.CreateContactAt(map[string]string{"mobilephone": p1}, at)
		senders = append(senders, &whatIfSender{channel: "acme-sms", kind: domain.KindSMS, sender: domain.Sender{Phone: p1},
			recorded: "matched", contact: c, oldKey: domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: p1}})
		c2 := emu.CreateContactAt(map[string]string{"phone": p2}, at.Add(time.Hour))
		senders = append(senders, &whatIfSender{channel: "acme-sms", kind: domain.KindSMS, sender: domain.Sender{Phone: p2},
			recorded: "created", contact: c2, oldKey: domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: p2}})
	}

	// The recorded log: total messages, round-robin over the senders, as the old
	// settings resolved them.
	recCfg, err := loadConfig(newPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(recCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]int{}
	unchanged := 0
	seen := map[*whatIfSender]bool{}
	for i := range total {
		s := senders[i%len(senders)]
		corr := uuid.NewString()
		ev := func(typ string, p any) domain.EventData {
			e, err := domain.NewEvent(uuid.NewString(), typ, p, at.Add(time.Duration(i)*time.Second), corr)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		mid := fmt.Sprintf("m%d", i)
		evs := []domain.EventData{ev(domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "acme", ChannelID: s.channel,
			ChannelKind: s.kind, MessageID: mid, SentAt: at, Sender: s.sender, Text: "hi"})}
		switch {
		case s.recorded == "unlinked":
			evs = append(evs, ev(domain.EventConversationUnlinked, domain.ConversationUnlinked{Reason: domain.UnlinkedNoMatch, MatchKey: &s.oldKey}))
		case s.recorded == "created" && !seen[s]:
			evs = append(evs, ev(domain.EventContactCreated, domain.ContactCreated{MatchKey: s.oldKey, ContactID: s.contact}))
		default:
			evs = append(evs, ev(domain.EventContactMatched, domain.ContactMatched{MatchKey: s.oldKey, ContactID: s.contact, Via: "search"}))
		}
		seen[s] = true
		if _, err := st.Append(ctx, domain.MessageStream(s.channel, mid), domain.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
		if s.change == "" {
			unchanged++
		} else {
			want[s.change]++
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	emu.ResetStats()
	var out, errOut bytes.Buffer
	if code := run([]string{"simulate", "--config", newPath, "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("simulate exited %d: %s", code, errOut.String())
	}
	var rep domain.WhatIfReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	got := map[string]int{}
	for _, c := range rep.Changed {
		got[c.From+"→"+c.To] = c.Count
		if len(c.Examples) == 0 || c.Examples[0].Reason == "" || c.Examples[0].MessageID == "" {
			t.Errorf("change %s→%s has no example with a reason: %+v", c.From, c.To, c.Examples)
		}
	}
	if rep.Messages != total || rep.Unchanged != unchanged || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("report: %d messages, %d unchanged, changed %v; want %d, %d, %v", rep.Messages, rep.Unchanged, got, total, unchanged, want)
	}
	stats := emu.Stats()
	for _, op := range []string{emulator.OpCreate, emulator.OpUpdate, emulator.OpArchive, emulator.OpBatchUpsert, emulator.OpMerge, emulator.OpPublish} {
		if stats.Requests[op] != 0 {
			t.Errorf("%d %s calls to HubSpot, want none", stats.Requests[op], op)
		}
	}
	if rep.WriteAttempts != 0 {
		t.Errorf("%d writes attempted", rep.WriteAttempts)
	}
	if n := emu.MaxSearchesInAnySecond(); n > 5 || n == 0 {
		t.Errorf("%d searches in one second, want between 1 and HubSpot's limit of 5", n)
	}
	t.Logf("HubSpot requests during simulate: %v", stats.Requests)
	if n := stats.Requests[emulator.OpSearch]; n == 0 || n >= rep.Lookups {
		t.Errorf("%d search requests for %d lookups: concurrent lookups should share batched searches", n, rep.Lookups)
	}
	if stats.RateLimited != 0 {
		t.Errorf("%d answers of 429: the client went past the limits", stats.RateLimited)
	}
	if rep.Lookups != len(senders) {
		t.Errorf("%d lookups, want one per distinct sender (%d)", rep.Lookups, len(senders))
	}
	if !strings.Contains(errOut.String(), "HubSpot lookups:") || !strings.Contains(errOut.String(), "left at the search limit") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}

	// The text report, for a person.
	out.Reset()
	start := time.Now()
	if code := run([]string{"simulate", "--config", newPath}, &out, &errOut); code != 0 {
		t.Fatalf("simulate exited %d: %s", code, errOut.String())
	}
	t.Logf("simulate took %s; its report:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	for _, s := range []string{fmt.Sprintf("%6d messages", total), "unlinked → created", "(new contact)", "auto_create"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("text report does not say %q:\n%s", s, out.String())
		}
	}
}

// A replay under the very settings that resolved the live traffic lands every message
// where it landed: matches, ambiguous choices, contacts switchboard created (with their
// ids), unlinked conversations, blocked senders, and the corrections in force at each
// message's turn (a never-link, then a link). Anything else would be a replay that
// does not use the decision live resolution uses.
func TestSimulateUnderTheSameSettingsChangesNothing(t *testing.T) {
	s := startStack(t, stackOptions{})
	ana := s.emu.CreateContactAt(map[string]string{"mobilephone": "(415) 555-2671"}, time.Now().Add(-2*time.Hour))
	s.emu.CreateContactAt(map[string]string{"phone": "415.555.2671"}, time.Now().Add(-time.Hour)) // ambiguous
	owner := s.emu.CreateContactAt(map[string]string{"firstname": "Dee"}, time.Now().Add(-time.Hour))
	msgs := [][2]string{}
	post := func(ch, id string, snd map[string]any) {
		s.post(msg(ch, id, snd, "x"), http.StatusAccepted)
		s.waitSettled(ch, id)
		msgs = append(msgs, [2]string{ch, id})
	}
	post("acme-sms", "a1", map[string]any{"phone": "+14155552671"})
	post("acme-tg", "t:1", map[string]any{"user_id": "9"})
	post("acme-tg", "t:2", map[string]any{"user_id": "9"})
	post("acme-fb", "f:1", map[string]any{"user_id": "psid-x"})
	post("acme-slack", "s:1", map[string]any{"user_id": "U1"})
	post("acme-sms", "alpha", map[string]any{"phone": "ACME"})
	post("acme-sms", "blocked", map[string]any{"phone": "+15550100000"})
	if status, body := s.correct("never_link", "acme-sms", "4155552671", ana, "not Ana"); status != http.StatusCreated {
		t.Fatalf("never_link: %d %s", status, body)
	}
	post("acme-wa", "w:1", map[string]any{"phone": "14155552671"})
	if status, body := s.correct("link", "acme-tg", "9", owner, "Dee's phone"); status != http.StatusCreated {
		t.Fatalf("link: %d %s", status, body)
	}
	post("acme-tg", "t:3", map[string]any{"user_id": "9"})
	post("acme-sms", "a2", map[string]any{"phone": "(415) 555-2671"})
	waitFor(t, "projections to catch up", 10*time.Second, func() bool {
		last := s.eventCount()
		for _, p := range s.svc.runner.Positions() {
			if p < last {
				return false
			}
		}
		return true
	})
	s.stop()
	before := dumpProjections(t, s.cfg)
	events := int64(0)
	{
		st, err := openStore(s.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		events, _ = st.LastPosition(context.Background())
		st.Close()
	}

	s.emu.ResetStats()
	var out, errOut bytes.Buffer
	if code := run([]string{"simulate", "--config", s.configPath, "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("simulate exited %d: %s", code, errOut.String())
	}
	after := dumpProjections(t, s.cfg)
	for table, rows := range before {
		if strings.Join(rows, "\n") != strings.Join(after[table], "\n") {
			t.Errorf("simulate changed projection table %s", table)
		}
	}
	if st, err := openStore(s.cfg, nil); err == nil {
		if n, _ := st.LastPosition(context.Background()); n != events {
			t.Errorf("simulate appended %d events, want none", n-events)
		}
		st.Close()
	}
	var rep domain.WhatIfReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Messages != len(msgs) || rep.Unchanged != len(msgs) || len(rep.Changed) != 0 {
		t.Errorf("replay under the same settings: %d messages, %d unchanged, changed %+v; want all %d unchanged", rep.Messages, rep.Unchanged, rep.Changed, len(msgs))
	}
	if st := s.emu.Stats(); st.Requests[emulator.OpCreate] != 0 || st.Requests[emulator.OpPublish] != 0 || st.Requests[emulator.OpUpdate] != 0 {
		t.Errorf("writes to HubSpot during simulate: %v", st.Requests)
	}
	// --since keeps to the window: only the messages after the link.
	out.Reset()
	since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code := run([]string{"simulate", "--config", s.configPath, "--json", "--since", since}, &out, &errOut); code != 0 {
		t.Fatalf("simulate --since exited %d: %s", code, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Messages != 0 {
		t.Errorf("simulate --since the future: %+v (%v), want no messages", rep, err)
	}
	if code := run([]string{"simulate", "--config", s.configPath, "--since", "yesterday"}, &out, &errOut); code != 2 {
		t.Errorf("simulate --since yesterday exited %d, want 2", code)
	}
}
