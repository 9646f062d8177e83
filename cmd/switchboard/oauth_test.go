package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
)

// oauthStack runs the service as an OAuth app against the emulator: refresh_token_env
// (none when refreshToken is "": the install flow must give one) instead of token_env,
// and a hubspot_app whose consent page is the emulator's.
func oauthStack(t *testing.T, emu emulator.Options, refreshToken string) *stack {
	t.Helper()
	emu.ClientID, emu.ClientSecret = "client-1", "secret-1"
	t.Setenv("HS_CLIENT_ID", "client-1")
	t.Setenv("HS_CLIENT_SECRET", "secret-1")
	t.Setenv("HS_REFRESH", refreshToken)
	t.Setenv("SB_SECRET_KEY", "test-secret-key-of-32-characters")
	return startStack(t, stackOptions{emulator: emu, rewrite: func(raw, hubspotURL string) string {
		auth := `refresh_token_env: HS_REFRESH, portal_id: "62515",`
		if refreshToken == "" {
			auth = `portal_id: "62515",`
		}
		raw = strings.Replace(raw, "token_env: HS_TOKEN,", auth, 1)
		return strings.Replace(raw, "workspaces:\n", fmt.Sprintf(`public_url: https://sb.example.com
secret_key_env: SB_SECRET_KEY
hubspot_app:
  client_id_env: HS_CLIENT_ID
  client_secret_env: HS_CLIENT_SECRET
  authorize_url: %s/oauth/authorize
workspaces:
`, hubspotURL), 1)
	}})
}

// readyz returns /readyz's status and body.
func (s *stack) readyz() (int, map[string]any) {
	s.t.Helper()
	status, raw := s.do("GET", "/readyz", nil)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return status, m
}

func smsFrom(id, phone string) map[string]any {
	return msg("acme-sms", id, map[string]any{"phone": phone}, "hello "+id)
}

func (s *stack) noDeadLetters() {
	s.t.Helper()
	var n int
	if err := s.svc.events.DB().QueryRow(`SELECT count(*) FROM dead_letters`).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	if n != 0 {
		s.t.Fatalf("%d dead letters, want none", n)
	}
}

func TestOAuthShortLivedTokensLoseNoMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("spreads messages over several token lifetimes")
	}
	// Issue 11's figure: 4-second tokens, messages spread over a minute.
	lifetime := 4 * time.Second
	s := oauthStack(t, emulator.Options{AccessTokenLifetime: lifetime}, "rt-1")
	const n = 40
	start := time.Now()
	for i := range n {
		s.post(smsFrom(fmt.Sprintf("SM%d", i), fmt.Sprintf("+1415555%04d", 2600+i%3)), http.StatusAccepted)
		time.Sleep(1500 * time.Millisecond)
	}
	s.waitPublished(n)
	elapsed := time.Since(start)
	s.noDeadLetters()
	st := s.emu.OAuthStats()
	// About one refresh per lifetime that saw traffic; never one per request.
	if max := int(elapsed/lifetime) + 2; st.Refreshes < 2 || st.Refreshes > max {
		t.Fatalf("%d refreshes over %s of %s tokens, want 2..%d", st.Refreshes, elapsed.Round(time.Millisecond), lifetime, max)
	}
	if status, body := s.readyz(); status != http.StatusOK {
		t.Fatalf("/readyz %d %v", status, body)
	}
}

