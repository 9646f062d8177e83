package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// TestPhoneMatchingHoweverTheNumberWasTyped: a contact's phone is free text; the sender
// matches it whatever the format, and never a number of another country that shares
// its national digits.
func TestPhoneMatchingHoweverTheNumberWasTyped(t *testing.T) {
	cases := []struct {
		name, region, prop, stored, sender string
		match                              bool
	}{
		{"international with brackets", "US", "phone", "+1 (415) 555-2671", "+14155552671", true},
		{"dotted national", "US", "mobilephone", "415.555.2671", "+1 415 555 2671", true},
		{"00 international prefix", "US", "phone", "0044 7911 123456", "+447911123456", true},
		{"trunk zero in brackets", "US", "mobilephone", "+44 (0)7911 123456", "+447911123456", true},
		{"national with trunk zero", "GB", "phone", "07911 123456", "+447911123456", true},
		{"national sender in GB", "GB", "phone", "+44 7911 123456", "07911 123456", true},
		{"US sender, UK contact with the same national digits", "US", "phone", "+44 20 7946 0958", "+1 207 946 0958", false},
		{"UK sender, US contact with the same national digits", "US", "phone", "(207) 946-0958", "+44 20 7946 0958", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, stackOptions{region: tc.region})
			stored := s.emu.CreateContactAt(map[string]string{tc.prop: tc.stored}, time.Now().Add(-time.Hour))
			s.post(msg("acme-sms", "m", map[string]any{"phone": tc.sender}, "hi"), http.StatusAccepted)
			st := s.waitSettled("acme-sms", "m")
			if tc.match {
				if st.Outcome != domain.EventContactMatched || st.ContactID != stored {
					t.Fatalf("outcome %s on %q, want a match on %s", st.Outcome, st.ContactID, stored)
				}
				return
			}
			if st.Outcome != domain.EventContactCreated || st.ContactID == stored {
				t.Fatalf("outcome %s on %q, want a new contact (not %s)", st.Outcome, st.ContactID, stored)
			}
			// The dropped candidate and why are in the events.
			for _, e := range s.messageEvents("acme-sms", "m") {
				if e.Type != domain.EventContactCreated {
					continue
				}
				var p domain.ContactCreated
				_ = domain.Decode(e, &p)
				if len(p.Candidates) != 1 || p.Candidates[0].ContactID != stored || p.Candidates[0].Kept {
					t.Errorf("candidates %+v, want %s dropped", p.Candidates, stored)
				}
				return
			}
			t.Error("no ContactCreated event")
		})
	}
}

// TestSearchLagDoesNotDuplicate: with a 5-second search index lag, messages from one
// new sender one second apart create one contact: the contact switchboard created is
// known from its own events, not from search.
func TestSearchLagDoesNotDuplicate(t *testing.T) {
	s := startStack(t, stackOptions{emulator: emulator.Options{SearchLag: 5 * time.Second}})
	for i := range 4 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		s.post(msg("acme-sms", fmt.Sprint("lag-", i), map[string]any{"phone": "+16285550177"}, "hello"), http.StatusAccepted)
		s.waitSettled("acme-sms", fmt.Sprint("lag-", i))
	}
	if n := len(s.emu.Contacts()); n != 1 {
		t.Fatalf("%d contacts, want 1", n)
	}
	st := s.emu.Stats()
	if st.Requests[emulator.OpSearch] != 1 || st.Requests[emulator.OpCreate] != 1 {
		t.Errorf("%d searches and %d creates, want 1 and 1", st.Requests[emulator.OpSearch], st.Requests[emulator.OpCreate])
	}
}

// TestOneLookupAndOneCreatePerNewSender: however many of a new sender's messages arrive
// at once, HubSpot sees at most one lookup and one create for it.
func TestOneLookupAndOneCreatePerNewSender(t *testing.T) {
	s := startStack(t, stackOptions{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.post(msg("acme-tg", fmt.Sprint("9:", i), map[string]any{"user_id": "31337", "first_name": "Lin"}, "hi"), http.StatusAccepted)
		}()
	}
	wg.Wait()
	s.waitPublished(20)
	st := s.emu.Stats()
	lookups := st.Requests[emulator.OpSearch] + st.Requests[emulator.OpRead] + st.Requests["batch_read"]
	if lookups > 1 || st.Requests[emulator.OpCreate] > 1 {
		t.Errorf("%d lookups and %d creates for one new sender, want at most 1 and 1: %v", lookups, st.Requests[emulator.OpCreate], st.Requests)
	}
}

