package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/domain"
)

// Limits on inbound messages; larger input is refused with a message naming the field.
const (
	MaxIDLength   = 256
	MaxTextLength = 64 * 1024
)

// RecordMessage asks for an inbound message to be recorded, once per (channel,
// platform message id). Everything after it (resolution, publication) reacts to the
// recorded event, so the platform can be answered as soon as it is handled.
type RecordMessage struct {
	Message domain.InboundMessage
}

// RecordMessageHandler validates and records inbound messages.
type RecordMessageHandler struct {
	messages *Repository[domain.MessageState]
	catalog  Catalog
	newID    func() string
	now      func() time.Time
}

// NewRecordMessageHandler refuses nil dependencies: a handler that cannot record must
// not start.
func NewRecordMessageHandler(store domain.EventStore, catalog Catalog, newID func() string, now func() time.Time) (*RecordMessageHandler, error) {
	if store == nil || catalog == nil || newID == nil || now == nil {
		return nil, errors.New("new record message handler: store, catalog, id generator and clock are required")
	}
	messages, err := MessageRepository(store, newID, now)
	if err != nil {
		return nil, err
	}
	return &RecordMessageHandler{messages: messages, catalog: catalog, newID: newID, now: now}, nil
}

// Handle validates and records the message. A message already recorded answers with
// the first recording's correlation id and Duplicate set, and records nothing.
func (h *RecordMessageHandler) Handle(ctx context.Context, cmd RecordMessage) (Receipt, error) {
	msg := cmd.Message
	ch, err := h.validate(&msg)
	if err != nil {
		return Receipt{}, err
	}
	stream := domain.MessageStream(msg.ChannelID, msg.MessageID)
	correlationID := h.newID()
	// The append expecting no stream is the deduplication: of two deliveries of one
	// message, one appends and the other reads the first one's correlation id.
	_, err = h.messages.Create(ctx, stream, correlationID, Change{domain.EventMessageReceived, domain.MessageReceived{
		WorkspaceID: ch.WorkspaceID, ChannelID: ch.ID, ChannelKind: ch.Kind,
		MessageID: msg.MessageID, SentAt: msg.SentAt.UTC(), Sender: msg.Sender, Text: msg.Text,
		Source: msg.Source, PlatformEventID: msg.PlatformEventID, TextTruncated: msg.TextTruncated,
	}})
	if errors.Is(err, domain.ErrWrongExpectedVersion) {
		first, version, rerr := h.messages.Load(ctx, stream)
		if rerr != nil || version == 0 {
			return Receipt{}, fmt.Errorf("read recorded message %s: %w", domain.RedactStream(stream), errors.Join(err, rerr))
		}
		return Receipt{CorrelationID: first.CorrelationID, Duplicate: true}, nil
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("record message %s: %w", domain.RedactStream(stream), err)
	}
	return Receipt{CorrelationID: correlationID}, nil
}

// Inbound is the RecordMessage handler as the inbound adapters (webhook receivers, the
// command API) call it: with the message they parsed.
type Inbound struct {
	Record ResultHandler[RecordMessage, Receipt]
}

// Handle records m.
func (i Inbound) Handle(ctx context.Context, m domain.InboundMessage) (Receipt, error) {
	return i.Record.Handle(ctx, RecordMessage{Message: m})
}

func (h *RecordMessageHandler) validate(msg *domain.InboundMessage) (domain.ChannelSettings, error) {
	msg.ChannelID = strings.TrimSpace(msg.ChannelID)
	msg.MessageID = strings.TrimSpace(msg.MessageID)
	if msg.ChannelID == "" {
		return domain.ChannelSettings{}, domain.Invalid("channel_id", "is required: the id of a configured channel")
	}
	ch, ok := h.catalog.Channel(msg.ChannelID)
	if !ok {
		return ch, domain.NotFound("channel %q is not configured", msg.ChannelID)
	}
	if err := msg.CheckFields(); err != nil {
		return ch, err
	}
	if msg.MessageID == "" {
		return ch, domain.Invalid("message_id", "is required: the platform's message id, used to deduplicate")
	}
	if len(msg.MessageID) > MaxIDLength {
		return ch, domain.Invalid("message_id", "is %d bytes long; at most %d are accepted", len(msg.MessageID), MaxIDLength)
	}
	if len(msg.Text) > MaxTextLength {
		return ch, domain.Invalid("text", "is %d bytes long; at most %d are accepted", len(msg.Text), MaxTextLength)
	}
	for field, v := range map[string]string{
		"message_id": msg.MessageID, "text": msg.Text, "sender.user_id": msg.Sender.UserID,
		"sender.username": msg.Sender.Username, "sender.phone": msg.Sender.Phone,
		"sender.first_name": msg.Sender.FirstName, "sender.last_name": msg.Sender.LastName,
		"sender.email": msg.Sender.Email,
	} {
		if !utf8.ValidString(v) {
			return ch, domain.Invalid(field, "is not valid UTF-8 text")
		}
		if field != "text" && len(v) > MaxIDLength {
			return ch, domain.Invalid(field, "is %d bytes long; at most %d are accepted", len(v), MaxIDLength)
		}
	}
	if err := requireSenderField(ch, msg); err != nil {
		return ch, err
	}
	if msg.SentAt.IsZero() {
		msg.SentAt = h.now()
	}
	return ch, nil
}

// requireSenderField insists on the field the channel resolves by. A webhook receiver
// may give only the platform user id on a channel that resolves by username: the
// resolver then asks the platform's profile API.
func requireSenderField(ch domain.ChannelSettings, msg *domain.InboundMessage) error {
	s := msg.Sender
	switch {
	case ch.Kind.IsPhone():
		if strings.TrimSpace(s.Phone) == "" && (ch.Kind != domain.KindWhatsApp || strings.TrimSpace(s.BSUID) == "") {
			return domain.Invalid("sender.phone", "is required on %s channel %s: the sender's phone number", ch.Kind, ch.ID)
		}
	case ch.Identifier == domain.IdentifyByUsername:
		viaProfile := msg.Source != "" && msg.Source != "api" && strings.TrimSpace(s.UserID) != ""
		if strings.TrimSpace(s.Username) == "" && !viaProfile {
			return domain.Invalid("sender.username", "is required on channel %s, which resolves senders by username", ch.ID)
		}
	default:
		if strings.TrimSpace(s.UserID) == "" {
			return domain.Invalid("sender.user_id", "is required on channel %s, which resolves senders by user_id", ch.ID)
		}
	}
	return nil
}
