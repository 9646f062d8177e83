package slack

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// RetryReasonHeader says why Slack retried (http_timeout, http_error, ...).
const RetryReasonHeader = "X-Slack-Retry-Reason"

// MaxBodyBytes bounds a Slack Events API body. A message may hold 40,000 characters
// and the event carries its text twice (text and the rich-text blocks). Slack states no
// payload bound; in the worst case, every character outside the BMP and written as a
// \u surrogate pair (12 bytes), that is about 960 KB before the envelope: 1 MiB would
// be too tight, 2 MiB is not. A refused genuine event is retried three times, refused
// each time, and lost.
const MaxBodyBytes = 2 << 20

// Receiver is the webhook receiver of one Slack channel. adapters/webhooks hosts it
// (webhooks.Receiver).
type Receiver struct {
	channelID string
	secret    string
}

// NewReceiver builds the receiver of channel ch. A missing signing secret is not an
// error here: the receiver then refuses every request.
func NewReceiver(ch config.Channel) (*Receiver, error) {
	if domain.ChannelKind(ch.Kind) != domain.KindSlack {
		return nil, fmt.Errorf("channel %s: a Slack receiver serves slack channels, not %s", ch.ID, ch.Kind)
	}
	return &Receiver{channelID: ch.ID, secret: ch.Secret("signing_secret_env")}, nil
}

// MaxBodyBytes is the largest body Slack sends.
func (s *Receiver) MaxBodyBytes() int64 { return MaxBodyBytes }

// Authenticate checks the v0 signature and the timestamp's 5-minute window.
func (s *Receiver) Authenticate(r *http.Request, body []byte, now time.Time) error {
	return Verify(s.secret, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), body, now)
}

// Parse reads the verified Events API request.
func (s *Receiver) Parse(body []byte) (inbound.Batch, error) {
	return Parse(s.channelID, body)
}

// Acknowledge echoes url_verification's challenge as plain text, and answers 200 with
// no body otherwise.
func (s *Receiver) Acknowledge(w http.ResponseWriter, b inbound.Batch) {
	if b.Reply != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(b.Reply))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// LogAttrs names a retry (number and reason) in the request's log lines. The dispatcher
// asks only once the request is authenticated, so unauthenticated clients cannot put
// their headers into the log.
func (s *Receiver) LogAttrs(r *http.Request) []slog.Attr {
	n := r.Header.Get(RetryNumHeader)
	if n == "" {
		return nil
	}
	return []slog.Attr{slog.String("slack_retry", n), slog.String("slack_retry_reason", r.Header.Get(RetryReasonHeader))}
}
