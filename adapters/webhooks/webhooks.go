// Package webhooks hosts the platforms' webhook receivers at POST /webhooks/{channel_id}
// (and GET for Meta's verification handshake). It owns the HTTP flow: routing by
// channel, the body limit, the command path (Recorder, which deduplicates), metrics and
// logs. What differs by platform is asked of the channel's Receiver, an interface
// declared here and implemented by each platform package (twilio, meta, telegram,
// slack) with its own signature checks; the platform packages never import this one
// (their shared types are in adapters/inbound). The platform is answered only after
// the recorder returned.
//
// Every value a request brings that is logged or echoed (the channel id of the path,
// errors quoting input, platform headers) is cut to a few hundred bytes, and platform
// headers are read only once the request is authenticated on that platform's channel:
// an unauthenticated client cannot make the log grow by more than a line per request.
//
// A message text longer than the command path records (domain/command.MaxTextLength)
// is kept, truncated with a marker (inbound.TruncateText), and recorded with
// TextTruncated set; refusing it after the platform was told "received" would lose it.
//
// What each answer means to the platform:
//   - 200 (Twilio: empty TwiML; Slack url_verification: the challenge): every message
//     is durably recorded or was already recorded, or the request carries no customer
//     message (statuses, echoes, reads, edits, bots), or the recorder refused a message
//     as invalid (it can never become valid, so a retry would only repeat it: it is
//     logged and counted as "invalid" instead);
//   - 401: bad or missing signature, secret token or a stale Slack timestamp;
//   - 400: a body that is not what the platform sends; 413: a body over the limit;
//   - 403: a Meta handshake with the wrong verify token; 404: an unknown channel;
//   - 500: the recorder failed, so the platform retries; messages recorded before the
//     failure come back as duplicates and are not recorded twice.
//
// None of the refusals records anything.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/adapters/publicurl"
	"switchboard/adapters/twilio"
	"switchboard/domain"
	"switchboard/domain/command"
)

// Recorder is the command path every receiver feeds: (*command.RecordMessage) in
// production. It validates and deduplicates; receivers never write events themselves.
type Recorder interface {
	Handle(ctx context.Context, m domain.InboundMessage) (command.Receipt, error)
}

// DefaultMaxBodyBytes is the body limit of the platforms that send the least (Twilio,
// Telegram); each Receiver states its own (Meta 3 MB, Slack 2 MiB).
const DefaultMaxBodyBytes = 1 << 20

// maxLoggedBytes bounds each value a request brings into a log line or an answer.
const maxLoggedBytes = 256

