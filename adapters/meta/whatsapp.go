package meta

import (
	"encoding/json"
	"strings"

	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// WhatsAppObject is the "object" of WhatsApp Cloud API webhooks.
const WhatsAppObject = "whatsapp_business_account"

type waPayload struct {
	Object string    `json:"object"`
	Entry  []waEntry `json:"entry"`
}

type waEntry struct {
	ID      inbound.ID `json:"id"`
	Changes []waChange `json:"changes"`
}

type waChange struct {
	Field string `json:"field"`
	// Value is decoded only for the "messages" field: other fields (account_update,
	// message_template_status_update, ...) have shapes of their own and are ignored,
	// so a change in one of them must not turn into a 400 that Meta retries for 7 days.
	Value json.RawMessage `json:"value"`
}

type waValue struct {
	Metadata struct {
		PhoneNumberID inbound.ID `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []waContact       `json:"contacts"`
	Messages []waMessage       `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
	Errors   []json.RawMessage `json:"errors"`
}

type waContact struct {
	WaID    inbound.ID `json:"wa_id"`
	UserID  string     `json:"user_id"`
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
}

type waMedia struct {
	Caption string `json:"caption"`
}

type waMessage struct {
	ID          string                 `json:"id"`
	From        inbound.ID             `json:"from"`
	FromUserID  string                 `json:"from_user_id"`
	Timestamp   inbound.Timestamp      `json:"timestamp"`
	Type        string                 `json:"type"`
	Text        *struct{ Body string } `json:"text"`
	Image       *waMedia               `json:"image"`
	Video       *waMedia               `json:"video"`
	Document    *waMedia               `json:"document"`
	Audio       *waMedia               `json:"audio"`
	Sticker     *waMedia               `json:"sticker"`
	Interactive *struct {
		ButtonReply *struct{ Title string } `json:"button_reply"`
		ListReply   *struct{ Title string } `json:"list_reply"`
	} `json:"interactive"`
	Button *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Errors []json.RawMessage `json:"errors"`
}

// waIgnoredTypes carry no customer message: reactions point at another message,
// system messages announce number or id changes (and carry no contacts), unsupported
// ones come with errors[] instead of content, and the rest are protocol noise.
var waIgnoredTypes = map[string]bool{
	"reaction": true, "system": true, "unsupported": true, "request_welcome": true,
	"ephemeral": true, "revoke": true, "deleted": true,
}

// ParseWhatsApp reads a WhatsApp Cloud API webhook for channel channelID. Every
// entry[].changes[].value.messages[] becomes its own message; statuses, errors,
// reactions, system and unsupported messages and changes of other fields are ignored.
//
// The sender's phone is the wa_id/from digits as given, without '+': the domain reads
// digits on a WhatsApp channel as a wa_id and must never see them parsed with a region.
// A sender known only by a business-scoped user id (BSUID) has an empty phone.
func ParseWhatsApp(channelID string, body []byte) (inbound.Batch, error) {
	var b inbound.Batch
	var p waPayload
	if err := inbound.DecodeObject(body, &p); err != nil {
		return b, err
	}
	if p.Object != WhatsAppObject {
		b.Ignore("object:" + p.Object)
		return b, nil
	}
	for _, e := range p.Entry {
		for _, c := range e.Changes {
			if c.Field != "messages" {
				b.Ignore("field:" + c.Field)
				continue
			}
			if len(c.Value) == 0 {
				continue
			}
			var v waValue
			if err := inbound.DecodeObject(c.Value, &v); err != nil {
				return inbound.Batch{}, err
			}
			for range v.Statuses {
				b.Ignore("status")
			}
			for range v.Errors {
				b.Ignore("error")
			}
			for _, m := range v.Messages {
				msg, ignored, err := waInbound(channelID, m, v.Contacts)
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
	}
	return b, nil
}

func waInbound(channelID string, m waMessage, contacts []waContact) (domain.InboundMessage, string, error) {
	typ := strings.ToLower(strings.TrimSpace(m.Type))
	if waIgnoredTypes[typ] {
		return domain.InboundMessage{}, typ, nil
	}
	if typ == "" && len(m.Errors) > 0 {
		return domain.InboundMessage{}, "unsupported", nil
	}
	if strings.TrimSpace(m.ID) == "" {
		return domain.InboundMessage{}, "", inbound.Malformedf("a WhatsApp message has no id (messages[].id)")
	}
	s := waSender(m, contacts)
	if s.Phone == "" && s.BSUID == "" {
		return domain.InboundMessage{}, "", inbound.Malformedf("WhatsApp message %s has no sender (neither from nor from_user_id)", m.ID)
	}
	return domain.InboundMessage{
		ChannelID: channelID,
		MessageID: m.ID,
		SentAt:    m.Timestamp.Seconds(),
		Sender:    s,
		Text:      inbound.CleanText(waText(typ, m)),
		Source:    "webhook:" + string(domain.KindWhatsApp),
	}, "", nil
}

func waSender(m waMessage, contacts []waContact) domain.Sender {
	var s domain.Sender
	from := strings.TrimSpace(string(m.From))
	switch {
	case from == "":
	case isDigits(from):
		s.Phone = from
	case strings.Contains(from, "."):
		// Some deliveries put the BSUID in from when the user hides the number.
		s.BSUID = from
	default:
		// Not a number: kept as given so the domain unlinks it with its reason.
		s.Phone = from
	}
	if m.FromUserID != "" {
		s.BSUID = strings.TrimSpace(m.FromUserID)
	}
	// Match the profile by id, not by array position: a batch may hold several senders.
	for _, c := range contacts {
		wa := strings.TrimSpace(string(c.WaID))
		byPhone := wa != "" && wa == s.Phone
		byUser := c.UserID != "" && c.UserID == s.BSUID
		if !byPhone && !byUser {
			continue
		}
		if s.Phone == "" && isDigits(wa) {
			s.Phone = wa
		}
		if s.BSUID == "" {
			s.BSUID = strings.TrimSpace(c.UserID)
		}
		s.DisplayName = strings.TrimSpace(c.Profile.Name)
		s.Username = strings.TrimSpace(c.Profile.Username)
		break
	}
	return s
}

// waText is text.body, a caption, the title of the button or list row the customer
// tapped, or a placeholder such as "[image]" for content switchboard does not forward.
func waText(typ string, m waMessage) string {
	media := map[string]*waMedia{"image": m.Image, "video": m.Video, "document": m.Document, "audio": m.Audio, "sticker": m.Sticker}
	switch {
	case typ == "text" && m.Text != nil:
		return m.Text.Body
	case media[typ] != nil:
		if c := strings.TrimSpace(media[typ].Caption); c != "" {
			return media[typ].Caption
		}
		return inbound.MediaPlaceholder(typ)
	case typ == "interactive" && m.Interactive != nil:
		if r := m.Interactive.ButtonReply; r != nil && r.Title != "" {
			return r.Title
		}
		if r := m.Interactive.ListReply; r != nil && r.Title != "" {
			return r.Title
		}
	case typ == "button" && m.Button != nil:
		if m.Button.Text != "" {
			return m.Button.Text
		}
		if m.Button.Payload != "" {
			return m.Button.Payload
		}
	}
	if m.Text != nil && m.Text.Body != "" {
		return m.Text.Body
	}
	if typ == "" {
		typ = "message"
	}
	return inbound.MediaPlaceholder(typ)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
