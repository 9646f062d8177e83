package telegram

import (
	"fmt"
	"net/http"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// MaxBodyBytes bounds a Telegram webhook body: one Update per request, whose text or
// caption is at most 4,096 characters.
const MaxBodyBytes = 1 << 20

// Receiver is the webhook receiver of one Telegram channel. adapters/webhooks hosts it
// (webhooks.Receiver).
type Receiver struct {
	channelID string
	secret    string
}

// NewReceiver builds the receiver of channel ch. A missing secret token is not an
// error here: the receiver then refuses every request.
func NewReceiver(ch config.Channel) (*Receiver, error) {
	if domain.ChannelKind(ch.Kind) != domain.KindTelegram {
		return nil, fmt.Errorf("channel %s: a Telegram receiver serves telegram channels, not %s", ch.ID, ch.Kind)
	}
	return &Receiver{channelID: ch.ID, secret: ch.Secret("secret_token_env")}, nil
}

// MaxBodyBytes is the largest body Telegram sends.
func (t *Receiver) MaxBodyBytes() int64 { return MaxBodyBytes }

// Authenticate compares the secret token header with the channel's.
func (t *Receiver) Authenticate(r *http.Request, _ []byte, _ time.Time) error {
	return VerifySecret(t.secret, r.Header.Get(SecretHeader))
}

// Parse reads the verified Update.
func (t *Receiver) Parse(body []byte) (inbound.Batch, error) {
	return Parse(t.channelID, body)
}

// Acknowledge sends no body: Telegram executes a Bot API method given in the answer.
func (t *Receiver) Acknowledge(w http.ResponseWriter, _ inbound.Batch) {
	w.WriteHeader(http.StatusOK)
}
