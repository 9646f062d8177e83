package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// setupStack runs the service as an OAuth app whose channels have no inbox ids, with
// the developer key and the app id `hubspot setup` needs, and the emulator's inbox as
// the workspace's; the properties in undefined do not exist in the portal.
func setupStack(t *testing.T, writes *writeCounter, edit func(string) string, undefined ...string) *stack {
	t.Helper()
	emu := emulator.Options{ClientID: "client-1", ClientSecret: "secret-1", DeveloperAPIKey: "dev-key", AppID: "1160452",
		Scopes: config.DefaultScopes}
	t.Setenv("HS_CLIENT_ID", "client-1")
	t.Setenv("HS_CLIENT_SECRET", "secret-1")
	t.Setenv("HS_REFRESH", "rt-1")
	t.Setenv("HS_DEV_KEY", "dev-key")
	t.Setenv("SB_SECRET_KEY", "test-secret-key-of-32-characters")
	return startStack(t, stackOptions{emulator: emu, noInboxIDs: true, undefined: undefined, hubspotWrap: writes.wrap, rewrite: func(raw, hubspotURL string) string {
		raw = strings.Replace(raw, "token_env: HS_TOKEN,", fmt.Sprintf(`refresh_token_env: HS_REFRESH, inbox_id: %q,`, emulator.DefaultInboxID), 1)
		raw = strings.Replace(raw, "workspaces:\n", fmt.Sprintf(`public_url: https://sb.example.com
secret_key_env: SB_SECRET_KEY
hubspot_app:
  app_id: "1160452"
  client_id_env: HS_CLIENT_ID
  client_secret_env: HS_CLIENT_SECRET
  developer_api_key_env: HS_DEV_KEY
  authorize_url: %s/oauth/authorize
workspaces:
`, hubspotURL), 1)
		if edit != nil {
			raw = edit(raw)
		}
		return raw
	}})
}

// runSetup runs `switchboard hubspot setup` on the stack's configuration and returns
// its exit code and output.
func (s *stack) runSetup(args ...string) (int, string) {
	s.t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"hubspot", "setup", "--config", s.configPath}, args...), &out, &errb)
	return code, out.String() + errb.String()
}

// writeCounter counts the requests to HubSpot that can change something in it (any
// method but GET), apart from the service's own publications and token grants.
type writeCounter struct {
	mu sync.Mutex
	n  []string
}

