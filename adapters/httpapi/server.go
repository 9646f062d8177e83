// Package httpapi is switchboard's HTTP surface: the command API, the audit API, the
// operator endpoints, health and metrics, with the channel webhooks mounted beside them.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// Recorder records inbound messages (command.RecordMessage).
type Recorder interface {
	Handle(ctx context.Context, m domain.InboundMessage) (command.Receipt, error)
}

// Retrier asks for a dead letter to be retried (command.RetryDeadLetter).
type Retrier interface {
	Handle(ctx context.Context, cmd command.RetryDeadLetter) (string, error)
}

// Messages reads one message's state from its own stream (command.GetMessage).
type Messages interface {
	Handle(ctx context.Context, q command.GetMessage) (domain.MessageState, error)
}

// Deps are the server's collaborators. Webhooks may be nil.
type Deps struct {
	Recorder   Recorder
	Retrier    Retrier
	Messages   Messages
	Store      domain.EventStore
	Reader     *projections.Reader
	Catalog    command.Catalog
	Workspaces func(id string) bool
	// Positions reports each follower's checkpoint (projections and reactors).
	Positions func() map[string]int64
	// Authorization names the workspaces whose HubSpot work is stopped, with why and
	// the fix (nil: none can stop).
	Authorization func() map[string]string
	AdminToken    string
	// AdminTokenName names the admin token (its variable) in what the API records.
	AdminTokenName string
	// Corrector records operators' corrections; nil answers 501.
	Corrector Corrector
	Webhooks  http.Handler
	// HubSpotInstall serves /hubspot/install/{workspace} and /hubspot/oauth/callback
	// (nil: no hubspot_app, the routes answer 404).
	HubSpotInstall http.Handler
	Gatherer       prometheus.Gatherer
	Registerer     prometheus.Registerer
	// Bus reports whether the bus between nodes is reachable (nil: in-process).
	Bus func() error
	// ReadyLag is how far behind the log a follower may be for /readyz to answer ready.
	ReadyLag int64
	Logger   *slog.Logger

	// HubSpotWebhooks serves /hubspot/webhooks/{workspace} (HubSpot's contact
	// webhooks, signature v3); nil mounts nothing.
	HubSpotWebhooks http.Handler
}

// MaxBodyBytes bounds a command API request.
const MaxBodyBytes = 1 << 20

// Server is the HTTP handler.
type Server struct {
	d        Deps
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the handler; it refuses missing dependencies.
func New(d Deps) (*Server, error) {
	if d.Recorder == nil || d.Retrier == nil || d.Messages == nil || d.Store == nil || d.Reader == nil || d.Catalog == nil || d.Positions == nil {
		return nil, errors.New("httpapi: recorder, retrier, messages, store, reader, catalog and positions are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Gatherer == nil {
		d.Gatherer = prometheus.DefaultGatherer
	}
	if d.ReadyLag <= 0 {
		d.ReadyLag = 1000
	}
	s := &Server{d: d, mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_http_requests_total",
			Help: "HTTP requests by route and status."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_http_request_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
	}
	if d.Registerer != nil {
		d.Registerer.MustRegister(s.requests, s.latency)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.handle("GET /healthz", "healthz", s.healthz)
	s.handle("GET /readyz", "readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{}))
	s.handle("POST /v1/messages", "messages.create", s.auth(s.postMessage))
	s.handle("GET /v1/messages/{channel}/{message_id...}", "audit.message", s.auth(s.auditMessage))
	s.handle("GET /v1/senders/{channel}/{identifier...}", "audit.sender", s.auth(s.auditSender))
	s.handle("GET /v1/contacts/{workspace}/{contact_id}", "audit.contact", s.auth(s.auditContact))
	s.handle("GET /v1/ambiguous", "audit.ambiguous", s.auth(s.ambiguous))
	s.handle("GET /v1/unlinked", "audit.unlinked", s.auth(s.unlinked))
	s.handle("GET /v1/events", "events", s.auth(s.events))
	s.handle("GET /v1/projections", "projections", s.auth(s.projections))
	s.handle("GET /v1/dead-letters", "dead_letters", s.auth(s.deadLetters))
	s.handle("POST /v1/dead-letters/{id}/retry", "dead_letters.retry", s.auth(s.retryDeadLetter))
	if s.d.HubSpotInstall != nil {
		s.mux.Handle("/hubspot/install/", s.instrument("hubspot.install", s.d.HubSpotInstall.ServeHTTP))
		s.mux.Handle("GET /hubspot/oauth/callback", s.instrument("hubspot.oauth_callback", s.d.HubSpotInstall.ServeHTTP))
	}
	s.handle("POST /v1/corrections", "corrections.create", s.auth(s.postCorrection))
	s.handle("GET /v1/corrections", "corrections", s.auth(s.corrections))
	if s.d.Webhooks != nil {
		s.mux.Handle("/webhooks/", s.instrument("webhooks", s.d.Webhooks.ServeHTTP))
	}
	if s.d.HubSpotWebhooks != nil {
		s.mux.Handle("/hubspot/webhooks/{workspace}", s.instrument("hubspot.webhooks", s.d.HubSpotWebhooks.ServeHTTP))
	}
}

func (s *Server) handle(pattern, route string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(route, h))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.d.Logger.Log(r.Context(), level, "http request", "route", route, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration_ms", time.Since(start).Milliseconds())
	})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.d.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.d.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			writeError(w, http.StatusUnauthorized, domain.CodeUnauthorized, "", "a valid bearer token is required (Authorization: Bearer <admin token>)")
			return
		}
		h(w, r)
	}
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, field, msg string) {
	var b ErrorBody
	b.Error.Code, b.Error.Field, b.Error.Message = code, field, msg
	writeJSON(w, status, b)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if errors.As(err, &de) {
		status := map[string]int{domain.CodeInvalid: 400, domain.CodeNotFound: 404, domain.CodeConflict: 409, domain.CodeUnauthorized: 401}[de.Code]
		if status == 0 {
			status = 500
		}
		writeError(w, status, de.Code, de.Field, de.Message)
		return
	}
	s.d.Logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, domain.CodeInternal, "", "internal error; the request may be retried")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	last, err := s.d.Store.LastPosition(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "store unreachable", "error": err.Error()})
		return
	}
	if s.d.Bus != nil {
		if err := s.d.Bus(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "bus unreachable", "error": err.Error()})
			return
		}
	}
	if s.d.Authorization != nil {
		if stopped := s.d.Authorization(); len(stopped) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "hubspot authorization stopped",
				"last_position": last, "authorization_stopped": stopped})
			return
		}
	}
	lagging := map[string]int64{}
	for name, pos := range s.d.Positions() {
		if last-pos > s.d.ReadyLag {
			lagging[name] = last - pos
		}
	}
	if len(lagging) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "catching up", "last_position": last, "lag": lagging})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "last_position": last})
}

