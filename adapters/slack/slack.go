// Package slack reads Slack Events API requests: it verifies Slack's v0 request
// signature, answers url_verification, turns direct messages to the app into
// domain.InboundMessage commands, and looks up senders with users.info.
package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// Request headers of Slack's signing scheme.
const (
	SignatureHeader = "X-Slack-Signature"
	TimestampHeader = "X-Slack-Request-Timestamp"
	RetryNumHeader  = "X-Slack-Retry-Num"
)

// MaxSkew is how far a request's timestamp may be from now. Slack's SDKs use 5
// minutes; beyond it a captured request could be replayed.
const MaxSkew = 5 * time.Minute

// Sign returns the X-Slack-Signature of body sent at timestamp (Unix seconds, as in
// X-Slack-Request-Timestamp): "v0=" and the hex HMAC-SHA256 of "v0:{ts}:{body}" keyed
// by the app's signing secret.
func Sign(signingSecret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSecret     = errors.New("the channel has no signing secret configured (signing_secret_env)")
	ErrNoSignature  = errors.New("X-Slack-Signature or X-Slack-Request-Timestamp header is missing")
	ErrBadTimestamp = errors.New("X-Slack-Request-Timestamp is not a Unix time")
	ErrStale        = errors.New("X-Slack-Request-Timestamp is more than 5 minutes from now (replay or clock skew)")
	ErrBadSignature = errors.New("X-Slack-Signature does not match the body")
)

// Verify checks a request's signature and timestamp against now, in constant time.
func Verify(signingSecret, timestamp, signature string, body []byte, now time.Time) error {
	if signingSecret == "" {
		return ErrNoSecret
	}
	timestamp, signature = strings.TrimSpace(timestamp), strings.TrimSpace(signature)
	if timestamp == "" || signature == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	skew := now.Sub(time.Unix(ts, 0))
	if skew > MaxSkew || skew < -MaxSkew {
		return ErrStale
	}
	if !hmac.Equal([]byte(Sign(signingSecret, timestamp, body)), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

type envelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	TeamID    string `json:"team_id"`
	EventID   string `json:"event_id"`
	Event     *event `json:"event"`
}

type event struct {
	Type        string `json:"type"`
	Subtype     string `json:"subtype"`
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	User        string `json:"user"`
	BotID       string `json:"bot_id"`
	Text        string `json:"text"`
	TS          string `json:"ts"`
	Files       []struct {
		Mimetype string `json:"mimetype"`
	} `json:"files"`
}

// customerSubtypes are the message subtypes a person writes: a plain message has none,
// and file_share is a person sending a file (with or without text). Every other
// subtype (bot_message, message_changed, message_deleted, channel_join, ...) is
// ignored.
var customerSubtypes = map[string]bool{"": true, "file_share": true}

// Parse reads one Events API request for channel channelID. url_verification yields
// the challenge to echo (Batch.Reply); an event_callback whose event is a message in a
// direct message ("im") from a person yields one message with id
// "{event.channel}:{event.ts}" and the envelope's event_id as PlatformEventID.
// Everything else is acknowledged and ignored. Names and email are not in the
// payload: ProfileLookup asks users.info later.
func Parse(channelID string, body []byte) (inbound.Batch, error) {
	var b inbound.Batch
	var env envelope
	if err := inbound.DecodeObject(body, &env); err != nil {
		return b, err
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == "" {
			return b, inbound.Malformedf("url_verification without a challenge")
		}
		b.Reply = env.Challenge
		return b, nil
	case "event_callback":
	case "":
		return b, inbound.Malformedf("type is missing: not a Slack Events API request")
	default:
		b.Ignore("type:" + env.Type)
		return b, nil
	}
	e := env.Event
	switch {
	case e == nil:
		return b, inbound.Malformedf("event_callback without an event")
	case e.Type != "message":
		b.Ignore("event:" + e.Type)
		return b, nil
	case e.ChannelType != "im":
		b.Ignore("channel_type:" + e.ChannelType)
		return b, nil
	case e.BotID != "" || e.Subtype == "bot_message":
		b.Ignore("bot")
		return b, nil
	case !customerSubtypes[e.Subtype]:
		b.Ignore("subtype:" + e.Subtype)
		return b, nil
	case e.User == "":
		b.Ignore("no_user")
		return b, nil
	}
	if e.Channel == "" || e.TS == "" {
		return inbound.Batch{}, inbound.Malformedf("message event %s has no channel or ts", env.EventID)
	}
	text := e.Text
	if strings.TrimSpace(text) == "" {
		kinds := make([]string, 0, len(e.Files))
		for _, f := range e.Files {
			kinds = append(kinds, inbound.MediaKindFromContentType(f.Mimetype))
		}
		text = inbound.JoinPlaceholders(kinds)
	}
	b.Messages = append(b.Messages, domain.InboundMessage{
		ChannelID:       channelID,
		MessageID:       e.Channel + ":" + e.TS,
		SentAt:          parseTS(e.TS),
		Sender:          domain.Sender{UserID: e.User},
		Text:            inbound.CleanText(text),
		Source:          "webhook:" + string(domain.KindSlack),
		PlatformEventID: env.EventID,
	})
	return b, nil
}

// parseTS reads a Slack ts ("1355517523.000005": seconds and a per-channel sequence in
// microseconds); the zero time when it is not one.
func parseTS(ts string) time.Time {
	secStr, fracStr, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil || sec <= 0 || sec > 253402300799 {
		return time.Time{}
	}
	var micro int64
	if fracStr != "" {
		if len(fracStr) > 6 {
			fracStr = fracStr[:6]
		}
		m, err := strconv.ParseInt(fracStr+strings.Repeat("0", 6-len(fracStr)), 10, 64)
		if err == nil && m >= 0 {
			micro = m
		}
	}
	return time.Unix(sec, micro*1000).UTC()
}

// TS formats t as a Slack message ts.
func TS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
