package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

const testAdminToken = "test-admin-token"

// testEnv is every secret the test configurations name.
var testEnv = map[string]string{
	"SB_ADMIN": testAdminToken, "HS_TOKEN": "hs-token", "TWILIO_TOKEN": "twilio-token",
	"META_SECRET": "meta-secret", "META_VERIFY": "meta-verify", "META_ACCESS": "meta-access",
	"TG_SECRET": "tg-secret", "SLACK_SECRET": "slack-secret", "SLACK_BOT": "xoxb-test",
	"HS_APP_SECRET": testHubSpotAppSecret,
}

// testConfig is a workspace with one channel of each kind on the emulator at hubspotURL.
func testConfig(dsn, hubspotURL, profilesURL string) string {
	return testConfigWith(dsn, hubspotURL, profilesURL, stackOptions{})
}

func testConfigWith(dsn, hubspotURL, profilesURL string, o stackOptions) string {
	driver := "sqlite"
	if o.postgresDSN != "" {
		driver, dsn = "postgres", o.postgresDSN
	}
	region := o.region
	if region == "" {
		region = "US"
	}
	top := o.bus
	if o.publicURL != "" {
		top += fmt.Sprintf("public_url: %q\n", o.publicURL)
	}
	return top + fmt.Sprintf(`
listen: 127.0.0.1:0
admin_token_env: SB_ADMIN
store: {driver: %s, dsn: %q}
workspaces:
  - id: acme
    hubspot: {base_url: %q, token_env: HS_TOKEN, region: %s, ten_second_limit: %d, search_per_second: %g%s}
    blocked_identifiers: ["+15550100000", "test_user"]
    channels:
      - {id: acme-sms, kind: sms, default_region: %s, auth_token_env: TWILIO_TOKEN, inbox: {channel_id: "1001", channel_account_id: "2001"}}
      - {id: acme-wa, kind: whatsapp, provider: cloud, default_region: US, bsuid_property: whatsapp_bsuid,
         app_secret_env: META_SECRET, verify_token_env: META_VERIFY, inbox: {channel_id: "1001", channel_account_id: "2002"}}
      - {id: acme-wa-twilio, kind: whatsapp, provider: twilio, default_region: US, auth_token_env: TWILIO_TOKEN,
         inbox: {channel_id: "1001", channel_account_id: "2003"}}
      - {id: acme-ig, kind: instagram, identifier: username, property: instagram_username, auto_create: true,
         app_secret_env: META_SECRET, verify_token_env: META_VERIFY, access_token_env: META_ACCESS, api_base_url: %q,
         inbox: {channel_id: "1001", channel_account_id: "2004"}}
      - {id: acme-fb, kind: messenger, identifier: user_id, property: messenger_psid, auto_create: false,
         app_secret_env: META_SECRET, verify_token_env: META_VERIFY, access_token_env: META_ACCESS, api_base_url: %q,
         inbox: {channel_id: "1001", channel_account_id: "2005"}}
      - {id: acme-tg, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: TG_SECRET, inbox: {channel_id: "1001", channel_account_id: "2006"}}
      - {id: acme-tg-quiet, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: false,
         secret_token_env: TG_SECRET, inbox: {channel_id: "1001", channel_account_id: "2008"}}
      - {id: acme-slack, kind: slack, identifier: user_id, property: slack_user_id, signing_secret_env: SLACK_SECRET,
         bot_token_env: SLACK_BOT, api_base_url: %q, inbox: {channel_id: "1001", channel_account_id: "2007"}}
`, driver, dsn, hubspotURL, region, o.tenSecondLimit, o.searchPerSecond, o.hubspotKeys, region, profilesURL, profilesURL, profilesURL)
}

// stack is a running switchboard with its emulated HubSpot and platform APIs.
type stack struct {
	t          *testing.T
	emu        *emulator.Server
	hubspot    *httptest.Server
	profiles   *httptest.Server
	cfg        *config.Config
	configPath string
	svc        *service
	url        string
	cancel     context.CancelFunc
	done       chan error
	poll       time.Duration
	logTo      io.Writer
}

// anotherNode starts a second service on the stack's configuration, emulator and
// platform APIs: another node of the same installation.
func (s *stack) anotherNode() *stack {
	s.t.Helper()
	cfg, err := config.Load(s.configPath, os.Getenv)
	if err != nil {
		s.t.Fatal(err)
	}
	n := &stack{t: s.t, emu: s.emu, hubspot: s.hubspot, profiles: s.profiles, cfg: cfg, configPath: s.configPath, poll: s.poll}
	n.start()
	return n
}

type stackOptions struct {
	emulator emulator.Options
	// rewrite, when set, edits the configuration file's text before it is written
	// (hubspotURL is the emulator's).
	rewrite func(raw, hubspotURL string) string
	// unique lists identifier properties to define as unique (others are defined
	// as plain, searchable properties).
	unique []string
	// region is the workspace's and the SMS channel's region (default US).
	region string
	// tenSecondLimit and searchPerSecond are the client's HubSpot budgets (0: defaults).
	tenSecondLimit  int
	searchPerSecond float64
	// profiles answers the platforms' profile APIs (default: platformProfiles).
	profiles http.Handler
	// publicURL is the top-level public_url (none when empty).
	publicURL string
	// logTo receives the service's logs at info level (none when nil).
	logTo io.Writer
	// postgresDSN puts the log on PostgreSQL instead of the stack's SQLite file.
	postgresDSN string
	// bus is a top-level bus: line of the configuration (default: in-process).
	bus string
	// pollEvery is how often followers poll the log without a notification (default
	// 20 ms).
	pollEvery time.Duration
	// noInboxIDs leaves the channels' inbox ids out of the configuration (they come
	// from `hubspot setup`).
	noInboxIDs bool
	// undefined lists identifier properties the emulator does not define.
	undefined []string
	// hubspotWrap, when set, wraps the emulator's handler (to observe its requests).
	hubspotWrap func(http.Handler) http.Handler
	// hubspotKeys are more keys of the workspace's hubspot mapping, each written
	// ", key: value" (for example ", app_secret_env: HS_APP_SECRET").
	hubspotKeys string
}