func (c *writeCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && !strings.HasSuffix(r.URL.Path, "/messages") && r.URL.Path != "/oauth/v1/token" {
			c.mu.Lock()
			c.n = append(c.n, r.Method+" "+r.URL.Path)
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (c *writeCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = nil
	return out
}

// TestHubSpotSetupConnectsThePortalOnce is issue 11's must-show 3: against the
// emulator, setup registers the custom channel, connects one channel account per
// configured channel to the workspace's inbox and creates the missing unique
// properties; a second run writes nothing to HubSpot and records nothing; then a
// message of every kind lands in its own channel account although the configuration
// names no inbox ids.
func TestHubSpotSetupConnectsThePortalOnce(t *testing.T) {
	writes := &writeCounter{}
	s := setupStack(t, writes, nil, "telegram_user_id", "slack_user_id", "whatsapp_bsuid")
	channels := s.cfg.Workspaces[0].Channels
	for _, ch := range channels {
		if ch.Inbox.ChannelID != "" || ch.Inbox.ChannelAccountID != "" {
			t.Fatalf("channel %s has inbox ids in the configuration: %+v", ch.ID, ch.Inbox)
		}
	}
	propsBefore := map[string]bool{}
	for _, p := range []string{"instagram_username", "messenger_psid"} {
		propsBefore[p] = true
	}

	code, out := s.runSetup()
	if code != 0 {
		t.Fatalf("setup exit %d:\n%s", code, out)
	}
	t.Logf("first run:\n%s", out)
	chans, accounts := s.emu.Channels(), s.emu.ChannelAccounts()
	if len(chans) != 1 || chans[0].Name != ChannelName || chans[0].WebhookURL != "https://sb.example.com/hubspot/channel" {
		t.Fatalf("channels %+v, want one %q with webhook URL https://sb.example.com/hubspot/channel", chans, ChannelName)
	}
	if !strings.Contains(string(chans[0].Capabilities), `"HS_PHONE_NUMBER"`) || !strings.Contains(string(chans[0].Capabilities), `"INTEGRATION_THREAD_ID"`) {
		t.Errorf("capabilities %s", chans[0].Capabilities)
	}
	if len(accounts) != len(channels) {
		t.Fatalf("%d channel accounts, want one per channel (%d): %+v", len(accounts), len(channels), accounts)
	}
	byName := map[string]emulator.ChannelAccount{}
	for _, a := range accounts {
		if a.ChannelID != chans[0].ID || a.InboxID != emulator.DefaultInboxID || !a.Authorized {
			t.Errorf("account %+v: want channel %s, inbox %s, authorized", a, chans[0].ID, emulator.DefaultInboxID)
		}
		byName[a.Name] = a
	}
	for _, p := range []string{"telegram_user_id", "slack_user_id", "whatsapp_bsuid", "instagram_username", "messenger_psid"} {
		r := httpGet(t, s.hubspot.URL+"/crm/v3/properties/contacts/"+p)
		if r.status != http.StatusOK {
			t.Fatalf("property %s: %d", p, r.status)
		}
		if unique := strings.Contains(r.body, `"hasUniqueValue":true`); !propsBefore[p] && !unique {
			t.Errorf("property %s created but not unique: %s", p, r.body)
		}
	}
	for _, want := range []string{"registered the custom channel", "created property telegram_user_id", "to do: in the app's Webhooks settings",
		"https://sb.example.com/hubspot/webhooks/acme", "every scope"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var posted []string
	for _, wr := range writes.take() {
		posted = append(posted, strings.SplitN(wr, " ", 2)[1])
	}
	slices.Sort(posted)
	wantPosted := []string{"/conversations/v3/custom-channels"}
	for range channels {
		wantPosted = append(wantPosted, "/conversations/v3/custom-channels/"+chans[0].ID+"/channel-accounts")
	}
	wantPosted = append(wantPosted, "/crm/v3/properties/contacts", "/crm/v3/properties/contacts", "/crm/v3/properties/contacts")
	slices.Sort(wantPosted)
	if !slices.Equal(posted, wantPosted) {
		t.Errorf("first run's writes\n%v\nwant\n%v", posted, wantPosted)
	}
	events := s.eventCount()
	evs, err := s.svc.store.ReadStream(t.Context(), domain.HubSpotStream("acme"), 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.Type]++
	}
	if counts[domain.EventHubSpotChannelRegistered] != 1 || counts[domain.EventHubSpotChannelAccountConnected] != len(channels) ||
		counts[domain.EventHubSpotPropertyCreated] != 3 {
		t.Fatalf("recorded %v", counts)
	}

	var cout, cerr bytes.Buffer
	if code := run([]string{"check", "--config", s.configPath}, &cout, &cerr); code != 0 ||
		!strings.Contains(cout.String(), "channel acme-slack publishes into channel account "+byName["acme-slack"].ID) {
		t.Errorf("check after setup exited %d:\n%s%s", code, cout.String(), cerr.String())
	}

	// A second run writes nothing to HubSpot and records nothing.
	code, out = s.runSetup("--workspace", "acme")
	if code != 0 {
		t.Fatalf("second setup exit %d:\n%s", code, out)
	}
	t.Logf("second run:\n%s", out)
	if w := writes.take(); len(w) != 0 {
		t.Errorf("second run wrote to HubSpot: %v", w)
	}
	if n, m := len(s.emu.Channels()), len(s.emu.ChannelAccounts()); n != 1 || m != len(channels) {
		t.Errorf("after the second run: %d channels, %d accounts", n, m)
	}
	if got := s.eventCount(); got != events {
		t.Errorf("the second run recorded %d events", got-events)
	}
	if strings.Contains(out, "registered the custom channel") || strings.Contains(out, "created property") || strings.Contains(out, "connected channel account") {
		t.Errorf("second run reports writes:\n%s", out)
	}

	// Every kind of message lands in its own channel's account.
	sends := []struct {
		channel, id string
		sender      map[string]any
	}{
		{"acme-sms", "SM1", map[string]any{"phone": "+14155552671"}},
		{"acme-wa", "wamid.1", map[string]any{"phone": "14155552672"}},
		{"acme-wa-twilio", "SM2", map[string]any{"phone": "+14155552673"}},
		{"acme-ig", "mid.1", map[string]any{"user_id": "1784", "username": "Ana_B"}},
		{"acme-fb", "mid.2", map[string]any{"user_id": "5550001"}},
		{"acme-tg", "1:1", map[string]any{"user_id": "777001", "first_name": "Rui"}},
		{"acme-tg-quiet", "1:2", map[string]any{"user_id": "777002"}},
		{"acme-slack", "D1:1700000000.000100", map[string]any{"user_id": "U0NEW"}},
	}
	if len(sends) != len(channels) {
		t.Fatalf("%d sends for %d channels", len(sends), len(channels))
	}
	for _, m := range sends {
		s.post(msg(m.channel, m.id, m.sender, "hello "+m.id), http.StatusAccepted)
	}
	for _, m := range sends {
		st := s.waitSettled(m.channel, m.id)
		if st.Published == nil {
			t.Errorf("%s/%s not published: %+v", m.channel, m.id, st.DeadLetter)
		}
	}
	s.noDeadLetters()
	published := s.waitPublished(len(sends))
	for _, m := range sends {
		want := byName[m.channel]
		var got []string
		for _, p := range published {
			if p.Text == "hello "+m.id {
				got = append(got, p.ChannelID+"/"+p.ChannelAccountID)
			}
		}
		if len(got) != 1 || got[0] != want.ChannelID+"/"+want.ID {
			t.Errorf("%s: published to %v, want once to %s/%s", m.channel, got, want.ChannelID, want.ID)
		}
	}
}

// TestHubSpotSetupSaysWhatIsLeft: without inbox_id setup registers the channel, lists
// the portal's inboxes to choose from and connects nothing; the messages of the
// unconnected channels are dead letters that say to run setup; once inbox_id is set a
// second run connects them and a retry lands. Without hubspot_app setup is a
// configuration error (exit 2).
func TestHubSpotSetupSaysWhatIsLeft(t *testing.T) {
	s := setupStack(t, &writeCounter{}, func(raw string) string {
		return strings.Replace(raw, fmt.Sprintf(" inbox_id: %q,", emulator.DefaultInboxID), "", 1)
	})
	code, out := s.runSetup()
	if code != 0 {
		t.Fatalf("setup exit %d:\n%s", code, out)
	}
	want := fmt.Sprintf("to do: choose the inbox of the channel accounts: set hubspot.inbox_id of workspace acme to one of %s (Inbox)", emulator.DefaultInboxID)
	if !strings.Contains(out, want) || len(s.emu.Channels()) != 1 || len(s.emu.ChannelAccounts()) != 0 {
		t.Fatalf("report lacks %q or connected something (%d accounts):\n%s", want, len(s.emu.ChannelAccounts()), out)
	}
	s.post(smsFrom("SM1", "+14155552671"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SM1")
	if st.DeadLetter == nil || !strings.Contains(st.DeadLetter.Reason, "switchboard hubspot setup") {
		t.Fatalf("unconnected channel: %+v, want a dead letter naming hubspot setup", st.DeadLetter)
	}

	var cout, cerr bytes.Buffer
	if code := run([]string{"check", "--config", s.configPath}, &cout, &cerr); code != 1 ||
		!strings.Contains(cerr.String(), "channel acme-sms has no inbox ids and no HubSpot channel account: run `switchboard hubspot setup") {
		t.Errorf("check before the channels are connected exited %d, want 1:\n%s%s", code, cout.String(), cerr.String())
	}

	raw, err := os.ReadFile(s.configPath)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(raw), "refresh_token_env: HS_REFRESH,", fmt.Sprintf("refresh_token_env: HS_REFRESH, inbox_id: %q,", emulator.DefaultInboxID), 1)
	if err := os.WriteFile(s.configPath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := s.runSetup(); code != 0 || len(s.emu.Channels()) != 1 || len(s.emu.ChannelAccounts()) != len(s.cfg.Workspaces[0].Channels) {
		t.Fatalf("second setup exit %d, %d channels, %d accounts:\n%s", code, len(s.emu.Channels()), len(s.emu.ChannelAccounts()), out)
	}
	var rout, rerr bytes.Buffer
	if code := run([]string{"dead-letters", "--config", s.configPath, "retry", "--all"}, &rout, &rerr); code != 0 {
		t.Fatalf("dead-letters retry --all exit %d: %s%s", code, rout.String(), rerr.String())
	}
	waitFor(t, "the retried message to land", 30*time.Second, func() bool { return s.messageState("acme-sms", "SM1").Published != nil })

	noApp := strings.Replace(fixed, "hubspot_app:\n", "unused_app:\n", 1)
	noApp = noApp[:strings.Index(noApp, "unused_app:")] + noApp[strings.Index(noApp, "workspaces:"):]
	noApp = strings.Replace(noApp, "refresh_token_env: HS_REFRESH,", "token_env: HS_TOKEN,", 1)
	if err := os.WriteFile(s.configPath, []byte(noApp), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := s.runSetup(); code != 2 || !strings.Contains(out, "hubspot_app is missing") {
		t.Fatalf("without hubspot_app: exit %d, want 2:\n%s", code, out)
	}
}

type getResult struct {
	status int
	body   string
}

func httpGet(t *testing.T, url string) getResult {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer any")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return getResult{resp.StatusCode, b.String()}
}

// hubspot setup also creates the workspace's create key property (rule 5), once.
func TestHubSpotSetupCreatesTheCreateKeyProperty(t *testing.T) {
	s := setupStack(t, &writeCounter{}, func(raw string) string {
		return strings.Replace(raw, "refresh_token_env: HS_REFRESH,", "refresh_token_env: HS_REFRESH, create_key_property: switchboard_key,", 1)
	})
	code, out := s.runSetup()
	if code != 0 || !strings.Contains(out, "created the create key property switchboard_key") {
		t.Fatalf("setup exit %d:\n%s", code, out)
	}
	r := httpGet(t, s.hubspot.URL+"/crm/v3/properties/contacts/switchboard_key")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"hasUniqueValue":true`) {
		t.Fatalf("create key property: %d %s", r.status, r.body)
	}
	if code, out := s.runSetup(); code != 0 || !strings.Contains(out, "create key property switchboard_key exists") {
		t.Fatalf("second setup exit %d:\n%s", code, out)
	}
}
