package domain

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Operators' corrections (rule 13, SPEC §5 "Corrections") are events on the match
// key's stream: they are serialized with the resolutions they change, every node reads
// them where it reads the key, and a rebuild cannot lose them.
const (
	EventMatchKeyLinked      = "MatchKeyLinked"
	EventMatchKeyNeverLinked = "MatchKeyNeverLinked"
	EventMatchKeyUnpinned    = "MatchKeyUnpinned"
)

// CorrectionKind names what an operator asks for.
type CorrectionKind string

const (
	// CorrectLink pins an identifier to a contact, whatever HubSpot search says.
	CorrectLink CorrectionKind = "link"
	// CorrectNeverLink forbids one (identifier, contact) pairing.
	CorrectNeverLink CorrectionKind = "never_link"
	// CorrectUnpin removes the corrections in force for an identifier (or one pairing).
	CorrectUnpin CorrectionKind = "unpin"
)

// UnlinkedNeverLinkedHolder: the contact that holds the identifier in HubSpot (a
// unique property refused a second one) is never-linked, so no contact may be the
// answer.
const UnlinkedNeverLinkedHolder = "never_linked_contact_holds_identifier"

// MaxCorrectionReason bounds a correction's reason, in bytes: it is a sentence for the
// audit, not a document.
const MaxCorrectionReason = 1000

// MatchKeyLinked pins the key to ContactID (a correction "link"): it re-points a key
// bound elsewhere at once, and every later message of the key lands on ContactID
// without a HubSpot call until an unpin or a never-link of that contact removes it.
type MatchKeyLinked struct {
	MatchKey  MatchKey `json:"match_key"`
	ChannelID string   `json:"channel_id"`
	// Raw is the identifier as the operator typed it; MatchKey holds its normalization.
	Raw         string `json:"raw"`
	ContactID   string `json:"contact_id"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requested_by"`
}

// MatchKeyNeverLinked forbids the key from resolving to ContactID: a binding to it is
// removed, and a search that finds it picks among the other candidates, or none.
type MatchKeyNeverLinked struct {
	MatchKey    MatchKey `json:"match_key"`
	ChannelID   string   `json:"channel_id"`
	Raw         string   `json:"raw"`
	ContactID   string   `json:"contact_id"`
	Reason      string   `json:"reason"`
	RequestedBy string   `json:"requested_by"`
}

// MatchKeyUnpinned removes the corrections in force for the key (every one, or only
// those naming ContactID) and forgets the key's binding, so the next message resolves
// by the rules: it searches again.
type MatchKeyUnpinned struct {
	MatchKey  MatchKey `json:"match_key"`
	ChannelID string   `json:"channel_id"`
	Raw       string   `json:"raw"`
	// ContactID limits the unpin to the corrections naming that contact ("" for all).
	ContactID   string `json:"contact_id,omitempty"`
	Reason      string `json:"reason,omitempty"`
	RequestedBy string `json:"requested_by"`
	// Removed are the corrections the unpin took out of force, for the audit.
	Removed []CitedCorrection `json:"removed"`
}

// CitedCorrection is a correction as the audit of a message it decided cites it.
type CitedCorrection struct {
	Kind        CorrectionKind `json:"kind"`
	ContactID   string         `json:"contact_id"`
	Reason      string         `json:"reason"`
	RequestedBy string         `json:"requested_by,omitempty"`
	// EventID and Position name the correction's event in the log.
	EventID  string `json:"event_id,omitempty"`
	Position int64  `json:"position,omitempty"`
}

// Cite shapes c, a correction of kind k, for an event that it decided.
func (c Correction) Cite(k CorrectionKind) CitedCorrection {
	return CitedCorrection{Kind: k, ContactID: c.ContactID, Reason: c.Reason, RequestedBy: c.RequestedBy,
		EventID: c.EventID, Position: c.Position}
}

// Cited lists the corrections that decided d: the link of a DecideLink, and each
// never-link whose contact the search returned and the decision therefore dropped. A
// never-link that removed nothing from this message's candidates decided nothing and
// is not cited.
func (c Corrections) Cited(d Decision) []CitedCorrection {
	var out []CitedCorrection
	if d.Kind == DecideLink && d.Correction != nil {
		out = append(out, d.Correction.Cite(CorrectLink))
	}
	seen := map[string]bool{}
	for _, v := range d.Candidates {
		if n, ok := c.Forbids(v.ContactID); ok && !seen[v.ContactID] {
			seen[v.ContactID] = true
			out = append(out, n.Cite(CorrectNeverLink))
		}
	}
	return out
}

// All lists the corrections in force, the link first.
func (c Corrections) All() []CitedCorrection {
	var out []CitedCorrection
	if c.Link != nil {
		out = append(out, c.Link.Cite(CorrectLink))
	}
	for _, n := range c.NeverLink {
		out = append(out, n.Cite(CorrectNeverLink))
	}
	return out
}

