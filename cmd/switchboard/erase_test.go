package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// openSealedForTest opens the configuration's store as every command does: sealing.
func openSealedForTest(t *testing.T, cfgPath string) logStore {
	t.Helper()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// offlineConfig writes the test configuration for a store of its own, with HubSpot and
// the profile APIs nowhere: for commands run without serve.
func offlineConfig(t *testing.T) (cfgPath, dbPath string) {
	t.Helper()
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	cfgPath, dbPath = filepath.Join(dir, "switchboard.yaml"), filepath.Join(dir, "sb.db")
	if err := os.WriteFile(cfgPath, []byte(testConfig(dbPath, "http://127.0.0.1:1", "http://127.0.0.1:1")), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func readText(t *testing.T, s domain.EventStore, channel, messageID string) domain.MessageReceived {
	t.Helper()
	evs, err := s.ReadStream(context.Background(), domain.MessageStream(channel, messageID), 0)
	if err != nil || len(evs) == 0 {
		t.Fatalf("%s/%s: %d events, %v", channel, messageID, len(evs), err)
	}
	var m domain.MessageReceived
	if err := domain.Decode(evs[0], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// `switchboard erase` by identifier and by contact (issue 12, must-show 3): the sender's messages read "[erased]" in
// another process afterwards, the other sender's are intact, and a second erasure has
// nothing left to do.
func TestEraseCommandByIdentifierAndByContact(t *testing.T) {
	ctx := context.Background()
	cfgPath, dbPath := offlineConfig(t)
	st := openSealedForTest(t, cfgPath)
	store := st
	cfg, _ := loadConfig(cfgPath)
	rec, err := command.NewRecordMessageHandler(store, cfg.Catalog(), newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []domain.InboundMessage{
		{ChannelID: "acme-sms", MessageID: "SM-x", Sender: domain.Sender{Phone: "+14155552671", FirstName: "Xaviera"}, Text: "X on SMS: parcel QX-551"},
		{ChannelID: "acme-sms", MessageID: "SM-y", Sender: domain.Sender{Phone: "+14155550199", FirstName: "Yolanda"}, Text: "Y on SMS: invoice YV-30917"},
		{ChannelID: "acme-tg", MessageID: "5550123:1", Sender: domain.Sender{UserID: "5550123", FirstName: "Xaviera"}, Text: "X on Telegram: order 7731-XQ"},
		{ChannelID: "acme-tg", MessageID: "7770456:1", Sender: domain.Sender{UserID: "7770456", FirstName: "Yolanda"}, Text: "Y on Telegram: order 4410-YZ"},
	} {
		if _, err := rec.Handle(ctx, command.RecordMessage{Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	// X's Telegram key resolved to contact 101, Y's to 102: what --contact finds.
	for _, r := range []struct{ user, contact string }{{"5550123", "101"}, {"7770456", "102"}} {
		key := domain.MatchKey{Workspace: "acme", Lookup: "property:telegram_user_id", Identifier: r.user}
		e, err := domain.NewEvent(newID(), domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: r.contact, How: "matched"}, time.Now(), newID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, key.Stream(), domain.AnyVersion, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"erase", "--config", cfgPath}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	// By identifier, typed the operator's way.
	if code, out, errOut := cli("acme-sms", "(415) 555-2671", "--reason", "asked by email on 2026-11-30"); code != 0 || !strings.Contains(out, "erased sender") {
		t.Fatalf("erase by identifier: exit %d\n%s%s", code, out, errOut)
	}
	// By contact.
	if code, out, errOut := cli("--contact", "acme", "101", "--reason", "asked by phone"); code != 0 || !strings.Contains(out, "1 data key(s) destroyed") {
		t.Fatalf("erase by contact: exit %d\n%s%s", code, out, errOut)
	}

	st = openSealedForTest(t, cfgPath) // another process: nothing cached
	store = st
	defer st.Close()
	for _, m := range []struct{ ch, id, want string }{
		{"acme-sms", "SM-y", "Y on SMS: invoice YV-30917"}, {"acme-tg", "7770456:1", "Y on Telegram: order 4410-YZ"},
	} {
		if got := readText(t, store, m.ch, m.id); got.Text != m.want {
			t.Errorf("%s/%s reads %q, want %q", m.ch, m.id, got.Text, m.want)
		}
	}
	// Nothing leads from X's message ids to their streams any more; in the log they
	// read "[erased]", under names that say nothing.
	for _, m := range []struct{ ch, id string }{{"acme-sms", "SM-x"}, {"acme-tg", "5550123:1"}} {
		if evs, err := store.ReadStream(ctx, domain.MessageStream(m.ch, m.id), 0); err != nil || len(evs) != 0 {
			t.Errorf("%s/%s still found by its message id: %d events, %v", m.ch, m.id, len(evs), err)
		}
	}
	all, err := store.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	erasedTexts := 0
	for _, e := range all {
		var m domain.MessageReceived
		if e.Type != domain.EventMessageReceived || domain.Decode(e, &m) != nil {
			continue
		}
		if m.Text == domain.Erased {
			erasedTexts++
			if m.MessageID != domain.Erased || m.Sender.FirstName != domain.Erased || e.StreamID != e.StoredStream {
				t.Errorf("X's message not wholly erased: %s %+v", e.StreamID, m)
			}
		}
	}
	if erasedTexts != 2 {
		t.Errorf("%d messages read erased; want X's 2", erasedTexts)
	}
	st.Close()

	// The same byte search as the end-to-end test: once the file is checkpointed and
	// vacuumed, nothing of X is in any file of the store, and all of Y is (in the
	// projections the command caught up, which hold the living in the clear).
	checkpointAndVacuum(t, dbPath)
	for _, v := range []string{"+14155552671", "4155552671", "Xaviera", "QX-551", "5550123", "7731-XQ", "SM-x"} {
		if in := storeFilesHolding(t, dbPath, v); len(in) > 0 {
			t.Errorf("X's %q is still in %v after switchboard erase", v, in)
		}
	}
	for _, v := range []string{"+14155550199", "Yolanda", "YV-30917", "7770456", "4410-YZ", "SM-y"} {
		if in := storeFilesHolding(t, dbPath, v); len(in) == 0 {
			t.Errorf("Y's %q is in no file of the store: the search proves nothing", v)
		}
	}
	if code, out, _ := cli("acme-sms", "+14155552671", "--reason", "asked again"); code != 0 || !strings.Contains(out, "nothing to erase") {
		t.Errorf("second erasure: exit %d, %s", code, out)
	}
	for _, bad := range [][]string{
		{"acme-sms", "+14155550199"},              // no reason
		{"nope", "+14155550199", "--reason", "r"}, // unknown channel
		{"acme-sms", "--reason", "r"},             // one argument
	} {
		if code, _, _ := cli(bad...); code != 2 {
			t.Errorf("erase %v: exit %d, want 2", bad, code)
		}
	}
}

// An erasure run beside serve (another process) takes effect in serve within 2 s (SPEC
// §5): serve's log reads the sender's values as "[erased]" although it had their key in
// memory, the other sender is intact, and the same person writing again afterwards is a
// new subject, readable.
func TestEraseBesideServeTakesEffectInServe(t *testing.T) {
	s := startStack(t, stackOptions{})
	send := func(id, phone, name, text string) {
		s.post(map[string]any{"channel_id": "acme-sms", "message_id": id,
			"sender": map[string]any{"phone": phone, "first_name": name}, "text": text}, 202)
		s.waitSettled("acme-sms", id)
	}
	stored := map[string]string{}
	received := func(id string) domain.MessageReceived {
		var m domain.MessageReceived
		evs, err := s.svc.store.ReadStream(context.Background(), stored[id], 0)
		if err != nil || len(evs) == 0 {
			t.Fatalf("%s: %d events, %v", id, len(evs), err)
		}
		if err := domain.Decode(evs[0], &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	send("SM-x", "+14155552671", "Xaviera", "X: parcel QX-551")
	send("SM-y", "+14155550199", "Yolanda", "Y: invoice YV-30917")
	for _, id := range []string{"SM-x", "SM-y"} {
		stored[id] = s.messageEvents("acme-sms", id)[0].Stored()
	}
	if got := received("SM-x"); got.Text != "X: parcel QX-551" { // serve now holds X's key in memory
		t.Fatalf("X before erasure: %+v", got)
	}

	if code, out, errOut := s.cli("erase", "acme-sms", "+1 (415) 555-2671", "--reason", "asked by email"); code != 0 || !strings.Contains(out, "erased sender") {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, "serve to read X's message as erased", 2*time.Second, func() bool {
		return received("SM-x").Text == domain.Erased
	})
	if got := received("SM-x"); got.Sender.Phone != domain.Erased || got.Sender.FirstName != domain.Erased {
		t.Errorf("X after erasure: %+v", got)
	}
	if got := received("SM-y"); got.Text != "Y: invoice YV-30917" || got.Sender.FirstName != "Yolanda" {
		t.Errorf("Y after X's erasure: %+v", got)
	}
	if evs := s.messageEvents("acme-sms", "SM-x"); len(evs) != 0 {
		t.Errorf("serve still finds X's message by its id: %d events", len(evs))
	}
	send("SM-x2", "+14155552671", "Xaviera", "X again, after the erasure")
	stored["SM-x2"] = s.messageEvents("acme-sms", "SM-x2")[0].Stored()
	if got := received("SM-x2"); got.Text != "X again, after the erasure" {
		t.Errorf("X's message after the erasure: %+v", got)
	}
}

// Issue 12, must-show 4: a message of X still waiting when the erasure comes is never
// published (nor resolved: its sender reads "[erased]"); Y's, recorded at the same
// time, is.
func TestErasedMessageWaitingIsNeverPublished(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.stop() // the messages wait: recorded, nobody resolving or publishing them
	st := openSealedForTest(t, s.configPath)
	rec, err := command.NewRecordMessageHandler(st, s.cfg.Catalog(), newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []domain.InboundMessage{
		{ChannelID: "acme-sms", MessageID: "SM-x", Sender: domain.Sender{Phone: "+14155552671"}, Text: "X waiting: parcel QX-551"},
		{ChannelID: "acme-sms", MessageID: "SM-y", Sender: domain.Sender{Phone: "+14155550199"}, Text: "Y waiting: invoice YV-30917"},
	} {
		if _, err := rec.Handle(context.Background(), command.RecordMessage{Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if code, out, errOut := s.cli("erase", "acme-sms", "+14155552671", "--reason", "asked by email"); code != 0 {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errOut)
	}

	s.start()
	s.waitSettled("acme-sms", "SM-y")
	time.Sleep(300 * time.Millisecond) // the followers poll every 20 ms: X had its chances
	for _, p := range s.emu.Published() {
		if strings.Contains(p.Text, "QX-551") || p.Text == domain.Erased {
			t.Errorf("X's erased message was published: %+v", p)
		}
	}
	if evs := s.messageEvents("acme-sms", "SM-x"); len(evs) != 0 {
		t.Errorf("X's erased message is still found by its id: %d events", len(evs))
	}
	all, err := s.svc.store.ReadAll(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var xEvents []string
	for _, e := range all {
		// X's message stream lost its name: its MessageReceived and the resolver's
		// word that it will not be delivered are all it holds.
		if strings.HasPrefix(e.StreamID, "message:") && e.StreamID == e.StoredStream {
			xEvents = append(xEvents, e.Type)
			var c domain.PublicationCancelled
			if e.Type == domain.EventPublicationCancelled && (domain.Decode(e, &c) != nil || c.Stage != domain.StageResolution || c.Reason != domain.ReasonSenderErased) {
				t.Errorf("X's cancellation: %s", e.Payload)
			}
		}
	}
	if got := strings.Join(xEvents, " "); got != domain.EventMessageReceived+" "+domain.EventPublicationCancelled {
		t.Errorf("X's erased message stream holds %s; want its MessageReceived and PublicationCancelled at the resolution", got)
	}
	if len(s.emu.Published()) != 1 {
		t.Errorf("%d messages published, want Y's alone", len(s.emu.Published()))
	}
}

// A configuration that names secret_key_env without its value cannot open the data
// keys: the commands that read the log without needing platform secrets (audit, erase)
// refuse it as bad configuration, naming the variable, instead of opening a new store
// with unwrapped keys that serve, with the secret, would then refuse.
func TestLogCommandsNeedTheSecretKeyWhenOneIsNamed(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	raw := "secret_key_env: SB_UNSET_SECRET_FOR_TEST\n" + testConfig(filepath.Join(dir, "sb.db"), "http://127.0.0.1:1", "http://127.0.0.1:1")
	if err := os.WriteFile(cfgPath, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"erase", "--config", cfgPath, "acme-sms", "+14155552671", "--reason", "asked"},
		{"audit", "--config", cfgPath, "message", "acme-sms", "SM-1"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "SB_UNSET_SECRET_FOR_TEST, which is not set") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming the variable", args[0], code, errOut.String())
		}
	}
}

// A dead letter of an erased sender stays listed, as a rebuild over the erased log lists
// it, but nothing publishes its message any more and its stream is not found by channel
// and message id: `dead-letters retry` refuses it, saying why, and `retry --all` passes
// over it instead of stopping there.
func TestDeadLetterOfAnErasedSenderIsNotRetried(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig(filepath.Join(dir, "sb.db"), "http://127.0.0.1:1", "http://127.0.0.1:1")), 0o600); err != nil {
		t.Fatal(err)
	}
	st := openSealedForTest(t, cfgPath)
	if _, err := projections.NewRunner(st, st, nil); err != nil {
		t.Fatal(err)
	}
	// The row as projections leave it once the sender is erased (projections'
	// TestErasureScrubsProjectionsLikeARebuild).
	stored := "message:" + strings.Repeat("3f", 16)
	if _, err := st.DB().Exec(`INSERT INTO dead_letters (stream_id, channel_id, message_id, stage, reason, status, attempts, correlation_id,
		occurred_at, position, subject_id, stored_stream) VALUES ($1, '', $2, 'publication', $2, 400, 3, 'corr-x', '2026-11-30T10:00:00Z', 7, $3, $1)`,
		stored, domain.Erased, strings.Repeat("a1", 16)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"dead-letters", "--config", cfgPath}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := cli(); code != 0 || !strings.Contains(out, "corr-x  /"+domain.Erased) {
		t.Errorf("dead-letters: exit %d, want the erased letter listed\n%s%s", code, out, errOut)
	}
	if code, out, errOut := cli("retry", "corr-x"); code != 1 || !strings.Contains(errOut, "erased sender") {
		t.Errorf("dead-letters retry corr-x: exit %d, want 1 saying the sender is erased\n%s%s", code, out, errOut)
	}
	if code, out, errOut := cli("retry", "--all"); code != 0 || strings.Contains(out, "requested") {
		t.Errorf("dead-letters retry --all: exit %d, want 0 and nothing retried\n%s%s", code, out, errOut)
	}
}

// The HTTP API refuses the retry of an erased sender's dead letter the same way.
func TestDeadLetterOfAnErasedSenderIsNotRetriedThroughTheAPI(t *testing.T) {
	s := startStack(t, stackOptions{})
	stored := "message:" + strings.Repeat("4e", 16)
	if _, err := s.svc.events.DB().Exec(`INSERT INTO dead_letters (stream_id, channel_id, message_id, stage, reason, status, attempts, correlation_id,
		occurred_at, position, subject_id, stored_stream) VALUES ($1, '', $2, 'publication', $2, 400, 3, 'corr-x', '2026-11-30T10:00:00Z', 7, $3, $1)`,
		stored, domain.Erased, strings.Repeat("a1", 16)); err != nil {
		t.Fatal(err)
	}
	if code, body := s.do("GET", "/v1/dead-letters", nil); code != http.StatusOK || !strings.Contains(string(body), `"corr-x"`) {
		t.Errorf("GET /v1/dead-letters: %d %s, want the erased letter listed", code, body)
	}
	if code, body := s.do("POST", "/v1/dead-letters/corr-x/retry", nil); code != http.StatusBadRequest || !strings.Contains(string(body), "erased sender") {
		t.Errorf("POST /v1/dead-letters/corr-x/retry: %d %s, want 400 saying the sender is erased", code, body)
	}
}

// A message on a channel that resolves by username, arriving with a user id only, is
// sealed with its sender's own subject; the resolver learns the username afterwards and
// resolves it to a contact through the username's key. Erasing that contact must reach
// the message too — its text, its user id and the sender's name — not only the key's
// events: `erase --contact` erases the subjects of the messages resolved to the contact.
func TestEraseByContactReachesMessagesSealedWithTheirSendersOwnSubject(t *testing.T) {
	ctx := context.Background()
	cfgPath, dbPath := offlineConfig(t)
	st := openSealedForTest(t, cfgPath)
	cfg, _ := loadConfig(cfgPath)
	rec, err := command.NewRecordMessageHandler(st, cfg.Catalog(), newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	people := []struct{ message, userID, name, text, username, contact string }{
		{"ig-x1", "17841400000000777", "Xiomara", "X on Instagram: ticket IG-8812", "xiomara.r", "301"},
		{"ig-y1", "17841400000000888", "Yusuf", "Y on Instagram: ticket IG-4471", "yusuf.k", "302"},
	}
	for _, p := range people {
		r, err := rec.Handle(ctx, command.RecordMessage{Message: domain.InboundMessage{ChannelID: "acme-ig", MessageID: p.message,
			Sender: domain.Sender{UserID: p.userID, FirstName: p.name}, Text: p.text, Source: "webhook:instagram"}})
		if err != nil {
			t.Fatal(err)
		}
		// What the resolver records once the profile API gave the username.
		key := domain.MatchKey{Workspace: "acme", Lookup: "property:instagram_username", Identifier: p.username}
		ch, _ := cfg.Catalog().Channel("acme-ig")
		for _, c := range []struct {
			stream, typ string
			payload     any
		}{
			{domain.MessageStream("acme-ig", p.message), domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "acme-ig", Settings: ch,
				Source: "username", Raw: p.username, Identifier: p.username, MatchKey: key}},
			{key.Stream(), domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: p.contact, How: "matched"}},
			{domain.MessageStream("acme-ig", p.message), domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: p.contact, Via: "search"}},
		} {
			e, err := domain.NewEvent(newID(), c.typ, c.payload, time.Now(), r.CorrelationID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Append(ctx, c.stream, domain.AnyVersion, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"erase", "--config", cfgPath, "--contact", "acme", "301", "--reason", "asked by email"}, &out, &errOut); code != 0 {
		t.Fatalf("erase --contact: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "2 data key(s) destroyed") {
		t.Errorf("erase --contact destroyed other than the key's and the sender's subjects:\n%s", out.String())
	}

	st = openSealedForTest(t, cfgPath)
	all, err := st.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	for _, e := range all {
		var m domain.MessageReceived
		if e.Type == domain.EventMessageReceived && domain.Decode(e, &m) == nil {
			texts[m.Text] = true
		}
	}
	if !texts[domain.Erased] || !texts[people[1].text] || len(texts) != 2 {
		t.Errorf("message texts read %v: want X's erased and Y's intact", texts)
	}
	st.Close()
	checkpointAndVacuum(t, dbPath)
	x, y := people[0], people[1]
	for _, v := range []string{x.userID, x.name, "IG-8812", x.username, x.message} {
		if in := storeFilesHolding(t, dbPath, v); len(in) > 0 {
			t.Errorf("X's %q is still in %v after the contact's erasure", v, in)
		}
	}
	for _, v := range []string{y.userID, y.name, "IG-4471", y.username, y.message} {
		if in := storeFilesHolding(t, dbPath, v); len(in) == 0 {
			t.Errorf("Y's %q is in no file of the store: the search proves nothing", v)
		}
	}
}

// eraseWhileHubSpotFails sends X's and Y's messages while HubSpot fails op with 503s,
// erases X beside serve once both wait (ready says when), and returns the
// PublicationCancelled serve records on X's message; HubSpot still fails meanwhile, so
// only the erasure can have ended the try under way. HubSpot answers again afterwards
// and Y's message is published.
func eraseWhileHubSpotFails(t *testing.T, s *stack, op string, ready func(x, y []domain.RecordedEvent) bool) domain.PublicationCancelled {
	t.Helper()
	s.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.Fault503: 1}, Operations: []string{op}})
	s.post(msg("acme-sms", "SM-x", map[string]any{"phone": "+1 415 555 2671"}, "X waiting: parcel QX-551"), http.StatusAccepted)
	s.post(msg("acme-sms", "SM-y", map[string]any{"phone": "+1 415 555 0199"}, "Y waiting: invoice YV-30917"), http.StatusAccepted)
	stored := ""
	waitFor(t, "both messages waiting on a failing HubSpot", 10*time.Second, func() bool {
		x, y := s.messageEvents("acme-sms", "SM-x"), s.messageEvents("acme-sms", "SM-y")
		if len(x) > 0 {
			stored = x[0].Stored()
		}
		return stored != "" && ready(x, y) && s.emu.Stats().Faulted >= 2
	})
	if code, out, errOut := s.cli("erase", "acme-sms", "+14155552671", "--reason", "asked by email"); code != 0 {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errOut)
	}
	var last domain.RecordedEvent
	// Well within the minute the client would go on retrying the call it started
	// before the erasure.
	waitFor(t, "serve to record X's cancellation", 5*time.Second, func() bool {
		evs, _ := s.svc.store.ReadStream(context.Background(), stored, 0)
		if len(evs) == 0 {
			return false
		}
		last = evs[len(evs)-1]
		return last.Type == domain.EventPublicationCancelled
	})
	var c domain.PublicationCancelled
	if err := domain.Decode(last, &c); err != nil || c.Reason != domain.ReasonSenderErased {
		t.Fatalf("X's cancellation %+v, %v", c, err)
	}
	s.emu.SetFaults(emulator.Faults{})
	s.waitPublished(1)
	time.Sleep(200 * time.Millisecond)
	for _, p := range s.emu.Published() {
		if strings.Contains(p.Text, "QX-551") || p.Text == domain.Erased {
			t.Errorf("X's erased message was published: %+v", p)
		}
	}
	if n := len(s.emu.Published()); n != 1 {
		t.Errorf("%d messages published, want Y's alone", n)
	}
	return c
}

// A message of X resolved and waiting for HubSpot (its publications failing) when X is
// erased is not published: the publication under way is abandoned, and the publisher's
// next try reads the message erased and records why it stops there. Y's, waiting
// beside it, is published once HubSpot answers again.
func TestErasedMessageWaitingForHubSpotIsCancelledNotPublished(t *testing.T) {
	s := startStack(t, stackOptions{})
	resolved := func(x, y []domain.RecordedEvent) bool { return len(x) >= 3 && len(y) >= 3 }
	if c := eraseWhileHubSpotFails(t, s, emulator.OpPublish, resolved); c.Stage != domain.StagePublication {
		t.Errorf("X's cancellation %+v; want the publication stage", c)
	}
}

// The same while the message waits for its resolution (HubSpot's search failing): the
// resolution under way is abandoned, the next one reads the message erased and cancels
// it, and X is never searched for or created again.
func TestErasedMessageWaitingForItsResolutionIsCancelled(t *testing.T) {
	s := startStack(t, stackOptions{})
	recorded := func(x, y []domain.RecordedEvent) bool { return len(y) > 0 }
	if c := eraseWhileHubSpotFails(t, s, emulator.OpSearch, recorded); c.Stage != domain.StageResolution {
		t.Errorf("X's cancellation %+v; want the resolution stage", c)
	}
	for _, ct := range s.emu.Contacts() {
		if strings.Contains(ct.Properties["phone"], "4155552671") {
			t.Errorf("a contact was created for erased X: %+v", ct)
		}
	}
}
