package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// DeliveryIdentifier says how a participant is reached: type HS_PHONE_NUMBER (E.164),
// HS_EMAIL_ADDRESS, CHANNEL_SPECIFIC_OPAQUE_ID or HS_SHORT_CODE, and the value.
type DeliveryIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Participant is a sender or recipient of a published message.
type Participant struct {
	// ActorID is what HubSpot assigned: "V-<contact id>" for a sender linked to a contact
	// with associateWithContactId, else a visitor id stable per delivery identifier.
	ActorID            string             `json:"actorId,omitempty"`
	Name               string             `json:"name,omitempty"`
	DeliveryIdentifier DeliveryIdentifier `json:"deliveryIdentifier"`
}

// PreResolvedContact is one entry of preResolvedContacts as the integration sent it.
type PreResolvedContact struct {
	ContactVid                      string
	ContactPropertiesLeadingToMatch []string
}

// PublishedMessage is a message accepted on a custom channel (repeats of an
// idempotency id are not listed again).
type PublishedMessage struct {
	MessageID                string
	ChannelID                string
	ChannelAccountID         string
	IntegrationThreadID      string
	IntegrationIdempotencyID string
	ConversationsThreadID    string
	Direction                string
	Text                     string
	RichText                 string
	Senders                  []Participant
	Recipients               []Participant
	// AssociateWithContactID is the contact id as sent (digits), "" when absent.
	AssociateWithContactID string
	// PreResolvedContacts is nil when the body had none.
	PreResolvedContacts []PreResolvedContact
	// Timestamp is the body's timestamp, or the publish time when it had none.
	Timestamp   time.Time
	PublishedAt time.Time
}

// Thread is an inbox thread of a custom channel.
type Thread struct {
	ID               string // conversationsThreadId
	ChannelID        string
	ChannelAccountID string
	// IntegrationThreadID is "" for threads keyed by the sender's delivery identifier.
	IntegrationThreadID string
	// AssociatedContactID is the first associateWithContactId a message of the thread
	// carried ([inference]: what HubSpot does with later, different ids is undocumented).
	AssociatedContactID string
	MessageIDs          []string
	CreatedAt           time.Time
}

// message is a stored message: the wire form and where it was published.
type message struct {
	wire      conversationsMessage
	channelID string
}

// conversationsMessage is PublicConversationsMessage (hubspot.md §8).
type conversationsMessage struct {
	ID                    string          `json:"id"`
	Type                  string          `json:"type"`
	ConversationsThreadID string          `json:"conversationsThreadId"`
	ChannelID             string          `json:"channelId"`
	ChannelAccountID      string          `json:"channelAccountId"`
	Direction             string          `json:"direction"`
	Text                  string          `json:"text"`
	RichText              string          `json:"richText,omitempty"`
	Attachments           json.RawMessage `json:"attachments"`
	Senders               []Participant   `json:"senders"`
	Recipients            []Participant   `json:"recipients"`
	InReplyToID           string          `json:"inReplyToId,omitempty"`
	CreatedAt             string          `json:"createdAt"`
	CreatedBy             string          `json:"createdBy"`
	Client                messageClient   `json:"client"`
	TruncationStatus      string          `json:"truncationStatus"`
	Archived              bool            `json:"archived"`
	Status                messageStatus   `json:"status"`
}

type messageClient struct {
	ClientType       string `json:"clientType"`
	IntegrationAppID int64  `json:"integrationAppId"`
}

type messageStatus struct {
	StatusType string `json:"statusType"`
}

type participantEgg struct {
	Name               string              `json:"name"`
	SenderActorID      string              `json:"senderActorId"`
	DeliveryIdentifier *DeliveryIdentifier `json:"deliveryIdentifier"`
}

// messageEgg is ChannelIntegrationMessageEgg, the publish body.
type messageEgg struct {
	MessageDirection         string           `json:"messageDirection"`
	ChannelAccountID         flexString       `json:"channelAccountId"`
	IntegrationThreadID      flexString       `json:"integrationThreadId"`
	IntegrationIdempotencyID flexString       `json:"integrationIdempotencyId"`
	Text                     *string          `json:"text"`
	RichText                 string           `json:"richText"`
	Senders                  []participantEgg `json:"senders"`
	Recipients               []participantEgg `json:"recipients"`
	Timestamp                string           `json:"timestamp"`
	Attachments              json.RawMessage  `json:"attachments"`
	InReplyToID              string           `json:"inReplyToId"`
	AssociateWithContactID   *flexString      `json:"associateWithContactId"`
	PreResolvedContacts      *struct {
		Contacts []struct {
			ContactVid                      flexString `json:"contactVid"`
			ContactPropertiesLeadingToMatch []string   `json:"contactPropertiesLeadingToMatch"`
		} `json:"contacts"`
	} `json:"preResolvedContacts"`
}

