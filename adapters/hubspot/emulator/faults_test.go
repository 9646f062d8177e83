package emulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

// post sends a raw request and returns the answer or the transport error, unlike
// fixture.do, which fails the test on a transport error.
func (f *fixture) post(client *http.Client, path, body string) (*http.Response, []byte, error) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res, raw, err
}

func TestApply502CreatesTheContact(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 1})
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.FaultApply502: 1}, Operations: []string{emulator.OpCreate}})
	res, raw, err := f.post(f.srv.Client(), "/crm/v3/objects/contacts", `{"properties":{"email":"ana@example.com"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadGateway || res.Header.Get("Content-Type") != "text/html" || !bytes.Contains(raw, []byte("502 Bad Gateway")) {
		t.Fatalf("apply-502 answered %d %s", res.StatusCode, raw)
	}
	cs := f.emu.Contacts()
	if len(cs) != 1 || cs[0].Properties["email"] != "ana@example.com" {
		t.Fatalf("a create answered 502 made %d contacts, want 1: %+v", len(cs), cs)
	}
	// The retry a client makes sees the contact the lost answer made.
	f.emu.SetFaults(emulator.Faults{})
	r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": "ana@example.com"}})
	f.expect(r, http.StatusConflict)
	if !strings.Contains(string(r.raw), "Existing ID: "+cs[0].ID) {
		t.Fatalf("retry answer %s", r.raw)
	}
	if s := f.emu.Stats(); s.Faulted != 1 || s.FaultsByKind[emulator.FaultApply502] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestApplyResetPublishesAndResetsTheConnection(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 2})
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.FaultApplyReset: 1}})
	_, _, err := f.post(f.srv.Client(), messagesPath, mustJSON(t, egg("4567", "t", "idem-1", "+14155550100")))
	if err == nil {
		t.Fatal("apply-reset answered")
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("apply-reset: client saw %v, want connection reset by peer", err)
	}
	if n := len(f.emu.Published()); n != 1 {
		t.Fatalf("a publish whose connection was reset after apply left %d inbox messages, want 1", n)
	}
	// The retry is answered with the message the lost answer carried, not a second one.
	f.emu.SetFaults(emulator.Faults{})
	r := f.do("POST", messagesPath, egg("4567", "t", "idem-1", "+14155550100"))
	f.expect(r, http.StatusOK)
	if r.json(t)["id"] != f.emu.Published()[0].MessageID || len(f.emu.Published()) != 1 {
		t.Fatalf("retry after reset: %s; inbox %d", r.raw, len(f.emu.Published()))
	}
}

func TestResetBeforeApplyChangesNothing(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 2})
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.FaultReset: 1}})
	_, _, err := f.post(f.srv.Client(), "/crm/v3/objects/contacts", `{"properties":{"firstname":"x"}}`)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset: client saw %v, want connection reset by peer", err)
	}
	if len(f.emu.Contacts()) != 0 {
		t.Fatal("a request reset before its handler created a contact")
	}
}

func TestApplyStallOutlastsTheClientTimeout(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 5})
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.FaultApplyStall: 1}, StallFor: 2 * time.Second})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, _, err := f.post(client, "/crm/v3/objects/contacts", fmt.Sprintf(`{"properties":{"firstname":"s%d"}}`, i))
		if err == nil {
			t.Fatal("apply-stall answered within the client's timeout")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("client waited %s", d)
		}
	}
	if n := len(f.emu.Contacts()); n != 3 {
		t.Fatalf("creates that timed out after apply made %d contacts, want 3", n)
	}
}

func TestFaultRatesAreDrawnPerKind(t *testing.T) {
	f := newFixture(t, emulator.Options{Seed: 9, TenSecondLimit: 10000})
	f.emu.SetFaults(emulator.Faults{Rates: map[string]float64{emulator.Fault429: 0.25, emulator.FaultApply502: 0.25}})
	seen := map[int]int{}
	const n = 400
	for i := 0; i < n; i++ {
		r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"firstname": fmt.Sprint("c", i)}})
		seen[r.status]++
	}
	// Binomial(400, 0.25): 100 ± 9 (one standard deviation); 60..140 is far outside chance.
	for _, st := range []int{429, 502} {
		if seen[st] < 60 || seen[st] > 140 {
			t.Fatalf("status %d drawn %d times of %d at rate 0.25: %v", st, seen[st], n, seen)
		}
	}
	if got, want := len(f.emu.Contacts()), seen[201]+seen[502]; got != want {
		t.Fatalf("%d contacts, want %d (201s plus apply-502s)", got, want)
	}
	byKind := f.emu.Stats().FaultsByKind
	if byKind[emulator.Fault429] != seen[429] || byKind[emulator.FaultApply502] != seen[502] {
		t.Fatalf("faults by kind %v, answers %v", byKind, seen)
	}
}

func TestFaultsValidate(t *testing.T) {
	for _, tc := range []struct {
		f    emulator.Faults
		want string
	}{
		{emulator.Faults{Rates: map[string]float64{"apply-418": 0.1}}, `fault kind "apply-418" is unknown`},
		{emulator.Faults{Rates: map[string]float64{"429": 1.5}}, "outside 0..1"},
		{emulator.Faults{Rates: map[string]float64{"429": 0.6, "502": 0.6}}, "sum to 1.2"},
		{emulator.Faults{Rate: 0.1, Kinds: []string{"stall", "boom"}}, `fault kind "boom" is unknown`},
	} {
		err := tc.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, emulator.ErrInvalid) {
			t.Errorf("%+v: error %v, want %q", tc.f, err, tc.want)
		}
	}
	if err := (emulator.Faults{Rate: 0.2, Rates: map[string]float64{"apply-reset": 0.05}}).Validate(); err != nil {
		t.Errorf("valid faults refused: %v", err)
	}
}

// TestRestartKeepsData: a new emulator loading what the old one saved, behind a new
// HTTP server, is the same portal: contacts (and search), inbox messages, idempotency.
func TestRestartKeepsData(t *testing.T) {
	f := newFixture(t, emulator.Options{SearchLag: time.Minute})
	f.emu.DefineProperty("telegram_user_id", true)
	id := f.create(map[string]string{"phone": "(415) 555-0100", "telegram_user_id": "777"})
	old := f.create(map[string]string{"email": "old@example.com"})
	f.clock.Advance(2 * time.Minute) // old and id reach the search index
	fresh := f.create(map[string]string{"email": "fresh@example.com"})
	r := f.do("POST", messagesPath, egg("4567", "t", "idem-1", "+14155550100"))
	f.expect(r, http.StatusCreated)
	msgID := r.json(t)["id"].(string)

	path := t.TempDir() + "/emulator.json"
	if err := f.emu.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	f.emu.Close()
	f.srv.Close()

	emu := emulator.New(emulator.Options{SearchLag: time.Minute, Now: f.clock.Now})
	if found, err := emu.LoadFile(path); err != nil || !found {
		t.Fatalf("load: found %v, %v", found, err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	g := &fixture{t: t, emu: emu, srv: srv, clock: f.clock, token: f.token}

	if cs := emu.Contacts(); len(cs) != 3 || cs[0].ID != id || cs[1].ID != old || cs[2].ID != fresh {
		t.Fatalf("contacts after restart %+v", cs)
	}
	// The unique property still holds and the next id follows the saved ones.
	g.expect(g.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"telegram_user_id": "777"}}), http.StatusConflict)
	next := g.create(map[string]string{"firstname": "next"})
	if next == id || next == old || next == fresh {
		t.Fatalf("id %s reused after restart", next)
	}
	// Search sees what was indexed and still lags the write made just before the restart.
	byEmail := func(e string) []string {
		return g.searchIDs(map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "email", Operator: "EQ", Value: e}}}}})
	}
	if got := byEmail("old@example.com"); len(got) != 1 || got[0] != old {
		t.Fatalf("indexed contact not found after restart: %v", got)
	}
	if got := byEmail("fresh@example.com"); len(got) != 0 {
		t.Fatalf("contact inside the search lag found after restart: %v", got)
	}
	// A repeated idempotency id answers the saved message; the inbox keeps its message.
	r = g.do("POST", messagesPath, egg("4567", "t", "idem-1", "+14155550100"))
	g.expect(r, http.StatusOK)
	if r.json(t)["id"] != msgID {
		t.Fatalf("idempotent repeat after restart answered %s, want message %s", r.raw, msgID)
	}
	g.expect(g.do("GET", messagesPath+"/"+msgID, nil), http.StatusOK)
	if p := emu.Published(); len(p) != 1 || p[0].MessageID != msgID || len(emu.Threads()) != 1 {
		t.Fatalf("inbox after restart %+v, threads %d", p, len(emu.Threads()))
	}
	// A new message gets a new id, not one of the saved ones, in the saved thread.
	r = g.do("POST", messagesPath, egg("4567", "t", "idem-2", "+14155550100"))
	g.expect(r, http.StatusCreated)
	if m := r.json(t); m["id"] == msgID || len(emu.Threads()) != 1 {
		t.Fatalf("second message %s, threads %d", r.raw, len(emu.Threads()))
	}
}

func TestLoadFileMissingStartsEmpty(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	found, err := emu.LoadFile(t.TempDir() + "/none.json")
	if err != nil || found || len(emu.Contacts()) != 0 {
		t.Fatalf("found %v err %v contacts %d", found, err, len(emu.Contacts()))
	}
	if err := emu.Load(strings.NewReader(`{"version": 99}`)); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("load of a future version: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := jsonEncode(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
