package emulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

var (
	tenSecondly = regexp.MustCompile(`^\{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"` + uuidRE + `","policyName":"TEN_SECONDLY_ROLLING","requestId":"` + uuidRE + `"\}\n$`)
	secondly    = regexp.MustCompile(`^\{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"` + uuidRE + `","policyName":"SECONDLY"\}\n$`)
)

func TestTenSecondLimit(t *testing.T) {
	f := newFixture(t, emulator.Options{TenSecondLimit: 20})
	for i := 0; i < 20; i++ {
		r := f.do("GET", "/crm/v3/properties/contacts/email", nil)
		f.expect(r, 200)
		if got, want := r.header.Get("X-HubSpot-RateLimit-Remaining"), fmt.Sprint(19-i); got != want {
			t.Fatalf("request %d: remaining %s, want %s", i, got, want)
		}
	}
	r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"firstname": "x"}})
	f.expect(r, http.StatusTooManyRequests)
	if !tenSecondly.Match(r.raw) || r.header.Get("X-HubSpot-RateLimit-Remaining") != "0" {
		t.Fatalf("429 %v %s", r.header, r.raw)
	}
	if n := len(f.emu.Contacts()); n != 0 {
		t.Fatal("a rate-limited create made a contact")
	}
	// Search has its own limit and does not use the 10-second window.
	f.expect(f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{}), 200)
	// Another token has its own window.
	f.expect(f.doAs("other", "GET", "/crm/v3/properties/contacts/email", nil), 200)
	f.clock.Advance(9999 * time.Millisecond)
	f.expect(f.do("GET", "/crm/v3/properties/contacts/email", nil), 429)
	f.clock.Advance(time.Millisecond)
	f.expect(f.do("GET", "/crm/v3/properties/contacts/email", nil), 200)
	s := f.emu.Stats()
	if s.RateLimited != 2 || f.emu.MaxRequestsInAnyTenSeconds() != 20 {
		t.Fatalf("stats %+v, max %d", s, f.emu.MaxRequestsInAnyTenSeconds())
	}
	f.emu.ResetStats()
	if f.emu.MaxRequestsInAnyTenSeconds() != 0 || f.emu.Stats().Requests["properties"] != 0 {
		t.Fatal("ResetStats kept counts")
	}
}

func TestSearchPerSecondLimit(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	for i := 0; i < 5; i++ {
		f.expect(f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{}), 200)
	}
	r := f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{})
	f.expect(r, http.StatusTooManyRequests)
	if !secondly.Match(r.raw) || r.header.Get("X-HubSpot-RateLimit-Remaining") != "" || r.header.Get("Retry-After") != "" {
		t.Fatalf("search 429 %v %s", r.header, r.raw)
	}
	f.expect(f.do("GET", "/crm/v3/properties/contacts/email", nil), 200)
	f.clock.Advance(time.Second)
	f.expect(f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{}), 200)
	if got := f.emu.MaxSearchesInAnySecond(); got != 5 {
		t.Fatalf("max searches in a second %d", got)
	}
}

// TestBurstStaysWithinLimits fires concurrent creates and searches on the real clock:
// whatever the interleaving, what was admitted never exceeds the limits, and refused
// requests leave no contact behind.
func TestBurstStaysWithinLimits(t *testing.T) {
	f := newFixture(t, emulator.Options{TenSecondLimit: 30, SearchPerSecond: 5, Now: time.Now})
	emu := f.emu

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	client := f.srv.Client()
	send := func(path string, body any) {
		defer wg.Done()
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(buf))
		req.Header.Set("Authorization", "Bearer burst")
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		mu.Lock()
		statuses[res.StatusCode]++
		mu.Unlock()
	}
	for i := 0; i < 120; i++ {
		wg.Add(2)
		go send("/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"firstname": fmt.Sprint("c", i)}})
		go send("/crm/v3/objects/contacts/search", map[string]any{})
	}
	wg.Wait()
	created := len(emu.Contacts())
	if created != statuses[201] || created > 30 || created == 0 {
		t.Fatalf("%d contacts, statuses %v", created, statuses)
	}
	if emu.MaxRequestsInAnyTenSeconds() > 30 || emu.MaxSearchesInAnySecond() > 5 || emu.MaxSearchesInAnySecond() == 0 {
		t.Fatalf("max %d per 10 s, %d searches per s", emu.MaxRequestsInAnyTenSeconds(), emu.MaxSearchesInAnySecond())
	}
	if emu.Stats().RateLimited != statuses[429] || statuses[201]+statuses[200]+statuses[429] != 240 {
		t.Fatalf("stats %+v, statuses %v", emu.Stats(), statuses)
	}
}

