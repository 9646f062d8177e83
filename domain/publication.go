package domain

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// IdempotencyID is the integrationIdempotencyId of a message's publication: derived
// from the channel and the platform's message id, so a retried publication never makes
// a second inbox message (HubSpot scopes it to the channel account).
func IdempotencyID(channelID, messageID string) string {
	return "sb:" + channelID + ":" + messageID
}

// ThreadID is the integrationThreadId of a sender on a channel (rule 9): one person on
// one channel has one thread; the same person on two channels has two. Social senders
// are keyed by their platform user id, which outlives a username change. The thread
// follows the person, not the identifier that came in: a WhatsApp message carrying only
// a BSUID that the person's phone number brought in earlier (MessageState.ThreadRef)
// goes on the phone's thread.
func ThreadID(channelID string, s MessageState) string {
	if s.ThreadRef != "" && s.Received.ChannelKind.IsPhone() {
		return "sb:" + channelID + ":" + s.ThreadRef
	}
	return "sb:" + channelID + ":" + senderRef(s)
}

func senderRef(s MessageState) string {
	snd := s.Received.Sender
	if s.Received.ChannelKind.IsPhone() {
		if s.Identified != nil && s.Identified.Identifier != "" && s.Identified.Source != "bsuid" {
			return s.Identified.Identifier
		}
		if snd.Phone != "" {
			return strings.TrimSpace(snd.Phone)
		}
		return snd.BSUID
	}
	if snd.UserID != "" {
		return snd.UserID
	}
	return NormalizeUsername(snd.Username)
}

// SenderDelivery is the sender's delivery identifier (SPEC §6): HS_PHONE_NUMBER in
// E.164 on phone channels when the number is valid (HubSpot validates it), the
// platform user id as CHANNEL_SPECIFIC_OPAQUE_ID otherwise.
func SenderDelivery(s MessageState) DeliveryIdentifier {
	if s.Received.ChannelKind.IsPhone() && s.Identified != nil && s.Identified.Source != "bsuid" && validNumber(*s.Identified) {
		return DeliveryIdentifier{Type: DeliveryPhone, Value: s.Identified.Identifier}
	}
	return DeliveryIdentifier{Type: DeliveryOpaqueID, Value: senderRef(s)}
}

// validNumber is what the resolver found when it normalized the identifier, or, for a
// SenderIdentified recorded before it kept that, the number parsed again.
func validNumber(id SenderIdentified) bool {
	if id.ValidNumber != nil {
		return *id.ValidNumber
	}
	return validE164(id.Identifier)
}

func validE164(s string) bool {
	if !strings.HasPrefix(s, "+") {
		return false
	}
	n, err := phonenumbers.Parse(s, "")
	return err == nil && phonenumbers.IsValidNumber(n)
}

// SenderName is the name shown in the inbox.
func SenderName(snd Sender) string {
	first, last := snd.Names()
	name := strings.TrimSpace(first + " " + last)
	if name == "" {
		name = strings.TrimLeft(snd.Username, "@")
	}
	return name
}

// BuildInboxMessage turns a resolved message into its publication (SPEC §6): linked to
// the contact with the properties that led to the match, or unlinked with neither.
func BuildInboxMessage(ch ChannelSettings, s MessageState) InboxMessage {
	m := InboxMessage{
		Inbox:         ch.Inbox,
		IdempotencyID: IdempotencyID(ch.ID, s.Received.MessageID),
		ThreadID:      ThreadID(ch.ID, s),
		Text:          s.Received.Text,
		SenderName:    SenderName(s.Received.Sender),
		Sender:        SenderDelivery(s),
		Timestamp:     s.Received.SentAt,
	}
	if strings.TrimSpace(m.Text) == "" {
		// An MMS or a sticker carries no text, but HubSpot requires some.
		m.Text = "(message without text)"
	}
	if s.Outcome != EventConversationUnlinked {
		m.ContactID = s.ContactID
		m.MatchedProperties = s.Matched
	}
	return m
}
