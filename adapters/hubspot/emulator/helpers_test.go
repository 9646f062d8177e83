package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

// clock is an injectable clock tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an emulator behind a real loopback HTTP server.
type fixture struct {
	t     testing.TB
	emu   *emulator.Server
	srv   *httptest.Server
	clock *clock
	token string
}

func newFixture(t testing.TB, opts emulator.Options) *fixture {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	emu := emulator.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		emu.Close()
		srv.Close()
	})
	return &fixture{t: t, emu: emu, srv: srv, clock: c, token: "test-token"}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	raw    []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatalf("decode %q: %v", r.raw, err)
	}
	return m
}

// do sends a plain net/http request with the fixture's token.
func (f *fixture) do(method, path string, body any) response {
	f.t.Helper()
	return f.doAs(f.token, method, path, body)
}

func (f *fixture) doAs(token, method, path string, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewBufferString(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				f.t.Fatal(err)
			}
			rd = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, raw: raw}
}

func (f *fixture) expect(r response, status int) {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
}

// create makes a contact through the API and returns its id.
func (f *fixture) create(props map[string]string) string {
	f.t.Helper()
	r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": props, "associations": []any{}})
	f.expect(r, http.StatusCreated)
	return r.json(f.t)["id"].(string)
}

type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
}

type group struct {
	Filters []filter `json:"filters"`
}

// searchIDs runs a search and returns the ids of the results, in order.
func (f *fixture) searchIDs(body map[string]any) []string {
	f.t.Helper()
	r := f.do("POST", "/crm/v3/objects/contacts/search", body)
	f.expect(r, http.StatusOK)
	return ids(r.json(f.t))
}

func ids(m map[string]any) []string {
	out := []string{}
	for _, x := range m["results"].([]any) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func props(obj map[string]any) map[string]any { return obj["properties"].(map[string]any) }
