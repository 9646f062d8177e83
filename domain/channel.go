package domain

import (
	"fmt"
	"strings"
)

// ChannelKind names the messaging platform behind a channel.
type ChannelKind string

const (
	KindSMS       ChannelKind = "sms"
	KindWhatsApp  ChannelKind = "whatsapp"
	KindMessenger ChannelKind = "messenger"
	KindInstagram ChannelKind = "instagram"
	KindTelegram  ChannelKind = "telegram"
	KindSlack     ChannelKind = "slack"
)

// ChannelKinds lists every kind, in the order the documentation uses.
var ChannelKinds = []ChannelKind{KindSMS, KindWhatsApp, KindMessenger, KindInstagram, KindTelegram, KindSlack}

// IsPhone reports whether the kind resolves senders by phone number (rule 1).
func (k ChannelKind) IsPhone() bool { return k == KindSMS || k == KindWhatsApp }

// IsSocial reports whether the kind resolves by a configured contact property (rule 3).
func (k ChannelKind) IsSocial() bool {
	return k == KindMessenger || k == KindInstagram || k == KindTelegram || k == KindSlack
}

// Valid reports whether k is one of the known kinds.
func (k ChannelKind) Valid() bool { return k.IsPhone() || k.IsSocial() }

// IdentifierMode picks which sender field a social channel resolves by.
type IdentifierMode string

const (
	IdentifyByUsername IdentifierMode = "username"
	IdentifyByUserID   IdentifierMode = "user_id"
)

// LookupPhone is the lookup shared by every phone channel of a workspace, so SMS and
// WhatsApp resolve one number to one contact.
const LookupPhone = "phone"

// Inbox is the HubSpot custom channel and channel account a channel publishes into.
type Inbox struct {
	ChannelID        string
	ChannelAccountID string
}

// ChannelSettings are the resolution-relevant settings of one channel. Secrets and
// transport details live with the adapters; these are what the rules read and what
// every resolution records, so an auditor sees which settings applied.
type ChannelSettings struct {
	ID            string         `json:"id"`
	WorkspaceID   string         `json:"workspace_id"`
	Kind          ChannelKind    `json:"kind"`
	Provider      string         `json:"provider,omitempty"`
	DefaultRegion string         `json:"default_region,omitempty"`
	Identifier    IdentifierMode `json:"identifier,omitempty"`
	Property      string         `json:"property,omitempty"`
	AutoCreate    *bool          `json:"auto_create,omitempty"`
	BSUIDProperty string         `json:"bsuid_property,omitempty"`
	Inbox         Inbox          `json:"-"`
}

// CreatesContacts reports what happens on no match (rule 4): phone channels always
// create, social channels only with auto_create, Slack never.
func (c ChannelSettings) CreatesContacts() bool {
	switch {
	case c.Kind.IsPhone():
		return true
	case c.Kind == KindSlack:
		return false
	default:
		return c.AutoCreate != nil && *c.AutoCreate
	}
}

// Lookup is the match-key lookup: "phone" for phone channels, "property:<name>" for
// social ones, so two social channels configured with the same property share keys.
func (c ChannelSettings) Lookup() string {
	if c.Kind.IsPhone() {
		return LookupPhone
	}
	return "property:" + strings.ToLower(c.Property)
}

// Problem is one configuration mistake: the key (dotted path) and a sentence that says
// what is wrong and how to fix it.
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

