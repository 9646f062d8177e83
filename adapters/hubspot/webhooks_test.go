package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/publicurl"
	"switchboard/domain"
)

// The vectors were made by HubSpot's own Node SDK (testdata/signature_v3_vectors.js).
func TestSignatureV3MatchesHubSpotSDK(t *testing.T) {
	raw, err := os.ReadFile("testdata/signature_v3_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		SDK     string `json:"sdk"`
		Secret  string `json:"client_secret"`
		Vectors []struct {
			Name, Method, URL, Body, Timestamp, Signature string
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Vectors) < 4 {
		t.Fatalf("only %d vectors", len(golden.Vectors))
	}
	for _, v := range golden.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if got := SignatureV3(golden.Secret, v.Method, v.URL, []byte(v.Body), v.Timestamp); got != v.Signature {
				t.Fatalf("%s: signature %s, %s says %s", v.Name, got, golden.SDK, v.Signature)
			}
			ms, _ := strconv.ParseInt(v.Timestamp, 10, 64)
			if err := VerifySignatureV3(golden.Secret, v.Method, v.URL, []byte(v.Body), v.Timestamp, v.Signature, time.UnixMilli(ms).Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// HubSpot hashes the URI with these sequences decoded; the SDK is handed the
	// decoded URL, the receiver sees the encoded one.
	v := golden.Vectors[3]
	encoded := strings.NewReplacer(":v3", "%3Av3", "a,b", "a%2Cb").Replace(v.URL)
	if encoded == v.URL || SignatureV3(golden.Secret, v.Method, encoded, []byte(v.Body), v.Timestamp) != v.Signature {
		t.Fatalf("encoded URL %s does not verify as %s", encoded, v.URL)
	}
}

func TestVerifySignatureV3Refusals(t *testing.T) {
	now := time.UnixMilli(1764590400000)
	body := []byte(`[]`)
	uri := "https://hooks.example.com/hubspot/webhooks/acme"
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	good := SignatureV3("s3cret", "POST", uri, body, ts)
	old := strconv.FormatInt(now.Add(-6*time.Minute).UnixMilli(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).UnixMilli(), 10)
	for name, tc := range map[string]struct{ secret, uri, body, ts, sig string }{
		"wrong secret":         {"other", uri, string(body), ts, good},
		"other URL":            {"s3cret", uri + "x", string(body), ts, good},
		"other body":           {"s3cret", uri, `[{}]`, ts, good},
		"missing signature":    {"s3cret", uri, string(body), ts, ""},
		"missing timestamp":    {"s3cret", uri, string(body), "", good},
		"timestamp not ms":     {"s3cret", uri, string(body), "yesterday", good},
		"old timestamp":        {"s3cret", uri, string(body), old, SignatureV3("s3cret", "POST", uri, body, old)},
		"future timestamp":     {"s3cret", uri, string(body), future, SignatureV3("s3cret", "POST", uri, body, future)},
		"no secret configured": {"", uri, string(body), ts, good},
	} {
		if err := VerifySignatureV3(tc.secret, "POST", tc.uri, []byte(tc.body), tc.ts, tc.sig, now); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	if err := VerifySignatureV3("s3cret", "POST", uri, body, ts, good, now); err != nil {
		t.Fatal(err)
	}
}

type memRecorder struct {
	events []domain.HubSpotContactChanged
}

func (m *memRecorder) RecordHubSpotChanges(_ context.Context, evs []domain.HubSpotContactChanged) (int, int, error) {
	m.events = append(m.events, evs...)
	return len(evs), 0, nil
}

func TestWebhookHandlerParsesAndRefuses(t *testing.T) {
	now := time.UnixMilli(1764590400000)
	urls, _ := publicurl.New("https://hooks.example.com", nil)
	rec := &memRecorder{}
	h, err := NewWebhookHandler([]WebhookWorkspace{{ID: "acme", Secret: "s3cret", URLs: urls}}, rec, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	body := `[{"eventId":1,"subscriptionId":26,"portalId":62515,"appId":1160452,"occurredAt":1764590399500,"subscriptionType":"contact.merge","attemptNumber":0,"objectId":101,"primaryObjectId":101,"mergedObjectIds":[202],"newObjectId":101,"changeSource":"CRM"},
		{"eventId":2,"portalId":62515,"occurredAt":1764590399600,"subscriptionType":"contact.creation","objectId":303},
		{"eventId":3,"portalId":62515,"occurredAt":1764590399700,"subscriptionType":"contact.propertyChange","objectId":9007199254740993,"propertyName":"phone","propertyValue":"+1 415 555 0100"}]`
	send := func(path, body, ts, sig string) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		req.Header.Set("X-HubSpot-Signature-v3", sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	sig := SignatureV3("s3cret", "POST", "https://hooks.example.com/hubspot/webhooks/acme", []byte(body), ts)
	if code := send("/hubspot/webhooks/acme", body, ts, "AAAA"+sig[4:]); code != http.StatusUnauthorized || len(rec.events) != 0 {
		t.Fatalf("bad signature: %d, %d events recorded", code, len(rec.events))
	}
	if code := send("/hubspot/webhooks/nope", body, ts, sig); code != http.StatusNotFound {
		t.Fatalf("unknown workspace: %d", code)
	}
	if code := send("/hubspot/webhooks/acme", body, ts, sig); code != http.StatusOK {
		t.Fatalf("good request: %d", code)
	}
	if len(rec.events) != 2 {
		t.Fatalf("recorded %d events, want the merge and the property change (the creation is ignored)", len(rec.events))
	}
	m, p := rec.events[0], rec.events[1]
	if m.WorkspaceID != "acme" || m.PrimaryObjectID != "101" || len(m.MergedObjectIDs) != 1 || m.MergedObjectIDs[0] != "202" || m.PortalID != 62515 {
		t.Fatalf("merge parsed as %+v", m)
	}
	if p.ObjectID != "9007199254740993" || p.PropertyName != "phone" {
		t.Fatalf("property change parsed as %+v", p)
	}
	if raw, _ := json.Marshal(p); strings.Contains(string(raw), "555") {
		t.Fatalf("the property's new value (personal data) was kept: %s", raw)
	}
	bad := `[{"eventId":4,"portalId":1,"occurredAt":1,"subscriptionType":"contact.merge","objectId":1}]`
	if code := send("/hubspot/webhooks/acme", bad, ts, SignatureV3("s3cret", "POST", "https://hooks.example.com/hubspot/webhooks/acme", []byte(bad), ts)); code != http.StatusBadRequest {
		t.Fatalf("merge without primaryObjectId: %d", code)
	}
}

func TestParseWebhookEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		n, ign  int
		wantErr bool
	}{
		{"empty batch", `[]`, 0, 0, false},
		{"ids as strings, eventType instead of subscriptionType", `[{"eventId":"5","portalId":"62515","occurredAt":"1700000000000","eventType":"contact.deletion","objectId":"37765128953"}]`, 1, 0, false},
		{"ids beyond 2^31", `[{"eventId":1,"portalId":1,"occurredAt":1,"subscriptionType":"contact.restore","objectId":37765128953}]`, 1, 0, false},
		{"not interested", `[{"eventId":1,"portalId":1,"occurredAt":1,"subscriptionType":"conversation.newMessage","objectId":5}]`, 0, 1, false},
		{"not an array", `{"eventId":1}`, 0, 0, true},
		{"id not a number", `[{"eventId":1,"portalId":1,"occurredAt":1,"subscriptionType":"contact.deletion","objectId":"abc"}]`, 0, 0, true},
		{"deletion without a contact", `[{"eventId":1,"portalId":1,"occurredAt":1,"subscriptionType":"contact.deletion"}]`, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, ign, err := ParseWebhookEvents("acme", []byte(tc.body))
			if (err != nil) != tc.wantErr || len(evs) != tc.n || ign != tc.ign {
				t.Fatalf("got %d events, %d ignored, error %v", len(evs), ign, err)
			}
		})
	}
}

// One app secret signs every portal's webhooks: events of another portal than the
// workspace's are acknowledged and not recorded, so they never touch its keys.
func TestWebhookEventsOfAnotherPortalAreNotRecorded(t *testing.T) {
	now := time.UnixMilli(1764590400000)
	urls, _ := publicurl.New("https://hooks.example.com", nil)
	rec := &memRecorder{}
	h, err := NewWebhookHandler([]WebhookWorkspace{{ID: "acme", Secret: "s3cret", URLs: urls, PortalID: 62515}}, rec, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	body := `[{"eventId":1,"portalId":62515,"occurredAt":1764590399500,"subscriptionType":"contact.deletion","objectId":101},
		{"eventId":2,"portalId":777,"occurredAt":1764590399600,"subscriptionType":"contact.deletion","objectId":102}]`
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	req := httptest.NewRequest(http.MethodPost, "/hubspot/webhooks/acme", strings.NewReader(body))
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignatureV3("s3cret", "POST", "https://hooks.example.com/hubspot/webhooks/acme", []byte(body), ts))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if len(rec.events) != 1 || rec.events[0].ObjectID != "101" {
		t.Fatalf("recorded %+v, want only portal 62515's deletion of 101", rec.events)
	}
}
