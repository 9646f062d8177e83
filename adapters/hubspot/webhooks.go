package hubspot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"switchboard/adapters/publicurl"
	"switchboard/domain"
)

// HubSpot's contact webhooks (SPEC §5 "HubSpot webhooks", hubspot.md §7): a JSON array
// of up to 100 events, signed v3, answered within 5 s. HubSpot retries any non-2xx for
// a day, so only a request that can never succeed is refused, and the answer 200 comes
// only after every event is durably recorded.

// SignatureWindow is how far X-HubSpot-Request-Timestamp may be from now.
const SignatureWindow = 5 * time.Minute

// maxWebhookBody bounds a request: 100 events of a few hundred bytes each, with room.
const maxWebhookBody = 1 << 20

// ErrBadSignature is matched with errors.Is: the request is not HubSpot's (401).
var ErrBadSignature = errors.New("bad HubSpot webhook signature")

// signatureURIDecoder undoes the percent-encodings HubSpot's validation guide lists
// before hashing; every other sequence stays as sent.
var signatureURIDecoder = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

// SignatureV3 is base64(HMAC-SHA256(secret, method + uri + body + timestamp)) over the
// URI as HubSpot hashes it (the guide's decodings applied).
func SignatureV3(secret, method, uri string, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method))
	m.Write([]byte(signatureURIDecoder.Replace(uri)))
	m.Write(body)
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifySignatureV3 checks a request's v3 signature and its timestamp (epoch ms, at
// most SignatureWindow from now either way); errors match ErrBadSignature and say
// what was wrong, never the secret.
func VerifySignatureV3(secret, method, uri string, body []byte, timestamp, signature string, now time.Time) error {
	switch {
	case secret == "":
		return fmt.Errorf("%w: no secret configured to verify it (hubspot.app_secret_env)", ErrBadSignature)
	case signature == "":
		return fmt.Errorf("%w: X-HubSpot-Signature-v3 is missing", ErrBadSignature)
	case timestamp == "":
		return fmt.Errorf("%w: X-HubSpot-Request-Timestamp is missing", ErrBadSignature)
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: X-HubSpot-Request-Timestamp %q is not epoch milliseconds", ErrBadSignature, cut(timestamp))
	}
	if d := now.Sub(time.UnixMilli(ms)); d > SignatureWindow || d < -SignatureWindow {
		return fmt.Errorf("%w: timestamp is %s off, more than %s", ErrBadSignature, d.Round(time.Second), SignatureWindow)
	}
	want := SignatureV3(secret, method, uri, body, timestamp)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return fmt.Errorf("%w: X-HubSpot-Signature-v3 does not match the body and URL %s", ErrBadSignature, cut(uri))
	}
	return nil
}

