package webhooks

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/adapters/meta"
	"switchboard/adapters/publicurl"
	"switchboard/adapters/slack"
	"switchboard/adapters/telegram"
	"switchboard/adapters/twilio"
	"switchboard/domain"
)

// Receiver is one platform's side of a webhook request, implemented by the platform's
// own package (twilio.Receiver, meta.Receiver, telegram.Receiver, slack.Receiver). The
// Handler owns the HTTP flow (routing, reading the body within MaxBodyBytes, recording,
// metrics, logs) and asks the receiver only what differs between platforms.
type Receiver interface {
	// MaxBodyBytes is the largest body the platform sends on this channel; a longer one
	// is answered 413 without being authenticated or parsed.
	MaxBodyBytes() int64
	// Authenticate checks the request's signature or secret over the raw body. An
	// *inbound.Malformed error means the body could not even be read for checking
	// (400); any other error is a refusal (401).
	Authenticate(r *http.Request, body []byte, now time.Time) error
	// Parse turns the authenticated body into messages to record; an error is
	// *inbound.Malformed (400).
	Parse(body []byte) (inbound.Batch, error)
	// Acknowledge writes the success answer the platform expects.
	Acknowledge(w http.ResponseWriter, b inbound.Batch)
}

// Handshaker is a Receiver that also answers a GET verification request (Meta's). It
// returns the body to echo; an *inbound.Malformed error means the request is not a
// handshake (400), any other error a refused token (403).
type Handshaker interface {
	Handshake(q url.Values) (challenge string, err error)
}

// Annotator is a Receiver with platform-specific facts of a request worth logging
// (Slack's retry number). The Handler asks only after Authenticate succeeded, so what
// an unauthenticated client sends never reaches the log; it bounds the values anyway.
type Annotator interface {
	LogAttrs(r *http.Request) []slog.Attr
}

// The platform packages' receivers, checked against what the Handler needs.
var (
	_ Receiver   = (*twilio.Receiver)(nil)
	_ Receiver   = (*meta.Receiver)(nil)
	_ Handshaker = (*meta.Receiver)(nil)
	_ Receiver   = (*telegram.Receiver)(nil)
	_ Receiver   = (*slack.Receiver)(nil)
	_ Annotator  = (*slack.Receiver)(nil)
)

// newReceiver builds the receiver of channel ch with the constructor of the platform
// package that serves its kind and provider.
func newReceiver(ch config.Channel, urls *publicurl.Resolver) (Receiver, error) {
	kind := domain.ChannelKind(ch.Kind)
	switch {
	case kind == domain.KindSMS, kind == domain.KindWhatsApp && ch.Provider == "twilio":
		return asReceiver(twilio.NewReceiver(ch, urls))
	case kind == domain.KindWhatsApp && (ch.Provider == "cloud" || ch.Provider == ""),
		kind == domain.KindMessenger, kind == domain.KindInstagram:
		return asReceiver(meta.NewReceiver(ch))
	case kind == domain.KindTelegram:
		return asReceiver(telegram.NewReceiver(ch))
	case kind == domain.KindSlack:
		return asReceiver(slack.NewReceiver(ch))
	case kind == domain.KindWhatsApp:
		return nil, fmt.Errorf("channel %s: whatsapp provider %q has no webhook receiver; use cloud or twilio", ch.ID, ch.Provider)
	}
	return nil, fmt.Errorf("channel %s: kind %q has no webhook receiver; use one of sms, whatsapp, messenger, instagram, telegram, slack", ch.ID, ch.Kind)
}

// asReceiver keeps a failed constructor's nil pointer from becoming a non-nil
// interface.
func asReceiver[R Receiver](r R, err error) (Receiver, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
