package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
)

// The emulator's contact webhooks are what switchboard's receiver verifies: signed v3
// over the URL and body, one event per change, retried with attemptNumber + 1 after a
// refusal; the faults drop and duplicate deliveries.
func TestEmulatorSendsSignedContactWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got [][]map[string]any
	refuse := 1
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		uri := "http://" + r.Host + r.URL.RequestURI()
		if err := hubspot.VerifySignatureV3("secret", r.Method, uri, body, r.Header.Get("X-HubSpot-Request-Timestamp"),
			r.Header.Get("X-HubSpot-Signature-v3"), time.Now()); err != nil {
			t.Errorf("delivery does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Errorf("delivery is not a JSON array: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if refuse > 0 {
			refuse--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, batch)
	}))
	defer recv.Close()
	emu := emulator.New(emulator.Options{})
	defer emu.Close()
	emu.SetWebhooks(emulator.WebhookTarget{URL: recv.URL + "/hubspot/webhooks/acme", Secret: "secret", PortalID: 62515, AppID: 7})

	a := emu.CreateContact(map[string]string{"phone": "+1 415 555 0100"})
	b := emu.CreateContact(map[string]string{"firstname": "B"})
	if err := emu.UpdateContact(a, map[string]string{"phone": "+1 415 555 0199", "firstname": "Ana"}); err != nil {
		t.Fatal(err)
	}
	emu.WaitWebhooks() // the first delivery was refused once, then retried
	if _, err := emu.Merge(a, b); err != nil {
		t.Fatal(err)
	}
	emu.WaitWebhooks()
	emu.SetWebhookFaults(emulator.WebhookFaults{DropNext: 1})
	if err := emu.Archive(a); err != nil {
		t.Fatal(err)
	}
	emu.SetWebhookFaults(emulator.WebhookFaults{Duplicate: true})
	c := emu.CreateContact(map[string]string{"firstname": "C"})
	if err := emu.Archive(c); err != nil {
		t.Fatal(err)
	}
	emu.WaitWebhooks()

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("%d deliveries, want 4 (edit, merge, a duplicated deletion): %v", len(got), got)
	}
	edit := got[0]
	if len(edit) != 1 || edit[0]["subscriptionType"] != "contact.propertyChange" || edit[0]["propertyName"] != "phone" || edit[0]["attemptNumber"] != 1.0 {
		t.Fatalf("edit delivery %v: want one phone propertyChange (firstname has no subscription), attempt 1", edit)
	}
	if m := got[1][0]; m["subscriptionType"] != "contact.merge" || m["mergedObjectIds"].([]any)[0] != mustFloat(b) || m["primaryObjectId"] != mustFloat(a) {
		t.Fatalf("merge delivery %v", got[1])
	}
	if got[2][0]["subscriptionType"] != "contact.deletion" || got[2][0]["eventId"] != got[3][0]["eventId"] || got[2][0]["objectId"] != mustFloat(c) {
		t.Fatalf("duplicated deletion of %s: %v and %v", c, got[2], got[3])
	}
	if st := emu.WebhookStats(); st.Dropped != 1 || st.Delivered != 4 {
		t.Fatalf("stats %+v, want 1 dropped and 4 delivered", st)
	}
}

func mustFloat(id string) float64 {
	var f float64
	_ = json.Unmarshal([]byte(id), &f)
	return f
}
