package hubspot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// manualClock is shared by the emulator and the token source, so "the token expired"
// means the same instant to both.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type oauthFixture struct {
	emu    *emulator.Server
	url    string
	clock  *manualClock
	store  *MemoryTokenStore
	logs   *syncBuffer
	tokens *OAuthTokens
	client *Client
	// afterGrant runs after each answer of the token endpoint.
	afterGrant func()
}

func newOAuthFixture(t *testing.T, opts emulator.Options, refreshToken string) *oauthFixture {
	t.Helper()
	f := &oauthFixture{clock: &manualClock{t: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)}, store: NewMemoryTokenStore(), logs: &syncBuffer{}}
	opts.Now = f.clock.Now
	opts.ClientID, opts.ClientSecret = "client-1", "secret-1"
	if opts.TenSecondLimit == 0 {
		opts.TenSecondLimit = 1000
	}
	f.emu = emulator.New(opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.emu.ServeHTTP(w, r)
		if r.URL.Path == TokenPath && f.afterGrant != nil {
			f.afterGrant()
		}
	}))
	t.Cleanup(func() { f.emu.Close(); srv.Close() })
	f.url = srv.URL
	f.tokens = f.newTokens(t, refreshToken)
	return f
}

func (f *oauthFixture) newTokens(t *testing.T, refreshToken string) *OAuthTokens {
	t.Helper()
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tokens, err := NewOAuthTokens(OAuthConfig{BaseURL: f.url, ClientID: "client-1", ClientSecret: "secret-1", Workspace: "acme",
		RefreshToken: refreshToken, Store: f.store, Fix: "install the app again at /hubspot/install/acme", Logger: log, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{BaseURL: f.url, Tokens: tokens, Workspace: "acme", TenSecondLimit: 250, Logger: log, MaxAttempts: 3,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return tokens
}

func (f *oauthFixture) publish(ctx context.Context, i int) error {
	m := testMessage("")
	m.IdempotencyID = fmt.Sprintf("sb:acme-sms:SM%d", i)
	_, err := f.client.Publish(ctx, m)
	return err
}

// burst publishes n distinct messages at once and returns the errors.
func (f *oauthFixture) burst(n, from int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.publish(context.Background(), from+i)
		}()
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

func TestOAuthTokensRefreshBeforeExpiry(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: 100 * time.Second}, "rt-1")
	for step, tc := range []struct {
		advance   time.Duration
		refreshes int
	}{
		{0, 1},                // the first call obtains a token
		{89 * time.Second, 1}, // 11 s left: more than a tenth of the lifetime
		{2 * time.Second, 2},  // 9 s left: refreshed ahead of expiry
		{85 * time.Second, 2},
	} {
		f.clock.Advance(tc.advance)
		if err := f.publish(context.Background(), step); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if st := f.emu.OAuthStats(); st.Refreshes != tc.refreshes || st.Expired != 0 {
			t.Fatalf("step %d: %+v, want %d refreshes and no expired call", step, st, tc.refreshes)
		}
	}
}

func TestOAuthTokensMarginIsATenthOrFiveMinutes(t *testing.T) {
	for _, tc := range []struct {
		lifetime, noRefreshAt, refreshAt time.Duration
	}{
		{30 * time.Minute, 26*time.Minute + 59*time.Second, 27*time.Minute + time.Second}, // a tenth: 3 min
		{2 * time.Hour, 114*time.Minute + 59*time.Second, 115*time.Minute + time.Second},  // capped at 5 min
		{4 * time.Second, 3500 * time.Millisecond, 3700 * time.Millisecond},               // 0.4 s
	} {
		t.Run(tc.lifetime.String(), func(t *testing.T) {
			f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: tc.lifetime}, "rt-1")
			start := f.clock.Now()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(f.publish(context.Background(), 0))
			f.clock.Advance(tc.noRefreshAt)
			must(f.publish(context.Background(), 1))
			if n := f.emu.OAuthStats().Refreshes; n != 1 {
				t.Fatalf("refreshed at %s of %s", f.clock.Now().Sub(start), tc.lifetime)
			}
			f.clock.Advance(tc.refreshAt - tc.noRefreshAt)
			must(f.publish(context.Background(), 2))
			if n := f.emu.OAuthStats().Refreshes; n != 2 {
				t.Fatalf("not refreshed at %s of %s", f.clock.Now().Sub(start), tc.lifetime)
			}
		})
	}
}

