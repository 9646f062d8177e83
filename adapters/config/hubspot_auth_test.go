package config

import (
	"errors"
	"strings"
	"testing"
)

const oauthValid = `
public_url: https://sb.example.com
hubspot_app:
  app_id: "1160452"
  client_id_env: HS_CLIENT_ID
  client_secret_env: HS_CLIENT_SECRET
workspaces:
  - id: acme
    hubspot: {refresh_token_env: ACME_REFRESH, portal_id: "62515"}
    channels:
      - {id: acme-sms, kind: sms, default_region: US, auth_token_env: TW, inbox: {channel_id: "1", channel_account_id: "2"}}
  - id: beta
    hubspot: {}
    channels:
      - {id: beta-sms, kind: sms, default_region: US, auth_token_env: TW, inbox: {channel_id: "1", channel_account_id: "3"}}
`

var oauthSecrets = env(map[string]string{"HS_CLIENT_ID": "cid", "HS_CLIENT_SECRET": "cs", "ACME_REFRESH": "rt", "TW": "t"})

func TestParseHubSpotApp(t *testing.T) {
	c, err := Parse("s.yaml", []byte(oauthValid), oauthSecrets)
	if err != nil {
		t.Fatal(err)
	}
	app := c.HubSpotApp
	if app.ClientID != "cid" || app.ClientSecret != "cs" || app.AuthorizeURL != DefaultAuthorizeURL || len(app.Scopes) != len(DefaultScopes) {
		t.Errorf("app: %+v", app)
	}
	if got := c.Redirect(); got != "https://sb.example.com/hubspot/oauth/callback" {
		t.Errorf("redirect %q", got)
	}
	acme, beta := c.Workspaces[0], c.Workspaces[1]
	if acme.HubSpot.RefreshToken != "rt" || !acme.UsesOAuth() || !beta.UsesOAuth() || beta.HubSpot.RefreshToken != "" {
		t.Errorf("workspaces: %+v / %+v", acme.HubSpot, beta.HubSpot)
	}
}

func TestParseHubSpotAuthProblems(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		secrets map[string]string
		want    string
	}{
		{"static and refresh token together", strings.Replace(oauthValid, "{refresh_token_env: ACME_REFRESH,", "{token_env: TW, refresh_token_env: ACME_REFRESH,", 1), nil,
			"workspaces[0].hubspot.refresh_token_env: cannot be set together with token_env"},
		{"refresh token without an app", strings.Replace(oauthValid[strings.Index(oauthValid, "workspaces:"):], "  - id: beta\n    hubspot: {}", "  - id: beta\n    hubspot: {token_env: TW}", 1), nil,
			"workspaces[0].hubspot.refresh_token_env: needs hubspot_app (client_id_env and client_secret_env)"},
		{"no token at all without an app", valid[:strings.Index(valid, "hubspot:")] + "hubspot: {}\n" + valid[strings.Index(valid, "    channels:"):], nil,
			"workspaces[0].hubspot.token_env: is missing; name the variable of a static access token, or configure hubspot_app"},
		{"unset refresh token variable", oauthValid, map[string]string{"ACME_REFRESH": ""},
			"workspaces[0].hubspot.refresh_token_env: names the environment variable ACME_REFRESH, which is not set or empty; export ACME_REFRESH"},
		{"unset client secret", oauthValid, map[string]string{"HS_CLIENT_SECRET": ""},
			"hubspot_app.client_secret_env: names the environment variable HS_CLIENT_SECRET, which is not set or empty"},
		{"missing client id key", strings.Replace(oauthValid, "  client_id_env: HS_CLIENT_ID\n", "", 1), nil,
			"hubspot_app.client_id_env: is missing; name the environment variable that holds the app's client id"},
		{"bad scope", strings.Replace(oauthValid, "  app_id:", "  scopes: [\"crm.objects.contacts.read crm.objects.contacts.write\"]\n  app_id:", 1), nil,
			"hubspot_app.scopes[0]: \"crm.objects.contacts.read crm.objects.contacts.write\" is not a scope; give one scope per entry"},
		{"relative redirect", strings.Replace(oauthValid, "  app_id:", "  redirect_url: /hubspot/oauth/callback\n  app_id:", 1), nil,
			"hubspot_app.redirect_url: \"/hubspot/oauth/callback\" is not an absolute http(s) URL"},
		{"short secret key", strings.Replace(oauthValid, "hubspot_app:", "secret_key_env: SK\nhubspot_app:", 1), map[string]string{"SK": "short"},
			"secret_key_env: the value of SK is 5 characters; use at least 16 random characters"},
		{"unset secret key", strings.Replace(oauthValid, "hubspot_app:", "secret_key_env: SK\nhubspot_app:", 1), nil,
			"secret_key_env: names the environment variable SK, which is not set or empty"},
		{"portal id not numeric", strings.Replace(oauthValid, `portal_id: "62515"`, `portal_id: "acme"`, 1), nil,
			"workspaces[0].hubspot.portal_id: \"acme\" is not a HubSpot portal id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"HS_CLIENT_ID": "cid", "HS_CLIENT_SECRET": "cs", "ACME_REFRESH": "rt", "TW": "t", "ADMIN": "a", "TG": "g"}
			for k, v := range tt.secrets {
				m[k] = v
			}
			_, err := Parse("s.yaml", []byte(tt.yaml), env(m))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "s.yaml: "+tt.want) {
				t.Fatalf("want %q, got %v", tt.want, err)
			}
		})
	}
}

// HubSpot signs an app's webhooks with its client secret: a workspace without
// app_secret_env verifies them with it; one with its own keeps its own.
func TestWebhookSecretDefaultsToTheAppsClientSecret(t *testing.T) {
	raw := strings.Replace(oauthValid, "    hubspot: {}", "    hubspot: {app_secret_env: BETA_SECRET}", 1)
	c, err := Parse("s.yaml", []byte(raw), env(map[string]string{"HS_CLIENT_ID": "cid", "HS_CLIENT_SECRET": "cs",
		"ACME_REFRESH": "rt", "TW": "t", "BETA_SECRET": "beta-own"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Workspaces[0].HubSpot.AppSecret; got != "cs" {
		t.Errorf("acme's webhook secret %q, want the app's client secret", got)
	}
	if got := c.Workspaces[1].HubSpot.AppSecret; got != "beta-own" {
		t.Errorf("beta's webhook secret %q, want its own app_secret_env", got)
	}
}