// CorrectionRequest is an operator's correction as the CLI or the API received it.
type CorrectionRequest struct {
	Kind       CorrectionKind
	ChannelID  string
	Identifier string
	ContactID  string
	Reason     string
	// RequestedBy is who asked: the admin token's name, or the CLI user.
	RequestedBy string
}

// CheckedCorrection is a correction request that CheckCorrection accepted: the
// identifier normalized by the channel's rules and the match key it pins.
type CheckedCorrection struct {
	CorrectionRequest
	Channel ChannelSettings
	// Normalized is the identifier as the channel normalizes senders; Steps say how.
	Normalized string
	Steps      []string
	Key        MatchKey
}

// CheckCorrection refuses a correction that cannot be recorded, with an error (code
// invalid) that names the field, says what was wrong and what was expected: an unknown
// kind or channel (known is false), an identifier that is empty, does not normalize by
// the channel's rules, or is blocked (rule 12: a blocked identifier never drives a
// match, so it can never be pinned either), a contact id that is missing (link,
// never_link) or not a HubSpot id, a missing or overlong reason. It performs no I/O.
//
// Phone identifiers are read the way a person types them ("+1 (415) 555-2671", or
// "4155552671" with the channel's default_region), on WhatsApp channels too: a bare
// string of digits there is a national number, not a wa_id. Both SMS and WhatsApp
// channels of a workspace share the phone lookup, so a pin made on one holds on both.
func CheckCorrection(r CorrectionRequest, ch ChannelSettings, known bool, blocked BlockList) (CheckedCorrection, error) {
	out := CheckedCorrection{CorrectionRequest: r, Channel: ch}
	switch r.Kind {
	case CorrectLink, CorrectNeverLink, CorrectUnpin:
	default:
		return out, Invalid("kind", "%q is not a correction; use link, never_link or unpin", r.Kind)
	}
	if strings.TrimSpace(r.ChannelID) == "" {
		return out, Invalid("channel_id", "is missing; name the channel the identifier writes on (a channel id of the configuration)")
	}
	if !known {
		return out, Invalid("channel_id", "channel %q is not configured; use a channel id of the configuration", r.ChannelID)
	}
	raw := strings.TrimSpace(r.Identifier)
	if raw == "" {
		return out, Invalid("identifier", "is missing; give the sender's %s as channel %s identifies senders", identifierWord(ch), ch.ID)
	}
	var snd Sender
	idCh := ch
	switch {
	case ch.Kind.IsPhone():
		// An operator types numbers; only the platform writes wa_ids.
		snd.Phone, idCh.Kind = raw, KindSMS
	case ch.Identifier == IdentifyByUsername:
		snd.Username = raw
	default:
		snd.UserID = raw
	}
	id, unlinked := Identify(idCh, blocked, snd)
	if unlinked != nil {
		switch unlinked.Reason {
		case UnlinkedBlocked:
			return out, Invalid("identifier", "%s is a blocked identifier of workspace %s (blocked_identifiers, or all zeros): it never drives a match, so it cannot be corrected; remove it from blocked_identifiers first",
				describeIdentifier(ch, raw, id.Identifier), ch.WorkspaceID)
		default:
			return out, Invalid("identifier", "%q cannot be read as channel %s reads senders (%s); expected %s", raw, ch.ID, unlinked.Detail, identifierExample(ch))
		}
	}
	switch {
	case r.Kind != CorrectUnpin && strings.TrimSpace(r.ContactID) == "":
		return out, Invalid("contact_id", "is missing; a %s names the HubSpot contact id (digits, as in the contact's URL)", r.Kind)
	case r.ContactID != "" && !isDigits(r.ContactID):
		return out, Invalid("contact_id", "%q is not a HubSpot contact id; expected digits, as in the contact's URL", r.ContactID)
	}
	reason := strings.TrimSpace(r.Reason)
	switch {
	case r.Kind != CorrectUnpin && reason == "":
		return out, Invalid("reason", "is missing; say why (%s) — the audit shows it with every message it decides", r.Kind)
	case len(reason) > MaxCorrectionReason || !utf8.ValidString(reason):
		return out, Invalid("reason", "is %d bytes or not UTF-8; keep it a sentence of at most %d bytes", len(reason), MaxCorrectionReason)
	}
	if strings.TrimSpace(r.RequestedBy) == "" {
		return out, Invalid("requested_by", "is missing; every correction records who asked")
	}
	out.Identifier, out.Reason = raw, reason
	out.Normalized, out.Steps, out.Key = id.Identifier, id.Steps, id.Key
	return out, nil
}

func identifierWord(ch ChannelSettings) string {
	switch {
	case ch.Kind.IsPhone():
		return "phone number"
	case ch.Identifier == IdentifyByUsername:
		return "username"
	}
	return "platform user id"
}