func TestOAuthTokensOneRefreshFor50WaitingRequests(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: 30 * time.Minute}, "rt-1")
	noErrors(t, f.burst(50, 0))
	if st := f.emu.OAuthStats(); st.Refreshes != 1 {
		t.Fatalf("first burst: %d refreshes, want 1", st.Refreshes)
	}
	// The token reaches its refresh time while 50 requests arrive.
	f.clock.Advance(28 * time.Minute)
	noErrors(t, f.burst(50, 100))
	if st := f.emu.OAuthStats(); st.Refreshes != 2 || st.Expired != 0 {
		t.Fatalf("burst at refresh time: %+v, want 2 refreshes in all and no expired call", st)
	}
	// HubSpot says the token expired although the clock says otherwise (skew, a
	// revoked install): 50 requests answered 401 EXPIRED_AUTHENTICATION make one
	// refresh and are all retried.
	f.emu.ExpireAccessTokens()
	noErrors(t, f.burst(50, 200))
	st := f.emu.OAuthStats()
	if st.Refreshes != 3 {
		t.Fatalf("burst of expired calls: %d refreshes in all, want 3", st.Refreshes)
	}
	if st.Expired == 0 || st.Expired > 50 {
		t.Fatalf("expired calls %d, want between 1 and 50 (one per waiting request at most)", st.Expired)
	}
	if got := len(f.emu.Published()); got != 150 {
		t.Fatalf("%d messages in the inbox, want 150", got)
	}
}

func TestOAuthTokensExpiredTwiceIsNotPermanent(t *testing.T) {
	// Tokens that HubSpot holds expired as soon as they are issued: the refresh-and-retry
	// happens once, then the error comes back, temporary, never a dead letter.
	f := newOAuthFixture(t, emulator.Options{}, "rt-1")
	f.afterGrant = f.emu.ExpireAccessTokens
	err := f.publish(context.Background(), 0)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("err = %v, want a temporary 401", err)
	}
	if st := f.emu.OAuthStats(); st.Refreshes != 2 || st.Expired != 2 {
		t.Fatalf("%+v, want 2 refreshes and 2 expired calls: one refresh-and-retry only", st)
	}
}

func TestOAuthTokensKeepARotatedRefreshToken(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: time.Minute, RotateRefreshTokens: true}, "rt-env")
	f.emu.AddRefreshToken("rt-env")
	for i := range 3 {
		if err := f.publish(context.Background(), i); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
	}
	st, ok, _ := f.store.LoadRefreshToken(context.Background(), "acme")
	if !ok || st.RefreshToken == "rt-env" || st.Seed != SeedOf("rt-env") {
		t.Fatalf("stored %+v, want the rotated token under the variable's seed", st)
	}
	// A restart with the same variable uses the kept token: the variable's is refused now.
	f.newTokens(t, "rt-env")
	if err := f.publish(context.Background(), 10); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if strings.Contains(f.logs.String(), st.RefreshToken) || strings.Contains(f.logs.String(), "rt-env") || strings.Contains(f.logs.String(), "emu-at-") {
		t.Fatalf("a token reached the log:\n%s", f.logs)
	}
}

func TestOAuthTokensAChangedVariableWinsOverTheStoredToken(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{}, "rt-new")
	f.emu.AddRefreshToken("rt-new")
	f.emu.RevokeRefreshToken("rt-stored")
	_ = f.store.SaveRefreshToken(context.Background(), "acme", StoredRefreshToken{RefreshToken: "rt-stored", Seed: SeedOf("rt-old")})
	if err := f.publish(context.Background(), 0); err != nil {
		t.Fatalf("the new variable was not used: %v", err)
	}
}

