package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// keyOf folds a match key's stream.
func (s *stack) keyOf(k domain.MatchKey) domain.KeyState {
	s.t.Helper()
	evs, err := s.svc.store.ReadStream(context.Background(), k.Stream(), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	ks, err := domain.FoldKey(evs)
	if err != nil {
		s.t.Fatal(err)
	}
	return ks
}

// The bug of issue 11: after the contact of a known sender is deleted in HubSpot (and
// switchboard heard nothing of it), the next message of that sender was published
// with the deleted contact's id, refused, and dead-lettered, and a retry failed again.
// It must land instead: the key is forgotten, the sender resolved again (an SMS sender
// creates a new contact), and the message published on the new answer.
func TestDeletedContactOfKnownSenderHealsPublication(t *testing.T) {
	s := startStack(t, stackOptions{})
	sender := map[string]any{"phone": "+1 415 555 2671", "first_name": "Ana"}
	s.post(msg("acme-sms", "SMdel1", sender, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMdel1")
	if first.Published == nil || first.ContactID == "" {
		t.Fatalf("first message: published %v, contact %q, dead letter %+v", first.Published, first.ContactID, first.DeadLetter)
	}
	old := first.ContactID
	if err := s.emu.Archive(old); err != nil {
		t.Fatal(err)
	}
	contactsBefore := len(s.emu.Contacts())

	s.post(msg("acme-sms", "SMdel2", sender, "second"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SMdel2")
	if st.DeadLetter != nil {
		t.Fatalf("second message dead-lettered: %+v", st.DeadLetter)
	}
	if st.ContactID == "" || st.ContactID == old {
		t.Fatalf("second message landed on contact %q; want a new contact, not the deleted %s", st.ContactID, old)
	}
	if got := len(s.emu.Contacts()); got != contactsBefore+1 {
		t.Fatalf("contacts: %d after, %d before; want exactly one new contact", got, contactsBefore)
	}
	pubs := s.emu.Published()
	if last := pubs[len(pubs)-1]; last.IntegrationIdempotencyID != st.Published.IdempotencyID || last.AssociateWithContactID != st.ContactID {
		t.Fatalf("last inbox message %+v; want message SMdel2 on contact %s", last, st.ContactID)
	}
	key := first.Identified.MatchKey
	if ks := s.keyOf(key); ks.ContactID != st.ContactID {
		t.Fatalf("match key now resolves to %q; want the new contact %s", ks.ContactID, st.ContactID)
	}
	var forgotten bool
	for _, e := range s.messageEvents("acme-sms", "SMdel2") {
		forgotten = forgotten || e.Type == domain.EventResolutionRevoked
	}
	if !forgotten {
		t.Fatalf("message stream has no %s: the audit cannot tell why the message was resolved twice", domain.EventResolutionRevoked)
	}

	// A third message is sticky on the new contact: no dead letter, no new contact.
	s.post(msg("acme-sms", "SMdel3", sender, "third"), http.StatusAccepted)
	if st3 := s.waitSettled("acme-sms", "SMdel3"); st3.DeadLetter != nil || st3.ContactID != st.ContactID {
		t.Fatalf("third message: contact %q, dead letter %+v; want sticky on %s", st3.ContactID, st3.DeadLetter, st.ContactID)
	}
}

const testHubSpotAppSecret = "hs-app-secret"

var withAppSecret = stackOptions{hubspotKeys: ", app_secret_env: HS_APP_SECRET"}

// hubspotEvent is one webhook event as HubSpot sends it.
func hubspotEvent(eventID int64, typ string, objectID int64, extra map[string]any) map[string]any {
	e := map[string]any{"eventId": eventID, "subscriptionId": 25, "portalId": 62515, "appId": 1160452,
		"occurredAt": time.Now().UnixMilli() - 1000 + eventID, "subscriptionType": typ, "attemptNumber": 0,
		"objectId": objectID, "changeSource": "CRM"}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// hubspotWebhook POSTs a batch the way HubSpot does: signed v3 with the app secret
// over the URL called (no public_url: the request's own), at timestamp at.
func (s *stack) hubspotWebhook(events []map[string]any, at time.Time, secret string) int {
	s.t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		s.t.Fatal(err)
	}
	url := s.url + "/hubspot/webhooks/acme"
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", signV3(secret, http.MethodPost, url, body, ts))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signV3 computes the signature as hubspot.md §7 describes it, independently of the
// adapter: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
func signV3(secret, method, uri string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + uri))
	m.Write(body)
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *stack) waitKey(what string, k domain.MatchKey, cond func(domain.KeyState) bool) domain.KeyState {
	s.t.Helper()
	var ks domain.KeyState
	waitFor(s.t, what, 10*time.Second, func() bool { ks = s.keyOf(k); return cond(ks) })
	return ks
}

func crmCalls(st emulator.Stats) int {
	n := 0
	for op, c := range st.Requests {
		if op != emulator.OpPublish && op != emulator.OpGetMessage {
			n += c
		}
	}
	return n
}

// Must-show 4 of issue 11, merge: after HubSpot reports a merge, the next message of
// the merged-away contact's sender lands on the survivor with no CRM call.
func TestHubSpotMergeWebhookFollowsKey(t *testing.T) {
	s := startStack(t, withAppSecret)
	sender := map[string]any{"phone": "+1 415 555 3001"}
	s.post(msg("acme-sms", "SMm1", sender, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMm1")
	loser := first.ContactID
	survivor := s.emu.CreateContact(map[string]string{"firstname": "Primary"})
	if _, err := s.emu.Merge(survivor, loser); err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.ParseInt(survivor, 10, 64)
	l, _ := strconv.ParseInt(loser, 10, 64)
	if code := s.hubspotWebhook([]map[string]any{hubspotEvent(11, "contact.merge", p,
		map[string]any{"primaryObjectId": p, "mergedObjectIds": []int64{l}, "newObjectId": p})}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("merge webhook: %d", code)
	}
	key := first.Identified.MatchKey
	s.waitKey("the key to follow the merge", key, func(ks domain.KeyState) bool { return ks.ContactID == survivor })
	before := crmCalls(s.emu.Stats())
	s.post(msg("acme-sms", "SMm2", sender, "second"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SMm2")
	if st.ContactID != survivor || st.DeadLetter != nil {
		t.Fatalf("second message on %q (dead letter %+v), want the survivor %s", st.ContactID, st.DeadLetter, survivor)
	}
	if n := crmCalls(s.emu.Stats()) - before; n != 0 {
		t.Fatalf("%d CRM calls for a message of a followed key; want none", n)
	}
	// audit sender tells the merge and the webhook event that caused it.
	var out, errb bytes.Buffer
	if code := run([]string{"audit", "--config", s.configPath, "sender", "acme-sms", "+14155553001"}, &out, &errb); code != 0 {
		t.Fatalf("audit exited %d: %s", code, errb.String())
	}
	for _, want := range []string{"followed a merge in HubSpot: contact " + loser + " → surviving contact " + survivor,
		"because: HubSpot's contact.merge webhook (event 11"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("audit sender does not say %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"audit", "--config", s.configPath, "contact", "acme", loser}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "HubSpot webhook contact.merge (event 11") {
		t.Fatalf("audit contact %s (exit %d) does not show the webhook:\n%s", loser, code, out.String())
	}
}

// Must-show 4 of issue 11, deletion: the next message searches again and creates
// exactly one new contact — through the webhook, not the self-healing publication.
func TestHubSpotDeletionWebhookForgetsKey(t *testing.T) {
	s := startStack(t, withAppSecret)
	sender := map[string]any{"phone": "+1 415 555 3002"}
	s.post(msg("acme-sms", "SMd1", sender, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMd1")
	old := first.ContactID
	if err := s.emu.Archive(old); err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(old, 10, 64)
	if code := s.hubspotWebhook([]map[string]any{hubspotEvent(21, "contact.deletion", id, nil)}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("deletion webhook: %d", code)
	}
	key := first.Identified.MatchKey
	s.waitKey("the key to be forgotten", key, func(ks domain.KeyState) bool { return !ks.Resolved() && ks.Version > 0 })
	contacts := len(s.emu.Contacts())
	s.post(msg("acme-sms", "SMd2", sender, "second"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SMd2")
	if st.DeadLetter != nil || st.ContactID == "" || st.ContactID == old || st.Outcome != domain.EventContactCreated {
		t.Fatalf("second message: %s on %q (dead letter %+v); want a new contact", st.Outcome, st.ContactID, st.DeadLetter)
	}
	if n := len(s.emu.Contacts()); n != contacts+1 {
		t.Fatalf("%d contacts, want exactly one more than %d", n, contacts)
	}
	for _, e := range s.messageEvents("acme-sms", "SMd2") {
		if e.Type == domain.EventPublicationContactMissing {
			t.Fatalf("the publication had to heal: the webhook did not forget the key first")
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"audit", "--config", s.configPath, "sender", "acme-sms", "+14155553002"}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "forgot contact "+old+": contact "+old+" deleted in HubSpot") ||
		!strings.Contains(out.String(), "because: HubSpot's contact.deletion webhook (event 21") {
		t.Fatalf("audit sender (exit %d) does not tell the deletion:\n%s%s", code, out.String(), errb.String())
	}
	// The audit API tells it too.
	waitFor(t, "the audit to show the forgotten key", 5*time.Second, func() bool {
		code, body := s.do("GET", "/v1/senders/acme-sms/+14155553002", nil)
		return code == http.StatusOK && strings.Contains(string(body), domain.EventMatchKeyForgotten) && strings.Contains(string(body), "contact.deletion")
	})
}

// Must-show 4 of issue 11, phone edit: the old number no longer lands on a contact whose
// phone changed, while a contact that still has the number in mobilephone keeps it.
func TestHubSpotPhoneEditWebhook(t *testing.T) {
	s := startStack(t, withAppSecret)
	past := time.Now().Add(-time.Hour)
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "phone": "+1 415 555 3003"}, past)
	bea := s.emu.CreateContactAt(map[string]string{"firstname": "Bea", "phone": "+1 415 555 3004", "mobilephone": "(415) 555-3004"}, past)
	s.post(msg("acme-sms", "SMe1", map[string]any{"phone": "+14155553003"}, "a"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMe2", map[string]any{"phone": "+14155553004"}, "b"), http.StatusAccepted)
	a1, b1 := s.waitSettled("acme-sms", "SMe1"), s.waitSettled("acme-sms", "SMe2")
	if a1.ContactID != ana || b1.ContactID != bea {
		t.Fatalf("first messages on %s and %s, want %s and %s", a1.ContactID, b1.ContactID, ana, bea)
	}
	if err := s.emu.UpdateContact(ana, map[string]string{"phone": "+1 212 555 0000"}); err != nil {
		t.Fatal(err)
	}
	if err := s.emu.UpdateContact(bea, map[string]string{"phone": ""}); err != nil {
		t.Fatal(err)
	}
	ai, _ := strconv.ParseInt(ana, 10, 64)
	bi, _ := strconv.ParseInt(bea, 10, 64)
	if code := s.hubspotWebhook([]map[string]any{
		hubspotEvent(31, "contact.propertyChange", ai, map[string]any{"propertyName": "phone", "propertyValue": "+1 212 555 0000"}),
		hubspotEvent(32, "contact.propertyChange", bi, map[string]any{"propertyName": "phone", "propertyValue": ""}),
	}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("property change webhook: %d", code)
	}
	s.waitKey("Ana's key to be forgotten", a1.Identified.MatchKey, func(ks domain.KeyState) bool { return !ks.Resolved() })
	waitFor(t, "both changes handled", 10*time.Second, func() bool {
		return s.svc.positions()["reactor:contact-changes"] >= s.eventCount()-1
	})
	s.post(msg("acme-sms", "SMe3", map[string]any{"phone": "+14155553003"}, "a again"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMe4", map[string]any{"phone": "+14155553004"}, "b again"), http.StatusAccepted)
	a2, b2 := s.waitSettled("acme-sms", "SMe3"), s.waitSettled("acme-sms", "SMe4")
	if a2.ContactID == ana || a2.Outcome != domain.EventContactCreated {
		t.Fatalf("the old number landed %s on %s; want a new contact, not %s", a2.Outcome, a2.ContactID, ana)
	}
	if b2.ContactID != bea {
		t.Fatalf("the number still in Bea's mobilephone landed on %s, want %s", b2.ContactID, bea)
	}
	if ks := s.keyOf(b1.Identified.MatchKey); ks.ContactID != bea || ks.Version != 1 {
		t.Fatalf("Bea's key: %+v; want untouched", ks)
	}
}

// Must-show 5 of issue 11: a bad signature, a stale timestamp and a redelivered batch
// change nothing.
func TestHubSpotWebhookRefusalsAndRedelivery(t *testing.T) {
	s := startStack(t, withAppSecret)
	s.post(msg("acme-sms", "SMr1", map[string]any{"phone": "+1 415 555 3005"}, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMr1")
	id, _ := strconv.ParseInt(first.ContactID, 10, 64)
	batch := []map[string]any{hubspotEvent(41, "contact.deletion", id, nil), hubspotEvent(42, "contact.creation", 999, nil)}
	before := s.eventCount()
	if code := s.hubspotWebhook(batch, time.Now(), "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d, want 401", code)
	}
	if code := s.hubspotWebhook(batch, time.Now().Add(-6*time.Minute), testHubSpotAppSecret); code != http.StatusUnauthorized {
		t.Fatalf("stale timestamp: %d, want 401", code)
	}
	time.Sleep(100 * time.Millisecond)
	if n := s.eventCount(); n != before {
		t.Fatalf("refused webhooks recorded %d events", n-before)
	}
	if ks := s.keyOf(first.Identified.MatchKey); ks.ContactID != first.ContactID {
		t.Fatalf("a refused webhook changed the key: %+v", ks)
	}
	if code := s.hubspotWebhook(batch, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("good webhook: %d", code)
	}
	s.waitKey("the key to be forgotten", first.Identified.MatchKey, func(ks domain.KeyState) bool { return !ks.Resolved() })
	waitFor(t, "the reactor to settle", 5*time.Second, func() bool { return s.svc.positions()["reactor:contact-changes"] >= s.eventCount() })
	settled := s.eventCount()
	batch[0]["attemptNumber"] = 1 // HubSpot's retry of the same event
	if code := s.hubspotWebhook(batch, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("redelivery: %d, want 200", code)
	}
	time.Sleep(200 * time.Millisecond)
	if n := s.eventCount(); n != settled {
		t.Fatalf("the redelivered batch added %d events", n-settled)
	}
}

// A dead letter left by the bug (a publication refused for the deleted contact,
// recorded before the fix) re-resolves when an operator retries it, and lands.
func TestRetryOfDeadLetteredPublicationForDeletedContactReresolves(t *testing.T) {
	s := startStack(t, stackOptions{})
	sender := map[string]any{"phone": "+1 415 555 3010"}
	s.post(msg("acme-sms", "SMx1", sender, "first"), http.StatusAccepted)
	first := s.waitSettled("acme-sms", "SMx1")
	old := first.ContactID
	s.stop()
	if err := s.emu.Archive(old); err != nil {
		t.Fatal(err)
	}
	// What the code before the fix recorded for the sender's next message.
	st, err := openStore(s.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := s.messageEventsIn(st, "acme-sms", "SMx1")
	var received domain.MessageReceived
	if err := domain.Decode(evs[0], &received); err != nil {
		t.Fatal(err)
	}
	received.MessageID = "SMx2"
	corr := newID()
	var identified domain.SenderIdentified
	for _, e := range evs {
		if e.Type == domain.EventSenderIdentified {
			if err := domain.Decode(e, &identified); err != nil {
				t.Fatal(err)
			}
		}
	}
	var datas []domain.EventData
	for _, c := range []struct {
		typ string
		p   any
	}{
		{domain.EventMessageReceived, received},
		{domain.EventSenderIdentified, identified},
		{domain.EventContactMatched, domain.ContactMatched{MatchKey: identified.MatchKey, ContactID: old, Via: "match_key"}},
		{domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Status: 400, Attempts: 1,
			Reason: "publish message sb:acme-sms:SMx2 to channel 1001: HubSpot answered 400 Bad Request (VALIDATION_ERROR): associateWithContactId " + old + " does not reference an existing contact"}},
	} {
		d, err := domain.NewEvent(newID(), c.typ, c.p, time.Now(), corr)
		if err != nil {
			t.Fatal(err)
		}
		datas = append(datas, d)
	}
	if _, err := st.Append(context.Background(), domain.MessageStream("acme-sms", "SMx2"), domain.NoStream, datas...); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s.start()

	waitFor(t, "the dead letter to be listed", 5*time.Second, func() bool {
		code, body := s.do("GET", "/v1/dead-letters", nil)
		return code == http.StatusOK && strings.Contains(string(body), corr)
	})
	if code, body := s.do("POST", "/v1/dead-letters/"+corr+"/retry", nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", code, body)
	}
	var got domain.MessageState
	waitFor(t, "the retried message to land", 10*time.Second, func() bool {
		got = s.messageState("acme-sms", "SMx2")
		return got.Published != nil || got.DeadLetter != nil
	})
	if got.DeadLetter != nil || got.ContactID == "" || got.ContactID == old {
		t.Fatalf("retried message: contact %q, dead letter %+v; want published on a new contact", got.ContactID, got.DeadLetter)
	}
}

func (s *stack) messageEventsIn(st domain.EventStore, channel, id string) []domain.RecordedEvent {
	s.t.Helper()
	evs, err := st.ReadStream(context.Background(), domain.MessageStream(channel, id), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

// Must-show 4 and 6 of issue 11 through the emulator's own signed webhooks: a merge
// made in the emulated HubSpot moves the sender to the survivor with no CRM call, a
// deletion makes the next message create exactly one new contact, and a deletion whose
// webhook the emulator drops is found by reconcile.
func TestEmulatorWebhooksEndToEnd(t *testing.T) {
	s := startStack(t, withAppSecret)
	s.emu.SetWebhooks(emulator.WebhookTarget{URL: s.url + "/hubspot/webhooks/acme", Secret: testHubSpotAppSecret, PortalID: 62515})
	merged := map[string]any{"phone": "+1 415 555 5001"}
	deleted := map[string]any{"phone": "+1 415 555 5002"}
	lost := map[string]any{"phone": "+1 415 555 5003"}
	s.post(msg("acme-sms", "SMw1", merged, "a"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMw2", deleted, "b"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMw3", lost, "c"), http.StatusAccepted)
	m1, d1, l1 := s.waitSettled("acme-sms", "SMw1"), s.waitSettled("acme-sms", "SMw2"), s.waitSettled("acme-sms", "SMw3")

	survivor := s.emu.CreateContact(map[string]string{"firstname": "Survivor"})
	if _, err := s.emu.Merge(survivor, m1.ContactID); err != nil {
		t.Fatal(err)
	}
	if err := s.emu.Archive(d1.ContactID); err != nil {
		t.Fatal(err)
	}
	s.emu.WaitWebhooks()
	s.waitKey("the merged key to follow", m1.Identified.MatchKey, func(ks domain.KeyState) bool { return ks.ContactID == survivor })
	s.waitKey("the deleted key to be forgotten", d1.Identified.MatchKey, func(ks domain.KeyState) bool { return !ks.Resolved() })

	before, contacts := crmCalls(s.emu.Stats()), len(s.emu.Contacts())
	s.post(msg("acme-sms", "SMw4", merged, "a2"), http.StatusAccepted)
	if st := s.waitSettled("acme-sms", "SMw4"); st.ContactID != survivor {
		t.Fatalf("merged sender's next message on %s, want %s", st.ContactID, survivor)
	}
	if n := crmCalls(s.emu.Stats()) - before; n != 0 {
		t.Fatalf("%d CRM calls for the merged sender's next message; want none", n)
	}
	s.post(msg("acme-sms", "SMw5", deleted, "b2"), http.StatusAccepted)
	if st := s.waitSettled("acme-sms", "SMw5"); st.Outcome != domain.EventContactCreated || len(st.Revoked) != 0 {
		t.Fatalf("deleted sender's next message: %s on %s (revoked %v)", st.Outcome, st.ContactID, st.Revoked)
	}
	if n := len(s.emu.Contacts()); n != contacts+1 {
		t.Fatalf("%d contacts, want exactly one more than %d", n, contacts)
	}

	s.emu.SetWebhookFaults(emulator.WebhookFaults{DropNext: 1})
	if err := s.emu.Archive(l1.ContactID); err != nil {
		t.Fatal(err)
	}
	if st := s.emu.WebhookStats(); st.Dropped != 1 {
		t.Fatalf("webhook stats %+v, want the deletion dropped", st)
	}
	if ks := s.keyOf(l1.Identified.MatchKey); ks.ContactID != l1.ContactID {
		t.Fatalf("a dropped webhook changed the key: %+v", ks)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"reconcile", "--config", s.configPath}, &out, &errb); code != 0 {
		t.Fatalf("reconcile exited %d: %s", code, errb.String())
	}
	if ks := s.keyOf(l1.Identified.MatchKey); ks.Resolved() {
		t.Fatalf("reconcile left the key on the deleted contact: %+v\n%s", ks, out.String())
	}
}

// A full batch of 100 events is answered within HubSpot's 5 s, after all are recorded.
func TestHubSpotWebhookFullBatchAnsweredInTime(t *testing.T) {
	s := startStack(t, withAppSecret)
	var batch []map[string]any
	for i := range 100 {
		batch = append(batch, hubspotEvent(int64(1000+i), "contact.deletion", int64(700000+i), nil))
	}
	before := s.eventCount()
	start := time.Now()
	if code := s.hubspotWebhook(batch, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("full batch: %d", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %s, HubSpot gives up after 5 s", took)
	}
	if n := s.eventCount() - before; n < 100 {
		t.Fatalf("%d events recorded when the answer came, want 100", n)
	}
}

// HubSpot's search lags behind a deletion: the resolution after a refused publication
// may find the deleted contact again. It is left out (the message already learned it
// is gone), so the message lands on a new contact rather than going round in a loop.
func TestHealedPublicationIgnoresDeletedContactStillInSearch(t *testing.T) {
	s := startStack(t, stackOptions{emulator: emulator.Options{SearchLag: time.Minute}})
	ana := s.emu.CreateContactAt(map[string]string{"firstname": "Ana", "phone": "+1 415 555 3020"}, time.Now().Add(-time.Hour))
	s.post(msg("acme-sms", "SMlag1", map[string]any{"phone": "+14155553020"}, "first"), http.StatusAccepted)
	if st := s.waitSettled("acme-sms", "SMlag1"); st.ContactID != ana {
		t.Fatalf("first message on %s, want %s", st.ContactID, ana)
	}
	if err := s.emu.Archive(ana); err != nil {
		t.Fatal(err)
	}
	s.post(msg("acme-sms", "SMlag2", map[string]any{"phone": "+14155553020"}, "second"), http.StatusAccepted)
	st := s.waitSettled("acme-sms", "SMlag2")
	if st.DeadLetter != nil || st.ContactID == ana || st.Outcome != domain.EventContactCreated || len(st.Revoked) != 1 {
		t.Fatalf("second message: %s on %s, revoked %v, dead letter %+v; want a new contact after one revocation",
			st.Outcome, st.ContactID, st.Revoked, st.DeadLetter)
	}
}

// A social key follows its identifier property: clearing telegram_user_id on the
// contact forgets the key (the next message creates, auto_create being on), an edit of
// another property changes nothing, and a restore is recorded without touching keys.
func TestHubSpotIdentifierPropertyWebhook(t *testing.T) {
	s := startStack(t, withAppSecret)
	s.post(msg("acme-tg", "1:1", map[string]any{"user_id": "777100", "first_name": "Rui"}, "oi"), http.StatusAccepted)
	first := s.waitSettled("acme-tg", "1:1")
	c, _ := strconv.ParseInt(first.ContactID, 10, 64)
	if err := s.emu.UpdateContact(first.ContactID, map[string]string{"telegram_user_id": "", "firstname": "Rui B"}); err != nil {
		t.Fatal(err)
	}
	reads := s.emu.Stats().Requests[emulator.OpRead]
	if code := s.hubspotWebhook([]map[string]any{
		hubspotEvent(51, "contact.propertyChange", c, map[string]any{"propertyName": "firstname", "propertyValue": "Rui B"}),
		hubspotEvent(52, "contact.restore", c, nil),
	}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	waitFor(t, "the events to be handled", 5*time.Second, func() bool {
		return s.svc.positions()["reactor:contact-changes"] >= s.eventCount()
	})
	if ks := s.keyOf(first.Identified.MatchKey); ks.ContactID != first.ContactID {
		t.Fatalf("a firstname edit or a restore changed the key: %+v", ks)
	}
	if n := s.emu.Stats().Requests[emulator.OpRead] - reads; n != 0 {
		t.Fatalf("%d contact reads for changes no key watches; want none", n)
	}
	if code := s.hubspotWebhook([]map[string]any{
		hubspotEvent(53, "contact.propertyChange", c, map[string]any{"propertyName": "telegram_user_id", "propertyValue": ""}),
	}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	s.waitKey("the telegram key to be forgotten", first.Identified.MatchKey, func(ks domain.KeyState) bool { return !ks.Resolved() })
	s.post(msg("acme-tg", "1:2", map[string]any{"user_id": "777100", "first_name": "Rui"}, "oi again"), http.StatusAccepted)
	if st := s.waitSettled("acme-tg", "1:2"); st.Outcome != domain.EventContactCreated || st.ContactID == first.ContactID {
		t.Fatalf("next message: %s on %s; want a new contact", st.Outcome, st.ContactID)
	}
}
