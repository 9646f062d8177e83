package meta

import (
	"strings"

	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// Objects of Messenger and Instagram webhooks.
const (
	MessengerObject = "page"
	InstagramObject = "instagram"
)

type fbPayload struct {
	Object string    `json:"object"`
	Entry  []fbEntry `json:"entry"`
}

type fbEntry struct {
	ID        inbound.ID `json:"id"`
	Messaging []fbEvent  `json:"messaging"`
	// Standby (handover protocol: another app owns the thread) is deliberately not
	// decoded: those messages belong to the primary receiver.
}

type fbEvent struct {
	Sender struct {
		ID inbound.ID `json:"id"`
	} `json:"sender"`
	Recipient struct {
		ID inbound.ID `json:"id"`
	} `json:"recipient"`
	Timestamp inbound.Timestamp `json:"timestamp"`
	Message   *fbMessage        `json:"message"`
	Postback  *struct {
		Mid   string `json:"mid"`
		Title string `json:"title"`
	} `json:"postback"`
	Delivery *struct{} `json:"delivery"`
	Read     *struct{} `json:"read"`
	Reaction *struct{} `json:"reaction"`
	Edit     *struct{} `json:"message_edit"`
}

type fbMessage struct {
	Mid           string `json:"mid"`
	Text          string `json:"text"`
	IsEcho        bool   `json:"is_echo"`
	IsDeleted     bool   `json:"is_deleted"`
	IsUnsupported bool   `json:"is_unsupported"`
	Attachments   []struct {
		Type string `json:"type"`
	} `json:"attachments"`
}

// ParseMessenger reads a Messenger webhook (object "page") for channel channelID.
// Each entry[].messaging[] event with a message becomes a message from the sender's
// page-scoped id (PSID, Sender.UserID). Echoes of the page's own messages, deliveries,
// reads, reactions, edits, and postbacks without a title are ignored; a postback with
// a title (the customer tapped a button such as "Get Started") is recorded with the
// title as its text, because it opens a conversation just as a message does.
// Names are not in the payload: ProfileLookup asks the Graph API later.
func ParseMessenger(channelID string, body []byte) (inbound.Batch, error) {
	return parseMessaging(channelID, domain.KindMessenger, MessengerObject, body)
}

// ParseInstagram reads an Instagram messaging webhook (object "instagram") for channel
// channelID, as ParseMessenger does; the sender id is the Instagram-scoped id (IGSID).
// Deleted (unsent) and unsupported messages are ignored as well. The username is not in
// the payload: ProfileLookup asks the profile API when the channel resolves by it.
func ParseInstagram(channelID string, body []byte) (inbound.Batch, error) {
	return parseMessaging(channelID, domain.KindInstagram, InstagramObject, body)
}

func parseMessaging(channelID string, kind domain.ChannelKind, object string, body []byte) (inbound.Batch, error) {
	var b inbound.Batch
	var p fbPayload
	if err := inbound.DecodeObject(body, &p); err != nil {
		return b, err
	}
	if p.Object != object {
		// A Meta app sends each product's webhooks to the URL set for that product; a
		// payload of another object here is a misconfiguration, not a retryable error.
		b.Ignore("object:" + p.Object)
		return b, nil
	}
	for _, e := range p.Entry {
		for _, ev := range e.Messaging {
			msg, ignored, err := fbInbound(channelID, kind, ev)
			if err != nil {
				return inbound.Batch{}, err
			}
			if ignored != "" {
				b.Ignore(ignored)
				continue
			}
			b.Messages = append(b.Messages, msg)
		}
	}
	return b, nil
}

func fbInbound(channelID string, kind domain.ChannelKind, ev fbEvent) (domain.InboundMessage, string, error) {
	var mid, text string
	switch m := ev.Message; {
	case m != nil && m.IsEcho:
		return domain.InboundMessage{}, "echo", nil
	case m != nil && m.IsDeleted:
		return domain.InboundMessage{}, "deleted", nil
	case m != nil && m.IsUnsupported:
		return domain.InboundMessage{}, "unsupported", nil
	case m != nil:
		mid, text = m.Mid, m.Text
		if strings.TrimSpace(text) == "" {
			kinds := make([]string, 0, len(m.Attachments))
			for _, a := range m.Attachments {
				kinds = append(kinds, a.Type)
			}
			text = inbound.JoinPlaceholders(kinds)
		}
		if text == "" {
			return domain.InboundMessage{}, "empty_message", nil
		}
	case ev.Postback != nil:
		if strings.TrimSpace(ev.Postback.Title) == "" || ev.Postback.Mid == "" {
			return domain.InboundMessage{}, "postback", nil
		}
		mid, text = ev.Postback.Mid, ev.Postback.Title
	case ev.Delivery != nil:
		return domain.InboundMessage{}, "delivery", nil
	case ev.Read != nil:
		return domain.InboundMessage{}, "read", nil
	case ev.Reaction != nil:
		return domain.InboundMessage{}, "reaction", nil
	case ev.Edit != nil:
		return domain.InboundMessage{}, "edit", nil
	default:
		return domain.InboundMessage{}, "event", nil
	}
	if strings.TrimSpace(mid) == "" {
		return domain.InboundMessage{}, "", inbound.Malformedf("a %s message has no id (message.mid)", kind)
	}
	psid := strings.TrimSpace(string(ev.Sender.ID))
	if psid == "" {
		return domain.InboundMessage{}, "", inbound.Malformedf("%s message %s has no sender.id", kind, mid)
	}
	return domain.InboundMessage{
		ChannelID: channelID,
		MessageID: mid,
		SentAt:    ev.Timestamp.Millis(),
		Sender:    domain.Sender{UserID: psid},
		Text:      inbound.CleanText(text),
		Source:    "webhook:" + string(kind),
	}, "", nil
}
