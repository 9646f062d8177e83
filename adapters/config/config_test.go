package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const valid = `
admin_token_env: ADMIN
workspaces:
  - id: acme
    hubspot: {token_env: HS}
    channels:
      - {id: acme-sms, kind: sms, default_region: US, auth_token_env: TW, inbox: {channel_id: "1", channel_account_id: "2"}}
      - {id: acme-tg, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: TG, inbox: {channel_id: "1", channel_account_id: "3"}}
`

var secrets = env(map[string]string{"ADMIN": "a", "HS": "h", "TW": "t", "TG": "g"})

func TestParseAppliesDefaultsAndResolvesSecrets(t *testing.T) {
	c, err := Parse("s.yaml", []byte(valid), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Store.Driver != "sqlite" || c.Store.DSN != "./var/switchboard.db" || c.Bus.Driver != "gochannel" {
		t.Errorf("defaults not applied: %+v", c)
	}
	w := c.Workspaces[0]
	if w.HubSpot.BaseURL != "https://api.hubapi.com" || w.HubSpot.Token != "h" || w.HubSpot.Region != "US" {
		t.Errorf("workspace defaults: %+v", w.HubSpot)
	}
	if c.AdminToken != "a" || w.Channels[0].Secret("auth_token_env") != "t" || w.Channels[1].Secret("secret_token_env") != "g" {
		t.Errorf("secrets not resolved")
	}
	ch, ok := c.Catalog().Channel("acme-tg")
	if !ok || ch.WorkspaceID != "acme" || !ch.CreatesContacts() || ch.Inbox.ChannelAccountID != "3" {
		t.Errorf("catalog channel: %+v", ch)
	}
}

func TestParseReportsEveryProblemWithFileKeyAndFix(t *testing.T) {
	bad := strings.NewReplacer(
		"kind: sms,", "kind: sms, auto_create: true,",
		"id: acme-tg,", "id: acme-sms,",
		"auth_token_env: TW", "auth_token_env: MISSING",
	).Replace(valid)
	_, err := Parse("bad.yaml", []byte(bad), secrets)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want a configuration error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"bad.yaml: workspaces[0].channels[0].auto_create: is not allowed on a sms channel",
		"bad.yaml: workspaces[0].channels[1].id: \"acme-sms\" is already the id of workspaces[0].channels[0]",
		"bad.yaml: workspaces[0].channels[0].auth_token_env: names the environment variable MISSING, which is not set",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestParseRefusesUnknownKeys(t *testing.T) {
	_, err := Parse("s.yaml", []byte(valid+"    extra: 1\n"), secrets)
	if err == nil || !strings.Contains(err.Error(), "extra") || !strings.Contains(err.Error(), "s.yaml") {
		t.Fatalf("unknown key accepted or not named: %v", err)
	}
}

func TestLoadForStoreNeedsNoSecrets(t *testing.T) {
	path := t.TempDir() + "/s.yaml"
	if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, env(nil)); err == nil {
		t.Fatal("Load accepted a configuration whose secrets are unset")
	}
	c, err := LoadForStore(path)
	if err != nil {
		t.Fatalf("LoadForStore refused a configuration for missing secrets: %v", err)
	}
	if c.Store.DSN == "" {
		t.Error("defaults not applied")
	}
	bad := strings.Replace(valid, "kind: sms,", "kind: sms, auto_create: true,", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadForStore(path); err == nil {
		t.Error("LoadForStore accepted auto_create on sms")
	}
}
