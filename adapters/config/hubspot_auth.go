package config

import (
	"fmt"
	"net/url"
	"strings"

	"switchboard/domain"
)

// DefaultAuthorizeURL is HubSpot's OAuth consent page.
const DefaultAuthorizeURL = "https://app.hubspot.com/oauth/authorize"

// CallbackPath is where HubSpot sends the operator back after the consent page.
const CallbackPath = "/hubspot/oauth/callback"

// HubSpotApp is the HubSpot app switchboard runs as (SPEC §5 hubspot_app): OAuth
// installs, refresh tokens and custom channels need one.
type HubSpotApp struct {
	AppID              string `yaml:"app_id"`
	ClientIDEnv        string `yaml:"client_id_env"`
	ClientSecretEnv    string `yaml:"client_secret_env"`
	DeveloperAPIKeyEnv string `yaml:"developer_api_key_env"`
	// Scopes are asked for on the consent page (default: those switchboard needs).
	Scopes []string `yaml:"scopes"`
	// RedirectURL is the app's redirect URL as registered with HubSpot (default:
	// public_url + /hubspot/oauth/callback).
	RedirectURL string `yaml:"redirect_url"`
	// AuthorizeURL is the consent page (default HubSpot's; an emulator's in demos).
	AuthorizeURL string `yaml:"authorize_url"`

	ClientID        string `yaml:"-"`
	ClientSecret    string `yaml:"-"`
	DeveloperAPIKey string `yaml:"-"`
}

// DefaultScopes are the scopes switchboard needs (reference/hubspot.md §1).
var DefaultScopes = []string{
	"crm.objects.contacts.read", "crm.objects.contacts.write",
	"conversations.custom_channels.read", "conversations.custom_channels.write",
	"conversations.read",
}

// Redirect is the redirect URL of the install flow ("" when neither redirect_url nor
// public_url says where HubSpot reaches switchboard).
func (c *Config) Redirect() string {
	if c.HubSpotApp == nil {
		return ""
	}
	if c.HubSpotApp.RedirectURL != "" {
		return c.HubSpotApp.RedirectURL
	}
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/") + CallbackPath
	}
	return ""
}

// UsesOAuth reports whether the workspace's access tokens come from refresh tokens
// (refresh_token_env, or the install flow) rather than from token_env.
func (w Workspace) UsesOAuth() bool { return w.HubSpot.TokenEnv == "" }

func (c *Config) setHubSpotAppDefaults() {
	if c.HubSpotApp == nil {
		return
	}
	if len(c.HubSpotApp.Scopes) == 0 {
		c.HubSpotApp.Scopes = append([]string(nil), DefaultScopes...)
	}
	if c.HubSpotApp.AuthorizeURL == "" {
		c.HubSpotApp.AuthorizeURL = DefaultAuthorizeURL
	}
}

// hubspotAuthProblems checks how each workspace authenticates to HubSpot — a static
// token_env, or OAuth through hubspot_app with refresh_token_env or the install flow —
// and resolves those secrets.
func (c *Config) hubspotAuthProblems(getenv func(string) string) []domain.Problem {
	var ps []domain.Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, domain.Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	secret := func(key, env, what string, required bool) string {
		if env == "" {
			if required {
				add(key, "is missing; name the environment variable that holds %s", what)
			}
			return ""
		}
		v := getenv(env)
		if v == "" && required && !c.skipSecrets {
			add(key, "names the environment variable %s, which is not set or empty; export %s (%s) before starting", env, env, what)
		}
		return v
	}
	c.setHubSpotAppDefaults()
	if c.SecretKeyEnv != "" {
		c.SecretKey = secret("secret_key_env", c.SecretKeyEnv, "the key that encrypts kept OAuth tokens", true)
		if c.SecretKey != "" && len(c.SecretKey) < 16 {
			add("secret_key_env", "the value of %s is %d characters; use at least 16 random characters (for example: openssl rand -base64 32)", c.SecretKeyEnv, len(c.SecretKey))
		}
	}
	if app := c.HubSpotApp; app != nil {
		app.ClientID = secret("hubspot_app.client_id_env", app.ClientIDEnv, "the app's client id, from its Auth settings", true)
		app.ClientSecret = secret("hubspot_app.client_secret_env", app.ClientSecretEnv, "the app's client secret, from its Auth settings", true)
		app.DeveloperAPIKey = secret("hubspot_app.developer_api_key_env", app.DeveloperAPIKeyEnv, "the developer API key", false)
		for i, s := range app.Scopes {
			if s == "" || strings.ContainsAny(s, " \t,") {
				add(fmt.Sprintf("hubspot_app.scopes[%d]", i), "%q is not a scope; give one scope per entry, for example crm.objects.contacts.read", s)
			}
		}
		for key, u := range map[string]string{"hubspot_app.redirect_url": app.RedirectURL, "hubspot_app.authorize_url": app.AuthorizeURL} {
			if u == "" {
				continue
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Fragment != "" {
				add(key, "%q is not an absolute http(s) URL without a fragment", u)
			}
		}
	}
	for wi := range c.Workspaces {
		w := &c.Workspaces[wi]
		hk := fmt.Sprintf("workspaces[%d].hubspot", wi)
		h := &w.HubSpot
		switch {
		case h.TokenEnv != "" && h.RefreshTokenEnv != "":
			add(hk+".refresh_token_env", "cannot be set together with token_env; keep token_env for a static access token or refresh_token_env for an OAuth install, not both")
		case h.TokenEnv == "" && c.HubSpotApp == nil && h.RefreshTokenEnv == "" && !c.skipSecrets:
			add(hk+".token_env", "is missing; name the variable of a static access token, or configure hubspot_app and give refresh_token_env (or install the app at /hubspot/install/%s)", w.ID)
		case h.RefreshTokenEnv != "" && c.HubSpotApp == nil:
			add(hk+".refresh_token_env", "needs hubspot_app (client_id_env and client_secret_env): a refresh token is exchanged with the app's credentials")
		}
		if h.TokenEnv != "" {
			h.Token = secret(hk+".token_env", h.TokenEnv, "the portal's access token", true)
		}
		if h.RefreshTokenEnv != "" {
			h.RefreshToken = secret(hk+".refresh_token_env", h.RefreshTokenEnv, "the OAuth refresh token of the app's install in this portal", true)
		}
		if h.PortalID != "" && strings.Trim(h.PortalID, "0123456789") != "" {
			add(hk+".portal_id", "%q is not a HubSpot portal id; give the numeric hub id (Settings → Account details)", h.PortalID)
		}
	}
	return ps
}

// defaultWebhookSecrets gives each workspace without app_secret_env the app's client
// secret (SPEC §5): HubSpot signs an app's webhooks with it.
func (c *Config) defaultWebhookSecrets() {
	if c.HubSpotApp == nil || c.HubSpotApp.ClientSecret == "" {
		return
	}
	for i := range c.Workspaces {
		if w := &c.Workspaces[i]; w.HubSpot.AppSecretEnv == "" {
			w.HubSpot.AppSecret = c.HubSpotApp.ClientSecret
		}
	}
}
