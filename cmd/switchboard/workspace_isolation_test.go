package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
)

// TestFailingWorkspaceDoesNotStopOthers: one workspace's HubSpot answers every request
// with a 503, so each of its senders' partitions retries without end — more of them
// than the resolver has workers. Another workspace's message must still be resolved and
// published: one portal's trouble must not hold up another's (issue 10, item 7).
func TestFailingWorkspaceDoesNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	down := emulator.New(emulator.Options{})
	t.Cleanup(down.Close)
	down.SetFaults(emulator.Faults{Rate: 1, Kinds: []string{emulator.Fault503}})
	up := emulator.New(emulator.Options{})
	t.Cleanup(up.Close)
	for _, emu := range []*emulator.Server{down, up} {
		emu.DefineProperty("telegram_user_id", false)
	}
	downSrv, upSrv := httptest.NewServer(down), httptest.NewServer(up)
	t.Cleanup(downSrv.Close)
	t.Cleanup(upSrv.Close)
	raw := fmt.Sprintf(`
listen: 127.0.0.1:0
admin_token_env: SB_ADMIN
store: {driver: sqlite, dsn: %q}
workspaces:
  - id: down
    hubspot: {base_url: %q, token_env: HS_TOKEN}
    channels:
      - {id: down-tg, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: TG_SECRET, inbox: {channel_id: "1001", channel_account_id: "2001"}}
  - id: up
    hubspot: {base_url: %q, token_env: HS_TOKEN}
    channels:
      - {id: up-tg, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: TG_SECRET, inbox: {channel_id: "1001", channel_account_id: "2002"}}
`, filepath.Join(dir, "switchboard.db"), downSrv.URL, upSrv.URL)
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, emu: up, hubspot: upSrv, cfg: cfg, configPath: path}
	s.start()

	// More stuck senders than the resolver's 16 workers, all of the failing workspace.
	for i := range 24 {
		s.post(msg("down-tg", fmt.Sprintf("d%d", i), map[string]any{"user_id": fmt.Sprint(1000 + i)}, "hi"), http.StatusAccepted)
	}
	waitFor(t, "the failing workspace's HubSpot to fail", 10*time.Second, func() bool { return down.Stats().Faulted > 0 })
	time.Sleep(300 * time.Millisecond) // the resolver has read all 24 by now (it polls every 20 ms)
	s.post(msg("up-tg", "u1", map[string]any{"user_id": "42"}, "hello"), http.StatusAccepted)
	waitFor(t, "the healthy workspace's message to be published", 15*time.Second, func() bool { return len(up.Published()) == 1 })
	if st := s.messageState("up-tg", "u1"); st.ContactID == "" {
		t.Errorf("the healthy workspace's message settled without a contact: %+v", st)
	}
}
