// Package config reads switchboard's YAML configuration file (SPEC §5) and checks it as a
// whole: every problem is reported at once, each naming the file, the key and the fix.
// Secrets are named by environment variable (*_env keys) and resolved here, once.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"switchboard/domain"
)

// Config is the whole file.
type Config struct {
	Listen        string      `yaml:"listen"`
	AdminTokenEnv string      `yaml:"admin_token_env"`
	Store         Store       `yaml:"store"`
	Bus           Bus         `yaml:"bus"`
	Workspaces    []Workspace `yaml:"workspaces"`
	// HubSpotApp is the OAuth app (nil: static tokens only); SecretKeyEnv names the
	// key that seals kept OAuth tokens. See hubspot_auth.go.
	HubSpotApp   *HubSpotApp `yaml:"hubspot_app"`
	SecretKeyEnv string      `yaml:"secret_key_env"`

	// PublicURL is the base URL where the platforms reach the service; TrustedProxies
	// the CIDRs whose X-Forwarded-* headers count (nil: loopback). See public.go.
	PublicURL      string   `yaml:"public_url"`
	TrustedProxies []string `yaml:"trusted_proxies"`

	// Path is the file the configuration was read from, for messages.
	Path string `yaml:"-"`
	// AdminToken is the value of AdminTokenEnv; SecretKey the value of SecretKeyEnv.
	AdminToken string `yaml:"-"`
	SecretKey  string `yaml:"-"`
	// TrustedProxyPrefixes is TrustedProxies parsed (nil when the key is absent).
	TrustedProxyPrefixes []netip.Prefix `yaml:"-"`

	skipSecrets bool
}

// Store selects the event store.
type Store struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
}

// Bus selects the pub/sub that wakes followers of the event log.
type Bus struct {
	Driver string `yaml:"driver"`
	URL    string `yaml:"url"`
	// Stream names the JetStream stream and prefixes its subjects (default
	// switchboard), so installations can share one NATS.
	Stream string `yaml:"stream"`
}

// Workspace is one HubSpot portal and its channels.
type Workspace struct {
	ID                 string    `yaml:"id"`
	HubSpot            HubSpot   `yaml:"hubspot"`
	BlockedIdentifiers []string  `yaml:"blocked_identifiers"`
	Channels           []Channel `yaml:"channels"`
}

// HubSpot holds one portal's connection settings.
type HubSpot struct {
	BaseURL  string `yaml:"base_url"`
	TokenEnv string `yaml:"token_env"`
	// RefreshTokenEnv names an OAuth refresh token of hubspot_app's install; PortalID
	// is the hub id the install must be in. See hubspot_auth.go.
	RefreshTokenEnv string `yaml:"refresh_token_env"`
	PortalID        string `yaml:"portal_id"`
	// InboxID is the conversations inbox `hubspot setup` connects the workspace's
	// channels to.
	InboxID      string `yaml:"inbox_id"`
	AppSecretEnv string `yaml:"app_secret_env"`
	PublicURL    string `yaml:"public_url"`
	// Region is the default region used to read phone numbers typed into HubSpot
	// without a country code (rule 2). Defaults to the first phone channel's region.
	Region string `yaml:"region"`
	// TenSecondLimit is the request budget per rolling 10 seconds (HubSpot tier).
	TenSecondLimit int `yaml:"ten_second_limit"`
	// SearchPerSecond is the search budget per second.
	SearchPerSecond float64 `yaml:"search_per_second"`
	// ReconcileEvery is how often serve re-checks the cached match keys against
	// HubSpot (rule 7; 0: never). A duration such as 6h.
	ReconcileEvery time.Duration `yaml:"reconcile_every"`
	// CreateKeyProperty and SearchLagAllowance are the workspace's create policy
	// (rule 8; see CreatePolicy in createkey.go).
	CreateKeyProperty  string        `yaml:"create_key_property"`
	SearchLagAllowance time.Duration `yaml:"search_lag_allowance"`

	Token        string `yaml:"-"`
	RefreshToken string `yaml:"-"`
	AppSecret    string `yaml:"-"`
}

// InboxRef is the HubSpot custom channel and channel account of a channel.
type InboxRef struct {
	ChannelID        string `yaml:"channel_id"`
	ChannelAccountID string `yaml:"channel_account_id"`
}

