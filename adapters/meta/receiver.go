package meta

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// MaxBodyBytes bounds a Meta webhook body: "Webhook payloads can be up to 3 MB"
// (WhatsApp Cloud API webhooks overview). Refusing a genuine batch would make Meta
// redeliver it, refused each time, for 7 days. Messenger and Instagram are delivered by
// the same webhook service in batches of up to 1000 updates and state no bound of
// their own, so they get the same one.
const MaxBodyBytes = 3 << 20

// Receiver is the webhook receiver of one WhatsApp Cloud API, Messenger or Instagram
// channel. adapters/webhooks hosts it (webhooks.Receiver); it also answers the GET
// verification handshake.
type Receiver struct {
	channelID   string
	secret      string
	verifyToken string
	parse       func(channelID string, body []byte) (inbound.Batch, error)
}

// NewReceiver builds the receiver of channel ch (whatsapp with provider cloud or none,
// messenger, instagram). Missing secrets are not an error here: the receiver then
// refuses every request, so one misconfigured channel does not stop the others.
func NewReceiver(ch config.Channel) (*Receiver, error) {
	r := &Receiver{channelID: ch.ID, secret: ch.Secret("app_secret_env"), verifyToken: ch.Secret("verify_token_env")}
	switch kind := domain.ChannelKind(ch.Kind); {
	case kind == domain.KindWhatsApp && (ch.Provider == "cloud" || ch.Provider == ""):
		r.parse = ParseWhatsApp
	case kind == domain.KindMessenger:
		r.parse = ParseMessenger
	case kind == domain.KindInstagram:
		r.parse = ParseInstagram
	default:
		return nil, fmt.Errorf("channel %s: a Meta receiver serves whatsapp (provider cloud), messenger and instagram, not %s/%s", ch.ID, ch.Kind, ch.Provider)
	}
	return r, nil
}

// MaxBodyBytes is the largest body Meta sends.
func (m *Receiver) MaxBodyBytes() int64 { return MaxBodyBytes }

// Authenticate checks X-Hub-Signature-256 over the raw body.
func (m *Receiver) Authenticate(r *http.Request, body []byte, _ time.Time) error {
	return Verify(m.secret, body, r.Header.Get(SignatureHeader))
}

// Parse reads the verified body into the messages it carries.
func (m *Receiver) Parse(body []byte) (inbound.Batch, error) {
	return m.parse(m.channelID, body)
}

// Acknowledge answers exactly 200: WhatsApp retries anything "other than 200".
func (m *Receiver) Acknowledge(w http.ResponseWriter, _ inbound.Batch) {
	w.WriteHeader(http.StatusOK)
}

// Handshake answers Meta's verification request with the challenge to echo. An
// *inbound.Malformed error means the request is not a handshake (400); any other error
// is a refused verify token (403).
func (m *Receiver) Handshake(q url.Values) (string, error) {
	return Handshake(q, m.verifyToken)
}
