package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
	"switchboard/eventstore/postgres/pgtest"
)

func msg(channel, id string, sender map[string]any, text string) map[string]any {
	return map[string]any{"channel_id": channel, "message_id": id, "sender": sender, "text": text}
}

func TestPhoneSendersMatchContactsAsTyped(t *testing.T) {
	s := startStack(t, stackOptions{})
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "mobilephone": "(415) 555-2671"}, time.Now().Add(-time.Hour))
	luis := s.emu.CreateContactAt(map[string]string{"firstname": "Luis", "phone": "+52 55 1234 5678"}, time.Now().Add(-time.Hour))
	before := len(s.emu.Contacts())

	s.post(msg("acme-sms", "SM1", map[string]any{"phone": "+1 415 555 2671"}, "hi"), http.StatusAccepted)
	s.post(msg("acme-wa", "wamid.1", map[string]any{"phone": "5215512345678"}, "hola"), http.StatusAccepted)

	sms := s.waitSettled("acme-sms", "SM1")
	wa := s.waitSettled("acme-wa", "wamid.1")
	if sms.Outcome != domain.EventContactMatched || sms.ContactID != ana {
		t.Errorf("SMS resolved to %s %s, want ContactMatched %s", sms.Outcome, sms.ContactID, ana)
	}
	if got := strings.Join(sms.Matched, ","); got != "mobilephone" {
		t.Errorf("SMS matched on %q, want mobilephone", got)
	}
	if wa.Outcome != domain.EventContactMatched || wa.ContactID != luis {
		t.Errorf("WhatsApp resolved to %s %s, want ContactMatched %s", wa.Outcome, wa.ContactID, luis)
	}
	if wa.Identified == nil || wa.Identified.Identifier != "+525512345678" {
		t.Errorf("WhatsApp identifier = %+v, want +525512345678 (Mexico's legacy mobile 1 removed)", wa.Identified)
	}
	if n := len(s.emu.Contacts()); n != before {
		t.Errorf("%d contacts after matching, want %d: nothing may be created", n, before)
	}
	for _, p := range s.waitPublished(2) {
		want := map[string]string{"sb:acme-sms:SM1": ana, "sb:acme-wa:wamid.1": luis}[p.IntegrationIdempotencyID]
		if fmt.Sprint(p.AssociateWithContactID) != want {
			t.Errorf("publication %s linked to %v, want %s", p.IntegrationIdempotencyID, p.AssociateWithContactID, want)
		}
	}
}

func TestConcurrentFirstMessagesCreateOneContact(t *testing.T) {
	s := startStack(t, stackOptions{})
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			channel, phone := "acme-sms", "+1 (628) 555-0142"
			if i%2 == 1 {
				channel, phone = "acme-wa", "16285550142"
			}
			status, body := s.do("POST", "/v1/messages", msg(channel, fmt.Sprintf("m-%d", i),
				map[string]any{"phone": phone, "first_name": "Nova", "last_name": "Silva"}, fmt.Sprintf("message %d", i)))
			if status != http.StatusAccepted {
				t.Errorf("message %d: status %d: %s", i, status, body)
			}
		}()
	}
	wg.Wait()
	published := s.waitPublished(n)
	contacts := s.emu.Contacts()
	if len(contacts) != 1 {
		t.Fatalf("%d contacts created, want exactly 1: %+v", len(contacts), contacts)
	}
	c := contacts[0]
	if c.Properties["phone"] != "+16285550142" {
		t.Errorf("created contact phone = %q, want E.164 +16285550142", c.Properties["phone"])
	}
	if c.Properties["firstname"] != "Nova" || c.Properties["lastname"] != "Silva" {
		t.Errorf("created contact names = %q %q, want Nova Silva", c.Properties["firstname"], c.Properties["lastname"])
	}
	if len(published) != n {
		t.Fatalf("%d inbox messages, want %d", len(published), n)
	}
	threads := map[string]bool{}
	for _, p := range published {
		if fmt.Sprint(p.AssociateWithContactID) != c.ID {
			t.Errorf("inbox message %s linked to %v, want %s", p.IntegrationIdempotencyID, p.AssociateWithContactID, c.ID)
		}
		threads[p.IntegrationThreadID] = true
	}
	if len(threads) != 2 {
		t.Errorf("%d threads, want 2 (one per channel): %v", len(threads), threads)
	}
	created := 0
	for i := range n {
		channel := "acme-sms"
		if i%2 == 1 {
			channel = "acme-wa"
		}
		if s.messageState(channel, fmt.Sprintf("m-%d", i)).Outcome == domain.EventContactCreated {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d messages recorded ContactCreated, want 1", created)
	}
	if st := s.emu.Stats(); st.Requests[emulator.OpSearch] > 1 || st.Requests[emulator.OpCreate] > 1 {
		t.Errorf("%d searches and %d creates for one new sender, want at most 1 each", st.Requests[emulator.OpSearch], st.Requests[emulator.OpCreate])
	}
}

