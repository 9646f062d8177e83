package hubspot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

func testMessage(contactID string, matched ...string) domain.InboxMessage {
	return domain.InboxMessage{
		Inbox:             domain.Inbox{ChannelID: "1001", ChannelAccountID: "2001"},
		IdempotencyID:     "sb:acme-sms:SM123",
		ThreadID:          "sb:acme-sms:+14155552671",
		Text:              "Hi, is my order ready?",
		SenderName:        "Ana Bento",
		Sender:            domain.DeliveryIdentifier{Type: domain.DeliveryPhone, Value: "+14155552671"},
		Timestamp:         time.Date(2026, 11, 26, 9, 30, 0, 0, time.FixedZone("BRT", -3*3600)),
		ContactID:         contactID,
		MatchedProperties: matched,
	}
}

const publishedJSON = `{"id":"a1b2c3","type":"MESSAGE","conversationsThreadId":"7654321","channelId":"1001","channelAccountId":"2001","direction":"INCOMING","text":"Hi","senders":[],"recipients":[],"attachments":[],"createdAt":"2026-11-26T12:30:00Z","createdBy":"V-512","client":{"clientType":"INTEGRATION"},"truncationStatus":"NOT_TRUNCATED","archived":false}`

func TestPublishBody(t *testing.T) {
	tests := []struct {
		name string
		msg  domain.InboxMessage
		want string
	}{
		{"linked", testMessage("37765128953", "phone", "telegram_user_id", "mobilephone"), `{
			"messageDirection": "INCOMING",
			"channelAccountId": "2001",
			"integrationThreadId": "sb:acme-sms:+14155552671",
			"integrationIdempotencyId": "sb:acme-sms:SM123",
			"text": "Hi, is my order ready?",
			"senders": [{"name": "Ana Bento", "deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+14155552671"}}],
			"recipients": [],
			"timestamp": "2026-11-26T12:30:00.000Z",
			"attachments": [],
			"associateWithContactId": 37765128953,
			"preResolvedContacts": {"contacts": [{"contactVid": 37765128953, "contactPropertiesLeadingToMatch": ["phone", "mobilephone"]}]}
		}`},
		{"linked by a custom property only", testMessage("512", "telegram_user_id"), `{
			"messageDirection": "INCOMING",
			"channelAccountId": "2001",
			"integrationThreadId": "sb:acme-sms:+14155552671",
			"integrationIdempotencyId": "sb:acme-sms:SM123",
			"text": "Hi, is my order ready?",
			"senders": [{"name": "Ana Bento", "deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+14155552671"}}],
			"recipients": [],
			"timestamp": "2026-11-26T12:30:00.000Z",
			"attachments": [],
			"associateWithContactId": 512,
			"preResolvedContacts": {"contacts": [{"contactVid": 512, "contactPropertiesLeadingToMatch": []}]}
		}`},
		{"unlinked", testMessage(""), `{
			"messageDirection": "INCOMING",
			"channelAccountId": "2001",
			"integrationThreadId": "sb:acme-sms:+14155552671",
			"integrationIdempotencyId": "sb:acme-sms:SM123",
			"text": "Hi, is my order ready?",
			"senders": [{"name": "Ana Bento", "deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+14155552671"}}],
			"recipients": [],
			"timestamp": "2026-11-26T12:30:00.000Z",
			"attachments": []
		}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, 201, publishedJSON) })
			c, _ := newTestClient(t, f, nil)
			pm, err := c.Publish(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if pm.MessageID != "a1b2c3" || pm.ConversationID != "7654321" {
				t.Errorf("published = %+v", pm)
			}
			r := f.requests()[0]
			if r.Method != http.MethodPost || r.Path != "/conversations/v3/custom-channels/1001/messages" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			assertJSON(t, r.Body, tt.want)
		})
	}
}

func TestPublishAnswers(t *testing.T) {
	tests := []struct {
		name          string
		answers       []func(w http.ResponseWriter)
		wantRequests  int
		wantErr       bool
		wantPermanent bool
		wantID        string
	}{
		{"200 on a repeat", []func(http.ResponseWriter){func(w http.ResponseWriter) { writeJSON(w, 200, publishedJSON) }}, 1, false, false, "a1b2c3"},
		{"409 on a repeat is success", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			writeJSON(w, 409, `{"status":"error","message":"A message with this integrationIdempotencyId was already published","category":"CONFLICT","correlationId":"c"}`)
		}}, 1, false, false, ""},
		{"503 then 201 is retried", []func(http.ResponseWriter){
			func(w http.ResponseWriter) { writeJSON(w, 503, `{"message":"unavailable"}`) },
			func(w http.ResponseWriter) { writeJSON(w, 201, publishedJSON) },
		}, 2, false, false, "a1b2c3"},
		{"404 channel is permanent", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			writeJSON(w, 404, `{"status":"error","message":"Channel 1001 not found","category":"OBJECT_NOT_FOUND","correlationId":"c"}`)
		}}, 1, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				tt.answers[min(n, len(tt.answers))-1](w)
			})
			c, _ := newTestClient(t, f, nil)
			pm, err := c.Publish(context.Background(), testMessage("512", "phone"))
			if (err != nil) != tt.wantErr || errors.Is(err, domain.ErrPermanent) != tt.wantPermanent {
				t.Fatalf("err = %v", err)
			}
			if f.count() != tt.wantRequests || pm.MessageID != tt.wantID {
				t.Errorf("requests = %d, published = %+v", f.count(), pm)
			}
		})
	}
}

func TestPublishRefusesAMessageItCannotSendSafely(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, 201, publishedJSON) })
	c, _ := newTestClient(t, f, nil)
	m := testMessage("not-a-number")
	m.IdempotencyID = ""
	_, err := c.Publish(context.Background(), m)
	if !errors.Is(err, domain.ErrPermanent) || domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("err = %v, want a permanent invalid-argument error", err)
	}
	if f.count() != 0 {
		t.Errorf("an invalid message reached HubSpot")
	}
}

// A publication's errors and info-level lines name no message id: the reactor logs a
// failed publication's error at warn level, and the idempotency id holds the platform's
// message id, which WhatsApp's (wamid, the sender's number in base64) and Telegram's
// (the chat id) embed.
func TestPublishNamesNoMessageIDInItsErrorsOrInfoLines(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
	}{
		{"server error", 503, `{"status":"error","message":"unavailable","category":"SERVICE_UNAVAILABLE"}`},
		{"published before", 409, `{"status":"error","message":"duplicate","category":"CONFLICT"}`},
		{"an answer that is not JSON", 200, `not json`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, c.status, c.body) })
			var logs strings.Builder
			c2, _ := newTestClient(t, f, func(cfg *Config) {
				cfg.MaxAttempts = 1
				cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			})
			m := testMessage("512", "phone")
			m.IdempotencyID = "sb:acme-wa:wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdGRjE5"
			_, err := c2.Publish(context.Background(), m)
			if err != nil && strings.Contains(err.Error(), "wamid") {
				t.Errorf("the error names the message id: %v", err)
			}
			if strings.Contains(logs.String(), "wamid") {
				t.Errorf("an info-level line names the message id:\n%s", logs.String())
			}
		})
	}
}