// Channel is one connected messaging account. Only the keys that apply to its kind may
// be set; Validate says which.
type Channel struct {
	ID            string   `yaml:"id"`
	Kind          string   `yaml:"kind"`
	Provider      string   `yaml:"provider"`
	DefaultRegion string   `yaml:"default_region"`
	Identifier    string   `yaml:"identifier"`
	Property      string   `yaml:"property"`
	AutoCreate    *bool    `yaml:"auto_create"`
	BSUIDProperty string   `yaml:"bsuid_property"`
	Inbox         InboxRef `yaml:"inbox"`
	APIBaseURL    string   `yaml:"api_base_url"`
	PublicURL     string   `yaml:"public_url"`

	AuthTokenEnv     string `yaml:"auth_token_env"`
	AppSecretEnv     string `yaml:"app_secret_env"`
	VerifyTokenEnv   string `yaml:"verify_token_env"`
	AccessTokenEnv   string `yaml:"access_token_env"`
	SecretTokenEnv   string `yaml:"secret_token_env"`
	SigningSecretEnv string `yaml:"signing_secret_env"`
	BotTokenEnv      string `yaml:"bot_token_env"`
	// SharedKeySecretEnv (Twilio channels) names the secret of the SharedKey a Twilio
	// Webhook Setting signs with instead of the Auth Token (HMAC-SHA1 or HMAC-SHA256).
	SharedKeySecretEnv string `yaml:"shared_key_secret_env"`

	// Secrets holds the resolved value of every *_env key that is set, by key name
	// (for example Secrets["auth_token_env"]).
	Secrets map[string]string `yaml:"-"`
}

// Secret returns the resolved value of the named *_env key ("" when unset).
func (c Channel) Secret(envKey string) string { return c.Secrets[envKey] }

// Settings returns the resolution-relevant settings of the channel.
func (c Channel) Settings(workspaceID string) domain.ChannelSettings {
	return domain.ChannelSettings{
		ID:            c.ID,
		WorkspaceID:   workspaceID,
		Kind:          domain.ChannelKind(c.Kind),
		Provider:      c.Provider,
		DefaultRegion: c.DefaultRegion,
		Identifier:    domain.IdentifierMode(c.Identifier),
		Property:      c.Property,
		AutoCreate:    c.AutoCreate,
		BSUIDProperty: c.BSUIDProperty,
		Inbox:         domain.Inbox{ChannelID: c.Inbox.ChannelID, ChannelAccountID: c.Inbox.ChannelAccountID},
	}
}

// Load reads, defaults, resolves secrets from getenv and validates the file at path.
// The error lists every problem, each as "FILE: KEY: what is wrong; the fix".
func Load(path string, getenv func(string) string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, raw, getenv)
}

// LoadForStore reads the file for the commands that only read and write the event log
// (audit, rebuild, dead-letters): everything is validated but the presence of secrets,
// which those commands never use, so an auditor needs no platform credentials.
func LoadForStore(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return parse(path, raw, os.Getenv, false)
}

// Parse is Load for bytes already read; path is used in messages only.
func Parse(path string, raw []byte, getenv func(string) string) (*Config, error) {
	return parse(path, raw, getenv, true)
}

func parse(path string, raw []byte, getenv func(string) string, needSecrets bool) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: not a valid switchboard configuration: %w", path, err)
	}
	c.Path = path
	c.setDefaults()
	c.skipSecrets = !needSecrets
	if err := c.Validate(getenv); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.AdminTokenEnv == "" {
		c.AdminTokenEnv = "SWITCHBOARD_ADMIN_TOKEN"
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" {
		c.Store.DSN = "./var/switchboard.db"
	}
	if c.Bus.Driver == "" {
		c.Bus.Driver = "gochannel"
	}
	if c.Bus.Stream == "" {
		c.Bus.Stream = "switchboard"
	}
	for wi := range c.Workspaces {
		w := &c.Workspaces[wi]
		if w.HubSpot.BaseURL == "" {
			w.HubSpot.BaseURL = "https://api.hubapi.com"
		}
		if w.HubSpot.Region == "" {
			for _, ch := range w.Channels {
				if ch.DefaultRegion != "" {
					w.HubSpot.Region = ch.DefaultRegion
					break
				}
			}
		}
		for ci := range w.Channels {
			ch := &w.Channels[ci]
			if ch.Kind == string(domain.KindWhatsApp) && ch.Provider == "" {
				ch.Provider = "cloud"
			}
		}
	}
}