// Options tune a Handler; the zero value works.
type Options struct {
	// Logger receives one record per request; nil discards.
	Logger *slog.Logger
	// Now is the clock, for Slack's timestamp window; nil is time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds every channel's request body (413 above it); 0 is each
	// platform's own limit (Receiver.MaxBodyBytes).
	MaxBodyBytes int64
	// Registerer receives the webhook metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Handler is the http.Handler of /webhooks/{channel_id}.
type Handler struct {
	mux      *http.ServeMux
	rec      Recorder
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
	channels map[string]*channel
}

type channel struct {
	id       string
	kind     domain.ChannelKind
	provider string
	maxBody  int64
	recv     Receiver
}

// New builds the receivers of every channel in cfg. It refuses a nil configuration or
// recorder and channels whose kind has no receiver. A channel whose secret is missing
// still gets a receiver that refuses every request with 401 (and logs why), so one
// misconfigured channel does not take the others down; config.Load already refuses
// such files at start-up.
func New(cfg *config.Config, rec Recorder, opts Options) (*Handler, error) {
	if cfg == nil {
		return nil, errors.New("new webhooks handler: configuration is nil")
	}
	if rec == nil {
		return nil, errors.New("new webhooks handler: recorder is nil; webhooks must go through the command path")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new webhooks handler: %w", err)
	}
	h := &Handler{
		rec: rec, log: opts.Logger, now: opts.Now, metrics: m,
		channels: map[string]*channel{},
	}
	urls, err := publicurl.New(cfg.PublicURL, cfg.TrustedProxyPrefixes)
	if err != nil {
		return nil, fmt.Errorf("new webhooks handler: %w", err)
	}
	for _, w := range cfg.Workspaces {
		for _, c := range w.Channels {
			recv, err := newReceiver(c, urls)
			if err != nil {
				return nil, fmt.Errorf("new webhooks handler: %w", err)
			}
			if _, dup := h.channels[c.ID]; dup {
				return nil, fmt.Errorf("new webhooks handler: channel id %q is configured twice; channel ids must be unique across workspaces", c.ID)
			}
			limit := opts.MaxBodyBytes
			if limit <= 0 {
				limit = recv.MaxBodyBytes()
			}
			h.channels[c.ID] = &channel{id: c.ID, kind: domain.ChannelKind(c.Kind), provider: c.Provider, maxBody: limit, recv: recv}
			if _, signsURL := recv.(*twilio.Receiver); signsURL && c.PublicURL == "" && !urls.HasBase() {
				opts.Logger.LogAttrs(context.Background(), slog.LevelWarn,
					"Twilio channel has no public URL: its signatures are checked against a URL rebuilt from the request (X-Forwarded-* honoured from trusted_proxies only); set the channel's public_url or the top-level public_url",
					slog.String("channel_id", c.ID), slog.String("kind", c.Kind))
			}
		}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /webhooks/{channel_id}", h.receive)
	h.mux.HandleFunc("GET /webhooks/{channel_id}", h.handshake)
	return h, nil
}

// ServeHTTP serves /webhooks/{channel_id}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.PathValue("channel_id")
	ch, ok := h.channels[id]
	if !ok {
		h.metrics.requests.WithLabelValues("unknown", OutcomeUnknownChannel).Inc()
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook for an unknown channel", slog.String("channel_id", bound(id)), slog.String("remote", bound(r.RemoteAddr)))
		unknownChannel(w, id)
		return
	}
	kind := string(ch.kind)
	log := h.log.With(slog.String("channel_id", ch.id), slog.String("kind", kind))
	if ch.provider != "" {
		log = log.With(slog.String("provider", ch.provider))
	}
	outcome := h.serveReceive(w, r, ch, log)
	h.metrics.requests.WithLabelValues(kind, outcome).Inc()
	h.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

func (h *Handler) serveReceive(w http.ResponseWriter, r *http.Request, ch *channel, log *slog.Logger) string {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ch.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			log.LogAttrs(ctx, slog.LevelWarn, "webhook refused: body too large", slog.Int64("limit_bytes", tooLarge.Limit))
			http.Error(w, "body is larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes", http.StatusRequestEntityTooLarge)
			return OutcomeTooLarge
		}
		log.LogAttrs(ctx, slog.LevelWarn, "webhook refused: body could not be read", slog.String("error", bound(err.Error())))
		http.Error(w, "body could not be read", http.StatusBadRequest)
		return OutcomeMalformed
	}
	if err := ch.recv.Authenticate(r, body, h.now()); err != nil {
		if inbound.IsMalformed(err) {
			log.LogAttrs(ctx, slog.LevelWarn, "webhook refused: malformed body", slog.String("error", bound(err.Error())))
			http.Error(w, "malformed body: "+bound(err.Error()), http.StatusBadRequest)
			return OutcomeMalformed
		}
		// Warn, not debug: a wrong secret silently disables Meta and Slack
		// subscriptions over time, so operators must see it.
		log.LogAttrs(ctx, slog.LevelWarn, "webhook refused: not authenticated", slog.String("error", bound(err.Error())), slog.String("remote", bound(r.RemoteAddr)))
		http.Error(w, "unauthorized: the request's signature or secret token was not accepted", http.StatusUnauthorized)
		return OutcomeUnauthorized
	}
	if a, ok := ch.recv.(Annotator); ok {
		if attrs := a.LogAttrs(r); len(attrs) > 0 {
			log = slog.New(log.Handler().WithAttrs(boundAttrs(attrs)))
		}
	}
	batch, err := ch.recv.Parse(body)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "webhook refused: malformed body", slog.String("error", bound(err.Error())))
		http.Error(w, "malformed body: "+bound(err.Error()), http.StatusBadRequest)
		return OutcomeMalformed
	}

	var accepted, duplicates, invalid int
	for _, m := range batch.Messages {
		// The message id may embed the sender's number or chat id (WhatsApp, Telegram):
		// it is logged at debug level only.
		log.LogAttrs(ctx, slog.LevelDebug, "webhook message", slog.String("message_id", bound(m.MessageID)))
		var attrs []slog.Attr
		if m.PlatformEventID != "" {
			attrs = append(attrs, slog.String("platform_event_id", bound(m.PlatformEventID)))
		}
		if text, cut := inbound.TruncateText(m.Text, command.MaxTextLength); cut {
			log.LogAttrs(ctx, slog.LevelWarn, "message text is longer than switchboard records; keeping its beginning with a marker",
				append(attrs, slog.Int("text_bytes", len(m.Text)), slog.Int("limit_bytes", command.MaxTextLength))...)
			m.Text, m.TextTruncated = text, true
		}
		receipt, err := h.rec.Handle(ctx, m)
		switch {
		case err != nil && domain.ErrorCode(err) == domain.CodeInvalid:
			// The message can never be valid (too long, not UTF-8, no sender field):
			// acknowledging it stops the platform from retrying it for days.
			invalid++
			h.metrics.messages.WithLabelValues(string(ch.kind), OutcomeInvalid).Inc()
			log.LogAttrs(ctx, slog.LevelWarn, "message refused by the recorder as invalid; acknowledged so the platform does not retry it",
				append(attrs, slog.String("error", bound(err.Error())))...)
		case err != nil:
			h.metrics.messages.WithLabelValues(string(ch.kind), OutcomeError).Inc()
			log.LogAttrs(ctx, slog.LevelError, "message not recorded; answering 500 so the platform retries",
				append(attrs, slog.String("error", bound(err.Error())))...)
			http.Error(w, "the message could not be recorded; retry later", http.StatusInternalServerError)
			return OutcomeError
		case receipt.Duplicate:
			duplicates++
			h.metrics.messages.WithLabelValues(string(ch.kind), OutcomeDuplicate).Inc()
			log.LogAttrs(ctx, slog.LevelInfo, "message already recorded",
				append(attrs, slog.String("correlation_id", receipt.CorrelationID))...)
		default:
			accepted++
			h.metrics.messages.WithLabelValues(string(ch.kind), OutcomeAccepted).Inc()
			log.LogAttrs(ctx, slog.LevelInfo, "message recorded",
				append(attrs, slog.String("correlation_id", receipt.CorrelationID))...)
		}
	}
	if len(batch.Ignored) > 0 {
		log.LogAttrs(ctx, slog.LevelDebug, "acknowledged without a customer message", slog.Any("ignored", batch.Ignored))
	}
	ch.recv.Acknowledge(w, batch)
	switch {
	case accepted > 0:
		return OutcomeAccepted
	case duplicates > 0:
		return OutcomeDuplicate
	case invalid > 0:
		return OutcomeInvalid
	}
	return OutcomeIgnored
}

