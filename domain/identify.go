package domain

import (
	"errors"
	"maps"
	"strings"
)

// Identification is the outcome of rule 1 and rule 3 for one message: the identifier,
// how it was derived, and the match key it contends for.
type Identification struct {
	// Source is the sender field used: "phone", "wa_id", "username", "user_id", "bsuid".
	Source     string
	Raw        string
	Identifier string
	Steps      []string
	Key        MatchKey
	// Property is the HubSpot property a social identifier lives in ("" for phones).
	Property string
	// Phone is set on phone channels.
	Phone *PhoneNormalization
}

// Searched lists the HubSpot properties the identifier is matched against.
func (id Identification) Searched() []string {
	if id.Phone != nil {
		return []string{"phone", "mobilephone"}
	}
	return []string{id.Property}
}

// ValidNumber is SenderIdentified.ValidNumber: whether the phone identifier is a valid
// number, nil for an identifier that is not a normalized phone number.
func (id Identification) ValidNumber() *bool {
	if id.Phone == nil {
		return nil
	}
	v := id.Phone.Valid
	return &v
}

// Spellings are the stored values a property lookup asks for: a username may have been
// typed into HubSpot with its '@'.
func (id Identification) Spellings() []string {
	if id.Source == "username" {
		return []string{id.Identifier, "@" + id.Identifier}
	}
	return []string{id.Identifier}
}

// Unlinked is a message that cannot drive a match at all.
type Unlinked struct {
	Reason string
	Detail string
}

// BlockList holds a workspace's blocked identifiers (rule 12), normalized as the
// identifiers they must catch.
type BlockList struct {
	entries map[string]bool
}

// Equal reports whether b and o block the same identifiers.
func (b BlockList) Equal(o BlockList) bool { return maps.Equal(b.entries, o.entries) }

// NewBlockList normalizes the configured entries: numbers with a country code to their
// canonical E.164 form, everything else as a username and as a raw id.
func NewBlockList(entries []string) BlockList {
	b := BlockList{entries: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		b.entries[e] = true
		b.entries[NormalizeUsername(e)] = true
		if strings.HasPrefix(e, "+") {
			if n, err := NormalizePhone(e, PhoneTyped, ""); err == nil {
				b.entries[n.Canonical] = true
			}
		}
	}
	return b
}

// Blocked reports whether the identifier may never drive a match or a creation: empty
// and all-zero identifiers always are.
func (b BlockList) Blocked(identifier string) bool {
	if placeholder(identifier) {
		return true
	}
	return b.entries[identifier]
}

func placeholder(s string) bool {
	s = strings.TrimLeft(strings.TrimSpace(s), "+@")
	for _, r := range s {
		if r != '0' && r != ' ' && r != '-' {
			return false
		}
	}
	return true
}

// Identify applies rules 1, 3, 12 and 14 to a sender: it returns the identification, or
// why the conversation must stay unlinked.
func Identify(ch ChannelSettings, blocked BlockList, s Sender) (Identification, *Unlinked) {
	if ch.Kind.IsPhone() {
		return identifyPhone(ch, blocked, s)
	}
	var id Identification
	switch ch.Identifier {
	case IdentifyByUsername:
		id.Source, id.Raw = "username", s.Username
		id.Identifier = NormalizeUsername(s.Username)
		if id.Raw != id.Identifier {
			id.Steps = append(id.Steps, "compared case-insensitively without a leading @")
		}
	default:
		id.Source, id.Raw = "user_id", s.UserID
		id.Identifier = NormalizeUserID(s.UserID)
	}
	if strings.TrimSpace(id.Raw) == "" {
		return id, &Unlinked{Reason: UnlinkedNoIdentifier,
			Detail: "the sender has no " + id.Source + ", which channel " + ch.ID + " resolves by"}
	}
	if blocked.Blocked(id.Identifier) || blocked.Blocked(id.Raw) {
		return id, &Unlinked{Reason: UnlinkedBlocked, Detail: id.Source + " " + id.Raw + " is a blocked identifier"}
	}
	id.Property = ch.Property
	id.Key = MatchKey{Workspace: ch.WorkspaceID, Lookup: ch.Lookup(), Identifier: id.Identifier}
	return id, nil
}

func identifyPhone(ch ChannelSettings, blocked BlockList, s Sender) (Identification, *Unlinked) {
	id := Identification{Source: "phone", Raw: s.Phone}
	source := PhoneTyped
	// WhatsApp ids are international digits without '+': parsing them with the
	// channel's region would misread foreign numbers as national ones.
	if ch.Kind == KindWhatsApp && isDigits(strings.TrimSpace(s.Phone)) {
		id.Source, source = "wa_id", PhoneWhatsAppID
	}
	if strings.TrimSpace(s.Phone) == "" {
		if ch.Kind == KindWhatsApp && s.BSUID != "" {
			id.Source, id.Raw = "bsuid", s.BSUID
			if ch.BSUIDProperty == "" {
				return id, &Unlinked{Reason: UnlinkedBSUIDOnly,
					Detail: "WhatsApp gave only a business-scoped user id and channel " + ch.ID + " sets no bsuid_property"}
			}
			id.Identifier = NormalizeUserID(s.BSUID)
			if blocked.Blocked(id.Identifier) {
				return id, &Unlinked{Reason: UnlinkedBlocked, Detail: "bsuid " + s.BSUID + " is a blocked identifier"}
			}
			id.Property = ch.BSUIDProperty
			id.Key = BSUIDKey(ch, s.BSUID)
			return id, nil
		}
		return id, &Unlinked{Reason: UnlinkedNoPhone, Detail: "the sender has no phone number"}
	}
	np, err := normalizePhone(s.Phone, source, ch.DefaultRegion, true)
	n := np.PhoneNormalization
	if err != nil {
		if blocked.Blocked(s.Phone) {
			return id, &Unlinked{Reason: UnlinkedBlocked, Detail: "phone " + s.Phone + " is a blocked identifier"}
		}
		reason := UnlinkedNoPhone
		if !errors.Is(err, ErrNoPhoneNumber) {
			reason = UnlinkedNoIdentifier
		}
		return id, &Unlinked{Reason: reason, Detail: err.Error()}
	}
	id.Identifier, id.Steps, id.Phone = n.Canonical, n.Steps, &n
	if blocked.Blocked(n.Canonical) || blocked.Blocked(s.Phone) || np.zeroNational {
		return id, &Unlinked{Reason: UnlinkedBlocked, Detail: "phone " + n.Canonical + " is a blocked identifier"}
	}
	id.Key = MatchKey{Workspace: ch.WorkspaceID, Lookup: LookupPhone, Identifier: n.Canonical}
	return id, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