// requiredSecrets names the *_env keys each kind needs to verify its webhooks.
func requiredSecrets(ch Channel) []string {
	switch domain.ChannelKind(ch.Kind) {
	case domain.KindSMS:
		return []string{"auth_token_env"}
	case domain.KindWhatsApp:
		if ch.Provider == "twilio" {
			return []string{"auth_token_env"}
		}
		return []string{"app_secret_env", "verify_token_env"}
	case domain.KindMessenger, domain.KindInstagram:
		return []string{"app_secret_env", "verify_token_env"}
	case domain.KindTelegram:
		return []string{"secret_token_env"}
	case domain.KindSlack:
		return []string{"signing_secret_env"}
	}
	return nil
}

func (ch *Channel) envKeys() map[string]string {
	return map[string]string{
		"auth_token_env":     ch.AuthTokenEnv,
		"app_secret_env":     ch.AppSecretEnv,
		"verify_token_env":   ch.VerifyTokenEnv,
		"access_token_env":   ch.AccessTokenEnv,
		"secret_token_env":   ch.SecretTokenEnv,
		"signing_secret_env": ch.SigningSecretEnv,
		"bot_token_env":      ch.BotTokenEnv,

		"shared_key_secret_env": ch.SharedKeySecretEnv,
	}
}

// Validate checks the whole configuration and resolves secrets; it reports every
// problem at once. Each section has its own check, below.
func (c *Config) Validate(getenv func(string) string) error {
	v := &validation{getenv: getenv, skipSecrets: c.skipSecrets}
	v.ps = append(v.ps, c.webhookAuthProblems(getenv)...)
	v.ps = append(v.ps, c.hubspotAuthProblems(getenv)...)
	if _, _, err := splitHostPort(c.Listen); err != nil {
		v.add("listen", "%q is not a host:port address; use for example 127.0.0.1:8080", c.Listen)
	}
	c.AdminToken = v.secret("admin_token_env", c.AdminTokenEnv, false)
	c.Store.validate(v)
	c.Bus.validate(v)
	c.validateWorkspaces(v)
	c.defaultWebhookSecrets()
	if len(v.ps) == 0 {
		return nil
	}
	return &Error{Path: c.Path, Problems: v.ps}
}

// validation gathers the problems of one Validate and resolves secrets.
type validation struct {
	ps          []domain.Problem
	getenv      func(string) string
	skipSecrets bool
}

