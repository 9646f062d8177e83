package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/samples"
	"switchboard/domain"
)

// erasurePerson is a sender who writes on SMS (the command API, with names and an
// email), WhatsApp and Telegram (signed webhooks), with texts found nowhere else.
type erasurePerson struct {
	phone, digits, tgUser, tgUsername, first, last, email string
	smsID, waID, tgID                                     string
	texts                                                 [3]string
}

// values are what the byte search looks for: every personal value the person gave.
func (p erasurePerson) values() []string {
	return append([]string{p.phone, p.digits, p.tgUser, p.tgUsername, p.first, p.last, p.email, p.waID, p.tgID}, p.texts[:]...)
}

var (
	erasureX = erasurePerson{phone: "+14155552671", digits: "14155552671", tgUser: "5550123", tgUsername: "xaviera_q",
		first: "Xaviera", last: "Quintrell", email: "xaviera.q@example.com",
		smsID: "SMx0e2e", waID: "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdGQ0", tgID: "5550123:41",
		texts: [3]string{"X by SMS: parcel QX-551", "X by WhatsApp: locker QX-552", "X by Telegram: refund QX-553"}}
	erasureY = erasurePerson{phone: "+14155550199", digits: "14155550199", tgUser: "7770456", tgUsername: "yolanda_v",
		first: "Yolanda", last: "Vexmoor", email: "yolanda.v@example.com",
		smsID: "SMy0e2e", waID: "wamid.HBgLMTQxNTU1NTAxOTkVAgASGBQzQUNCRE", tgID: "7770456:42",
		texts: [3]string{"Y by SMS: invoice YV-30917", "Y by WhatsApp: voucher YV-30918", "Y by Telegram: booking YV-30919"}}
)

// storeFilesHolding lists the files of the SQLite store at path (the database, its WAL
// and shared memory) whose bytes contain v.
func storeFilesHolding(t *testing.T, path, v string) []string {
	t.Helper()
	var in []string
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(v)) {
			in = append(in, filepath.Base(f))
		}
	}
	return in
}