// TestRollingWindow walks a fake clock through 30 s of steady requests above the limit.
func TestRollingWindow(t *testing.T) {
	f := newFixture(t, emulator.Options{TenSecondLimit: 10, SearchPerSecond: 2})
	admitted := 0
	for i := 0; i < 120; i++ {
		if f.do("GET", "/crm/v3/properties/contacts/email", nil).status == 200 {
			admitted++
		}
		f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{})
		f.clock.Advance(250 * time.Millisecond)
	}
	if f.emu.MaxRequestsInAnyTenSeconds() != 10 || f.emu.MaxSearchesInAnySecond() != 2 || admitted != 30 {
		t.Fatalf("max %d / %d, admitted %d", f.emu.MaxRequestsInAnyTenSeconds(), f.emu.MaxSearchesInAnySecond(), admitted)
	}
}

func TestFaultsHaveNoEffect(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 7})
	f.emu.SetFaults(emulator.Faults{Rate: 1})
	seen := map[int]int{}
	for i := 0; i < 30; i++ {
		r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": fmt.Sprint("c", i, "@example.com")}})
		seen[r.status]++
		switch r.status {
		case 429:
			if !tenSecondly.Match(r.raw) {
				t.Fatalf("fault 429 body %s", r.raw)
			}
		case 502, 503:
			if !strings.Contains(string(r.raw), fmt.Sprint(r.status)) || r.header.Get("Content-Type") != "text/html" {
				t.Fatalf("fault %d body %s", r.status, r.raw)
			}
		default:
			t.Fatalf("unexpected status %d %s", r.status, r.raw)
		}
		r = f.do("POST", messagesPath, egg("4567", "t", fmt.Sprint("m", i), "+14155550100"))
		seen[r.status]++
	}
	if seen[429] == 0 || seen[502] == 0 || seen[503] == 0 {
		t.Fatalf("kinds drawn %v", seen)
	}
	if len(f.emu.Contacts()) != 0 || len(f.emu.Published()) != 0 || len(f.emu.Threads()) != 0 {
		t.Fatal("a faulted request had an effect")
	}
	if s := f.emu.Stats(); s.Faulted != 60 {
		t.Fatalf("stats %+v", s)
	}

	// Only the operations named fail.
	f.emu.SetFaults(emulator.Faults{Rate: 1, Operations: []string{emulator.OpPublish}})
	f.create(map[string]string{"firstname": "ok"})
	if r := f.do("POST", messagesPath, egg("4567", "t", "x", "+14155550100")); r.status < 429 {
		t.Fatalf("publish not faulted: %d", r.status)
	}
	f.emu.SetFaults(emulator.Faults{})
	f.expect(f.do("POST", messagesPath, egg("4567", "t", "x", "+14155550100")), 201)
}

func TestFaultsAreDeterministic(t *testing.T) {
	run := func() []int {
		f := newFixture(t, emulator.Options{Seed: 42})
		f.emu.SetFaults(emulator.Faults{Rate: 0.5, Kinds: []string{"502", "503"}})
		var out []int
		for i := 0; i < 20; i++ {
			out = append(out, f.do("GET", "/crm/v3/properties/contacts/email", nil).status)
		}
		return out
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	if !strings.Contains(fmt.Sprint(a), "200") || !strings.Contains(fmt.Sprint(a), "50") {
		t.Fatalf("rate 0.5 gave %v", a)
	}
}

func TestStallFault(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 3})
	f.emu.SetFaults(emulator.Faults{Rate: 1, Kinds: []string{emulator.FaultStall}, StallFor: 50 * time.Millisecond})
	client := &http.Client{Timeout: 5 * time.Second}
	outcomes := map[string]int{}
	for i := 0; i < 8; i++ {
		body := fmt.Sprintf(`{"properties":{"firstname":"s%d"}}`, i)
		req, _ := http.NewRequest("POST", f.srv.URL+"/crm/v3/objects/contacts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		start := time.Now()
		res, err := client.Do(req)
		if time.Since(start) < 50*time.Millisecond {
			t.Fatal("stall answered early")
		}
		if err != nil {
			outcomes["dropped"]++
			continue
		}
		res.Body.Close()
		if res.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("stall answered %d", res.StatusCode)
		}
		outcomes["504"]++
	}
	if outcomes["dropped"] == 0 || outcomes["504"] == 0 {
		t.Fatalf("outcomes %v", outcomes)
	}
	if len(f.emu.Contacts()) != 0 {
		t.Fatal("a stalled request created a contact")
	}
}
