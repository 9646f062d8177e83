// Package inbound is the vocabulary of the platform adapters (adapters/twilio, meta,
// telegram, slack) for what comes in from a platform: what one verified and parsed
// webhook request yields (Batch of domain.InboundMessage), the error that says a body
// is not what the platform sends (Malformed), the JSON shapes platforms disagree on
// (ID, Timestamp), how media without text is shown, the bound on a recorded text
// (TruncateText), and the small cache the profile lookups keep.
//
// It lives beside the platform packages rather than inside adapters/webhooks on
// purpose: it imports nothing but the domain, and neither adapters/webhooks (which
// hosts the platforms' receivers over HTTP and imports every platform package) nor
// any platform package is imported by it, so no adapter imports a package of another
// adapter that imports it back. What a receiver must do is stated by the interface
// adapters/webhooks declares (webhooks.Receiver); the platform packages satisfy it
// with these types without importing webhooks.
package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/domain"
)

// Batch is what one webhook request carries once verified and parsed.
type Batch struct {
	// Messages are the customer messages to record, in the order the platform sent them.
	Messages []domain.InboundMessage
	// Ignored names each item that was acknowledged but carries no customer message
	// ("status", "echo", "reaction", ...), for logs and tests.
	Ignored []string
	// Reply is a body the platform expects echoed back (Slack's url_verification
	// challenge); empty for everything else.
	Reply string
}

// Ignore records that an item of kind what was skipped.
func (b *Batch) Ignore(what string) { b.Ignored = append(b.Ignored, what) }

// Malformed is a body that cannot be what the platform sends. Receivers answer it with
// 400 and record nothing; it is a distinct type so the dispatcher can tell it from a
// failed signature.
type Malformed struct {
	Reason string
	Err    error
}

func (e *Malformed) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *Malformed) Unwrap() error { return e.Err }

// Malformedf builds a Malformed error with a formatted reason.
func Malformedf(format string, args ...any) error {
	return &Malformed{Reason: fmt.Sprintf(format, args...)}
}

// IsMalformed reports whether err says the body was malformed.
func IsMalformed(err error) bool {
	var m *Malformed
	return errors.As(err, &m)
}

// DecodeObject unmarshals a JSON object into v. Unlike json.Unmarshal it refuses
// `null`, arrays and scalars, which would otherwise decode into an empty struct and be
// acknowledged as "nothing to record" when they are really garbage.
func DecodeObject(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Malformedf("body is not a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Malformed{Reason: "body is not the expected JSON", Err: err}
	}
	return nil
}

// ID is a platform identifier that some payloads write as a JSON string and others as
// a number (Meta page and user ids, Telegram ids). It keeps the digits exactly: going
// through float64 would corrupt ids longer than 53 bits.
type ID string

// UnmarshalJSON accepts a string, an integer or null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*id = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", truncate(string(b), 40))
	}
	if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
		return fmt.Errorf("id %s is not an integer", truncate(n.String(), 40))
	}
	*id = ID(n.String())
	return nil
}

// Timestamp is a Unix time that platforms write as a number or as a string of digits
// (WhatsApp: string seconds; Messenger: number milliseconds). The unit is decided by
// the caller, which knows the platform.
type Timestamp struct {
	Value int64
	Set   bool
}

// UnmarshalJSON accepts an integer, a string of digits, or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if s == "" {
		*t = Timestamp{}
		return nil
	}
	// Accept "1749416383.5" as well: some fixtures carry fractional seconds.
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %s is not a Unix time", truncate(s, 40))
	}
	*t = Timestamp{Value: v, Set: true}
	return nil
}

// Seconds reads the timestamp as Unix seconds; the zero time when unset or absurd.
func (t Timestamp) Seconds() time.Time {
	if !t.Set || t.Value <= 0 || t.Value > maxUnixSeconds {
		return time.Time{}
	}
	return time.Unix(t.Value, 0).UTC()
}

// Millis reads the timestamp as Unix milliseconds; the zero time when unset or absurd.
func (t Timestamp) Millis() time.Time {
	if !t.Set || t.Value <= 0 || t.Value/1000 > maxUnixSeconds {
		return time.Time{}
	}
	return time.UnixMilli(t.Value).UTC()
}

// maxUnixSeconds (year 9999) bounds timestamps: a larger one is garbage, and the
// recorder then stamps the message with the time it was received instead.
const maxUnixSeconds = 253402300799

// MediaPlaceholder is the text recorded for a message that carries media and no text
// or caption, for example "[image]". The inbox shows it, so an agent knows a customer
// wrote even though switchboard does not forward media.
func MediaPlaceholder(kind string) string {
	kind = strings.ToLower(strings.TrimSpace(kind))
	if kind == "" {
		kind = "attachment"
	}
	return "[" + truncate(kind, 32) + "]"
}

// MediaKindFromContentType maps a MIME type to the placeholder kind: image/jpeg →
// image, application/pdf → file.
func MediaKindFromContentType(ct string) string {
	major, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(ct)), "/")
	switch major {
	case "image", "video", "audio":
		return major
	case "text":
		if strings.Contains(strings.ToLower(ct), "vcard") {
			return "contact"
		}
	}
	return "file"
}

// JoinPlaceholders returns one placeholder per media kind, separated by spaces.
func JoinPlaceholders(kinds []string) string {
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, MediaPlaceholder(k))
	}
	return strings.Join(parts, " ")
}

// CleanText drops bytes that are not UTF-8 so that one mangled emoji does not turn a
// message the platform will redeliver forever into a rejected command.
func CleanText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func truncate(s string, n int) string { return Excerpt(s, n) }

// Excerpt returns s cut to at most n bytes on a character boundary, with "…" added when
// something was cut: for quoting request values in errors and logs, where a client
// could otherwise write megabytes.
func Excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// TruncateText returns text unchanged when it fits in limit bytes. Otherwise it returns
// its beginning, cut on a character boundary, followed by a marker that says it was
// cut and how long it was, the whole at most limit bytes; and true. Webhook receivers
// keep a text over the command path's bound (domain/command.MaxTextLength) this way:
// the platform has been or will be told "received", so refusing it would lose it.
func TruncateText(text string, limit int) (string, bool) {
	if len(text) <= limit {
		return text, false
	}
	marker := fmt.Sprintf("\n[truncated by switchboard: the message had %d bytes]", len(text))
	keep := limit - len(marker)
	if keep < 0 {
		return Excerpt(text, limit-len("…")), true
	}
	for keep > 0 && !utf8.RuneStart(text[keep]) {
		keep--
	}
	return text[:keep] + marker, true
}
