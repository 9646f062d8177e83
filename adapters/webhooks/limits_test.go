package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"switchboard/adapters/slack"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/sqlite"
)

// Unauthenticated requests cannot write what they carry into the log: fifteen
// requests with 900 KB in the path, in platform headers and in values errors quote
// leave a few kilobytes of log and record nothing.
func TestUnauthenticatedRequestsCannotFloodTheLog(t *testing.T) {
	e := newEnv(t)
	huge := strings.Repeat("A", 900<<10)
	form := "MessageSid=SM1&From=%2B14155552671&Body=hi"
	type request struct {
		method, path string
		headers      map[string]string
		body         string
	}
	requests := []request{
		{method: http.MethodPost, path: "/webhooks/" + huge, body: "{}"},
		{method: http.MethodGet, path: "/webhooks/" + huge + "?hub.mode=subscribe&hub.challenge=1"},
		{method: http.MethodPost, path: "/webhooks/acme-tg", headers: map[string]string{slack.RetryNumHeader: huge, "X-Telegram-Bot-Api-Secret-Token": "guess"}, body: "{}"},
		{method: http.MethodPost, path: "/webhooks/acme-tg", headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": huge}, body: "{}"},
		{method: http.MethodPost, path: "/webhooks/acme-slack", headers: map[string]string{slack.RetryNumHeader: huge, "X-Slack-Retry-Reason": huge, slack.TimestampHeader: "1", slack.SignatureHeader: "v0=00"}, body: "{}"},
		{method: http.MethodPost, path: "/webhooks/acme-slack", headers: map[string]string{slack.TimestampHeader: huge, slack.SignatureHeader: huge}, body: "{}"},
		{method: http.MethodPost, path: "/webhooks/acme-sms", headers: map[string]string{"X-Twilio-Signature": "x", "X-Forwarded-Host": huge}, body: form},
		{method: http.MethodPost, path: "/webhooks/acme-sms?" + huge, headers: map[string]string{"X-Twilio-Signature": "x"}, body: form},
		{method: http.MethodPost, path: "/webhooks/acme-sms", headers: map[string]string{"X-Twilio-Signature": huge, "X-Forwarded-Proto": huge}, body: form},
		{method: http.MethodPost, path: "/webhooks/acme-sms", headers: map[string]string{"X-Twilio-Signature": "x"}, body: "MessageSid=" + huge + "%zz"},
		{method: http.MethodPost, path: "/webhooks/acme-wa", headers: map[string]string{"X-Hub-Signature-256": huge}, body: "{}"},
		{method: http.MethodPost, path: "/webhooks/acme-wa", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + huge}, body: "{}"},
		{method: http.MethodGet, path: "/webhooks/acme-wa?hub.mode=subscribe&hub.challenge=1&hub.verify_token=" + huge},
		{method: http.MethodGet, path: "/webhooks/acme-fb?hub.mode=" + huge + "&hub.challenge=1"},
		{method: http.MethodPost, path: "/webhooks/acme-fb", headers: map[string]string{slack.RetryNumHeader: huge, "X-Slack-Retry-Reason": huge}, body: "{}"},
	}
	for _, rq := range requests {
		req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, strings.NewReader(rq.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range rq.headers {
			req.Header.Set(k, v)
		}
		r := e.do(req)
		if r.status < 400 {
			t.Errorf("%s %.40s…: status %d, want a refusal", rq.method, rq.path, r.status)
		}
		if len(r.body) > 1024 {
			t.Errorf("%s %.40s…: the answer echoes %d bytes", rq.method, rq.path, len(r.body))
		}
	}
	logs := e.logs.String()
	if len(logs) > 16<<10 {
		t.Errorf("%d requests wrote %d bytes of log, want at most 16 KiB", len(requests), len(logs))
	}
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 2048 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
	}
	if e.rec.calls != 0 {
		t.Errorf("unauthenticated requests reached the recorder %d times", e.rec.calls)
	}
}

