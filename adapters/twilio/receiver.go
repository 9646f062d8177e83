package twilio

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// MaxBodyBytes bounds a Twilio webhook body. One request carries one message: a Body
// of at most 1,600 characters for SMS (reassembled) or 4,096 on WhatsApp, a few dozen
// fixed parameters and up to ten media URLs. Even fully percent-encoded that stays far
// below 1 MiB.
const MaxBodyBytes = 1 << 20

// ErrNoAuthToken refuses every request of a channel without an auth token: an unsigned
// request must never be accepted because a secret is missing.
var ErrNoAuthToken = errors.New("the channel has no secret configured to verify its webhooks (auth_token_env)")

// Receiver is the webhook receiver of one Twilio channel: sms, or whatsapp with
// provider twilio. adapters/webhooks hosts it (webhooks.Receiver).
type Receiver struct {
	channelID string
	kind      domain.ChannelKind
	token     string
	publicURL string
}

// NewReceiver builds the receiver of channel ch. A missing auth token is not an error
// here: the receiver then refuses every request with 401, so one misconfigured channel
// does not stop the others (config.Load refuses such files at start-up anyway).
func NewReceiver(ch config.Channel) (*Receiver, error) {
	kind := domain.ChannelKind(ch.Kind)
	if kind != domain.KindSMS && (kind != domain.KindWhatsApp || ch.Provider != "twilio") {
		return nil, fmt.Errorf("channel %s: a Twilio receiver serves sms and whatsapp with provider twilio, not %s/%s", ch.ID, ch.Kind, ch.Provider)
	}
	return &Receiver{channelID: ch.ID, kind: kind, token: ch.Secret("auth_token_env"), publicURL: ch.PublicURL}, nil
}

// MaxBodyBytes is the largest body Twilio sends.
func (t *Receiver) MaxBodyBytes() int64 { return MaxBodyBytes }

// Authenticate checks X-Twilio-Signature over the URL Twilio called and the form
// parameters. A body that is not a form is *inbound.Malformed.
func (t *Receiver) Authenticate(r *http.Request, body []byte, _ time.Time) error {
	if t.token == "" {
		return ErrNoAuthToken
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return errors.New("X-Twilio-Signature header is missing")
	}
	form, err := ParseForm(body)
	if err != nil {
		return err
	}
	signedURL := t.publicURL
	if signedURL == "" {
		signedURL = RequestURL(r)
	}
	if !Valid(t.token, signedURL, form, sig) {
		// Name the URL: a proxy that changes scheme, host or path is the usual cause,
		// and the fix (public_url) depends on seeing which URL was checked. It is
		// built from request headers, so it is cut short: the caller is not yet known.
		return fmt.Errorf("X-Twilio-Signature does not match the parameters signed for %s (behind a proxy that rewrites the URL, set the channel's public_url)", inbound.Excerpt(signedURL, 200))
	}
	return nil
}

// Parse reads the verified form into at most one message.
func (t *Receiver) Parse(body []byte) (inbound.Batch, error) {
	return Parse(t.channelID, t.kind, body)
}

// Acknowledge answers empty TwiML: Twilio logs errors for an empty body, and an empty
// <Response> sends the customer nothing.
func (t *Receiver) Acknowledge(w http.ResponseWriter, _ inbound.Batch) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(EmptyTwiML))
}
