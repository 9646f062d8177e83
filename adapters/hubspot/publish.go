package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"switchboard/domain"
)

// Publish posts an incoming message into a custom channel's inbox. A message linked
// to a contact carries associateWithContactId and preResolvedContacts; an unlinked one
// carries neither.
//
// A repeat of the same IdempotencyID on the same channel account never makes a second
// inbox message: HubSpot either returns the original message or answers 409, which
// Publish treats as success (the ids of the original are then unknown and left empty
// unless the 409 body carries them). Because of that id, Publish retries timeouts and
// server errors freely. 400, 401, 403 and 404 (a channel or channel account that does
// not exist) are domain.ErrPermanent.
func (c *Client) Publish(ctx context.Context, m domain.InboxMessage) (domain.PublishedMessage, error) {
	body, err := c.publishBody(m)
	if err != nil {
		return domain.PublishedMessage{}, fmt.Errorf("publish message: %w", err)
	}
	resp, err := c.do(ctx, request{op: "publish_message", method: http.MethodPost,
		path: "/conversations/v3/custom-channels/" + escapeSegment(m.Inbox.ChannelID) + "/messages", body: body})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		var pm publishedMessage
		_ = json.Unmarshal(apiErr.body, &pm) // HubSpot may or may not return the original
		// The idempotency id holds the platform's message id, which may embed the
		// sender's number or chat id: debug level only, as every message id.
		c.log.InfoContext(ctx, "hubspot message was already published", "channel_id", m.Inbox.ChannelID, "correlation_id", apiErr.CorrelationID)
		c.log.DebugContext(ctx, "hubspot message was already published", "idempotency_id", m.IdempotencyID)
		return domain.PublishedMessage{MessageID: pm.ID, ConversationID: pm.ConversationsThreadID}, nil
	}
	if err != nil {
		// Not the idempotency id: the reactor logs this error at warn level, and the id
		// holds the platform's message id (WhatsApp's and Telegram's embed the sender).
		return domain.PublishedMessage{}, fmt.Errorf("publish message to channel %s: %w", m.Inbox.ChannelID, contactRefusal(err, m.ContactID))
	}
	var pm publishedMessage
	if err := json.Unmarshal(resp.body, &pm); err != nil {
		return domain.PublishedMessage{}, fmt.Errorf("publish message to channel %s: decode answer: %w", m.Inbox.ChannelID, err)
	}
	c.log.DebugContext(ctx, "hubspot message published", "idempotency_id", m.IdempotencyID,
		"message_id", pm.ID, "thread_id", pm.ConversationsThreadID, "contact_id", m.ContactID)
	return domain.PublishedMessage{MessageID: pm.ID, ConversationID: pm.ConversationsThreadID}, nil
}

func (c *Client) publishBody(m domain.InboxMessage) (publishRequest, error) {
	var errs []error
	if strings.TrimSpace(m.Inbox.ChannelID) == "" {
		errs = append(errs, domain.Invalid("inbox.channel_id", "is empty; set the channel's inbox channel_id"))
	}
	if strings.TrimSpace(m.Inbox.ChannelAccountID) == "" {
		errs = append(errs, domain.Invalid("inbox.channel_account_id", "is empty; set the channel's inbox channel_account_id"))
	}
	if strings.TrimSpace(m.IdempotencyID) == "" {
		// Without it a retried publication could make a second inbox message.
		errs = append(errs, domain.Invalid("idempotency_id", "is empty"))
	}
	if m.Sender.Type == "" || strings.TrimSpace(m.Sender.Value) == "" {
		errs = append(errs, domain.Invalid("sender", "has no delivery identifier"))
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = c.cfg.Now()
	}
	b := publishRequest{
		MessageDirection:         "INCOMING",
		ChannelAccountID:         m.Inbox.ChannelAccountID,
		IntegrationThreadID:      m.ThreadID,
		IntegrationIdempotencyID: m.IdempotencyID,
		Text:                     m.Text,
		Senders:                  []participant{{Name: m.SenderName, DeliveryIdentifier: deliveryIdentifier(m.Sender)}},
		Recipients:               []participant{},
		Timestamp:                ts.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Attachments:              []any{},
	}
	if m.ContactID != "" {
		vid, err := strconv.ParseInt(m.ContactID, 10, 64)
		if err != nil || vid <= 0 {
			errs = append(errs, domain.Invalid("contact_id", "%q is not a HubSpot contact id", m.ContactID))
		}
		b.AssociateWithContactID = &vid
		b.PreResolvedContacts = &preResolvedContacts{Contacts: []preResolvedContact{{
			ContactVid:                      vid,
			ContactPropertiesLeadingToMatch: matchableProperties(m.MatchedProperties),
		}}}
	}
	if err := errors.Join(errs...); err != nil {
		return publishRequest{}, fmt.Errorf("%w: %w", err, domain.ErrPermanent)
	}
	return b, nil
}

