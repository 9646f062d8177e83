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

// A WhatsApp channel writes the sender's BSUID into bsuid_property and searches by it:
// a standard property would lose the number or a name to it, and a name HubSpot would
// refuse fails every write. Both are refused when the file is read, with the fix.
func TestBSUIDPropertyRefusedWhereItWouldCorruptOrFail(t *testing.T) {
	wa := func(prop string) string {
		return strings.Replace(valid, "{id: acme-sms, kind: sms, default_region: US, auth_token_env: TW,",
			"{id: acme-wa, kind: whatsapp, provider: twilio, default_region: US, auth_token_env: TW, bsuid_property: "+prop+",", 1)
	}
	for _, tc := range []struct{ prop, want string }{
		{"phone", `"phone" is a standard, built-in contact property`},
		{"MobilePhone", `"MobilePhone" is a standard, built-in contact property`},
		{"email", `"email" is a standard, built-in contact property`},
		{"firstname", `"firstname" is a standard, built-in contact property`},
		{`"WhatsApp BSUID"`, `"WhatsApp BSUID" is not a HubSpot property name`},
		{"whatsapp-bsuid", `"whatsapp-bsuid" is not a HubSpot property name`},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(wa(tc.prop)), secrets)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("bsuid_property %s: got %v, want a configuration error", tc.prop, err)
			}
			msg := err.Error()
			if want := "s.yaml: workspaces[0].channels[0].bsuid_property: " + tc.want; !strings.Contains(msg, want) || !strings.Contains(msg, "whatsapp_bsuid") {
				t.Errorf("message lacks the file, key or fix:\n%s\nwant %s", msg, want)
			}
			if n := strings.Count(msg, "\n"); n != 1 {
				t.Errorf("want exactly one problem, got %d:\n%s", n, msg)
			}
		})
	}
	for _, prop := range []string{"whatsapp_bsuid", "phone_bsuid"} {
		if _, err := Parse("s.yaml", []byte(wa(prop)), secrets); err != nil {
			t.Errorf("bsuid_property %s refused: %v", prop, err)
		}
	}
}

// TestStandardPropertyRefusedAsIdentifier: an identifier written into a standard
// property switchboard fills for other reasons (the number, the names, the email) would
// corrupt the contact, so every social kind refuses them, whatever their case.
func TestStandardPropertyRefusedAsIdentifier(t *testing.T) {
	for _, kind := range []string{"telegram", "slack", "messenger", "instagram"} {
		for _, prop := range []string{"email", "phone", "mobilephone", "firstname", "lastname", "Email", "PHONE", "MobilePhone"} {
			t.Run(kind+"/"+prop, func(t *testing.T) {
				raw := strings.NewReplacer(
					"kind: telegram,", "kind: "+kind+",",
					"property: telegram_user_id", "property: "+prop,
					"secret_token_env: TG", "secret_token_env: TG, app_secret_env: TG, verify_token_env: TG, signing_secret_env: TG",
				).Replace(valid)
				if kind == "slack" {
					raw = strings.Replace(raw, " auto_create: true,", "", 1)
				}
				_, err := Parse("s.yaml", []byte(raw), secrets)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("property %q on a %s channel: got %v, want a configuration error", prop, kind, err)
				}
				msg := err.Error()
				want := `s.yaml: workspaces[0].channels[1].property: "` + prop + `" is a standard, built-in contact property`
				if !strings.Contains(msg, want) || !strings.Contains(msg, "name a property of its own, for example property: "+kind+"_user_id") {
					t.Errorf("message lacks the file, key or fix:\n%s", msg)
				}
				if n := strings.Count(msg, "\n"); n != 1 {
					t.Errorf("want exactly one problem, got %d:\n%s", n, msg)
				}
			})
		}
	}
	// A property of its own that merely contains a standard name is fine.
	raw := strings.Replace(valid, "property: telegram_user_id", "property: telegram_email", 1)
	if _, err := Parse("s.yaml", []byte(raw), secrets); err != nil {
		t.Errorf("telegram_email refused: %v", err)
	}
}