func cut(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// ChangeRecorder records the events of one webhook request durably (the command
// path); duplicates are events already recorded.
type ChangeRecorder interface {
	RecordHubSpotChanges(ctx context.Context, events []domain.HubSpotContactChanged) (recorded, duplicates int, err error)
}

// WebhookWorkspace is what the receiver needs of one workspace.
type WebhookWorkspace struct {
	ID string
	// Secret verifies signature v3 (hubspot.app_secret_env).
	Secret string
	// URLs rebuilds the URL HubSpot called: the workspace's hubspot.public_url, else the
	// top-level public_url, as base, else the request (trusted proxies only).
	URLs *publicurl.Resolver
	// PortalID is the workspace's hub id (hubspot.portal_id; 0: not checked). One app
	// secret signs the webhooks of every portal the app is installed in, and contact
	// ids are per portal, so another portal's events must not touch this workspace.
	PortalID int64
}

// WebhookHandler serves POST /hubspot/webhooks/{workspace_id}.
type WebhookHandler struct {
	workspaces map[string]WebhookWorkspace
	rec        ChangeRecorder
	log        *slog.Logger
	now        func() time.Time
}

// NewWebhookHandler refuses a nil recorder; logger and now may be nil.
func NewWebhookHandler(workspaces []WebhookWorkspace, rec ChangeRecorder, logger *slog.Logger, now func() time.Time) (*WebhookHandler, error) {
	if rec == nil {
		return nil, errors.New("new hubspot webhook handler: recorder is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	h := &WebhookHandler{workspaces: map[string]WebhookWorkspace{}, rec: rec, log: logger, now: now}
	for _, w := range workspaces {
		h.workspaces[w.ID] = w
	}
	return h, nil
}

// ServeHTTP answers 404 for an unknown workspace, 401 for a bad or old signature, 400
// for a body that is not HubSpot's, 500 when recording failed (HubSpot retries; what
// was recorded comes back as duplicates), else 200 once every event is recorded.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workspace")
	if id == "" {
		id = strings.Trim(strings.TrimPrefix(r.URL.Path, "/hubspot/webhooks/"), "/")
	}
	log := h.log.With("workspace", cut(id))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		webhookAnswer(w, http.StatusMethodNotAllowed, map[string]any{"error": "HubSpot webhooks are POSTed"})
		return
	}
	ws, ok := h.workspaces[id]
	if !ok {
		webhookAnswer(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("unknown workspace %q", cut(id))})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		webhookAnswer(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body over 1 MiB"})
		return
	}
	uri, from := ws.URLs.URL(r, "")
	if err := VerifySignatureV3(ws.Secret, r.Method, uri, body, r.Header.Get("X-HubSpot-Request-Timestamp"),
		r.Header.Get("X-HubSpot-Signature-v3"), h.now()); err != nil {
		log.Warn("hubspot webhook refused", "error", err, "url_from", string(from))
		webhookAnswer(w, http.StatusUnauthorized, map[string]any{"error": "signature refused"})
		return
	}
	events, ignored, err := ParseWebhookEvents(id, body)
	if err != nil {
		log.Warn("hubspot webhook body refused", "error", err)
		webhookAnswer(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	foreign := 0
	if ws.PortalID != 0 {
		kept := events[:0]
		for _, e := range events {
			if e.PortalID != ws.PortalID {
				foreign++
				continue
			}
			kept = append(kept, e)
		}
		events = kept
		if foreign > 0 {
			log.Warn("hubspot webhook events of another portal ignored: is this URL subscribed for another installation?",
				"foreign", foreign, "portal_id", ws.PortalID)
		}
	}
	recorded, dups, err := h.rec.RecordHubSpotChanges(r.Context(), events)
	if err != nil {
		log.Error("hubspot webhook not recorded; HubSpot will retry", "error", err, "recorded", recorded)
		webhookAnswer(w, http.StatusInternalServerError, map[string]any{"error": "not recorded; retry"})
		return
	}
	log.Info("hubspot webhook recorded", "events", len(events), "recorded", recorded, "duplicates", dups, "ignored", ignored, "foreign", foreign)
	webhookAnswer(w, http.StatusOK, map[string]any{"recorded": recorded, "duplicates": dups, "ignored": ignored, "foreign": foreign})
}

func webhookAnswer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// webhookEvent is one element of HubSpot's array; ids come as JSON numbers (contact
// ids exceed 2^31) or, defensively, strings. propertyValue is not read: it is personal
// data, and the decision reads the contact instead.
type webhookEvent struct {
	EventID          flexInt   `json:"eventId"`
	SubscriptionID   flexInt   `json:"subscriptionId"`
	PortalID         flexInt   `json:"portalId"`
	AppID            flexInt   `json:"appId"`
	OccurredAt       flexInt   `json:"occurredAt"`
	SubscriptionType string    `json:"subscriptionType"`
	EventType        string    `json:"eventType"`
	AttemptNumber    flexInt   `json:"attemptNumber"`
	ObjectID         flexInt   `json:"objectId"`
	ChangeSource     string    `json:"changeSource"`
	PropertyName     string    `json:"propertyName"`
	PrimaryObjectID  flexInt   `json:"primaryObjectId"`
	MergedObjectIDs  []flexInt `json:"mergedObjectIds"`
	NewObjectID      flexInt   `json:"newObjectId"`
}

type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer id", cut(string(b)))
	}
	*f = flexInt(n)
	return nil
}

// ParseWebhookEvents reads a webhook body: the contact events switchboard records
// (domain.RecordsHubSpotEvent), and how many others it ignores. A body that is not a
// JSON array of events, or a recorded kind of event that misses what its decision
// needs, is an error (nothing is recorded).
func ParseWebhookEvents(workspace string, body []byte) ([]domain.HubSpotContactChanged, int, error) {
	var raw []webhookEvent
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, 0, fmt.Errorf("body is not a JSON array of HubSpot webhook events: %w", err)
	}
	var out []domain.HubSpotContactChanged
	ignored := 0
	for i, e := range raw {
		typ := e.SubscriptionType
		if typ == "" {
			typ = e.EventType
		}
		if !domain.RecordsHubSpotEvent(typ) {
			ignored++
			continue
		}
		c := domain.HubSpotContactChanged{WorkspaceID: workspace, PortalID: int64(e.PortalID), AppID: int64(e.AppID),
			EventID: int64(e.EventID), SubscriptionID: int64(e.SubscriptionID), SubscriptionType: typ,
			ObjectID: domain.FormatContactID(int64(e.ObjectID)), OccurredAt: int64(e.OccurredAt), AttemptNumber: int(e.AttemptNumber),
			ChangeSource: e.ChangeSource, PropertyName: e.PropertyName, PrimaryObjectID: domain.FormatContactID(int64(e.PrimaryObjectID)),
			NewObjectID: domain.FormatContactID(int64(e.NewObjectID))}
		for _, m := range e.MergedObjectIDs {
			if id := domain.FormatContactID(int64(m)); id != "" {
				c.MergedObjectIDs = append(c.MergedObjectIDs, id)
			}
		}
		if c.ObjectID == "" && c.PrimaryObjectID != "" {
			c.ObjectID = c.PrimaryObjectID
		}
		if err := c.Validate(); err != nil {
			return nil, 0, fmt.Errorf("event %d (%s): %w", i, typ, err)
		}
		out = append(out, c)
	}
	return out, ignored, nil
}
