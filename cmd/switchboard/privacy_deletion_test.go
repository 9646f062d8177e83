package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/samples"
)

// HubSpot's contact.privacyDeletion erases every sender bound to the contact (rule 17):
// their messages read "[erased]" in the log where the person's values were, and in the
// audit once it is rebuilt; the other sender's stay whole.
func TestHubSpotPrivacyDeletionErasesTheContactsSenders(t *testing.T) {
	s := startStack(t, withAppSecret)
	s.post(msg("acme-sms", "SMx1", map[string]any{"phone": "+1 415 555 3101", "first_name": "Xena"}, "xena's secret text"), http.StatusAccepted)
	s.post(msg("acme-sms", "SMy1", map[string]any{"phone": "+1 415 555 3102", "first_name": "Yuri"}, "yuri's plain text"), http.StatusAccepted)
	x := s.waitSettled("acme-sms", "SMx1")
	s.waitSettled("acme-sms", "SMy1")
	s.waitPublished(2)
	id, _ := strconv.ParseInt(x.ContactID, 10, 64)
	if err := s.emu.Archive(x.ContactID); err != nil {
		t.Fatal(err)
	}
	if code := s.hubspotWebhook([]map[string]any{hubspotEvent(31, "contact.privacyDeletion", id, nil)}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("privacy deletion webhook: %d", code)
	}
	audit := func(id string) (string, int) {
		var out, errb bytes.Buffer
		code := run([]string{"audit", "--config", s.configPath, "message", "acme-sms", id}, &out, &errb)
		return out.String() + errb.String(), code
	}
	logOf := func(id string) string {
		var b strings.Builder
		for _, e := range s.messageEvents("acme-sms", id) {
			b.WriteString(e.Type + " " + string(e.Payload) + "\n")
		}
		return b.String()
	}
	waitFor(t, "X's message to be found by its id no more", 10*time.Second, func() bool { return len(s.messageEvents("acme-sms", "SMx1")) == 0 })
	if y := logOf("SMy1"); !strings.Contains(y, "yuri's plain text") || strings.Contains(y, "[erased]") {
		t.Fatalf("Y's log is not whole:\n%s", y)
	}
	// A rebuild reads the log as it is now.
	s.stop()
	var out, errb bytes.Buffer
	if code := run([]string{"rebuild", "--config", s.configPath}, &out, &errb); code != 0 {
		t.Fatalf("rebuild exited %d: %s", code, errb.String())
	}
	// X's message id is personal too: the rebuilt audit no longer finds X's message by
	// it, and what it says names nothing of X.
	xa, _ := audit("SMx1")
	for _, gone := range []string{"xena's secret text", "Xena", "+14155553101", "415 555 3101"} {
		if strings.Contains(xa, gone) {
			t.Errorf("X's audit still shows %q after the privacy deletion:\n%s", gone, xa)
		}
	}
	if ya, code := audit("SMy1"); code != 0 || !strings.Contains(ya, "yuri's plain text") || !strings.Contains(ya, "Yuri") || strings.Contains(ya, "[erased]") {
		t.Errorf("Y's audit is not whole (exit %d):\n%s", code, ya)
	}
}

// Instagram's webhook names the sender by id only, and acme-ig resolves by username: the
// message is sealed with the sender's own subject, and the resolver reads the username
// from the profile API and resolves it through the username's key. HubSpot's privacy
// deletion of the contact erases that message too, not only the key's events.
func TestHubSpotPrivacyDeletionErasesMessagesSealedWithTheirSendersOwnSubject(t *testing.T) {
	s := startStack(t, withAppSecret)
	for _, m := range []samples.Sample{
		{From: "1784", MessageID: "m_igx", Text: "xanthe's instagram secret"},
		{From: "1785", MessageID: "m_igy", Text: "yannick's instagram text"},
	} {
		if status := s.sendSample("acme-ig", m, nil); status != http.StatusOK {
			t.Fatalf("webhook answered %d", status)
		}
	}
	x := s.waitSettled("acme-ig", "m_igx")
	s.waitSettled("acme-ig", "m_igy")
	s.waitPublished(2)
	if x.ContactID == "" {
		t.Fatalf("X's message was not resolved: %+v", x)
	}
	id, _ := strconv.ParseInt(x.ContactID, 10, 64)
	if err := s.emu.Archive(x.ContactID); err != nil {
		t.Fatal(err)
	}
	if code := s.hubspotWebhook([]map[string]any{hubspotEvent(41, "contact.privacyDeletion", id, nil)}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("privacy deletion webhook: %d", code)
	}
	waitFor(t, "X's message to be found by its id no more", 10*time.Second, func() bool { return len(s.messageEvents("acme-ig", "m_igx")) == 0 })
	var y strings.Builder
	for _, e := range s.messageEvents("acme-ig", "m_igy") {
		y.WriteString(e.Type + " " + string(e.Payload) + "\n")
	}
	if !strings.Contains(y.String(), "yannick's instagram text") || strings.Contains(y.String(), "[erased]") {
		t.Fatalf("Y's log is not whole:\n%s", y.String())
	}
}
