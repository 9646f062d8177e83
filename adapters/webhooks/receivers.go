package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/meta"
	"switchboard/adapters/publicurl"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/adapters/webhooks/platform"
	"switchboard/domain"
)

// receiver is one platform's side of a webhook request: the dispatcher owns the HTTP
// flow (body limit, recording, metrics, logs) and asks the receiver only what differs.
type receiver interface {
	// authenticate checks the signature or secret of the request over the raw body.
	// A *platform.Malformed error means the body could not even be read for checking
	// (400); any other error is a refusal (401).
	authenticate(r *http.Request, body []byte, now time.Time) error
	// parse turns the verified body into messages to record.
	parse(body []byte) (platform.Batch, error)
	// acknowledge writes the success answer the platform expects.
	acknowledge(w http.ResponseWriter, b platform.Batch)
}

// handshaker is a receiver that also answers Meta's GET verification request.
type handshaker interface {
	handshake(q url.Values) (challenge string, err error)
}

var errNoSecret = errors.New("the channel has no secret configured to verify its webhooks")

func newReceiver(ch config.Channel, urls *publicurl.Resolver) (receiver, error) {
	kind := domain.ChannelKind(ch.Kind)
	switch {
	case kind == domain.KindSMS, kind == domain.KindWhatsApp && ch.Provider == "twilio":
		keys := twilio.Keys{AuthToken: ch.Secret("auth_token_env"), SharedKeySecret: ch.Secret("shared_key_secret_env")}
		return &twilioReceiver{channelID: ch.ID, kind: kind, keys: keys, publicURL: ch.PublicURL, urls: urls}, nil
	case kind == domain.KindWhatsApp && (ch.Provider == "cloud" || ch.Provider == ""):
		return &metaReceiver{channelID: ch.ID, secret: ch.Secret("app_secret_env"), verifyToken: ch.Secret("verify_token_env"), parseFn: meta.ParseWhatsApp}, nil
	case kind == domain.KindMessenger:
		return &metaReceiver{channelID: ch.ID, secret: ch.Secret("app_secret_env"), verifyToken: ch.Secret("verify_token_env"), parseFn: meta.ParseMessenger}, nil
	case kind == domain.KindInstagram:
		return &metaReceiver{channelID: ch.ID, secret: ch.Secret("app_secret_env"), verifyToken: ch.Secret("verify_token_env"), parseFn: meta.ParseInstagram}, nil
	case kind == domain.KindTelegram:
		return &telegramReceiver{channelID: ch.ID, secret: ch.Secret("secret_token_env")}, nil
	case kind == domain.KindSlack:
		return &slackReceiver{channelID: ch.ID, secret: ch.Secret("signing_secret_env")}, nil
	case kind == domain.KindWhatsApp:
		return nil, fmt.Errorf("channel %s: whatsapp provider %q has no webhook receiver; use cloud or twilio", ch.ID, ch.Provider)
	}
	return nil, fmt.Errorf("channel %s: kind %q has no webhook receiver; use one of sms, whatsapp, messenger, instagram, telegram, slack", ch.ID, ch.Kind)
}

// Twilio: SMS/MMS and WhatsApp through Twilio.
type twilioReceiver struct {
	channelID string
	kind      domain.ChannelKind
	keys      twilio.Keys
	publicURL string
	urls      *publicurl.Resolver
}

func (t *twilioReceiver) authenticate(r *http.Request, body []byte, _ time.Time) error {
	signedURL, from := t.urls.URL(r, t.publicURL)
	err := twilio.Verify(t.keys, signedURL, r.Header, body)
	if errors.Is(err, twilio.ErrMismatch) {
		// Name where the URL came from: a proxy that changes scheme, host or path is
		// the usual cause, and the fix (public_url) depends on seeing what was checked.
		return fmt.Errorf("%w; the URL is %s (behind a proxy that rewrites the URL, set public_url: the channel's, or the top-level base)", err, from)
	}
	return err
}

func (t *twilioReceiver) parse(body []byte) (platform.Batch, error) {
	return twilio.Parse(t.channelID, t.kind, body)
}

func (t *twilioReceiver) acknowledge(w http.ResponseWriter, _ platform.Batch) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(twilio.EmptyTwiML))
}

// Meta: WhatsApp Cloud API, Messenger, Instagram.
type metaReceiver struct {
	channelID   string
	secret      string
	verifyToken string
	parseFn     func(channelID string, body []byte) (platform.Batch, error)
}

func (m *metaReceiver) authenticate(r *http.Request, body []byte, _ time.Time) error {
	return meta.Verify(m.secret, body, r.Header.Get(meta.SignatureHeader))
}

func (m *metaReceiver) parse(body []byte) (platform.Batch, error) {
	return m.parseFn(m.channelID, body)
}

// acknowledge answers exactly 200: WhatsApp retries anything "other than 200".
func (m *metaReceiver) acknowledge(w http.ResponseWriter, _ platform.Batch) {
	w.WriteHeader(http.StatusOK)
}

func (m *metaReceiver) handshake(q url.Values) (string, error) {
	return meta.Handshake(q, m.verifyToken)
}

// Telegram.
type telegramReceiver struct {
	channelID string
	secret    string
}

func (t *telegramReceiver) authenticate(r *http.Request, _ []byte, _ time.Time) error {
	return telegram.VerifySecret(t.secret, r.Header.Get(telegram.SecretHeader))
}

func (t *telegramReceiver) parse(body []byte) (platform.Batch, error) {
	return telegram.Parse(t.channelID, body)
}

// acknowledge sends no body: Telegram executes a Bot API method given in the answer.
func (t *telegramReceiver) acknowledge(w http.ResponseWriter, _ platform.Batch) {
	w.WriteHeader(http.StatusOK)
}

// Slack Events API.
type slackReceiver struct {
	channelID string
	secret    string
}

func (s *slackReceiver) authenticate(r *http.Request, body []byte, now time.Time) error {
	return slack.Verify(s.secret, r.Header.Get(slack.TimestampHeader), r.Header.Get(slack.SignatureHeader), body, now)
}

func (s *slackReceiver) parse(body []byte) (platform.Batch, error) {
	return slack.Parse(s.channelID, body)
}

func (s *slackReceiver) acknowledge(w http.ResponseWriter, b platform.Batch) {
	if b.Reply != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(b.Reply))
		return
	}
	w.WriteHeader(http.StatusOK)
}