// Validate checks the settings against the rules of SPEC §3 and returns every problem.
// keyPrefix is the path of this channel in the configuration file (for example
// "workspaces[0].channels[2]").
func (c ChannelSettings) Validate(keyPrefix string) []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: keyPrefix + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.ID) == "" {
		add("id", "is empty; give every channel a unique id (it is the path of its webhook)")
	} else if !isChannelID(c.ID) {
		add("id", "%q may hold only letters, digits, '.', '-' and '_' (it is a URL path segment and part of stream names)", c.ID)
	}
	if !c.Kind.Valid() {
		add("kind", "%q is not a channel kind; use one of sms, whatsapp, messenger, instagram, telegram, slack", c.Kind)
		return ps
	}
	if c.Kind.IsPhone() {
		if c.AutoCreate != nil {
			add("auto_create", "is not allowed on a %s channel: phone channels always create a contact with the sender's number; remove the key", c.Kind)
		}
		if c.Identifier != "" || c.Property != "" {
			add("identifier", "is not allowed on a %s channel: phone channels always resolve by phone and mobilephone; remove identifier and property", c.Kind)
		}
		if c.DefaultRegion != "" && !isRegionCode(c.DefaultRegion) {
			add("default_region", "%q is not a two-letter ISO 3166 region code; use for example US or GB", c.DefaultRegion)
		}
		if c.Kind == KindSMS && c.BSUIDProperty != "" {
			add("bsuid_property", "is only for whatsapp channels; remove it")
		}
		if c.Kind == KindWhatsApp && c.Provider != "cloud" && c.Provider != "twilio" {
			add("provider", "%q is not a WhatsApp provider; use cloud (WhatsApp Cloud API) or twilio", c.Provider)
		}
		// The BSUID is written into this property and searched by it (SPEC §3 rule 14):
		// in a standard property it would overwrite the number or a name.
		if p := strings.TrimSpace(c.BSUIDProperty); c.Kind == KindWhatsApp && p != "" {
			if reservedProperties[strings.ToLower(p)] {
				add("bsuid_property", "%q is a standard, built-in contact property switchboard writes for other reasons (email, phone, mobilephone, firstname, lastname): the BSUID would overwrite it; name a property of its own, for example bsuid_property: whatsapp_bsuid", c.BSUIDProperty)
			} else if !isPropertyName(p) {
				add("bsuid_property", "%q is not a HubSpot property name; use lower-case letters, digits and underscores (for example whatsapp_bsuid)", c.BSUIDProperty)
			}
		}
		return ps
	}
	if c.BSUIDProperty != "" {
		add("bsuid_property", "is only for whatsapp channels; remove it")
	}
	switch c.Identifier {
	case IdentifyByUsername:
		if c.Kind == KindMessenger {
			add("identifier", "username is not possible on a messenger channel: Messenger does not give usernames; use identifier: user_id")
		}
	case IdentifyByUserID:
	case "":
		add("identifier", "is missing; set identifier: user_id or identifier: username")
	default:
		add("identifier", "%q is not an identifier; use user_id or username", c.Identifier)
	}
	if strings.TrimSpace(c.Property) == "" {
		add("property", "is missing; name the HubSpot contact property that holds the %s (for example %s_%s)", c.Identifier, c.Kind, c.Identifier)
	} else if reservedProperties[strings.ToLower(strings.TrimSpace(c.Property))] {
		add("property", "%q is a standard, built-in contact property switchboard writes for other reasons (email, phone, mobilephone, firstname, lastname): the %s's %s would overwrite it; name a property of its own, for example property: %s_%s",
			c.Property, c.Kind, c.Identifier, c.Kind, c.Identifier)
	} else if !isPropertyName(c.Property) {
		add("property", "%q is not a HubSpot property name; use lower-case letters, digits and underscores", c.Property)
	}
	if c.Kind == KindSlack && c.AutoCreate != nil {
		add("auto_create", "is not allowed on a slack channel: Slack conversations never create contacts; remove the key")
	}
	return ps
}

// reservedProperties are the standard contact properties switchboard writes for reasons
// of its own (the sender's number, names from profiles, email): an identifier written
// into one would overwrite, or be overwritten by, what they hold. HubSpot's internal
// property names are lower-case, so the check ignores case.
var reservedProperties = map[string]bool{"email": true, "firstname": true, "lastname": true, "phone": true, "mobilephone": true}

func isRegionCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func isPropertyName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

func isChannelID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}