var deliveryTypes = map[string]bool{"HS_EMAIL_ADDRESS": true, "HS_PHONE_NUMBER": true, "CHANNEL_SPECIFIC_OPAQUE_ID": true, "HS_SHORT_CODE": true}

// validate checks the egg the way the guide describes (hubspot.md §8): required fields
// present, delivery identifiers non-blank, phone numbers valid E.164 by libphonenumber,
// emails valid. Text may be empty only when attachments are sent ([inference]).
func (egg *messageEgg) validate() []errorDetail {
	var errs []errorDetail
	bad := func(in, msg string) { errs = append(errs, errorDetail{Message: msg, In: in, Code: "INVALID"}) }
	if egg.MessageDirection != "INCOMING" && egg.MessageDirection != "OUTGOING" {
		bad("messageDirection", "messageDirection must be INCOMING or OUTGOING")
	}
	if strings.TrimSpace(string(egg.ChannelAccountID)) == "" {
		bad("channelAccountId", "channelAccountId is required")
	}
	hasAttachments := len(egg.Attachments) > 0 && string(egg.Attachments) != "null" && string(egg.Attachments) != "[]"
	if egg.Text == nil || (strings.TrimSpace(*egg.Text) == "" && !hasAttachments) {
		bad("text", "text is required")
	}
	if len(egg.Senders) == 0 {
		bad("senders", "at least one sender is required")
	}
	check := func(field string, ps []participantEgg) {
		for i, p := range ps {
			at := fmt.Sprintf("%s[%d].deliveryIdentifier", field, i)
			d := p.DeliveryIdentifier
			switch {
			case d == nil:
				bad(at, "deliveryIdentifier is required")
			case !deliveryTypes[d.Type]:
				bad(at+".type", "unknown delivery identifier type "+strconv.Quote(d.Type))
			case strings.TrimSpace(d.Value) == "":
				bad(at+".value", "delivery identifier value must not be blank")
			case d.Type == "HS_PHONE_NUMBER" && !validE164(d.Value):
				bad(at+".value", strconv.Quote(d.Value)+" is not a valid E.164 phone number")
			case d.Type == "HS_EMAIL_ADDRESS":
				if a, err := mail.ParseAddress(d.Value); err != nil || a.Address != d.Value {
					bad(at+".value", strconv.Quote(d.Value)+" is not a valid email address")
				}
			}
		}
	}
	check("senders", egg.Senders)
	check("recipients", egg.Recipients)
	if egg.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, egg.Timestamp); err != nil {
			bad("timestamp", "timestamp must be an ISO 8601 date-time")
		}
	}
	if egg.AssociateWithContactID != nil && *egg.AssociateWithContactID != "" {
		if _, err := strconv.ParseInt(string(*egg.AssociateWithContactID), 10, 64); err != nil {
			bad("associateWithContactId", "associateWithContactId must be an integer contact id")
		}
	}
	return errs
}