// checkpointAndVacuum leaves nothing in the WAL or in free pages: what a byte search of
// the files then finds is what the tables hold.
func checkpointAndVacuum(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// Issue 12, must-show 1, 2 and the logs: X and Y write on SMS, WhatsApp and Telegram;
// X's contact gets HubSpot's signed contact.privacyDeletion and contact.deletion. Once
// the service has stopped and the file is checkpointed and vacuumed, no file of the store
// holds any of X's numbers, user id, username, names, email, message ids or texts — and
// every one of Y's is there (the search is shown to find what is there). The audit of
// X's contact lists X's events with "[erased]"; a rebuild succeeds and the search still
// finds nothing of X; Y's audit is whole; no info line of the service's log names
// anyone.
func TestErasureEndToEndLeavesNothingOfTheErasedInTheStoreFiles(t *testing.T) {
	logs := &lockedBuffer{}
	opts := withAppSecret
	opts.logTo = logs
	s := startStack(t, opts)
	contact := map[erasurePerson]string{}
	for _, p := range []erasurePerson{erasureX, erasureY} {
		contact[p] = s.emu.CreateContact(map[string]string{"phone": p.phone, "telegram_user_id": p.tgUser,
			"firstname": p.first, "lastname": p.last, "email": p.email})
		s.post(msg("acme-sms", p.smsID, map[string]any{"phone": p.phone, "first_name": p.first, "last_name": p.last, "email": p.email}, p.texts[0]), http.StatusAccepted)
		if code := s.sendSample("acme-wa", samples.Sample{From: p.digits, Name: p.first + " " + p.last, MessageID: p.waID, Text: p.texts[1]}, nil); code != http.StatusOK {
			t.Fatalf("WhatsApp webhook: %d", code)
		}
		if code := s.sendSample("acme-tg", samples.Sample{From: p.tgUser, Username: p.tgUsername, Name: p.first + " " + p.last, MessageID: p.tgID, Text: p.texts[2]}, nil); code != http.StatusOK {
			t.Fatalf("Telegram webhook: %d", code)
		}
	}
	for _, p := range []erasurePerson{erasureX, erasureY} {
		for _, m := range [][2]string{{"acme-sms", p.smsID}, {"acme-wa", p.waID}, {"acme-tg", p.tgID}} {
			if got := s.waitSettled(m[0], m[1]); got.ContactID != contact[p] {
				t.Fatalf("%s/%s resolved to %q, want %s's contact %s", m[0], m[1], got.ContactID, p.first, contact[p])
			}
		}
	}
	s.waitPublished(6)

	xID, _ := strconv.ParseInt(contact[erasureX], 10, 64)
	if err := s.emu.Archive(contact[erasureX]); err != nil {
		t.Fatal(err)
	}
	if code := s.hubspotWebhook([]map[string]any{
		hubspotEvent(71, "contact.privacyDeletion", xID, nil), hubspotEvent(72, "contact.deletion", xID, nil),
	}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("HubSpot webhook: %d", code)
	}
	waitFor(t, "X's messages to be found by their ids no more", 10*time.Second, func() bool {
		for _, m := range [][2]string{{"acme-sms", erasureX.smsID}, {"acme-wa", erasureX.waID}, {"acme-tg", erasureX.tgID}} {
			if len(s.messageEvents(m[0], m[1])) != 0 {
				return false
			}
		}
		return true
	})
	cli := func(args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := run(append([]string{args[0], "--config", s.configPath}, args[1:]...), &out, &errOut)
		return out.String() + errOut.String(), code
	}
	// The audit of X's contact: X's events, their types and times, "[erased]" for what
	// was X's. Waited for, as serve's projections apply the erasure on their own time.
	var xAudit string
	waitFor(t, "the audit to read X's events erased", 10*time.Second, func() bool {
		out, code := cli("audit", "contact", "acme", contact[erasureX], "--json")
		xAudit = out
		return code == 0 && strings.Contains(out, domain.Erased) && !strings.Contains(out, erasureX.texts[0])
	})
	checkAudits := func(when string) {
		t.Helper()
		out, code := cli("audit", "contact", "acme", contact[erasureX], "--json")
		if code != 0 || !strings.Contains(out, domain.EventMessageReceived) || !strings.Contains(out, domain.Erased) {
			t.Errorf("%s: X's contact audit (exit %d) lists no erased message:\n%s", when, code, out)
		}
		for _, v := range erasureX.values() {
			if strings.Contains(out, v) {
				t.Errorf("%s: X's contact audit shows %q", when, v)
			}
		}
		for _, m := range [][2]string{{"acme-sms", erasureY.smsID}, {"acme-wa", erasureY.waID}, {"acme-tg", erasureY.tgID}} {
			out, code := cli("audit", "message", m[0], m[1])
			if code != 0 || strings.Contains(out, domain.Erased) {
				t.Errorf("%s: Y's audit of %s (exit %d) is not whole:\n%s", when, m[1], code, out)
			}
		}
		out, _ = cli("audit", "sender", "acme-tg", erasureY.tgUser)
		for _, v := range []string{erasureY.texts[2], erasureY.first} {
			if !strings.Contains(out, v) {
				t.Errorf("%s: Y's sender audit lacks %q:\n%s", when, v, out)
			}
		}
	}
	// serve itself flushed the WAL once its projections applied the erasure: the scrubbed
	// rows' old images are not left there for SQLite's own checkpoint to find.
	waitFor(t, "serve to flush X out of the WAL", 5*time.Second, func() bool {
		for _, v := range erasureX.values() {
			for _, f := range storeFilesHolding(t, s.cfg.Store.DSN, v) {
				if strings.HasSuffix(f, "-wal") {
					return false
				}
			}
		}
		return true
	})
	checkAudits("after the erasure")
	if !strings.Contains(xAudit, domain.EventContactMatched) {
		t.Errorf("X's contact audit does not say how X's messages were matched:\n%s", xAudit)
	}

	dbPath := s.cfg.Store.DSN
	search := func(when string) {
		t.Helper()
		checkpointAndVacuum(t, dbPath)
		for _, v := range erasureX.values() {
			if in := storeFilesHolding(t, dbPath, v); len(in) > 0 {
				t.Errorf("%s: X's %q is still in %v", when, v, in)
			}
		}
		for _, v := range erasureY.values() {
			if in := storeFilesHolding(t, dbPath, v); len(in) == 0 {
				t.Errorf("%s: Y's %q is in no file of the store: the search proves nothing", when, v)
			}
		}
	}
	s.stop()
	search("service stopped")

	if out, code := cli("rebuild"); code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", code, out)
	}
	checkAudits("after a rebuild")
	search("after a rebuild")

	// simulate replays the living and leaves the erased alone: nobody to look up.
	out, code := cli("simulate", "--json")
	var rep domain.WhatIfReport
	if code != 0 || json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep) != nil {
		t.Fatalf("simulate after the erasure: exit %d\n%s", code, out)
	}
	if rep.Erased != 3 || rep.Messages != 3 || rep.WriteAttempts != 0 {
		t.Errorf("simulate after the erasure: %+v; want X's 3 messages not replayed and Y's 3 replayed", rep)
	}
	for _, v := range erasureX.values() {
		if strings.Contains(out, v) {
			t.Errorf("simulate's report shows X's %q", v)
		}
	}

	// The service's info lines named nobody: no message id, number, user id, name or
	// text of X's or Y's.
	for _, p := range []erasurePerson{erasureX, erasureY} {
		for _, v := range p.values() {
			if strings.Contains(logs.String(), v) {
				t.Errorf("the service's info log holds %q", v)
			}
		}
	}
	if !strings.Contains(logs.String(), "message recorded") {
		t.Errorf("the log capture saw nothing:\n%.2000s", logs.String())
	}
}
