package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// HubSpot's contact webhooks (hubspot.md §7), as an app subscribed to contact.deletion,
// contact.merge and contact.propertyChange receives them: once SetWebhooks names a
// target, every deletion, merge and property edit — through the API or the Go methods
// that stand for a person in HubSpot's UI — is POSTed there as a JSON array, signed
// v3 with the target's secret, asynchronously and retried on failure with an
// incremented attemptNumber. SetWebhookFaults loses, delays or duplicates deliveries,
// as HubSpot's at-least-once, unordered delivery may.

// WebhookTarget is where and how the emulator delivers contact webhooks.
type WebhookTarget struct {
	// URL receives the POSTs, and is the URL the v3 signature covers.
	URL string
	// Secret is the app's client secret, which signs v3.
	Secret   string
	PortalID int64
	AppID    int64
	// Properties are the contact properties with a propertyChange subscription; nil
	// means phone and mobilephone.
	Properties []string
	// Client sends the requests (default: a client with a 5 s timeout, HubSpot's).
	Client *http.Client
	// Attempts bounds the tries per delivery (default 3; HubSpot tries up to 10 over
	// a day).
	Attempts int
}

// WebhookFaults make deliveries go wrong on purpose.
type WebhookFaults struct {
	// Drop loses every delivery; DropNext loses the next n (a lost webhook).
	Drop     bool
	DropNext int
	// Delay holds each delivery back before its first try.
	Delay time.Duration
	// Duplicate delivers each batch twice (HubSpot redelivers).
	Duplicate bool
}

// WebhookStats counts deliveries: batches delivered (2xx), lost on purpose, and given
// up after every attempt failed.
type WebhookStats struct {
	Delivered, Dropped, Failed int
}

type webhookState struct {
	target  *WebhookTarget
	faults  WebhookFaults
	stats   WebhookStats
	eventID int64
	wg      sync.WaitGroup
}

// SetWebhooks starts (or, with a zero URL, stops) webhook delivery.
func (s *Server) SetWebhooks(t WebhookTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.URL == "" {
		s.hooks.target = nil
		return
	}
	if t.Properties == nil {
		t.Properties = []string{propPhone, propMobilePhone}
	}
	if t.Client == nil {
		t.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if t.Attempts <= 0 {
		t.Attempts = 3
	}
	s.hooks.target = &t
}

// SetWebhookFaults replaces the delivery faults; WebhookFaults{} turns them off.
func (s *Server) SetWebhookFaults(f WebhookFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.faults = f
}

// WebhookStats returns the delivery counts so far.
func (s *Server) WebhookStats() WebhookStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks.stats
}

// WaitWebhooks waits until every delivery started so far is done (delivered, dropped
// or given up).
func (s *Server) WaitWebhooks() { s.hooks.wg.Wait() }

// webhookEvent is one element of a delivery.
type webhookEvent map[string]any

func (s *Server) newWebhookEvent(typ, objectID string) webhookEvent {
	s.hooks.eventID++
	id, _ := strconv.ParseInt(objectID, 10, 64)
	return webhookEvent{"eventId": s.hooks.eventID, "subscriptionId": subscriptionIDs[typ], "portalId": s.hooks.target.PortalID,
		"appId": s.hooks.target.AppID, "occurredAt": s.now().UnixMilli(), "subscriptionType": typ, "attemptNumber": 0,
		"objectId": id, "changeSource": "CRM"}
}

var subscriptionIDs = map[string]int{"contact.deletion": 21, "contact.merge": 22, "contact.propertyChange": 23}

// webhookDeletedLocked sends contact.deletion for id.
func (s *Server) webhookDeletedLocked(id string) {
	if s.hooks.target == nil {
		return
	}
	s.deliverLocked([]webhookEvent{s.newWebhookEvent("contact.deletion", id)})
}

// webhookMergedLocked sends contact.merge: loser merged into primary, which survives.
func (s *Server) webhookMergedLocked(primary, loser string) {
	if s.hooks.target == nil {
		return
	}
	p, _ := strconv.ParseInt(primary, 10, 64)
	l, _ := strconv.ParseInt(loser, 10, 64)
	e := s.newWebhookEvent("contact.merge", primary)
	e["primaryObjectId"], e["mergedObjectIds"], e["newObjectId"], e["numberOfPropertiesMoved"] = p, []int64{l}, p, 0
	s.deliverLocked([]webhookEvent{e})
}

// webhookEditedLocked sends contact.propertyChange for each subscribed property whose
// value differs between before and after.
func (s *Server) webhookEditedLocked(id string, before, after map[string]string) {
	if s.hooks.target == nil {
		return
	}
	var evs []webhookEvent
	for _, p := range s.hooks.target.Properties {
		if before[p] == after[p] {
			continue
		}
		e := s.newWebhookEvent("contact.propertyChange", id)
		e["propertyName"], e["propertyValue"] = p, after[p]
		evs = append(evs, e)
	}
	if len(evs) > 0 {
		s.deliverLocked(evs)
	}
}

// deliverLocked starts the delivery of one batch, outside the lock.
func (s *Server) deliverLocked(evs []webhookEvent) {
	t, f := *s.hooks.target, s.hooks.faults
	if f.Drop || f.DropNext > 0 {
		if f.DropNext > 0 {
			s.hooks.faults.DropNext--
		}
		s.hooks.stats.Dropped++
		return
	}
	copies := 1
	if f.Duplicate {
		copies = 2
	}
	for range copies {
		s.hooks.wg.Add(1)
		go func() {
			defer s.hooks.wg.Done()
			ok := s.deliver(t, f.Delay, evs)
			s.mu.Lock()
			if ok {
				s.hooks.stats.Delivered++
			} else {
				s.hooks.stats.Failed++
			}
			s.mu.Unlock()
		}()
	}
}

// deliver POSTs the batch until the target answers 2xx or the attempts run out.
func (s *Server) deliver(t WebhookTarget, delay time.Duration, evs []webhookEvent) bool {
	wait := delay
	for attempt := range t.Attempts {
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-s.closed:
				timer.Stop()
				return false
			case <-timer.C:
			}
		}
		wait = time.Duration(100*(attempt+1)) * time.Millisecond
		batch := make([]webhookEvent, len(evs))
		for i, e := range evs {
			c := webhookEvent{}
			for k, v := range e {
				c[k] = v
			}
			c["attemptNumber"] = attempt
			batch[i] = c
		}
		body, err := json.Marshal(batch)
		if err != nil {
			return false
		}
		req, err := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(body))
		if err != nil {
			return false
		}
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		req.Header.Set("X-HubSpot-Signature-v3", signV3(t.Secret, http.MethodPost, t.URL, body, ts))
		resp, err := t.Client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
	}
	return false
}

// signV3 is HubSpot's signature v3 (hubspot.md §7) over the URL as given.
func signV3(secret, method, uri string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + uri))
	m.Write(body)
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// snapshotProps copies the subscribed properties of r before a write.
func (s *Server) snapshotProps(r *record) map[string]string {
	if s.hooks.target == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range r.props {
		if slices.Contains(s.hooks.target.Properties, k) {
			out[k] = v
		}
	}
	return out
}
