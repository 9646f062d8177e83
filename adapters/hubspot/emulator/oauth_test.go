package emulator_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

func (f *fixture) grant(form url.Values) response {
	f.t.Helper()
	res, err := f.srv.Client().Post(f.srv.URL+"/oauth/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	return response{status: res.StatusCode, header: res.Header, raw: raw}
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"secret"}, "refresh_token": {rt}}
}

func TestOAuthRefreshIssuesExpiringAccessTokens(t *testing.T) {
	f := newFixture(t, emulator.Options{AccessTokenLifetime: 4 * time.Second, ClientID: "cid", ClientSecret: "secret", PortalID: 777})
	f.emu.AddToken("static") // static tokens and issued ones work side by side
	f.emu.AddRefreshToken("rt-1")

	r := f.grant(refreshForm("rt-1"))
	f.expect(r, http.StatusOK)
	body := r.json(t)
	at, _ := body["access_token"].(string)
	if at == "" || body["refresh_token"] != "rt-1" || body["expires_in"] != 4.0 || body["hub_id"] != 777.0 || body["token_type"] != "bearer" {
		t.Fatalf("token answer %s", r.raw)
	}
	f.expect(f.doAs(at, "GET", "/crm/v3/properties/contacts/phone", nil), http.StatusOK)

	f.clock.Advance(4 * time.Second)
	r = f.doAs(at, "GET", "/crm/v3/properties/contacts/phone", nil)
	f.expect(r, http.StatusUnauthorized)
	if m := r.json(t); m["category"] != "EXPIRED_AUTHENTICATION" || !strings.Contains(m["message"].(string), "expired 1 second(s) ago") {
		t.Fatalf("expired answer %s", r.raw)
	}
	f.expect(f.doAs("static", "GET", "/crm/v3/properties/contacts/phone", nil), http.StatusOK)
	f.expect(f.doAs("made-up", "GET", "/crm/v3/properties/contacts/phone", nil), http.StatusUnauthorized)

	if st := f.emu.OAuthStats(); st.Refreshes != 1 || st.Expired != 1 {
		t.Fatalf("stats %+v, want 1 refresh and 1 expired call", st)
	}
}

func TestOAuthRefusesBadRefreshTokensAndClients(t *testing.T) {
	f := newFixture(t, emulator.Options{ClientID: "cid", ClientSecret: "secret"})
	f.emu.AddRefreshToken("good")
	f.emu.RevokeRefreshToken("gone")
	for name, tc := range map[string]struct {
		form url.Values
		code string
	}{
		"unknown refresh token": {refreshForm("other"), "BAD_REFRESH_TOKEN"},
		"revoked refresh token": {refreshForm("gone"), "BAD_REFRESH_TOKEN"},
		"empty refresh token":   {refreshForm(""), "BAD_REFRESH_TOKEN"},
		"wrong client secret": {url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"x"},
			"refresh_token": {"good"}}, "BAD_CLIENT_SECRET"},
		"wrong client id": {url.Values{"grant_type": {"refresh_token"}, "client_id": {"x"}, "refresh_token": {"good"}}, "BAD_CLIENT_ID"},
		"unknown grant":   {url.Values{"grant_type": {"password"}, "client_id": {"cid"}, "client_secret": {"secret"}}, "BAD_GRANT_TYPE"},
		"unknown code":    {url.Values{"grant_type": {"authorization_code"}, "client_id": {"cid"}, "client_secret": {"secret"}, "code": {"nope"}}, "BAD_AUTH_CODE"},
	} {
		t.Run(name, func(t *testing.T) {
			r := f.grant(tc.form)
			f.expect(r, http.StatusBadRequest)
			if m := r.json(t); m["status"] != tc.code || m["message"] == "" || m["correlationId"] == "" {
				t.Fatalf("answer %s, want status %s", r.raw, tc.code)
			}
		})
	}
	f.expect(f.grant(refreshForm("good")), http.StatusOK)
}

func TestOAuthRotatesRefreshTokens(t *testing.T) {
	f := newFixture(t, emulator.Options{RotateRefreshTokens: true})
	f.emu.AddRefreshToken("rt-1")
	r := f.grant(refreshForm("rt-1"))
	f.expect(r, http.StatusOK)
	next := r.json(t)["refresh_token"].(string)
	if next == "rt-1" || next == "" {
		t.Fatalf("refresh token not rotated: %s", r.raw)
	}
	f.expect(f.grant(refreshForm("rt-1")), http.StatusBadRequest)
	f.expect(f.grant(refreshForm(next)), http.StatusOK)
}

func TestOAuthAuthorizeRedirectsWithACodeTheTokenEndpointExchangesOnce(t *testing.T) {
	f := newFixture(t, emulator.Options{ClientID: "cid", PortalID: 4242})
	client := f.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	redirect := "https://sb.example.com/hubspot/oauth/callback"
	q := url.Values{"client_id": {"cid"}, "scope": {"crm.objects.contacts.read"}, "redirect_uri": {redirect}, "state": {"st-1"}}
	res, err := client.Get(f.srv.URL + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", res.StatusCode)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	if !strings.HasPrefix(loc.String(), redirect+"?") || code == "" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirected to %s", loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"cid"}, "client_secret": {"s"}, "code": {code}, "redirect_uri": {redirect}}
	r := f.grant(form)
	f.expect(r, http.StatusOK)
	if m := r.json(t); m["hub_id"] != 4242.0 || m["refresh_token"] == "" {
		t.Fatalf("exchange answer %s", r.raw)
	}
	// The issued refresh token now works; the code is spent.
	f.expect(f.grant(refreshForm(r.json(t)["refresh_token"].(string))), http.StatusOK)
	f.expect(f.grant(form), http.StatusBadRequest)
}

func TestOAuthIssuedTokensShareOneRateWindow(t *testing.T) {
	f := newFixture(t, emulator.Options{TenSecondLimit: 3})
	var tokens []string
	for range 4 {
		r := f.grant(refreshForm("any"))
		f.expect(r, http.StatusOK)
		tokens = append(tokens, r.json(t)["access_token"].(string))
	}
	for i, at := range tokens {
		want := http.StatusOK
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		f.expect(f.doAs(at, "GET", "/crm/v3/properties/contacts/phone", nil), want)
	}
}

func TestOAuthStateSurvivesSaveAndLoad(t *testing.T) {
	f := newFixture(t, emulator.Options{RotateRefreshTokens: true})
	f.emu.AddRefreshToken("rt-1")
	r := f.grant(refreshForm("rt-1"))
	f.expect(r, http.StatusOK)
	next, at := r.json(t)["refresh_token"].(string), r.json(t)["access_token"].(string)
	var buf bytes.Buffer
	if err := f.emu.Save(&buf); err != nil {
		t.Fatal(err)
	}
	g := newFixture(t, emulator.Options{RotateRefreshTokens: true})
	if err := g.emu.Load(&buf); err != nil {
		t.Fatal(err)
	}
	g.emu.AddToken("static") // only known tokens pass now: the issued one must be known
	g.expect(g.doAs(at, "GET", "/crm/v3/properties/contacts/phone", nil), http.StatusOK)
	g.expect(g.grant(refreshForm("rt-1")), http.StatusBadRequest) // rotated away before the restart
	g.expect(g.grant(refreshForm(next)), http.StatusOK)
}