func (h *Handler) handshake(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("channel_id")
	ch, ok := h.channels[id]
	if !ok {
		h.metrics.requests.WithLabelValues("unknown", OutcomeUnknownChannel).Inc()
		unknownChannel(w, id)
		return
	}
	kind := string(ch.kind)
	log := h.log.With(slog.String("channel_id", ch.id), slog.String("kind", kind))
	hs, ok := ch.recv.(Handshaker)
	if !ok {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "channel "+ch.id+" receives webhooks by POST only; GET is Meta's verification handshake", http.StatusMethodNotAllowed)
		return
	}
	challenge, err := hs.Handshake(r.URL.Query())
	switch {
	case inbound.IsMalformed(err):
		h.metrics.requests.WithLabelValues(kind, OutcomeMalformed).Inc()
		http.Error(w, "not a verification request: "+bound(err.Error()), http.StatusBadRequest)
		return
	case err != nil:
		h.metrics.requests.WithLabelValues(kind, OutcomeForbidden).Inc()
		log.LogAttrs(r.Context(), slog.LevelWarn, "verification handshake refused", slog.String("error", bound(err.Error())), slog.String("remote", bound(r.RemoteAddr)))
		http.Error(w, "forbidden: hub.verify_token is not this channel's verify token", http.StatusForbidden)
		return
	}
	h.metrics.requests.WithLabelValues(kind, OutcomeVerified).Inc()
	log.LogAttrs(r.Context(), slog.LevelInfo, "verification handshake answered")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
}

func unknownChannel(w http.ResponseWriter, id string) {
	http.Error(w, fmt.Sprintf("unknown channel %q: no channel with this id is configured", bound(id)), http.StatusNotFound)
}

// bound cuts a value a request brought before it is logged or echoed.
func bound(s string) string { return inbound.Excerpt(s, maxLoggedBytes) }

func boundAttrs(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(bound(a.Value.String()))
		}
		out[i] = a
	}
	return out
}