func TestRedeliveredMessageRecordsNothing(t *testing.T) {
	s := startStack(t, stackOptions{})
	m := msg("acme-tg", "42:7", map[string]any{"user_id": "5550123", "first_name": "Ana"}, "hi")
	status, first := s.do("POST", "/v1/messages", m)
	if status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", status, first)
	}
	s.waitSettled("acme-tg", "42:7")
	events := s.eventCount()
	status, second := s.do("POST", "/v1/messages", m)
	if status != http.StatusOK {
		t.Fatalf("second POST: status %d, want 200: %s", status, second)
	}
	var a, b map[string]string
	_ = json.Unmarshal(first, &a)
	_ = json.Unmarshal(second, &b)
	if a["correlation_id"] == "" || a["correlation_id"] != b["correlation_id"] {
		t.Errorf("correlation ids %q and %q, want the same", a["correlation_id"], b["correlation_id"])
	}
	time.Sleep(100 * time.Millisecond) // give followers a chance to do something wrong
	if got := s.eventCount(); got != events {
		t.Errorf("log grew from %d to %d events on redelivery", events, got)
	}
	if n := len(s.emu.Published()); n != 1 {
		t.Errorf("%d inbox messages, want 1", n)
	}
}

func TestSocialChannelsCreateOrLeaveUnlinked(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.post(msg("acme-tg", "1:1", map[string]any{"user_id": "777001", "username": "rui", "first_name": "Rui", "last_name": "Costa"}, "oi"), http.StatusAccepted)
	s.post(msg("acme-tg-quiet", "1:2", map[string]any{"user_id": "777002", "first_name": "Eva"}, "hey"), http.StatusAccepted)
	s.post(msg("acme-slack", "D1:1700000000.000100", map[string]any{"user_id": "U0NEW"}, "hello"), http.StatusAccepted)

	tg := s.waitSettled("acme-tg", "1:1")
	if tg.Outcome != domain.EventContactCreated {
		t.Fatalf("telegram auto_create: outcome %s, want ContactCreated", tg.Outcome)
	}
	c, ok := s.emu.Contact(tg.ContactID)
	if !ok || c.Properties["telegram_user_id"] != "777001" || c.Properties["firstname"] != "Rui" || c.Properties["lastname"] != "Costa" {
		t.Errorf("created contact %+v, want telegram_user_id 777001 and names Rui Costa", c)
	}
	for _, tc := range []struct{ channel, id, reason string }{
		{"acme-tg-quiet", "1:2", domain.UnlinkedNoMatch},
		{"acme-slack", "D1:1700000000.000100", domain.UnlinkedSlackNoMatch},
	} {
		st := s.waitSettled(tc.channel, tc.id)
		if st.Outcome != domain.EventConversationUnlinked {
			t.Errorf("%s: outcome %s, want ConversationUnlinked", tc.channel, st.Outcome)
			continue
		}
		var reason string
		for _, e := range s.messageEvents(tc.channel, tc.id) {
			if e.Type == domain.EventConversationUnlinked {
				var p domain.ConversationUnlinked
				_ = domain.Decode(e, &p)
				reason = p.Reason
			}
		}
		if reason != tc.reason {
			t.Errorf("%s: unlinked reason %q, want %q", tc.channel, reason, tc.reason)
		}
	}
	if n := len(s.emu.Contacts()); n != 1 {
		t.Errorf("%d contacts, want only the telegram one", n)
	}
	for _, p := range s.waitPublished(3) {
		linked := p.AssociateWithContactID != ""
		if want := p.IntegrationIdempotencyID == "sb:acme-tg:1:1"; linked != want {
			t.Errorf("publication %s linked=%t, want %t", p.IntegrationIdempotencyID, linked, want)
		}
	}
}