func TestOAuthRefusedRefreshTokenStopsVisiblyAndTheFixSendsTheWaitingWork(t *testing.T) {
	s := oauthStack(t, emulator.Options{AccessTokenLifetime: time.Hour}, "rt-1")
	s.emu.AddRefreshToken("rt-1")
	s.post(smsFrom("SM1", "+14155552671"), http.StatusAccepted)
	s.waitPublished(1)

	// The app is uninstalled: the refresh token is refused and the access token dies.
	s.emu.RevokeRefreshToken("rt-1")
	s.emu.ExpireAccessTokens()
	for i := 2; i <= 4; i++ {
		s.post(smsFrom(fmt.Sprintf("SM%d", i), fmt.Sprintf("+1415555267%d", i)), http.StatusAccepted)
	}
	var body map[string]any
	waitFor(t, "/readyz to report the stopped workspace", 10*time.Second, func() bool {
		var status int
		status, body = s.readyz()
		return status == http.StatusServiceUnavailable
	})
	stopped, _ := body["authorization_stopped"].(map[string]any)
	why, _ := stopped["acme"].(string)
	if body["status"] != "hubspot authorization stopped" || !strings.Contains(why, "BAD_REFRESH_TOKEN") || !strings.Contains(why, "https://sb.example.com/hubspot/install/acme") {
		t.Fatalf("/readyz body %v: want the workspace, the reason and the fix", body)
	}
	if _, metrics := s.do("GET", "/metrics", nil); !strings.Contains(string(metrics), `switchboard_hubspot_authorization_stopped{workspace="acme"} 1`) ||
		!strings.Contains(string(metrics), `switchboard_hubspot_token_refreshes_total{outcome="refused",workspace="acme"} 1`) {
		t.Errorf("/metrics does not show the stop:\n%s", metrics)
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(s.emu.Published()); got != 1 {
		t.Fatalf("%d messages published while stopped, want 1", got)
	}
	s.noDeadLetters()

	// The fix: a re-install keeps a new refresh token (what the install flow's
	// callback stores). The waiting messages go out, each once.
	s.emu.AddRefreshToken("rt-2")
	if err := s.svc.auth.store.SaveRefreshToken(context.Background(), "acme",
		hubspot.StoredRefreshToken{RefreshToken: "rt-2", Seed: hubspot.SeedOf("rt-1"), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	published := s.waitPublished(4)
	if len(published) != 4 {
		t.Fatalf("%d published, want 4", len(published))
	}
	seen := map[string]bool{}
	for _, p := range published {
		if seen[p.IntegrationIdempotencyID] {
			t.Fatalf("published twice: %s", p.IntegrationIdempotencyID)
		}
		seen[p.IntegrationIdempotencyID] = true
	}
	s.noDeadLetters()
	waitFor(t, "/readyz ready again", 5*time.Second, func() bool { status, _ := s.readyz(); return status == http.StatusOK })
}

func TestOAuthRefusedAtStartThenRestartWithAGoodToken(t *testing.T) {
	s := oauthStack(t, emulator.Options{}, "rt-bad")
	s.emu.AddRefreshToken("rt-good")
	for i := 1; i <= 3; i++ {
		s.post(smsFrom(fmt.Sprintf("SM%d", i), fmt.Sprintf("+1415555267%d", i)), http.StatusAccepted)
	}
	waitFor(t, "/readyz to fail", 10*time.Second, func() bool { status, _ := s.readyz(); return status == http.StatusServiceUnavailable })
	if got := len(s.emu.Published()); got != 0 {
		t.Fatalf("%d published with a refused token", got)
	}

	s.stop()
	t.Setenv("HS_REFRESH", "rt-good")
	cfg, err := config.Load(s.configPath, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.start()
	if got := len(s.waitPublished(3)); got != 3 {
		t.Fatalf("%d published after the restart, want 3", got)
	}
	s.noDeadLetters()
	waitFor(t, "/readyz ready", 5*time.Second, func() bool { status, _ := s.readyz(); return status == http.StatusOK })
}

func TestOAuthInstallFlowStartsTheWaitingWork(t *testing.T) {
	s := oauthStack(t, emulator.Options{}, "")
	s.post(smsFrom("SM1", "+14155552671"), http.StatusAccepted)
	s.post(smsFrom("SM2", "+14155552672"), http.StatusAccepted)
	var body map[string]any
	waitFor(t, "/readyz to say the app is not installed", 10*time.Second, func() bool {
		var status int
		status, body = s.readyz()
		return status == http.StatusServiceUnavailable
	})
	if why, _ := body["authorization_stopped"].(map[string]any)["acme"].(string); !strings.Contains(why, "not installed") {
		t.Fatalf("/readyz %v", body)
	}

	// The operator's browser: the service, then HubSpot's (the emulator's) consent
	// page, then back to the public redirect URL, which routes to this service.
	jar, _ := cookiejar.New(nil)
	var back *url.URL
	b := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "sb.example.com" {
			back = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err := b.PostForm(s.url+"/hubspot/install/acme", url.Values{"admin_token": {testAdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if back == nil || back.Path != "/hubspot/oauth/callback" {
		t.Fatalf("install answered %d and did not come back to the redirect URL", res.StatusCode)
	}
	res, err = b.Get(s.url + back.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "Workspace acme is connected to HubSpot portal 62515") {
		t.Fatalf("callback %d: %s", res.StatusCode, page)
	}
	if got := len(s.waitPublished(2)); got != 2 {
		t.Fatalf("%d published, want 2", got)
	}
	var kept string
	if err := s.svc.events.DB().QueryRow(`SELECT refresh_token FROM hubspot_refresh_tokens WHERE workspace = 'acme'`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kept, "v1:") || strings.Contains(kept, "emu-rt-") {
		t.Fatalf("the refresh token is not sealed with secret_key_env: %q", kept)
	}
	evs, err := s.svc.store.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.Contains(string(e.Payload), "emu-rt-") || strings.Contains(string(e.Payload), "emu-at-") {
			t.Fatalf("a token reached the event log: %s", e.Type)
		}
	}
	s.noDeadLetters()
	waitFor(t, "/readyz ready", 5*time.Second, func() bool { status, _ := s.readyz(); return status == http.StatusOK })

	// A restart needs no variable: the kept refresh token is used.
	s.stop()
	s.start()
	s.post(smsFrom("SM3", "+14155552673"), http.StatusAccepted)
	if got := len(s.waitPublished(3)); got != 3 {
		t.Fatalf("%d published after the restart, want 3", got)
	}
}

func TestCheckSaysWhenHubSpotAuthorizationStopped(t *testing.T) {
	s := oauthStack(t, emulator.Options{}, "rt-bad")
	s.emu.AddRefreshToken("rt-good")
	var out, errOut bytes.Buffer
	code := run([]string{"check", "--config", s.configPath}, &out, &errOut)
	for _, want := range []string{"workspace acme: HubSpot authorization stopped", "BAD_REFRESH_TOKEN", "/hubspot/install/acme", "set HS_REFRESH to a valid refresh token"} {
		if code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("check exited %d without %q: %s%s", code, want, out.String(), errOut.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), "rt-bad") {
		t.Error("check printed the refresh token")
	}
	t.Setenv("HS_REFRESH", "rt-good")
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", s.configPath}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "workspace acme: HubSpot at "+s.hubspot.URL+" answers") {
		t.Errorf("check with a good refresh token exited %d: %s%s", code, out.String(), errOut.String())
	}
}

func TestDevHubSpotIssuesExpiringOAuthTokens(t *testing.T) {
	base, stop := runDevHubSpot(t, "--access-token-lifetime", "2s", "--client-id", "cid", "--client-secret", "cs", "--portal-id", "4242")
	defer stop()
	form := "grant_type=refresh_token&refresh_token=rt&client_id=cid&client_secret=cs"
	res, err := http.Post(base+"/oauth/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	var grant map[string]any
	_ = json.NewDecoder(res.Body).Decode(&grant)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || grant["expires_in"] != 2.0 || grant["hub_id"] != 4242.0 {
		t.Fatalf("token answer %d %v", res.StatusCode, grant)
	}
	res, err = http.Get(base + "/_emulator/oauth")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if st["Refreshes"] != 1.0 {
		t.Fatalf("oauth stats %v", st)
	}
}
