package domain

import "time"

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
