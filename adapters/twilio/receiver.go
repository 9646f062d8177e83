package twilio

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/adapters/publicurl"
	"switchboard/domain"
)

// MaxBodyBytes bounds a Twilio webhook body. One request carries one message: a Body
// of at most 1,600 characters for SMS (reassembled) or 4,096 on WhatsApp, a few dozen
// fixed parameters and up to ten media URLs. Even fully percent-encoded that stays far
// below 1 MiB.
const MaxBodyBytes = 1 << 20

// Receiver is the webhook receiver of one Twilio channel: sms, or whatsapp with
// provider twilio. adapters/webhooks hosts it (webhooks.Receiver).
type Receiver struct {
	channelID string
	kind      domain.ChannelKind
	keys      Keys
	publicURL string
	urls      *publicurl.Resolver
}

// NewReceiver builds the receiver of channel ch; urls says which URL Twilio called
// (nil: no top-level public_url, forwarding headers from loopback only). A missing auth token is not an error
// here: the receiver then refuses every request with 401, so one misconfigured channel
// does not stop the others (config.Load refuses such files at start-up anyway).
func NewReceiver(ch config.Channel, urls *publicurl.Resolver) (*Receiver, error) {
	kind := domain.ChannelKind(ch.Kind)
	if kind != domain.KindSMS && (kind != domain.KindWhatsApp || ch.Provider != "twilio") {
		return nil, fmt.Errorf("channel %s: a Twilio receiver serves sms and whatsapp with provider twilio, not %s/%s", ch.ID, ch.Kind, ch.Provider)
	}
	keys := Keys{AuthToken: ch.Secret("auth_token_env"), SharedKeySecret: ch.Secret("shared_key_secret_env")}
	return &Receiver{channelID: ch.ID, kind: kind, keys: keys, publicURL: ch.PublicURL, urls: urls}, nil
}

// MaxBodyBytes is the largest body Twilio sends.
func (t *Receiver) MaxBodyBytes() int64 { return MaxBodyBytes }

// Authenticate checks X-Twilio-Signature over the URL Twilio called and the form
// parameters. A body that is not a form is *inbound.Malformed.
func (t *Receiver) Authenticate(r *http.Request, body []byte, _ time.Time) error {
	urls := t.urls
	if urls == nil {
		// No configuration given: no top-level base, loopback proxies only.
		urls, _ = publicurl.New("", nil)
	}
	signedURL, from := urls.URL(r, t.publicURL)
	err := Verify(t.keys, signedURL, r.Header, body)
	if errors.Is(err, ErrMismatch) {
		// Name where the URL came from: a proxy that changes scheme, host or path is
		// the usual cause, and the fix (public_url) depends on seeing what was checked.
		// It is built from request headers, so it is cut short: the caller is not yet known.
		return fmt.Errorf("%w; the URL is %s (behind a proxy that rewrites the URL, set public_url: the channel's, or the top-level base)", err, inbound.Excerpt(string(from), 200))
	}
	return err
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