// inboxIDs matches a channel's inbox ids in testConfigWith's text.
var inboxIDs = regexp.MustCompile(`,\s*inbox: \{channel_id: "\d+", channel_account_id: "\d+"\}`)

func startStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	dir := t.TempDir()
	if opts.emulator.Region == "" {
		opts.emulator.Region = opts.region
	}
	emu := emulator.New(opts.emulator)
	t.Cleanup(emu.Close)
	for _, p := range []string{"instagram_username", "messenger_psid", "telegram_user_id", "slack_user_id", "whatsapp_bsuid"} {
		if slices.Contains(opts.undefined, p) {
			continue
		}
		unique := false
		for _, u := range opts.unique {
			unique = unique || u == p
		}
		emu.DefineProperty(p, unique)
	}
	var handler http.Handler = emu
	if opts.hubspotWrap != nil {
		handler = opts.hubspotWrap(emu)
	}
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	if opts.profiles == nil {
		opts.profiles = platformProfiles()
	}
	profiles := httptest.NewServer(opts.profiles)
	t.Cleanup(profiles.Close)
	s := &stack{t: t, emu: emu, hubspot: hs, profiles: profiles, configPath: filepath.Join(dir, "switchboard.yaml"), poll: opts.pollEvery, logTo: opts.logTo}
	if s.poll == 0 {
		s.poll = 20 * time.Millisecond
	}
	raw := testConfigWith(filepath.Join(dir, "switchboard.db"), hs.URL, profiles.URL, opts)
	if opts.noInboxIDs {
		raw = inboxIDs.ReplaceAllString(raw, "")
	}
	if opts.rewrite != nil {
		raw = opts.rewrite(raw, hs.URL)
	}
	if err := os.WriteFile(s.configPath, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(s.configPath, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.start()
	return s
}

// start runs the service on the stack's configuration (again, after stop).
func (s *stack) start() {
	s.t.Helper()
	var logger *slog.Logger
	if os.Getenv("SWITCHBOARD_TEST_LOG") != "" {
		// Debugging aid: the service's own logs on stderr.
		logger = newLogger(os.Stderr, os.Getenv("SWITCHBOARD_TEST_LOG"))
	}
	if s.logTo != nil {
		logger = newLogger(s.logTo, "info")
	}
	svc, err := newService(s.cfg, serviceOptions{PollEvery: s.poll, Logger: logger})
	if err != nil {
		s.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.svc, s.url, s.cancel, s.done = svc, "http://"+ln.Addr().String(), cancel, make(chan error, 1)
	go func() { s.done <- svc.run(ctx, ln) }()
	s.t.Cleanup(s.stop)
}

// stop shuts the service down and closes its store (idempotent).
func (s *stack) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	if err := <-s.done; err != nil {
		s.t.Errorf("service stopped with error: %v", err)
	}
	if err := s.svc.close(); err != nil {
		s.t.Errorf("close service: %v", err)
	}
	s.cancel = nil
}

func (s *stack) do(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// post sends one command API message and expects status want.
func (s *stack) post(msg map[string]any, want int) {
	s.t.Helper()
	status, body := s.do("POST", "/v1/messages", msg)
	if status != want {
		s.t.Fatalf("POST /v1/messages %v: status %d, want %d: %s", msg, status, want, body)
	}
}

// eventCount is the number of events in the log.
func (s *stack) eventCount() int64 {
	s.t.Helper()
	n, err := s.svc.store.LastPosition(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPublished waits until the emulator holds n inbox messages.
// waitProjections waits until every projection of the running service has applied the
// log up to its last position.
func (s *stack) waitProjections() {
	s.t.Helper()
	waitFor(s.t, "the projections to catch up", 10*time.Second, func() bool {
		last, err := s.svc.store.LastPosition(context.Background())
		if err != nil {
			s.t.Fatal(err)
		}
		for _, pos := range s.svc.runner.Positions() {
			if pos < last {
				return false
			}
		}
		return true
	})
}

func (s *stack) waitPublished(n int) []emulator.PublishedMessage {
	s.t.Helper()
	waitFor(s.t, fmt.Sprintf("%d published messages", n), 30*time.Second, func() bool { return len(s.emu.Published()) >= n })
	return s.emu.Published()
}

// messageState folds a message's stream.
func (s *stack) messageState(channel, id string) domain.MessageState {
	s.t.Helper()
	evs, err := s.svc.store.ReadStream(context.Background(), domain.MessageStream(channel, id), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// messageEvents returns the types of a message stream's events.
func (s *stack) messageEvents(channel, id string) []domain.RecordedEvent {
	s.t.Helper()
	evs, err := s.svc.store.ReadStream(context.Background(), domain.MessageStream(channel, id), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

// waitSettled waits until the message is published (or dead-lettered).
func (s *stack) waitSettled(channel, id string) domain.MessageState {
	s.t.Helper()
	var st domain.MessageState
	waitFor(s.t, "message "+channel+"/"+id+" to be published", 30*time.Second, func() bool {
		st = s.messageState(channel, id)
		return st.Published != nil || st.DeadLetter != nil
	})
	return st
}