// POST /conversations/v3/custom-channels/{channelId}/messages. Until a channel account
// is connected any channel id and channel account id is accepted; from then on only a
// connected (channel, account) pair (see refusePublication).
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request, params []string) {
	channelID := params[0]
	var egg messageEgg
	if e := decodeBody(r, &egg); e != nil {
		writeError(w, e)
		return
	}
	if errs := egg.validate(); len(errs) > 0 {
		e := validationErr("Invalid message: " + errs[0].In + ": " + errs[0].Message)
		e.errors = errs
		writeError(w, e)
		return
	}
	account := string(egg.ChannelAccountID)
	idem := string(egg.IntegrationIdempotencyID)

	s.mu.Lock()
	if e := s.refusePublication(channelID, account); e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	if idem != "" {
		if m := s.idempotency[[2]string{account, idem}]; m != nil {
			wire := m.wire
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, wire)
			return
		}
	}
	contactID := ""
	if egg.AssociateWithContactID != nil && *egg.AssociateWithContactID != "" {
		contactID = string(*egg.AssociateWithContactID)
		if s.resolve(contactID, false) == nil {
			s.mu.Unlock()
			e := validationErr("associateWithContactId " + contactID + " does not reference an existing contact")
			e.errors = []errorDetail{{Message: "contact " + contactID + " not found", In: "associateWithContactId", Code: "INVALID"}}
			writeError(w, e)
			return
		}
	}
	now := s.now()
	ts := now
	if egg.Timestamp != "" {
		ts, _ = time.Parse(time.RFC3339Nano, egg.Timestamp)
	}
	th := s.thread(channelID, account, string(egg.IntegrationThreadID), egg.Senders, contactID, now)

	senders := s.participants(egg.Senders, contactID, true)
	recipients := s.participants(egg.Recipients, "", false)
	id := fmt.Sprintf("%016x%016x", s.idRng.Uint64(), s.idRng.Uint64())
	attachments := egg.Attachments
	if len(attachments) == 0 || string(attachments) == "null" {
		attachments = json.RawMessage("[]")
	}
	status := "RECEIVED"
	if egg.MessageDirection == "OUTGOING" {
		status = "SENT"
	}
	wire := conversationsMessage{ID: id, Type: "MESSAGE", ConversationsThreadID: th.ID, ChannelID: channelID,
		ChannelAccountID: account, Direction: egg.MessageDirection, Text: deref(egg.Text), RichText: egg.RichText,
		Attachments: attachments, Senders: senders, Recipients: recipients, InReplyToID: egg.InReplyToID,
		CreatedAt: formatTime(ts), CreatedBy: senders[0].ActorID, Client: messageClient{ClientType: "INTEGRATION"},
		TruncationStatus: "NOT_TRUNCATED", Status: messageStatus{StatusType: status}}
	m := &message{wire: wire, channelID: channelID}
	s.messages[id] = m
	if idem != "" {
		s.idempotency[[2]string{account, idem}] = m
	}
	th.MessageIDs = append(th.MessageIDs, id)
	pub := PublishedMessage{MessageID: id, ChannelID: channelID, ChannelAccountID: account,
		IntegrationThreadID: string(egg.IntegrationThreadID), IntegrationIdempotencyID: idem,
		ConversationsThreadID: th.ID, Direction: egg.MessageDirection, Text: deref(egg.Text), RichText: egg.RichText,
		Senders: senders, Recipients: recipients, AssociateWithContactID: contactID, Timestamp: ts, PublishedAt: now}
	if egg.PreResolvedContacts != nil {
		pub.PreResolvedContacts = []PreResolvedContact{}
		for _, c := range egg.PreResolvedContacts.Contacts {
			pub.PreResolvedContacts = append(pub.PreResolvedContacts, PreResolvedContact{ContactVid: string(c.ContactVid),
				ContactPropertiesLeadingToMatch: append([]string(nil), c.ContactPropertiesLeadingToMatch...)})
		}
	}
	s.published = append(s.published, pub)
	s.mu.Unlock()

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", scheme+"://"+r.Host+"/conversations/v3/custom-channels/"+channelID+"/messages/"+id)
	writeJSON(w, http.StatusCreated, wire)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// thread returns the thread of (channel account, integrationThreadId), or of the first
// sender's delivery identifier when no integrationThreadId is given, creating it.
func (s *Server) thread(channelID, account, integrationThreadID string, senders []participantEgg, contactID string, now time.Time) *Thread {
	key := [2]string{account, "itid:" + integrationThreadID}
	if integrationThreadID == "" {
		d := senders[0].DeliveryIdentifier
		key = [2]string{account, "di:" + d.Type + ":" + d.Value}
	}
	th := s.threads[key]
	if th == nil {
		s.nextThread++
		th = &Thread{ID: strconv.FormatInt(s.nextThread, 10), ChannelID: channelID, ChannelAccountID: account,
			IntegrationThreadID: integrationThreadID, CreatedAt: now}
		s.threads[key] = th
		s.threadList = append(s.threadList, th)
	}
	if th.AssociatedContactID == "" {
		th.AssociatedContactID = contactID
	}
	return th
}

// participants assigns actor ids: "V-<contact>" when linked, the senderActorId given,
// else (senders only) a visitor id that is stable per delivery identifier. HubSpot's
// actor ids for unknown visitors are undocumented; these are invented.
func (s *Server) participants(eggs []participantEgg, contactID string, senders bool) []Participant {
	out := make([]Participant, 0, len(eggs))
	for _, p := range eggs {
		part := Participant{Name: p.Name, DeliveryIdentifier: *p.DeliveryIdentifier}
		switch {
		case contactID != "":
			part.ActorID = "V-" + contactID
		case p.SenderActorID != "":
			part.ActorID = p.SenderActorID
		case senders:
			v := s.visitors[part.DeliveryIdentifier]
			if v == "" {
				s.nextVisitor++
				v = "V-" + strconv.FormatInt(s.nextVisitor, 10)
				s.visitors[part.DeliveryIdentifier] = v
			}
			part.ActorID = v
		}
		out = append(out, part)
	}
	return out
}

// GET /conversations/v3/custom-channels/{channelId}/messages/{messageId}
func (s *Server) handleGetMessage(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	m := s.messages[params[1]]
	var wire conversationsMessage
	found := m != nil && m.channelID == params[0]
	if found {
		wire = m.wire
	}
	s.mu.Unlock()
	if !found {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Message "+params[1]+" not found on channel "+params[0]))
		return
	}
	writeJSON(w, http.StatusOK, wire)
}

// Published returns every message accepted on custom channels, in order.
func (s *Server) Published() []PublishedMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PublishedMessage(nil), s.published...)
}

// Threads returns the custom-channel threads in creation order.
func (s *Server) Threads() []Thread {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Thread, 0, len(s.threadList))
	for _, th := range s.threadList {
		c := *th
		c.MessageIDs = append([]string(nil), th.MessageIDs...)
		out = append(out, c)
	}
	return out
}
