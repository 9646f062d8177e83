// Package samples builds webhook requests as the platforms send them, signed with the
// channel's own secrets by the receivers' signing functions, for `switchboard dev send`
// and for tests: one text message from one sender, of every channel kind.
package samples

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"switchboard/adapters/config"
	"switchboard/adapters/meta"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/domain"
)

// Sample is one customer message to send. Only From is required (except on a WhatsApp
// channel, where a BSUID alone will do): it is the sender as the platform names them,
// a phone number on sms and whatsapp, the PSID/IGSID on messenger/instagram, the
// numeric user id on telegram, the user id (U…) on slack.
type Sample struct {
	From string
	// Username goes where the platform's payload has one (Telegram); elsewhere the
	// platform's profile API is the source.
	Username string
	// Name is the display name where the payload has one (WhatsApp profile name,
	// Twilio ProfileName, Telegram first/last name).
	Name string
	// Text defaults to "hello".
	Text string
	// MessageID is the platform's message id; empty derives a fresh one from Now, so
	// sending the same sample twice with one MessageID tests deduplication. Telegram
	// takes the numeric message_id (or "{chat}:{message_id}"), Slack the ts (or
	// "{channel}:{ts}").
	MessageID string
	// BSUID is a WhatsApp business-scoped user id (from_user_id / ExternalUserId).
	BSUID string
	// Now is when the message was sent (and, for Slack, signed); zero is time.Now.
	Now time.Time
}

// Build returns a request to webhookURL (for example http://127.0.0.1:8080/webhooks/acme-wa)
// carrying s as channel ch's platform would send it, signed with the channel's secret.
// Twilio signs the URL it calls: the channel's public_url when set, else webhookURL.
func Build(ch config.Channel, webhookURL string, s Sample) (*http.Request, error) {
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	if s.Text == "" {
		s.Text = "hello"
	}
	if strings.TrimSpace(s.From) == "" && !(domain.ChannelKind(ch.Kind) == domain.KindWhatsApp && s.BSUID != "") {
		return nil, fmt.Errorf("sample for channel %s: From is required: %s", ch.ID, fromHint(ch))
	}
	kind := domain.ChannelKind(ch.Kind)
	switch {
	case kind == domain.KindSMS, kind == domain.KindWhatsApp && ch.Provider == "twilio":
		return buildTwilio(ch, webhookURL, s)
	case kind == domain.KindWhatsApp:
		return buildWhatsApp(ch, webhookURL, s)
	case kind == domain.KindMessenger:
		return buildMessaging(ch, webhookURL, s, meta.MessengerObject)
	case kind == domain.KindInstagram:
		return buildMessaging(ch, webhookURL, s, meta.InstagramObject)
	case kind == domain.KindTelegram:
		return buildTelegram(ch, webhookURL, s)
	case kind == domain.KindSlack:
		return buildSlack(ch, webhookURL, s)
	}
	return nil, fmt.Errorf("sample for channel %s: kind %q has no webhook", ch.ID, ch.Kind)
}

func fromHint(ch config.Channel) string {
	switch domain.ChannelKind(ch.Kind) {
	case domain.KindSMS, domain.KindWhatsApp:
		return "the sender's phone number, for example 5215512345678 or +14155552671"
	case domain.KindMessenger:
		return "the sender's page-scoped id (PSID), for example 24012345678901234"
	case domain.KindInstagram:
		return "the sender's Instagram-scoped id (IGSID), for example 17841400000000000"
	case domain.KindTelegram:
		return "the sender's numeric Telegram user id, for example 123456789"
	case domain.KindSlack:
		return "the sender's Slack user id, for example U2147483697"
	}
	return "the sender's platform id"
}

func secret(ch config.Channel, key string) (string, error) {
	v := ch.Secret(key)
	if v == "" {
		return "", fmt.Errorf("sample for channel %s: %s is not set or its variable is empty; the sample must be signed with the channel's secret", ch.ID, key)
	}
	return v, nil
}

