package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sender is who wrote a message, as the channel reports them. Only the field the
// channel resolves by is required; the others feed names on created contacts.
type Sender struct {
	UserID    string `json:"user_id,omitempty"`
	Username  string `json:"username,omitempty"`
	Phone     string `json:"phone,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	// DisplayName is a single name as some platforms give it; SplitDisplayName turns it
	// into first and last names where those are missing.
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
	// BSUID is WhatsApp's business-scoped user id (rule 14).
	BSUID string `json:"bsuid,omitempty"`
}

// InboundMessage is the command every channel adapter produces: one customer message.
type InboundMessage struct {
	ChannelID string    `json:"channel_id"`
	MessageID string    `json:"message_id"`
	SentAt    time.Time `json:"sent_at"`
	Sender    Sender    `json:"sender"`
	Text      string    `json:"text"`
	// Source says which door the message came through ("api", "webhook:telegram", ...).
	Source string `json:"source,omitempty"`
	// PlatformEventID is a second deduplication key some platforms add (Slack's
	// event_id, Telegram's update_id): kept for the audit trail.
	PlatformEventID string `json:"platform_event_id,omitempty"`
	// TextTruncated says Text is the beginning of a longer text, cut by the receiver
	// to the recorded bound with a marker, so the audit can tell.
	TextTruncated bool `json:"text_truncated,omitempty"`
}

// Names returns first and last name, taking the first word of a display name as the
// first name and the rest as the last name where the platform gives only one name.
func (s Sender) Names() (first, last string) {
	if s.FirstName != "" || s.LastName != "" {
		return s.FirstName, s.LastName
	}
	return SplitDisplayName(s.DisplayName)
}

// SplitDisplayName splits "Ana Maria Bento" into "Ana" and "Maria Bento".
func SplitDisplayName(name string) (first, last string) {
	fields := splitFields(name)
	switch len(fields) {
	case 0:
		return "", ""
	case 1:
		return fields[0], ""
	}
	first = fields[0]
	for i, f := range fields[1:] {
		if i > 0 {
			last += " "
		}
		last += f
	}
	return first, last
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		space := r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0'
		if space && start >= 0 {
			out = append(out, s[start:i])
			start = -1
		} else if !space && start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// MaxFieldBytes bounds every field of an inbound message but its text: ids, the
// sender's identifiers and names. No platform's id or name comes near it.
const MaxFieldBytes = 256

// Years a sent_at may fall in once converted to UTC: what RFC 3339 and the event log's
// JSON can write. Outside them the event could not be recorded at all, so the message
// is refused here, naming the field, instead of failing as an internal error.
const (
	minSentYear = 1
	maxSentYear = 9999
)

// CheckFields applies the limits every door shares (the command API and each webhook)
// to m's sender and ids, and to sent_at. Identifiers (channel_id, message_id,
// platform_event_id, sender.user_id, .username, .phone, .bsuid, .email) are refused
// when longer than MaxFieldBytes, not UTF-8, or holding a control character (NUL
// included): cutting or cleaning one would make it another identifier.
//
// Names (sender.first_name, .last_name, .display_name) depend on the door. Through the
// command API (Source "api" or unset) a bad name is refused like an identifier: the
// client is there to read the 400. From a platform's webhook the name is cleaned
// instead (invalid UTF-8 replaced, control characters removed, line breaks and tabs
// made spaces) and cut at a rune boundary to MaxFieldBytes: a webhook that is refused is
// acknowledged and dropped (a platform would only redeliver it, refused again), and a
// customer's message must not be lost because the platform let them pick a long name.
//
// sent_at must fall in years 0001–9999 once converted to UTC; through the command API
// it is refused otherwise, from a webhook it is dropped (the message is recorded as
// received now) for the same reason names are cleaned.
//
// It returns an *Error naming the field.
func (m *InboundMessage) CheckFields() error {
	fromPlatform := m.Source != "" && m.Source != "api"
	if y := m.SentAt.UTC().Year(); !m.SentAt.IsZero() && (y < minSentYear || y > maxSentYear) {
		if !fromPlatform {
			return Invalid("sent_at", "is %s, in year %d once converted to UTC; expected a time in years %04d to %04d, such as 2026-11-26T09:30:00Z",
				m.SentAt.Format("2006-01-02T15:04:05Z07:00"), y, minSentYear, maxSentYear)
		}
		// A platform's nonsense timestamp must not lose the message: it is recorded as
		// received now, as one without a timestamp is.
		m.SentAt = time.Time{}
	}
	if fromPlatform {
		m.Sender.FirstName = CleanName(m.Sender.FirstName)
		m.Sender.LastName = CleanName(m.Sender.LastName)
		m.Sender.DisplayName = CleanName(m.Sender.DisplayName)
	}
	for _, f := range [...]struct {
		name, value string
		isName      bool
	}{
		{"channel_id", m.ChannelID, false}, {"message_id", m.MessageID, false},
		{"platform_event_id", m.PlatformEventID, false},
		{"sender.user_id", m.Sender.UserID, false}, {"sender.username", m.Sender.Username, false},
		{"sender.phone", m.Sender.Phone, false}, {"sender.bsuid", m.Sender.BSUID, false},
		{"sender.email", m.Sender.Email, false},
		{"sender.first_name", m.Sender.FirstName, true}, {"sender.last_name", m.Sender.LastName, true},
		{"sender.display_name", m.Sender.DisplayName, true},
	} {
		if err := checkField(f.name, f.value, f.isName); err != nil {
			return err
		}
	}
	return nil
}

func checkField(field, v string, name bool) error {
	if len(v) > MaxFieldBytes {
		return Invalid(field, "is %d bytes long; at most %d are accepted", len(v), MaxFieldBytes)
	}
	if !utf8.ValidString(v) {
		return Invalid(field, "is not valid UTF-8 text")
	}
	for i, r := range v {
		if unicode.IsControl(r) {
			what := "an identifier"
			if name {
				what = "a name"
			}
			return Invalid(field, "holds the control character %U at byte %d; %s has none", r, i, what)
		}
	}
	return nil
}

// CleanName makes a name from a platform fit for a contact: invalid UTF-8 replaced,
// line breaks and tabs made spaces, other control characters removed, surrounding
// spaces trimmed, and the result cut at a rune boundary to MaxFieldBytes. A name that
// is already clean is returned as it is.
func CleanName(s string) string {
	clean := len(s) <= MaxFieldBytes && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
	if clean {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u0085':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > MaxFieldBytes {
		cut := MaxFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}