// Another platform's headers are not read on a channel, even once it is authenticated.
func TestPlatformHeadersOnlyOnTheirChannel(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "telegram")
	body := readFile(t, c.valid)
	c.checkOK(t, c.post(e, body, body, func(req *http.Request) {
		req.Header.Set(slack.RetryNumHeader, "1")
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}))
	if e.rec.count() != 1 {
		t.Fatalf("recorded %v", e.rec.ids())
	}
	if strings.Contains(e.logs.String(), "slack_retry") {
		t.Errorf("a Slack header was logged on a Telegram channel: %s", e.logs.String())
	}
}

// A Slack message over the recorded text bound (40,000 CJK characters: 120 KB) is
// acknowledged and recorded through the real command path and store, its text cut with
// a marker and the cut recorded on the event, rather than acknowledged and dropped.
func TestSlackLongMessageIsKeptTruncated(t *testing.T) {
	cfg := loadConfig(t)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	record, err := command.NewRecordMessageHandler(store, cfg.Catalog(), newID, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h, err := webhooks.New(cfg, command.Inbound{Record: record}, webhooks.Options{Now: func() time.Time { return fixedNow },
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, cfg: cfg, srv: srv, rec: newRecorder(), logs: logs, now: fixedNow}

	text := strings.Repeat("漢字かな交じり文", 5000) // 40,000 characters, 120,000 bytes
	body := slackEvent("EvLong", "1355517700.000100", text)
	c := caseNamed(t, "slack")
	c.checkOK(t, c.post(e, body, body))

	evs, err := store.ReadStream(context.Background(), domain.MessageStream("acme-slack", "D024BE91L:1355517700.000100"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != domain.EventMessageReceived {
		t.Fatalf("acknowledged message not recorded: %d events (log: %.500s)", len(evs), logs.String())
	}
	var got map[string]any
	if err := json.Unmarshal(evs[0].Payload, &got); err != nil {
		t.Fatal(err)
	}
	stored, _ := got["text"].(string)
	if got["text_truncated"] != true {
		t.Errorf("text_truncated = %v, want true", got["text_truncated"])
	}
	if len(stored) > command.MaxTextLength || !utf8.ValidString(stored) {
		t.Errorf("stored text is %d bytes (valid UTF-8: %v), want at most %d", len(stored), utf8.ValidString(stored), command.MaxTextLength)
	}
	if !strings.HasSuffix(stored, "[truncated by switchboard: the message had 120000 bytes]") {
		t.Errorf("stored text ends %q, want the truncation marker", stored[max(0, len(stored)-80):])
	}
	kept := stored[:strings.LastIndex(stored, "\n[truncated")]
	if !strings.HasPrefix(text, kept) || len(kept) < command.MaxTextLength-100 {
		t.Errorf("kept %d bytes that are not the text's beginning", len(kept))
	}

	// The redelivery Slack sends is a duplicate, not a second record.
	c.checkOK(t, c.post(e, body, body, func(req *http.Request) { req.Header.Set(slack.RetryNumHeader, "1") }))
	if evs, _ := store.ReadStream(context.Background(), domain.MessageStream("acme-slack", "D024BE91L:1355517700.000100"), 0); len(evs) != 1 {
		t.Errorf("redelivery recorded again: %d events", len(evs))
	}
}

// A Slack event over 1 MiB (the text twice, in text and in blocks) is within Slack's
// limit and recorded, not refused with 413.
func TestSlackBodyOverOneMiBIsAccepted(t *testing.T) {
	e := newEnv(t)
	c := caseNamed(t, "slack")
	pad := strings.Repeat(`\ud83d\ude00`, 100000) // 1.2 MB of escaped emoji in the blocks
	body := []byte(`{"token":"x","team_id":"T1","type":"event_callback","event_id":"EvBig","event_time":1,"event":{"type":"message","channel":"D024BE91L","user":"U2147483697","text":"big","ts":"1355517800.000100","channel_type":"im","blocks":[{"type":"rich_text","text":"` + pad + `"}]}}`)
	if len(body) <= webhooks.DefaultMaxBodyBytes {
		t.Fatalf("test body too small: %d", len(body))
	}
	c.checkOK(t, c.post(e, body, body))
	if e.rec.count() != 1 {
		t.Errorf("recorded %v", e.rec.ids())
	}
}
