// Package telegram reads Telegram Bot API webhook updates: it checks the secret token
// the bot's webhook was set with and turns private-chat messages into
// domain.InboundMessage commands.
package telegram

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// SecretHeader carries the secret_token given to setWebhook. It is a shared secret,
// not a signature: Telegram does not sign the body.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Errors of VerifySecret.
var (
	ErrNoSecret    = errors.New("the channel has no secret token configured (secret_token_env)")
	ErrNoToken     = errors.New("X-Telegram-Bot-Api-Secret-Token header is missing")
	ErrWrongSecret = errors.New("X-Telegram-Bot-Api-Secret-Token does not match the channel's secret token")
)

// VerifySecret compares the header with the channel's secret token in constant time.
func VerifySecret(secret, header string) error {
	switch {
	case secret == "":
		return ErrNoSecret
	case header == "":
		return ErrNoToken
	case subtle.ConstantTimeCompare([]byte(header), []byte(secret)) != 1:
		return ErrWrongSecret
	}
	return nil
}

type update struct {
	UpdateID *inbound.ID `json:"update_id"`
	Message  *message    `json:"message"`
	// Edits, channel posts, callback queries, membership changes and the rest are
	// told apart only by name: they are acknowledged and ignored.
	EditedMessage     json.RawMessage `json:"edited_message"`
	ChannelPost       json.RawMessage `json:"channel_post"`
	EditedChannelPost json.RawMessage `json:"edited_channel_post"`
	CallbackQuery     json.RawMessage `json:"callback_query"`
	MyChatMember      json.RawMessage `json:"my_chat_member"`
	MessageReaction   json.RawMessage `json:"message_reaction"`
	BusinessMessage   json.RawMessage `json:"business_message"`
}

type user struct {
	ID        inbound.ID `json:"id"`
	IsBot     bool       `json:"is_bot"`
	FirstName string     `json:"first_name"`
	LastName  string     `json:"last_name"`
	Username  string     `json:"username"`
}

type message struct {
	MessageID inbound.ID `json:"message_id"`
	From      *user      `json:"from"`
	Chat      struct {
		ID   inbound.ID `json:"id"`
		Type string     `json:"type"`
	} `json:"chat"`
	Date    inbound.Timestamp `json:"date"`
	Text    string            `json:"text"`
	Caption string            `json:"caption"`

	Photo     json.RawMessage `json:"photo"`
	Sticker   json.RawMessage `json:"sticker"`
	Voice     json.RawMessage `json:"voice"`
	Video     json.RawMessage `json:"video"`
	VideoNote json.RawMessage `json:"video_note"`
	Audio     json.RawMessage `json:"audio"`
	Document  json.RawMessage `json:"document"`
	Animation json.RawMessage `json:"animation"`
	Location  json.RawMessage `json:"location"`
	Venue     json.RawMessage `json:"venue"`
	Contact   json.RawMessage `json:"contact"`
	Poll      json.RawMessage `json:"poll"`
	Dice      json.RawMessage `json:"dice"`
}

// mediaKind names what a message without text carries, "" for service messages
// (new_chat_members, pinned_message, ...), which carry no customer content.
// Animations come with a document field too, so they are checked first.
func (m *message) mediaKind() string {
	for _, c := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"photo", m.Photo}, {"sticker", m.Sticker}, {"voice", m.Voice}, {"video", m.Video},
		{"video_note", m.VideoNote}, {"audio", m.Audio}, {"animation", m.Animation},
		{"document", m.Document}, {"venue", m.Venue}, {"location", m.Location},
		{"contact", m.Contact}, {"poll", m.Poll}, {"dice", m.Dice},
	} {
		if len(c.raw) > 0 && string(c.raw) != "null" {
			return c.name
		}
	}
	return ""
}

// Parse reads one Telegram Update for channel channelID. Only a message in a private
// chat from a person is a customer message; its id is "{chat.id}:{message_id}"
// (message ids are per chat) and update_id is kept as PlatformEventID. Edits, channel
// posts, group chats, bots and service messages are ignored.
func Parse(channelID string, body []byte) (inbound.Batch, error) {
	var b inbound.Batch
	var u update
	if err := inbound.DecodeObject(body, &u); err != nil {
		return b, err
	}
	if u.UpdateID == nil || *u.UpdateID == "" {
		return b, inbound.Malformedf("update_id is missing: not a Telegram Update")
	}
	m := u.Message
	if m == nil {
		b.Ignore(updateKind(&u))
		return b, nil
	}
	if m.Chat.Type != "private" {
		b.Ignore("chat:" + m.Chat.Type)
		return b, nil
	}
	if m.From == nil {
		b.Ignore("no_sender")
		return b, nil
	}
	if m.From.IsBot {
		b.Ignore("bot")
		return b, nil
	}
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	if text == "" {
		kind := m.mediaKind()
		if kind == "" {
			b.Ignore("service")
			return b, nil
		}
		text = inbound.MediaPlaceholder(kind)
	}
	if m.Chat.ID == "" || m.MessageID == "" || m.From.ID == "" {
		return inbound.Batch{}, inbound.Malformedf("update %s: a message needs message_id, chat.id and from.id", *u.UpdateID)
	}
	b.Messages = append(b.Messages, domain.InboundMessage{
		ChannelID: channelID,
		MessageID: string(m.Chat.ID) + ":" + string(m.MessageID),
		SentAt:    m.Date.Seconds(),
		Sender: domain.Sender{
			UserID:    string(m.From.ID),
			Username:  strings.TrimSpace(m.From.Username),
			FirstName: strings.TrimSpace(m.From.FirstName),
			LastName:  strings.TrimSpace(m.From.LastName),
		},
		Text:            inbound.CleanText(text),
		Source:          "webhook:" + string(domain.KindTelegram),
		PlatformEventID: string(*u.UpdateID),
	})
	return b, nil
}

func updateKind(u *update) string {
	for _, c := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"edited_message", u.EditedMessage}, {"channel_post", u.ChannelPost},
		{"edited_channel_post", u.EditedChannelPost}, {"callback_query", u.CallbackQuery},
		{"my_chat_member", u.MyChatMember}, {"message_reaction", u.MessageReaction},
		{"business_message", u.BusinessMessage},
	} {
		if len(c.raw) > 0 && string(c.raw) != "null" {
			return c.name
		}
	}
	return "update"
}

// MessageID is the deduplication key of a Telegram message: message ids are unique
// only within a chat.
func MessageID(chatID, messageID int64) string {
	return strconv.FormatInt(chatID, 10) + ":" + strconv.FormatInt(messageID, 10)
}