// token derives an id fragment from the sample, stable for one (From, Now).
func token(s Sample, n int) string {
	sum := sha256.Sum256([]byte(s.From + "\x00" + s.BSUID + "\x00" + s.Now.Format(time.RFC3339Nano)))
	h := hex.EncodeToString(sum[:])
	if n > len(h) {
		n = len(h)
	}
	return h[:n]
}

func buildTwilio(ch config.Channel, webhookURL string, s Sample) (*http.Request, error) {
	authToken, err := secret(ch, "auth_token_env")
	if err != nil {
		return nil, err
	}
	sid := s.MessageID
	if sid == "" {
		sid = "SM" + token(s, 32)
	}
	form := url.Values{
		"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid},
		"AccountSid": {"AC" + strings.Repeat("0", 32)}, "ApiVersion": {"2010-04-01"},
		"Body": {s.Text}, "NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"},
	}
	if domain.ChannelKind(ch.Kind) == domain.KindWhatsApp {
		digits := phoneDigits(s.From)
		if digits != "" {
			form.Set("From", "whatsapp:+"+digits)
			form.Set("WaId", digits)
		}
		if s.BSUID != "" {
			form.Set("ExternalUserId", "whatsapp:"+s.BSUID)
			if digits == "" {
				form.Set("From", "whatsapp:"+s.BSUID)
			}
		}
		form.Set("To", "whatsapp:+14155238886")
		form.Set("ProfileName", s.Name)
		form.Set("MessageType", "text")
	} else {
		form.Set("From", strings.TrimSpace(s.From))
		form.Set("To", "+15005550006")
	}
	signedURL := ch.PublicURL
	if signedURL == "" {
		signedURL = webhookURL
	}
	req, err := http.NewRequest(http.MethodPost, webhookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: %w", ch.ID, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(authToken, signedURL, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	return req, nil
}

func buildWhatsApp(ch config.Channel, webhookURL string, s Sample) (*http.Request, error) {
	appSecret, err := secret(ch, "app_secret_env")
	if err != nil {
		return nil, err
	}
	id := s.MessageID
	if id == "" {
		id = "wamid.HBgL" + strings.ToUpper(token(s, 40))
	}
	digits := phoneDigits(s.From)
	contact := map[string]any{"profile": map[string]any{"name": s.Name}}
	msg := map[string]any{
		"id": id, "timestamp": strconv.FormatInt(s.Now.Unix(), 10), "type": "text",
		"text": map[string]any{"body": s.Text},
	}
	if digits != "" {
		contact["wa_id"] = digits
		msg["from"] = digits
	}
	if s.BSUID != "" {
		contact["user_id"] = s.BSUID
		msg["from_user_id"] = s.BSUID
	}
	payload := map[string]any{
		"object": meta.WhatsAppObject,
		"entry": []any{map[string]any{
			"id": "102290129340398",
			"changes": []any{map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
					"contacts":          []any{contact},
					"messages":          []any{msg},
				},
			}},
		}},
	}
	return metaRequest(ch, webhookURL, appSecret, payload)
}

func buildMessaging(ch config.Channel, webhookURL string, s Sample, object string) (*http.Request, error) {
	appSecret, err := secret(ch, "app_secret_env")
	if err != nil {
		return nil, err
	}
	mid := s.MessageID
	if mid == "" {
		mid = "m_" + token(s, 40)
	}
	ms := s.Now.UnixMilli()
	payload := map[string]any{
		"object": object,
		"entry": []any{map[string]any{
			"id": "1000000000000", "time": ms,
			"messaging": []any{map[string]any{
				"sender":    map[string]any{"id": strings.TrimSpace(s.From)},
				"recipient": map[string]any{"id": "1000000000000"},
				"timestamp": ms,
				"message":   map[string]any{"mid": mid, "text": s.Text},
			}},
		}},
	}
	return metaRequest(ch, webhookURL, appSecret, payload)
}

// metaRequest encodes the payload as Meta does (non-ASCII as \uXXXX escapes) and signs
// those bytes: a receiver that re-encoded the JSON would fail exactly on such text.
func metaRequest(ch config.Channel, webhookURL, appSecret string, payload any) (*http.Request, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: encode payload: %w", ch.ID, err)
	}
	body = escapeNonASCII(body)
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: %w", ch.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.SignatureHeader, meta.Sign(appSecret, body))
	req.Header.Set("User-Agent", "facebookexternalua")
	return req, nil
}