func TestOAuthTokensRefusedRefreshTokenStopsThenResumes(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: time.Minute}, "rt-1")
	f.emu.AddRefreshToken("rt-1")
	if err := f.publish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.emu.RevokeRefreshToken("rt-1") // the app was uninstalled
	f.clock.Advance(time.Minute)

	err := f.publish(context.Background(), 1)
	if !errors.Is(err, ErrAuthorizationStopped) || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("err = %v, want ErrAuthorizationStopped, not permanent", err)
	}
	var ext *domain.ExternalError
	if errors.As(err, &ext) && ext.Permanent {
		t.Fatalf("err maps to a permanent external error: %v", err)
	}
	stop := f.tokens.Stopped()
	if stop == nil || !strings.Contains(stop.Reason, "BAD_REFRESH_TOKEN") || !strings.Contains(err.Error(), "/hubspot/install/acme") {
		t.Fatalf("stopped = %+v, err = %v: want the reason and the fix", stop, err)
	}
	// Waiting work does not hammer HubSpot with the refused token.
	refused := f.emu.OAuthStats().Refused
	for i := range 20 {
		_ = f.publish(context.Background(), 100+i)
		f.clock.Advance(2 * time.Second)
	}
	if n := f.emu.OAuthStats().Refused; n != refused {
		t.Fatalf("the refused token was offered %d more times", n-refused)
	}
	if !strings.Contains(f.logs.String(), "HubSpot authorization stopped") {
		t.Fatalf("no log line says the authorization stopped:\n%s", f.logs)
	}

	// A re-install keeps a new refresh token: the next attempt uses it.
	f.emu.AddRefreshToken("rt-2")
	_ = f.store.SaveRefreshToken(context.Background(), "acme", StoredRefreshToken{RefreshToken: "rt-2", Seed: SeedOf("rt-1")})
	f.clock.Advance(2 * time.Second)
	if err := f.publish(context.Background(), 1); err != nil {
		t.Fatalf("after the fix: %v", err)
	}
	if f.tokens.Stopped() != nil {
		t.Fatal("still stopped after the fix")
	}
	if strings.Contains(f.logs.String(), "rt-2") || strings.Contains(f.logs.String(), "emu-at-") {
		t.Fatalf("a token reached the log:\n%s", f.logs)
	}
}

func TestOAuthTokensFailedRefreshKeepsTheOldTokenUntilItExpires(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{AccessTokenLifetime: 100 * time.Second}, "rt-1")
	f.emu.AddRefreshToken("rt-1")
	if err := f.publish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.emu.RevokeRefreshToken("rt-1")
	f.clock.Advance(95 * time.Second) // inside the margin, not expired
	if err := f.publish(context.Background(), 1); err != nil {
		t.Fatalf("the still-valid token was not used: %v", err)
	}
	if f.tokens.Stopped() == nil {
		t.Fatal("a refused refresh must show as stopped at once, before the old token runs out")
	}
}

func TestOAuthTokensNoRefreshTokenIsStopped(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{}, "")
	err := f.publish(context.Background(), 0)
	if !errors.Is(err, ErrAuthorizationStopped) || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("err = %v", err)
	}
}

func TestOAuthTokensUninstallStopsInsteadOfDeadLettering(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{}, "rt-1")
	f.emu.AddRefreshToken("rt-1")
	if err := f.publish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.emu.RevokeAccessTokens() // 401 INVALID_AUTHENTICATION from now on
	f.emu.RevokeRefreshToken("rt-1")
	err := f.publish(context.Background(), 1)
	if !errors.Is(err, ErrAuthorizationStopped) || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("err = %v, want the workspace stopped, not a permanent error", err)
	}
}

func TestOAuthTokensRevokedAccessTokenIsReplaced(t *testing.T) {
	f := newOAuthFixture(t, emulator.Options{}, "rt-1")
	if err := f.publish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.emu.RevokeAccessTokens()
	if err := f.publish(context.Background(), 1); err != nil {
		t.Fatalf("a revoked access token with a good refresh token: %v", err)
	}
	if n := f.emu.OAuthStats().Refreshes; n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}
