package hubspot

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

type installFixture struct {
	emu   *emulator.Server
	hs    *httptest.Server
	sb    *httptest.Server
	store *MemoryTokenStore
	in    *Installer
	now   time.Time
}

func newInstallFixture(t *testing.T, portal string) *installFixture {
	t.Helper()
	f := &installFixture{store: NewMemoryTokenStore(), now: time.Now()}
	f.emu = emulator.New(emulator.Options{ClientID: "client-1", ClientSecret: "secret-1", PortalID: 62515})
	f.hs = httptest.NewServer(f.emu)
	t.Cleanup(func() { f.emu.Close(); f.hs.Close() })
	mux := http.NewServeMux()
	f.sb = httptest.NewServer(mux)
	t.Cleanup(f.sb.Close)
	in, err := NewInstaller(InstallConfig{ClientID: "client-1", ClientSecret: "secret-1", AuthorizeURL: f.hs.URL + "/oauth/authorize",
		RedirectURL: f.sb.URL + CallbackPath, Store: f.store, AdminToken: "admin-1",
		Workspaces: map[string]InstallWorkspace{"acme": {BaseURL: f.hs.URL, PortalID: portal, Seed: SeedOf("rt-env")}},
		Now:        func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.in = in
	mux.Handle("/", in)
	return f
}

// browser keeps cookies and follows redirects, as the operator's would.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// reader reads whole answers; a type so that read(client.Get(...)) composes.
type reader struct{ t *testing.T }

func (r reader) read(res *http.Response, err error) (int, string) {
	t := r.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (f *installFixture) start(t *testing.T, b *http.Client, adminToken string) (int, string) {
	t.Helper()
	return reader{t}.read(b.PostForm(f.sb.URL+InstallPath+"acme", url.Values{"admin_token": {adminToken}}))
}

func TestInstallFlowKeepsTheRefreshTokenOfTheRightPortal(t *testing.T) {
	f := newInstallFixture(t, "62515")
	b := browser(t)
	status, body := reader{t}.read(b.Get(f.sb.URL + InstallPath + "acme"))
	if status != http.StatusOK || !strings.Contains(body, `name="admin_token"`) {
		t.Fatalf("install page %d: %s", status, body)
	}
	status, body = f.start(t, b, "admin-1")
	if status != http.StatusOK || !strings.Contains(body, "Workspace acme is connected to HubSpot portal 62515") {
		t.Fatalf("callback page %d: %s", status, body)
	}
	st, ok, _ := f.store.LoadRefreshToken(context.Background(), "acme")
	if !ok || st.RefreshToken == "" || st.PortalID != "62515" || st.Seed != SeedOf("rt-env") {
		t.Fatalf("stored %+v", st)
	}
	if strings.Contains(body, st.RefreshToken) {
		t.Fatal("the page shows the refresh token")
	}
	if n := f.emu.OAuthStats().Exchanges; n != 1 {
		t.Fatalf("%d code exchanges, want 1", n)
	}
	// The kept token is what the workspace's access tokens now come from.
	tokens, err := NewOAuthTokens(OAuthConfig{BaseURL: f.hs.URL, ClientID: "client-1", ClientSecret: "secret-1", Workspace: "acme",
		RefreshToken: "rt-env", Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Token(context.Background()); err != nil {
		t.Fatalf("token from the installed refresh token: %v", err)
	}
}

func TestInstallFlowRefusesAnotherPortal(t *testing.T) {
	f := newInstallFixture(t, "999")
	status, body := f.start(t, browser(t), "admin-1")
	if status != http.StatusForbidden || !strings.Contains(body, "authorized in portal 62515, but workspace acme is configured for portal 999") {
		t.Fatalf("callback page %d: %s", status, body)
	}
	if _, ok, _ := f.store.LoadRefreshToken(context.Background(), "acme"); ok {
		t.Fatal("a token of the wrong portal was kept")
	}
}

func TestInstallFlowNeedsTheAdminToken(t *testing.T) {
	f := newInstallFixture(t, "")
	status, body := f.start(t, browser(t), "guess")
	if status != http.StatusUnauthorized || !strings.Contains(body, "not the admin token") {
		t.Fatalf("page %d: %s", status, body)
	}
	if n := f.emu.OAuthStats().Exchanges; n != 0 {
		t.Fatalf("%d exchanges", n)
	}
	status, _ = reader{t}.read(browser(t).Get(f.sb.URL + InstallPath + "nope"))
	if status != http.StatusNotFound {
		t.Fatalf("unknown workspace: %d", status)
	}
}

// consentURL starts an install in b and returns HubSpot's redirect back to the
// callback, without following it.
func (f *installFixture) consentRedirect(t *testing.T, b *http.Client) *url.URL {
	t.Helper()
	stop := *b
	stop.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == CallbackPath {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := stop.PostForm(f.sb.URL+InstallPath+"acme", url.Values{"admin_token": {"admin-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Path != CallbackPath {
		t.Fatalf("redirect %q", res.Header.Get("Location"))
	}
	return loc
}

func TestInstallCallbackRefusesForeignStaleAndForgedStates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *installFixture, u *url.URL) *http.Client
		want   string
	}{
		{"another browser", func(f *installFixture, u *url.URL) *http.Client { return browser(t) }, "this browser did not start this install"},
		{"tampered state", func(f *installFixture, u *url.URL) *http.Client {
			q := u.Query()
			st := q.Get("state")
			q.Set("state", "x"+st[1:])
			u.RawQuery = q.Encode()
			return nil
		}, "its state was not made by this switchboard"},
		{"stale state", func(f *installFixture, u *url.URL) *http.Client {
			f.now = f.now.Add(DefaultStateTTL + time.Second)
			return nil
		}, "the install link expired"},
		{"denied consent", func(f *installFixture, u *url.URL) *http.Client {
			u.RawQuery = url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}.Encode()
			return nil
		}, "HubSpot did not authorize the app: access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newInstallFixture(t, "")
			b := browser(t)
			u := f.consentRedirect(t, b)
			if other := tt.mutate(f, u); other != nil {
				b = other
			}
			status, body := reader{t}.read(b.Get(u.String()))
			if status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Fatalf("page %d: %s", status, body)
			}
			if _, ok, _ := f.store.LoadRefreshToken(context.Background(), "acme"); ok {
				t.Fatal("a token was kept")
			}
			if n := f.emu.OAuthStats().Exchanges; n != 0 {
				t.Fatalf("%d exchanges, want none", n)
			}
		})
	}
}
