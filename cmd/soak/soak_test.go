package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testSeed(t *testing.T, def int64) int64 {
	if v := os.Getenv("SWITCHBOARD_SOAK_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("SWITCHBOARD_SOAK_SEED=%q: want an integer", v)
		}
		return n
	}
	return def
}

func runSoak(t *testing.T, cfg Config) *Report {
	t.Helper()
	cfg.Race = raceEnabled
	var progress strings.Builder
	cfg.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	var table strings.Builder
	if rep != nil {
		rep.Table(&table)
	}
	t.Logf("%s\n%s", progress.String(), table.String())
	if err != nil {
		t.Fatalf("seed %d: the run could not be carried out: %v", cfg.Seed, err)
	}
	return rep
}

// TestSoakShort is the bounded soak of issue 10: 150 messages on SMS, WhatsApp, Telegram
// and the command API, some delivered twice at once or again later, three kill -9 of the
// service, one emulator restart, a tenth of HubSpot calls failing (a quarter of those
// applied and then failed), search lagging a second. SPEC rules 8 and 10 must hold.
func TestSoakShort(t *testing.T) {
	rep := runSoak(t, Config{
		Seed: testSeed(t, 1), Messages: 150, Span: 8 * time.Second, Kills: 3, EmulatorRestarts: 1,
		FaultRate: 0.1, ApplyShare: 0.25, SearchLag: time.Second, DuplicateShare: 0.1, RedeliverShare: 0.05,
		SettleTimeout: 30 * time.Second,
	})
	if rep.Kills != 3 || rep.EmulatorRestarts != 1 {
		t.Errorf("seed %d: %d kills and %d emulator restarts, want 3 and 1", rep.Seed, rep.Kills, rep.EmulatorRestarts)
	}
	if rep.Acknowledged == 0 || sumCounts(rep.Faults) == 0 {
		t.Errorf("seed %d: %d messages acknowledged, faults %v: the run exercised nothing", rep.Seed, rep.Acknowledged, rep.Faults)
	}
	if rep.Failed() {
		t.Fatalf("invariants broken, %s\n%s", rep.Summary(), strings.Join(rep.Violations, "\n"))
	}
}

// TestTwentyNewSendersMakeTwentyContacts is issue 10 "What it must show" item 3: 200
// concurrent first messages from 20 new senders, each writing on SMS and WhatsApp at
// once, while half of HubSpot's creates are applied and then answered 502 or reset.
func TestTwentyNewSendersMakeTwentyContacts(t *testing.T) {
	const senders, perChannel = 20, 5
	plan := func(rng *rand.Rand) ([]*person, []*plannedMessage) {
		var people []*person
		var msgs []*plannedMessage
		for i := 0; i < senders; i++ {
			phone := fmt.Sprintf("+1415555%04d", 3000+i)
			p := &person{Key: "phone:" + phone, Phone: phone, Name: fmt.Sprintf("New Sender %d", i)}
			people = append(people, p)
			for j := 0; j < perChannel; j++ {
				msgs = append(msgs,
					&plannedMessage{Via: chSMS, Channel: chSMS, Person: p, Text: "first", MessageID: fmt.Sprintf("SM%016x%016x", rng.Uint64(), rng.Uint64())},
					&plannedMessage{Via: chWhatsApp, Channel: chWhatsApp, Person: p, Text: "first", MessageID: fmt.Sprintf("wamid.NEW%016X", rng.Uint64())})
			}
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		return people, msgs
	}
	rep := runSoak(t, Config{
		Seed: testSeed(t, 20), Span: time.Second, Concurrency: 2 * senders * perChannel, Plan: plan,
		Faults: map[string]float64{"apply-502": 0.25, "apply-reset": 0.25}, FaultOps: []string{"create"},
		SearchLag: 2 * time.Second, SettleTimeout: 45 * time.Second, SettleWithFaults: true,
	})
	if rep.Acknowledged != senders*perChannel*2 {
		t.Errorf("seed %d: %d of %d messages acknowledged", rep.Seed, rep.Acknowledged, senders*perChannel*2)
	}
	if rep.Faults["apply-502"]+rep.Faults["apply-reset"] == 0 {
		t.Errorf("seed %d: no create was applied and then failed; the test proves nothing (faults %v)", rep.Seed, rep.Faults)
	}
	if rep.Contacts != senders {
		t.Errorf("seed %d: %d contacts for %d senders, want exactly %d (faults %v)", rep.Seed, rep.Contacts, senders, senders, rep.Faults)
	}
	if rep.Failed() {
		t.Fatalf("invariants broken, %s\n%s", rep.Summary(), strings.Join(rep.Violations, "\n"))
	}
}