func TestKnownSenderMakesNoCRMCall(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.post(msg("acme-sms", "first", map[string]any{"phone": "+14155550199"}, "one"), http.StatusAccepted)
	s.waitSettled("acme-sms", "first")
	s.emu.ResetStats()
	for i := range 5 {
		s.post(msg("acme-sms", fmt.Sprintf("again-%d", i), map[string]any{"phone": "(415) 555-0199"}, "more"), http.StatusAccepted)
	}
	for i := range 5 {
		if st := s.waitSettled("acme-sms", fmt.Sprintf("again-%d", i)); st.Outcome != domain.EventContactMatched {
			t.Errorf("again-%d: %s", i, st.Outcome)
		}
	}
	st := s.emu.Stats()
	if st.CRMCalls != 0 {
		t.Errorf("%d CRM calls for a known sender, want 0: %+v", st.CRMCalls, st)
	}
}

func TestBadCommandInputIsRefusedAndRecordsNothing(t *testing.T) {
	s := startStack(t, stackOptions{})
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"missing channel", `{"message_id":"1","sender":{"phone":"+14155552671"}}`, 400, "channel_id"},
		{"missing message id", `{"channel_id":"acme-sms","sender":{"phone":"+14155552671"}}`, 400, "message_id"},
		{"missing phone", `{"channel_id":"acme-sms","message_id":"1","sender":{}}`, 400, "sender.phone"},
		{"missing user id", `{"channel_id":"acme-tg","message_id":"1","sender":{"username":"ana"}}`, 400, "sender.user_id"},
		{"missing username", `{"channel_id":"acme-ig","message_id":"1","sender":{"user_id":"1"}}`, 400, "sender.username"},
		{"wrong type", `{"channel_id":"acme-sms","message_id":7,"sender":{"phone":"+14155552671"}}`, 400, "message_id"},
		{"unknown field", `{"channel_id":"acme-sms","message_id":"1","sender":{"phone":"+1"},"extra":1}`, 400, "extra"},
		{"bad time", `{"channel_id":"acme-sms","message_id":"1","sent_at":"yesterday","sender":{"phone":"+14155552671"}}`, 400, "sent_at"},
		{"not json", `{"channel_id":`, 400, ""},
		{"unknown channel", `{"channel_id":"nope","message_id":"1","sender":{"phone":"+14155552671"}}`, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.do("POST", "/v1/messages", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var e struct {
				Error struct{ Code, Field, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
				t.Fatalf("error body %s is not {error:{code,field,message}}", body)
			}
			if e.Error.Field != tc.field {
				t.Errorf("field %q, want %q (%s)", e.Error.Field, tc.field, e.Error.Message)
			}
		})
	}
	if n := s.eventCount(); n != 0 {
		t.Errorf("%d events recorded from bad input, want 0", n)
	}
	req, _ := http.NewRequest("POST", s.url+"/v1/messages", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without token: %d, want 401", resp.StatusCode)
	}
}

func TestRebuildYieldsTheLiveProjections(t *testing.T) {
	rebuildYieldsTheLiveProjections(t, stackOptions{})
}

