package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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