// leadingToMatch lists the contact properties HubSpot accepts in
// preResolvedContacts.contactPropertiesLeadingToMatch (an enum of HubSpot-defined
// contact properties in the custom-channels spec) that an identifier match can involve.
// A custom property (telegram_user_id, instagram_username, …) is not in the enum:
// sending it risks a 400 that would dead-letter every message of the channel, so it is
// left out of the body (the audit trail keeps it) and the list may be empty.
var leadingToMatch = map[string]bool{
	"email": true, "work_email": true, "hs_additional_emails": true, "hs_conversations_visitor_email": true,
	"phone": true, "mobilephone": true, "hs_whatsapp_phone_number": true, "hs_whatsapp_bsuids": true,
	"hs_calculated_phone_number": true, "hs_calculated_mobile_number": true,
	"hs_searchable_calculated_phone_number": true, "hs_searchable_calculated_mobile_number": true,
	"hs_searchable_calculated_international_phone_number":  true,
	"hs_searchable_calculated_international_mobile_number": true,
	"firstname": true, "lastname": true,
	"hs_facebookid": true, "hs_twitterid": true, "twitterhandle": true, "hs_linkedinid": true,
	"hs_linkedin_url": true, "hs_googleplusid": true,
}

func matchableProperties(props []string) []string {
	out := []string{}
	for _, p := range props {
		if leadingToMatch[p] && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func deliveryIdentifier(d domain.DeliveryIdentifier) deliveryID {
	return deliveryID{Type: d.Type, Value: d.Value}
}

type publishRequest struct {
	MessageDirection         string               `json:"messageDirection"`
	ChannelAccountID         string               `json:"channelAccountId"`
	IntegrationThreadID      string               `json:"integrationThreadId,omitempty"`
	IntegrationIdempotencyID string               `json:"integrationIdempotencyId"`
	Text                     string               `json:"text"`
	Senders                  []participant        `json:"senders"`
	Recipients               []participant        `json:"recipients"`
	Timestamp                string               `json:"timestamp"`
	Attachments              []any                `json:"attachments"`
	AssociateWithContactID   *int64               `json:"associateWithContactId,omitempty"`
	PreResolvedContacts      *preResolvedContacts `json:"preResolvedContacts,omitempty"`
}

type participant struct {
	Name               string     `json:"name,omitempty"`
	DeliveryIdentifier deliveryID `json:"deliveryIdentifier"`
}

type deliveryID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type preResolvedContacts struct {
	Contacts []preResolvedContact `json:"contacts"`
}

type preResolvedContact struct {
	ContactVid                      int64    `json:"contactVid"`
	ContactPropertiesLeadingToMatch []string `json:"contactPropertiesLeadingToMatch"`
}

type publishedMessage struct {
	ID                    string `json:"id"`
	ConversationsThreadID string `json:"conversationsThreadId"`
}