func buildTelegram(ch config.Channel, webhookURL string, s Sample) (*http.Request, error) {
	secretToken, err := secret(ch, "secret_token_env")
	if err != nil {
		return nil, err
	}
	userID, err := strconv.ParseInt(strings.TrimSpace(s.From), 10, 64)
	if err != nil || userID <= 0 {
		return nil, fmt.Errorf("sample for channel %s: From %q is not a Telegram user id: %s", ch.ID, s.From, fromHint(ch))
	}
	messageID := s.Now.Unix() % 1_000_000_000
	if s.MessageID != "" {
		raw := s.MessageID
		if _, after, ok := strings.Cut(raw, ":"); ok {
			raw = after
		}
		messageID, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || messageID <= 0 {
			return nil, fmt.Errorf("sample for channel %s: MessageID %q is not a Telegram message_id (a positive integer, or chat:message_id)", ch.ID, s.MessageID)
		}
	}
	first, last := domain.SplitDisplayName(s.Name)
	if first == "" {
		first = "Sample"
	}
	from := map[string]any{"id": userID, "is_bot": false, "first_name": first}
	chat := map[string]any{"id": userID, "type": "private", "first_name": first}
	if last != "" {
		from["last_name"], chat["last_name"] = last, last
	}
	if s.Username != "" {
		u := strings.TrimPrefix(s.Username, "@")
		from["username"], chat["username"] = u, u
	}
	update := map[string]any{
		"update_id": 100000000 + messageID%800000000,
		"message": map[string]any{
			"message_id": messageID, "from": from, "chat": chat,
			"date": s.Now.Unix(), "text": s.Text,
		},
	}
	body, err := json.Marshal(update)
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: encode update: %w", ch.ID, err)
	}
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: %w", ch.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(telegram.SecretHeader, secretToken)
	return req, nil
}

func buildSlack(ch config.Channel, webhookURL string, s Sample) (*http.Request, error) {
	signingSecret, err := secret(ch, "signing_secret_env")
	if err != nil {
		return nil, err
	}
	user := strings.TrimSpace(s.From)
	channel := "D" + strings.ToUpper(token(Sample{From: user}, 10))
	ts := slack.TS(s.Now)
	if s.MessageID != "" {
		ts = s.MessageID
		if c, after, ok := strings.Cut(s.MessageID, ":"); ok {
			channel, ts = c, after
		}
	}
	envelope := map[string]any{
		"token": "sample-verification-token", "team_id": "T0SAMPLE", "api_app_id": "A0SAMPLE",
		"type": "event_callback", "event_id": "Ev" + strings.ToUpper(token(s, 10)), "event_time": s.Now.Unix(),
		"event": map[string]any{
			"type": "message", "channel": channel, "user": user, "text": s.Text,
			"ts": ts, "event_ts": ts, "channel_type": "im",
		},
		"authorizations": []any{map[string]any{"team_id": "T0SAMPLE", "user_id": "U0SAMPLEBOT", "is_bot": true, "is_enterprise_install": false}},
	}
	body, err := json.Marshal(envelope)
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: encode event: %w", ch.ID, err)
	}
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sample for channel %s: %w", ch.ID, err)
	}
	stamp := strconv.FormatInt(s.Now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(slack.TimestampHeader, stamp)
	req.Header.Set(slack.SignatureHeader, slack.Sign(signingSecret, stamp, body))
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	return req, nil
}

// phoneDigits turns "+52 1 55 1234 5678", "whatsapp:+5215512345678" or "5215512345678"
// into the digits WhatsApp uses as a wa_id.
func phoneDigits(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 9 && strings.EqualFold(s[:9], "whatsapp:") {
		s = s[9:]
	}
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeNonASCII rewrites every non-ASCII character of a JSON document as a \uXXXX
// escape (surrogate pairs above the BMP), which is how Meta encodes its payloads.
// Non-ASCII bytes occur only inside strings, where the escape is equivalent.
func escapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}