// TestFaultyHubSpotStillExactlyOnce: with a fifth of HubSpot's answers failing (429,
// 502, stalls), 1,000 messages from 200 new senders give exactly 200 contacts and 1,000
// inbox messages, and HubSpot never saw more than its limits allow.
func TestFaultyHubSpotStillExactlyOnce(t *testing.T) {
	senders, perSender := 200, 5
	if testing.Short() {
		senders, perSender = 40, 5
	}
	s := startStack(t, stackOptions{tenSecondLimit: 250, searchPerSecond: 5,
		emulator: emulator.Options{TenSecondLimit: 250, SearchPerSecond: 5, Seed: 7}})
	s.emu.SetFaults(emulator.Faults{Rate: 0.2, Kinds: []string{emulator.Fault429, emulator.Fault502, emulator.FaultStall}, StallFor: 300 * time.Millisecond})
	type job struct{ channel, id, phone string }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.post(msg(j.channel, j.id, map[string]any{"phone": j.phone}, "hello"), http.StatusAccepted)
			}
		}()
	}
	for m := range perSender {
		for p := range senders {
			channel := "acme-sms"
			if (p+m)%2 == 1 {
				channel = "acme-wa"
			}
			phone := fmt.Sprintf("+1628%07d", 5550000+p)
			if channel == "acme-wa" {
				phone = phone[1:]
			}
			jobs <- job{channel, fmt.Sprintf("s%d-m%d", p, m), phone}
		}
	}
	close(jobs)
	wg.Wait()
	total := senders * perSender
	last := time.Now()
	waitFor(t, fmt.Sprintf("%d inbox messages", total), 5*time.Minute, func() bool {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			st := s.emu.Stats()
			t.Logf("progress: %d published, %d contacts, positions %v, requests %v, faulted %d, limited %d",
				len(s.emu.Published()), len(s.emu.Contacts()), s.svc.positions(), st.Requests, st.Faulted, st.RateLimited)
		}
		return len(s.emu.Published()) >= total
	})
	if n := len(s.emu.Contacts()); n != senders {
		t.Errorf("%d contacts, want %d", n, senders)
	}
	seen := map[string]bool{}
	for _, p := range s.emu.Published() {
		if seen[p.IntegrationIdempotencyID] {
			t.Errorf("message %s published twice", p.IntegrationIdempotencyID)
		}
		seen[p.IntegrationIdempotencyID] = true
		if p.AssociateWithContactID == "" {
			t.Errorf("message %s published unlinked", p.IntegrationIdempotencyID)
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct inbox messages, want %d", len(seen), total)
	}
	if got := s.emu.MaxSearchesInAnySecond(); got > 5 {
		t.Errorf("HubSpot saw %d searches in one second, over its 5/s limit", got)
	}
	if got := s.emu.MaxRequestsInAnyTenSeconds(); got > 250 {
		t.Errorf("HubSpot saw %d requests in ten seconds, over its limit of 250", got)
	}
	st := s.emu.Stats()
	if st.Faulted == 0 {
		t.Error("no fault was injected: the test proves nothing")
	}
	t.Logf("HubSpot requests %v, faulted %d, rate limited %d", st.Requests, st.Faulted, st.RateLimited)
}

// TestRevokedTokenDeadLettersThenRetryDeliversOnce: publications that fail for good
// wait in the dead-letter list; once the token works again, a retry lands each exactly
// once.
func TestRevokedTokenDeadLettersThenRetryDeliversOnce(t *testing.T) {
	s := startStack(t, stackOptions{})
	s.emu.AddToken(testEnv["HS_TOKEN"])
	s.post(msg("acme-sms", "warm", map[string]any{"phone": "+16285550188"}, "hi"), http.StatusAccepted)
	s.waitSettled("acme-sms", "warm") // the sender is known: the next messages need no CRM call

	s.emu.RevokeToken(testEnv["HS_TOKEN"])
	for i := range 3 {
		s.post(msg("acme-sms", fmt.Sprint("r", i), map[string]any{"phone": "+16285550188"}, "hello"), http.StatusAccepted)
	}
	var letters struct {
		DeadLetters []struct {
			ID, ChannelID, MessageID, Stage, Reason string
			Status                                  int
		} `json:"dead_letters"`
	}
	waitFor(t, "3 dead letters", 30*time.Second, func() bool {
		status, body := s.do("GET", "/v1/dead-letters", nil)
		if status != 200 {
			t.Fatalf("GET /v1/dead-letters: %d %s", status, body)
		}
		_ = json.Unmarshal(body, &letters)
		return len(letters.DeadLetters) == 3
	})
	for _, d := range letters.DeadLetters {
		if d.Stage != domain.StagePublication || d.Status != http.StatusUnauthorized || d.Reason == "" {
			t.Errorf("dead letter %+v, want a publication refused with 401 and a reason", d)
		}
	}
	if n := len(s.emu.Published()); n != 1 {
		t.Fatalf("%d inbox messages while the token is revoked, want 1", n)
	}

	s.emu.AddToken(testEnv["HS_TOKEN"])
	// One letter is retried from the command line, the others through the API.
	var out, errOut bytes.Buffer
	if code := run([]string{"dead-letters", "--config", s.configPath, "retry", letters.DeadLetters[0].ID}, &out, &errOut); code != 0 {
		t.Fatalf("dead-letters retry exited %d: %s", code, errOut.String())
	}
	for _, d := range letters.DeadLetters[1:] {
		if status, body := s.do("POST", "/v1/dead-letters/"+d.ID+"/retry", nil); status != http.StatusAccepted {
			t.Fatalf("retry %s: %d %s", d.ID, status, body)
		}
		// A second retry of the same letter finds nothing waiting.
		if status, _ := s.do("POST", "/v1/dead-letters/"+d.ID+"/retry", nil); status != http.StatusNotFound {
			t.Errorf("second retry of %s: %d, want 404", d.ID, status)
		}
	}
	s.waitPublished(4)
	time.Sleep(200 * time.Millisecond) // a duplicate publication would show up by now
	counts := map[string]int{}
	for _, p := range s.emu.Published() {
		counts[p.IntegrationIdempotencyID]++
	}
	for i := range 3 {
		if c := counts[domain.IdempotencyID("acme-sms", fmt.Sprint("r", i))]; c != 1 {
			t.Errorf("message r%d published %d times, want 1", i, c)
		}
	}
	waitFor(t, "the dead-letter list to empty", 10*time.Second, func() bool {
		_, body := s.do("GET", "/v1/dead-letters", nil)
		_ = json.Unmarshal(body, &letters)
		return len(letters.DeadLetters) == 0
	})
}
