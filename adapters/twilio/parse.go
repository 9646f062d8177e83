package twilio

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// EmptyTwiML is the answer to every accepted or ignored webhook: Twilio expects TwiML
// and logs errors 11200/12300 for an empty body, and an empty <Response> sends no reply
// to the customer.
const EmptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// ParseForm reads the form-encoded body Twilio posts. Twilio signs these parameters
// only, never the URL's query parameters, so they are kept apart from the query.
func ParseForm(body []byte) (url.Values, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &inbound.Malformed{Reason: "body is not application/x-www-form-urlencoded", Err: err}
	}
	return form, nil
}

// Parse reads a Twilio messaging webhook body for the channel channelID of the given
// kind (sms, or whatsapp with provider twilio).
func Parse(channelID string, kind domain.ChannelKind, body []byte) (inbound.Batch, error) {
	form, err := ParseForm(body)
	if err != nil {
		return inbound.Batch{}, err
	}
	return Messages(channelID, kind, form)
}

// Messages turns the parameters of one Twilio webhook into at most one message.
//
// Twilio has no timestamp in inbound webhooks, so SentAt stays zero and the recorder
// stamps the time of receipt. Status callbacks for outbound messages (MessageStatus
// set and no content, or a status other than received) are ignored. An MMS without
// Body is still a message: its text is one placeholder per attachment ("[image]").
func Messages(channelID string, kind domain.ChannelKind, form url.Values) (inbound.Batch, error) {
	var b inbound.Batch
	sid := first(form, "MessageSid", "SmsMessageSid", "SmsSid")
	body := inbound.CleanText(form.Get("Body"))
	numMedia := 0
	if v := strings.TrimSpace(form.Get("NumMedia")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return b, inbound.Malformedf("NumMedia %q is not a count of attachments", v)
		}
		numMedia = n
	}
	if status := strings.ToLower(strings.TrimSpace(form.Get("MessageStatus"))); status != "" {
		if (body == "" && numMedia == 0) || (status != "received" && status != "receiving") {
			b.Ignore("status:" + status)
			return b, nil
		}
	}
	if sid == "" {
		return b, inbound.Malformedf("MessageSid is missing: not a Twilio messaging webhook")
	}
	text := body
	if text == "" && numMedia > 0 {
		kinds := make([]string, 0, numMedia)
		for i := 0; i < numMedia; i++ {
			kinds = append(kinds, inbound.MediaKindFromContentType(form.Get(fmt.Sprintf("MediaContentType%d", i))))
		}
		text = inbound.JoinPlaceholders(kinds)
	}
	// A blank SMS (Body="" and no media) is still recorded: the customer did write,
	// and dropping it would hide the conversation.

	sender, err := senderOf(kind, form)
	if err != nil {
		return b, err
	}
	b.Messages = append(b.Messages, domain.InboundMessage{
		ChannelID: channelID,
		MessageID: sid,
		Sender:    sender,
		Text:      text,
		Source:    "webhook:" + string(kind),
	})
	return b, nil
}

func senderOf(kind domain.ChannelKind, form url.Values) (domain.Sender, error) {
	from := strings.TrimSpace(form.Get("From"))
	if kind != domain.KindWhatsApp {
		if from == "" {
			return domain.Sender{}, inbound.Malformedf("From is missing: the sender's number")
		}
		// Alphanumeric senders and short codes stay as they are: the domain unlinks them
		// with the reason "no phone number".
		return domain.Sender{Phone: from}, nil
	}
	s := domain.Sender{DisplayName: inbound.CleanText(strings.TrimSpace(form.Get("ProfileName")))}
	addr := stripWhatsApp(from)
	waID := strings.TrimSpace(form.Get("WaId"))
	switch {
	case strings.HasPrefix(addr, "+") && isDigits(addr[1:]):
		s.Phone = addr
	case isDigits(waID):
		// The domain reads digits without '+' on a WhatsApp channel as a wa_id.
		s.Phone = waID
	}
	if ext := stripWhatsApp(strings.TrimSpace(form.Get("ExternalUserId"))); ext != "" && !isDigits(strings.TrimPrefix(ext, "+")) {
		s.BSUID = ext
	}
	if s.Phone == "" && s.BSUID == "" {
		return s, inbound.Malformedf("From %q carries no WhatsApp number and there is no WaId or ExternalUserId", from)
	}
	return s, nil
}

func stripWhatsApp(s string) string {
	const p = "whatsapp:"
	if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
		return strings.TrimSpace(s[len(p):])
	}
	return s
}

func first(form url.Values, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(form.Get(k)); v != "" {
			return v
		}
	}
	return ""
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