// A service does not start on a SQLite store a rebuild holds, and says why.
func TestServiceRefusesToStartDuringARebuild(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.stop()
	release, err := lockForRebuild(context.Background(), s.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newService(s.cfg, serviceOptions{}); !errors.Is(err, errStoreInUse) || !strings.Contains(err.Error(), "being rebuilt") {
		t.Fatalf("a service started during a rebuild: %v", err)
	}
	release()
	svc, err := newService(s.cfg, serviceOptions{})
	if err != nil {
		t.Fatalf("after the rebuild: %v", err)
	}
	_ = svc.close()
}

// A store in a directory that does not exist yet (make run on a fresh clone: var/) is
// created with it, lock file included.
func TestServiceStartsOnAStoreInADirectoryNotYetMade(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	raw := testConfig(filepath.Join(dir, "var", "not-yet", "sb.db"), "http://127.0.0.1:1", "http://127.0.0.1:1")
	if err := os.WriteFile(cfgPath, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(cfg, serviceOptions{})
	if err != nil {
		t.Fatalf("a store in a new directory: %v", err)
	}
	if err := svc.close(); err != nil {
		t.Fatal(err)
	}
}

// The same on PostgreSQL: serve, its projections and rebuild on the shared log.
func TestRebuildYieldsTheLiveProjectionsOnPostgres(t *testing.T) {
	rebuildYieldsTheLiveProjections(t, stackOptions{postgresDSN: pgtest.FreshSchema(t)})
}

func rebuildYieldsTheLiveProjections(t *testing.T, opts stackOptions) {
	s := startStack(t, opts)
	s.emu.CreateContactAt(map[string]string{"mobilephone": "(415) 555-2671"}, time.Now().Add(-2*time.Hour))
	s.emu.CreateContactAt(map[string]string{"phone": "415.555.2671"}, time.Now().Add(-time.Hour)) // ambiguous
	s.post(msg("acme-sms", "a", map[string]any{"phone": "+14155552671"}, "1"), http.StatusAccepted)
	s.post(msg("acme-tg", "t:1", map[string]any{"user_id": "9"}, "2"), http.StatusAccepted)
	s.post(msg("acme-slack", "s:1", map[string]any{"user_id": "U1"}, "3"), http.StatusAccepted)
	s.post(msg("acme-sms", "alpha", map[string]any{"phone": "ACME"}, "4"), http.StatusAccepted)
	s.post(msg("acme-sms", "b", map[string]any{"phone": "+14155552671"}, "5"), http.StatusAccepted)
	for _, m := range [][2]string{{"acme-sms", "a"}, {"acme-tg", "t:1"}, {"acme-slack", "s:1"}, {"acme-sms", "alpha"}, {"acme-sms", "b"}} {
		s.waitSettled(m[0], m[1])
	}
	last := s.eventCount()
	waitFor(t, "projections to catch up", 10*time.Second, func() bool {
		for _, p := range s.svc.runner.Positions() {
			if p < last {
				return false
			}
		}
		return true
	})
	// A rebuild empties the projections serve is writing: it refuses while serve runs.
	var refusedOut, refused bytes.Buffer
	if code := run([]string{"rebuild", "--config", s.configPath}, &refusedOut, &refused); code != 1 || !strings.Contains(refused.String(), "stop") {
		t.Fatalf("rebuild beside serve: exit %d, %q; want 1, saying to stop serve first", code, refused.String())
	}
	s.stop()
	live := dumpProjections(t, s.cfg)
	if len(live["ambiguous_resolutions"]) != 1 || len(live["unlinked_conversations"]) != 2 || len(live["contact_keys"]) != 2 {
		t.Fatalf("live projections are not what the traffic should give: %v", live)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"rebuild", "--config", s.configPath}, &out, &errOut); code != 0 {
		t.Fatalf("rebuild exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "100%") {
		t.Errorf("rebuild showed no progress: %q", errOut.String())
	}
	rebuilt := dumpProjections(t, s.cfg)
	for table, rows := range live {
		if strings.Join(rows, "\n") != strings.Join(rebuilt[table], "\n") {
			t.Errorf("table %s differs after rebuild:\nlive:\n%s\nrebuilt:\n%s", table, strings.Join(rows, "\n"), strings.Join(rebuilt[table], "\n"))
		}
	}
}

// dumpProjections reads every projection table row by row, in a stable order.
func dumpProjections(t *testing.T, cfg *config.Config) map[string][]string {
	t.Helper()
	st, err := openStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string][]string{}
	for _, table := range []string{"contact_keys", "audit_messages", "audit_events", "audit_links", "audit_entries", "unlinked_conversations", "ambiguous_resolutions", "dead_letters", "corrections", "checkpoints"} {
		probe, err := st.DB().QueryContext(context.Background(), "SELECT * FROM "+table+" LIMIT 0")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := probe.Columns()
		probe.Close()
		order := make([]string, len(cols))
		for i := range cols {
			order[i] = fmt.Sprint(i + 1)
		}
		rows, err := st.DB().QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY "+strings.Join(order, ", "))
		if err != nil {
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
			out[table] = append(out[table], fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

func TestAuditExplainsAMessage(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "mobilephone": "(415) 555-2671"}, time.Now().Add(-time.Hour))
	s.post(msg("acme-sms", "SM9", map[string]any{"phone": "+1 415 555 2671"}, "where is my order?"), http.StatusAccepted)
	s.waitSettled("acme-sms", "SM9")

	var out, errOut bytes.Buffer
	if code := run([]string{"audit", "--config", s.configPath, "message", "acme-sms", "SM9"}, &out, &errOut); code != 0 {
		t.Fatalf("audit exited %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		`phone="+1 415 555 2671"`,                    // which identifier came in
		`normalized to "+14155552671"`,               // how it was normalized
		"kind=sms default_region=US",                 // which settings applied
		"HubSpot search",                             // which lookups ran
		"kept: same identifier in mobilephone",       // what they found
		"matched existing contact",                   // what happened
		"published to the HubSpot inbox as message ", // and where it landed
	} {
		if !strings.Contains(text, want) {
			t.Errorf("audit output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if code := run([]string{"audit", "--config", s.configPath, "message", "acme-sms", "SM9", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("audit --json exited %d: %s", code, errOut.String())
	}
	var doc struct {
		Events []struct {
			Position      int64           `json:"position"`
			Stream        string          `json:"stream"`
			Version       int64           `json:"version"`
			Type          string          `json:"type"`
			OccurredAt    string          `json:"occurred_at"`
			CorrelationID string          `json:"correlation_id"`
			Data          json.RawMessage `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("audit --json is not JSON: %v\n%s", err, out.String())
	}
	var types []string
	for _, e := range doc.Events {
		if e.Position == 0 || e.Stream == "" || e.Version == 0 || e.OccurredAt == "" || e.CorrelationID == "" || len(e.Data) == 0 {
			t.Errorf("event lacks a field: %+v", e)
		}
		types = append(types, e.Type)
	}
	got := strings.Join(types, ",")
	for _, want := range []string{"MessageReceived", "SenderIdentified", "MatchKeyResolved", "ContactMatched", "MessagePublished"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit --json events %s lack %s", got, want)
		}
	}
	status, body := s.do("GET", "/v1/messages/acme-sms/SM9", nil)
	if status != 200 || !strings.Contains(string(body), `"ContactMatched"`) {
		t.Errorf("GET /v1/messages/acme-sms/SM9: %d %s", status, body)
	}
	status, body = s.do("GET", "/v1/senders/acme-sms/"+"(415)%20555-2671", nil)
	if status != 200 || !strings.Contains(string(body), `"SenderIdentified"`) {
		t.Errorf("GET /v1/senders: %d %s", status, body)
	}
}

func TestBadConfigurationStopsServeAndCheck(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	base := testConfig(t.TempDir()+"/x.db", "http://127.0.0.1:1", "http://127.0.0.1:1")
	cases := []struct {
		name, from, to, key, fix string
	}{
		{"auto_create on sms", "{id: acme-sms, kind: sms,", "{id: acme-sms, kind: sms, auto_create: true,",
			"workspaces[0].channels[0].auto_create", "phone channels always create"},
		{"username on messenger", "kind: messenger, identifier: user_id", "kind: messenger, identifier: username",
			"workspaces[0].channels[4].identifier", "use identifier: user_id"},
		{"missing secret", "auth_token_env: TWILIO_TOKEN", "auth_token_env: NOT_SET_ANYWHERE",
			"workspaces[0].channels[0].auth_token_env", "export NOT_SET_ANYWHERE"},
		{"duplicate channel id", "{id: acme-tg-quiet,", "{id: acme-tg,", "workspaces[0].channels[6].id", "must be unique"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(base, tc.from, tc.to, 1)
			if bad == base {
				t.Fatalf("test setup: %q not found in the configuration", tc.from)
			}
			path := t.TempDir() + "/bad.yaml"
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"serve", "check"} {
				var out, errOut bytes.Buffer
				if code := run([]string{cmd, "--config", path}, &out, &errOut); code == 0 {
					t.Fatalf("%s accepted the configuration", cmd)
				}
				for _, want := range []string{path, tc.key, tc.fix} {
					if !strings.Contains(errOut.String(), want) {
						t.Errorf("%s: message lacks %q:\n%s", cmd, want, errOut.String())
					}
				}
			}
		})
	}
}

func TestUsernamesMatchWithoutAtOrCase(t *testing.T) {
	for _, unique := range []bool{true, false} {
		t.Run(fmt.Sprintf("unique=%t", unique), func(t *testing.T) {
			opts := stackOptions{}
			if unique {
				opts.unique = []string{"instagram_username"}
			}
			s := startStack(t, opts)
			ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "instagram_username": "@ana_b"}, time.Now().Add(-time.Hour))
			s.post(msg("acme-ig", "mid.1", map[string]any{"user_id": "1784", "username": "Ana_B"}, "hi"), http.StatusAccepted)
			st := s.waitSettled("acme-ig", "mid.1")
			if st.Outcome != domain.EventContactMatched || st.ContactID != ana {
				t.Fatalf("outcome %s on %q, want ContactMatched on %s", st.Outcome, st.ContactID, ana)
			}
			if n := len(s.emu.Contacts()); n != 1 {
				t.Errorf("%d contacts, want 1", n)
			}
		})
	}
}

func TestCheckAsksHubSpotForEveryIdentifierProperty(t *testing.T) {
	s := startStack(t, stackOptions{unique: []string{"telegram_user_id", "slack_user_id"}})
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", s.configPath}, &out, &errOut); code != 0 {
		t.Fatalf("check exited %d: %s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"configuration is valid",
		"workspace acme: HubSpot at " + s.hubspot.URL + " answers",
		`property "telegram_user_id" exists and is unique`,
		`WARNING property "instagram_username" is not unique`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	s.emu.RevokeToken(testEnv["HS_TOKEN"])
	s.emu.AddToken("another")
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", s.configPath}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "does not answer") {
		t.Errorf("check with a revoked token exited %d: %s", code, errOut.String())
	}
}

// One person's messages are resolved one after the other however the number was typed:
// they share one thread, so a later message must not be resolved — and published —
// before an earlier one. Different people, and one person on two channels (two
// threads), go side by side.
func TestOneSendersMessagesShareAResolutionPartition(t *testing.T) {
	s := startStack(t, stackOptions{})
	msgs := []struct {
		channel, id string
		sender      map[string]any
	}{
		{"acme-sms", "P1", map[string]any{"phone": "+1 415 555 2671"}},
		{"acme-sms", "P2", map[string]any{"phone": "(415) 555-2671"}},
		{"acme-sms", "P3", map[string]any{"phone": "415.555.2671"}},
		{"acme-sms", "P4", map[string]any{"phone": "+1 415 555 2672"}},
		{"acme-wa", "P5", map[string]any{"phone": "14155552671"}},
		{"acme-tg", "P6", map[string]any{"user_id": "42", "first_name": "Rui"}},
		{"acme-tg", "P7", map[string]any{"user_id": " 42", "first_name": "Rui"}},
	}
	partition := map[string]string{}
	for _, m := range msgs {
		s.post(map[string]any{"channel_id": m.channel, "message_id": m.id, "sender": m.sender, "text": "hi"}, http.StatusAccepted)
		partition[m.id] = s.svc.app.Routes.Resolve.Partition(s.messageEvents(m.channel, m.id)[0])
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"P1", "P2", true}, {"P1", "P3", true}, {"P6", "P7", true},
		{"P1", "P4", false}, // another number
		{"P1", "P5", false}, // the same number on another channel: another thread
	} {
		if got := partition[c.a] == partition[c.b]; got != c.same {
			t.Errorf("%s and %s in one partition = %v, want %v (%q, %q)", c.a, c.b, got, c.same, partition[c.a], partition[c.b])
		}
	}
}
