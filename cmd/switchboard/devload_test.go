package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/adapters/loaddriver"
)

// runDevLoad runs `dev load` against the stack, reading the stack's emulator through
// the same views `dev hubspot` serves, and returns its JSON report.
func runDevLoad(t *testing.T, s *stack, args ...string) loaddriver.Report {
	t.Helper()
	views := httptest.NewServer(inspectable(s.emu, emulatorLimits{TenSecondLimit: 110, SearchPerSecond: 5}))
	defer views.Close()
	var out, errOut bytes.Buffer
	args = append([]string{"--config", s.configPath, "--url", s.url, "--emulator", views.URL, "--json"}, args...)
	if err := cmdDevLoad(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("dev load %v: %v\n%s", args, err, errOut.String())
	}
	var rep loaddriver.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("dev load --json printed %q: %v", out.String(), err)
	}
	return rep
}

// runMessages are the inbox messages of one load run (its warm-up excluded), by the
// text the driver gives them: "load <run> <unit>.<k>".
func runMessages(emu *emulator.Server, runID string) []emulator.PublishedMessage {
	var out []emulator.PublishedMessage
	for _, p := range emu.Published() {
		if strings.HasPrefix(p.Text, "load "+runID+" ") && !strings.Contains(p.Text, "warm-up") {
			out = append(out, p)
		}
	}
	return out
}

// runIDs are the run ids found in the inbox.
func runIDs(emu *emulator.Server) map[string]bool {
	ids := map[string]bool{}
	for _, p := range emu.Published() {
		if f := strings.Fields(p.Text); len(f) >= 2 && f[0] == "load" {
			ids[f[1]] = true
		}
	}
	return ids
}

// TestDevLoadCountsMatchTheEmulator drives a few messages through a real stack: what the
// driver reports acknowledged, published and created is what the emulator holds.
func TestDevLoadCountsMatchTheEmulator(t *testing.T) {
	s := startStack(t, stackOptions{})
	channels := "acme-sms,acme-wa,acme-wa-twilio"

	// A 50/50 mix, closed loop: the pool is warmed up first, then 12 messages.
	rep := runDevLoad(t, s, "--channels", channels, "--clients", "3", "--count", "12", "--known-senders", "0.5", "--pool", "2")
	ids := runIDs(s.emu)
	if len(ids) != 1 {
		t.Fatalf("inbox holds runs %v, want one", ids)
	}
	var runID string
	for id := range ids {
		runID = id
	}
	got := runMessages(s.emu, runID)
	if rep.Sent != 12 || rep.Acknowledged != 12 || len(rep.Errors) != 0 {
		t.Fatalf("sent %d, acknowledged %d, errors %v; want 12, 12, none", rep.Sent, rep.Acknowledged, rep.Errors)
	}
	e := rep.Emulator
	if e == nil || e.Published != len(got) || e.Published != rep.Acknowledged || e.Unpublished != 0 {
		t.Fatalf("report says %+v published; the emulator's inbox holds %d of the run's messages, %d acknowledged", e, len(got), rep.Acknowledged)
	}
	if e.Calls["publish"] != rep.Acknowledged {
		t.Errorf("report counts %d publish calls for %d messages", e.Calls["publish"], rep.Acknowledged)
	}
	if e.AckToInbox.Count != e.Published {
		t.Errorf("ack-to-inbox latency over %d messages, %d published", e.AckToInbox.Count, e.Published)
	}
	// Every phone is one person: the pool's two, and one per new sender.
	if contacts := len(s.emu.Contacts()); contacts != 2+rep.NewSenders || e.Calls["create"] != rep.NewSenders {
		t.Errorf("emulator holds %d contacts and counted %d creates; the report has %d new senders after a pool of 2",
			contacts, e.Calls["create"], rep.NewSenders)
	}

	// A burst through the command API, open loop: two new senders on three channels each.
	before := len(s.emu.Contacts())
	rep = runDevLoad(t, s, "--api", "--channels", channels, "--rate", "50", "--count", "6", "--burst")
	if rep.Mode != "api" || rep.Sent != 6 || rep.Acknowledged != 6 || rep.NewSenders != 2 || rep.Emulator.Published != 6 {
		t.Fatalf("burst via the API: %+v, emulator %+v", rep, rep.Emulator)
	}
	if created := len(s.emu.Contacts()) - before; created != 2 || rep.Emulator.Calls["create"] != 2 {
		t.Errorf("a burst of 2 new senders on 3 channels created %d contacts (report: %d creates), want 2", created, rep.Emulator.Calls["create"])
	}
}