func (v *validation) add(key, format string, args ...any) {
	v.ps = append(v.ps, domain.Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// secret resolves the environment variable the *_env key names; a required one that
// is missing or empty is a problem unless secrets are not needed (LoadForStore).
func (v *validation) secret(key, env string, required bool) string {
	if env == "" {
		if required && !v.skipSecrets {
			v.add(key, "is missing; name the environment variable that holds this secret")
		}
		return ""
	}
	val := v.getenv(env)
	if val == "" && required && !v.skipSecrets {
		v.add(key, "names the environment variable %s, which is not set or empty; export %s before starting", env, env)
	}
	return val
}

func (s Store) validate(v *validation) {
	switch s.Driver {
	case "sqlite":
	case "postgres":
		if s.DSN == "" {
			v.add("store.dsn", "is missing; give the PostgreSQL connection string (postgres://user@host:5432/db)")
		}
	default:
		v.add("store.driver", "%q is not a store; use sqlite or postgres", s.Driver)
	}
}

func (b Bus) validate(v *validation) {
	switch b.Driver {
	case "gochannel":
	case "nats":
		if b.URL == "" {
			v.add("bus.url", "is missing; give the NATS URL (nats://127.0.0.1:4222)")
		}
	default:
		v.add("bus.driver", "%q is not a bus; use gochannel or nats", b.Driver)
	}
}

// validateWorkspaces checks each workspace and what must be unique across them.
func (c *Config) validateWorkspaces(v *validation) {
	if len(c.Workspaces) == 0 {
		v.add("workspaces", "is empty; configure at least one HubSpot workspace with its channels")
	}
	workspaceIDs := map[string]bool{}
	channelIDs := map[string]string{} // channel id → key of the channel that has it
	for wi := range c.Workspaces {
		w := &c.Workspaces[wi]
		wk := fmt.Sprintf("workspaces[%d]", wi)
		if w.ID == "" {
			v.add(wk+".id", "is empty; give the workspace a unique id")
		} else if workspaceIDs[w.ID] {
			v.add(wk+".id", "%q is used by another workspace; workspace ids must be unique", w.ID)
		}
		workspaceIDs[w.ID] = true
		w.validate(v, wk)
		v.ps = append(v.ps, createPolicyProblems(wk, *w)...)
		for ci := range w.Channels {
			ch := &w.Channels[ci]
			ck := fmt.Sprintf("%s.channels[%d]", wk, ci)
			if ch.ID != "" {
				if other, dup := channelIDs[ch.ID]; dup {
					v.add(ck+".id", "%q is already the id of %s; channel ids must be unique across all workspaces", ch.ID, other)
				}
				channelIDs[ch.ID] = ck
			}
			ch.validate(v, ck, w.ID)
		}
	}
}

// validate checks one workspace's own keys (wk is its key, workspaces[N]).
func (w *Workspace) validate(v *validation, wk string) {
	if u, err := url.Parse(w.HubSpot.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(wk+".hubspot.base_url", "%q is not an http(s) URL; use https://api.hubapi.com or an emulator's URL", w.HubSpot.BaseURL)
	}
	w.HubSpot.AppSecret = v.secret(wk+".hubspot.app_secret_env", w.HubSpot.AppSecretEnv, false)
	if d := w.HubSpot.ReconcileEvery; d != 0 && d < time.Second {
		v.add(wk+".hubspot.reconcile_every", "%s is too short or negative; give a duration such as 6h (each pass reads every cached contact from HubSpot), or leave it out: never", d)
	}
	if id := w.HubSpot.InboxID; id != "" && strings.Trim(id, "0123456789") != "" {
		v.add(wk+".hubspot.inbox_id", "%q is not a HubSpot inbox id; give the numeric id (`switchboard hubspot setup` lists the portal's inboxes)", id)
	}
	for _, b := range w.BlockedIdentifiers {
		if strings.TrimSpace(b) == "" {
			v.add(wk+".blocked_identifiers", "has an empty entry; empty identifiers are always blocked, remove it")
		}
	}
	if len(w.Channels) == 0 {
		v.add(wk+".channels", "is empty; connect at least one channel")
	}
}

// validate checks one channel (ck is its key, workspaces[N].channels[M]) and resolves
// its secrets; the rules of its settings are the domain's (ChannelSettings.Validate).
func (ch *Channel) validate(v *validation, ck, workspaceID string) {
	v.ps = append(v.ps, ch.Settings(workspaceID).Validate(ck)...)
	// Without inbox ids the channel publishes where `hubspot setup` connected it (the ids
	// it recorded in the log); half of a pair is a mistake either way.
	if (ch.Inbox.ChannelID == "") != (ch.Inbox.ChannelAccountID == "") {
		v.add(ck+".inbox", "needs both channel_id and channel_account_id (the HubSpot custom channel and channel account this channel publishes into), or neither to publish where `switchboard hubspot setup` connected it")
	}
	if ch.APIBaseURL != "" {
		if u, err := url.Parse(ch.APIBaseURL); err != nil || u.Host == "" {
			v.add(ck+".api_base_url", "%q is not a URL; use the platform API's base URL or an emulator's", ch.APIBaseURL)
		}
	}
	required := map[string]bool{}
	for _, k := range requiredSecrets(*ch) {
		required[k] = true
	}
	ch.Secrets = map[string]string{}
	keys := ch.envKeys()
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if val := v.secret(ck+"."+k, keys[k], required[k]); val != "" {
			ch.Secrets[k] = val
		}
	}
}

// Error is a configuration that cannot start the service.
type Error struct {
	Path     string
	Problems []domain.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d configuration problem(s):", e.Path, len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s: %s", e.Path, p.Key, p.Msg)
	}
	return b.String()
}

// ErrInvalid matches every configuration error with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Channel returns the channel with the given id and its workspace.
func (c *Config) Channel(id string) (*Channel, *Workspace, bool) {
	for wi := range c.Workspaces {
		w := &c.Workspaces[wi]
		for ci := range w.Channels {
			if w.Channels[ci].ID == id {
				return &w.Channels[ci], w, true
			}
		}
	}
	return nil, nil, false
}

// Workspace returns the workspace with the given id.
func (c *Config) Workspace(id string) (*Workspace, bool) {
	for wi := range c.Workspaces {
		if c.Workspaces[wi].ID == id {
			return &c.Workspaces[wi], true
		}
	}
	return nil, false
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 || i == len(s)-1 {
		return "", "", errors.New("missing port")
	}
	return s[:i], s[i+1:], nil
}