func identifierExample(ch ChannelSettings) string {
	switch {
	case ch.Kind.IsPhone() && ch.DefaultRegion != "":
		return fmt.Sprintf("a phone number such as +14155552671, or a national number of %s", ch.DefaultRegion)
	case ch.Kind.IsPhone():
		return "a phone number with its country code, such as +14155552671 (the channel sets no default_region)"
	case ch.Identifier == IdentifyByUsername:
		return "the sender's username, such as ana_b"
	}
	return "the sender's platform user id"
}

func describeIdentifier(ch ChannelSettings, raw, normalized string) string {
	if normalized != "" && normalized != raw {
		return fmt.Sprintf("%s %q (%s)", identifierWord(ch), raw, normalized)
	}
	return fmt.Sprintf("%s %q", identifierWord(ch), raw)
}

// DecideCorrection is the event a checked correction appends to its key's stream, in
// the key's current state. An unpin that finds nothing to remove is refused (not
// found): recording it would tell the audit that something changed.
func DecideCorrection(c CheckedCorrection, ks KeyState) (typ string, payload any, err error) {
	switch c.Kind {
	case CorrectLink:
		return EventMatchKeyLinked, MatchKeyLinked{MatchKey: c.Key, ChannelID: c.ChannelID, Raw: c.Identifier,
			ContactID: c.ContactID, Reason: c.Reason, RequestedBy: c.RequestedBy}, nil
	case CorrectNeverLink:
		return EventMatchKeyNeverLinked, MatchKeyNeverLinked{MatchKey: c.Key, ChannelID: c.ChannelID, Raw: c.Identifier,
			ContactID: c.ContactID, Reason: c.Reason, RequestedBy: c.RequestedBy}, nil
	case CorrectUnpin:
		var removed []CitedCorrection
		for _, k := range ks.Corrections.All() {
			if c.ContactID == "" || k.ContactID == c.ContactID {
				removed = append(removed, k)
			}
		}
		if len(removed) == 0 {
			what := "no correction is in force for " + describeIdentifier(c.Channel, c.Identifier, c.Normalized)
			if c.ContactID != "" {
				what += " and contact " + c.ContactID
			}
			return "", nil, NotFound("%s; nothing to unpin (list them with `switchboard corrections`)", what)
		}
		return EventMatchKeyUnpinned, MatchKeyUnpinned{MatchKey: c.Key, ChannelID: c.ChannelID, Raw: c.Identifier,
			ContactID: c.ContactID, Reason: c.Reason, RequestedBy: c.RequestedBy, Removed: removed}, nil
	}
	return "", nil, Invalid("kind", "%q is not a correction; use link, never_link or unpin", c.Kind)
}

// applyCorrection folds a correction event into the key's state. The latest word of
// an operator wins: a link to a contact lifts a never-link of it, a never-link of the
// linked contact removes the link.
func (s *KeyState) applyCorrection(e RecordedEvent) error {
	switch e.Type {
	case EventMatchKeyLinked:
		var p MatchKeyLinked
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.Corrections.NeverLink = withoutContact(s.Corrections.NeverLink, p.ContactID)
		s.Corrections.Link = &Correction{ContactID: p.ContactID, Reason: p.Reason, RequestedBy: p.RequestedBy, EventID: e.ID, Position: e.Position}
		s.ContactID, s.How, s.MatchedProperties, s.CreatedWith = p.ContactID, "linked", nil, nil
		s.ResolvedBy, s.ClaimedBy = e.CorrelationID, ""
	case EventMatchKeyNeverLinked:
		var p MatchKeyNeverLinked
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.Corrections.NeverLink = append(withoutContact(s.Corrections.NeverLink, p.ContactID),
			Correction{ContactID: p.ContactID, Reason: p.Reason, RequestedBy: p.RequestedBy, EventID: e.ID, Position: e.Position})
		if l := s.Corrections.Link; l != nil && l.ContactID == p.ContactID {
			s.Corrections.Link = nil
		}
		if s.ContactID == p.ContactID {
			s.unbind()
		}
	case EventMatchKeyUnpinned:
		var p MatchKeyUnpinned
		if err := Decode(e, &p); err != nil {
			return err
		}
		if l := s.Corrections.Link; l != nil && (p.ContactID == "" || l.ContactID == p.ContactID) {
			s.Corrections.Link = nil
		}
		if p.ContactID == "" {
			s.Corrections.NeverLink = nil
		} else {
			s.Corrections.NeverLink = withoutContact(s.Corrections.NeverLink, p.ContactID)
		}
		s.unbind()
	}
	return nil
}

// unbind forgets the key's contact; corrections and claims stay.
func (s *KeyState) unbind() {
	s.ContactID, s.How, s.MatchedProperties, s.CreatedWith, s.ResolvedBy = "", "", nil, nil, ""
}

func withoutContact(cs []Correction, contactID string) []Correction {
	var out []Correction
	for _, c := range cs {
		if c.ContactID != contactID {
			out = append(out, c)
		}
	}
	return out
}