// messageRequest is the command API's body (SPEC §5).
type messageRequest struct {
	ChannelID string `json:"channel_id"`
	MessageID string `json:"message_id"`
	SentAt    string `json:"sent_at"`
	Sender    struct {
		UserID    string `json:"user_id"`
		Username  string `json:"username"`
		Phone     string `json:"phone"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Email     string `json:"email"`
		BSUID     string `json:"bsuid"`
	} `json:"sender"`
	Text string `json:"text"`
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	var req messageRequest
	if e := decodeStrict(w, r, &req); e != nil {
		writeError(w, e.status, domain.CodeInvalid, e.field, e.message)
		return
	}
	m := domain.InboundMessage{ChannelID: req.ChannelID, MessageID: req.MessageID, Text: req.Text, Source: "api",
		Sender: domain.Sender{UserID: req.Sender.UserID, Username: req.Sender.Username, Phone: req.Sender.Phone,
			FirstName: req.Sender.FirstName, LastName: req.Sender.LastName, Email: req.Sender.Email, BSUID: req.Sender.BSUID}}
	if req.SentAt != "" {
		t, err := time.Parse(time.RFC3339, req.SentAt)
		if err != nil {
			writeError(w, http.StatusBadRequest, domain.CodeInvalid, "sent_at", fmt.Sprintf("%q is not an RFC 3339 time; use for example 2026-11-26T09:30:00Z", req.SentAt))
			return
		}
		m.SentAt = t
	}
	rec, err := s.d.Recorder.Handle(r.Context(), m)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusAccepted
	if rec.Duplicate {
		status = http.StatusOK
	}
	s.d.Logger.InfoContext(r.Context(), "message recorded", "correlation_id", rec.CorrelationID, "channel_id", m.ChannelID,
		"duplicate", rec.Duplicate)
	// The message id may embed the sender's number or chat id: debug level only.
	s.d.Logger.DebugContext(r.Context(), "message id", "correlation_id", rec.CorrelationID, "message_id", m.MessageID)
	writeJSON(w, status, rec)
}

// requestError is a request the API cannot take, with the status that says why.
type requestError struct {
	status         int
	field, message string
}

// decodeStrict decodes one JSON object and names the offending field when it cannot.
// A body over MaxBodyBytes is 413, as the webhooks answer; anything else is 400.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) *requestError {
	bad := func(field, msg string) *requestError {
		return &requestError{status: http.StatusBadRequest, field: field, message: msg}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			var maxErr *http.MaxBytesError
			if errors.As(extra, &maxErr) {
				return &requestError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("the body is larger than %d bytes", maxErr.Limit)}
			}
			return bad("", "the body must hold exactly one JSON object")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return &requestError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("the body is larger than %d bytes", maxErr.Limit)}
	case errors.As(err, &typeErr):
		return bad(typeErr.Field, fmt.Sprintf("must be a JSON %s, not %s", expectedType(typeErr), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return bad("", fmt.Sprintf("the body is not valid JSON (at byte %d): %v", syntaxErr.Offset, err))
	case errors.Is(err, io.EOF):
		return bad("", "the body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad(name, "is not a field of this request; see the command API in the README")
	}
	return bad("", "the body is not a valid request: "+err.Error())
}

func expectedType(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "value"
	}
	switch e.Type.Kind().String() {
	case "struct", "map":
		return "object"
	}
	return e.Type.Kind().String()
}
