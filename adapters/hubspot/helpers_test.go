package hubspot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

const testToken = "pat-na1-test-token"

// recorded is one request the fake HubSpot received.
type recorded struct {
	Method string
	Path   string // escaped, as sent
	Query  map[string][]string
	Header http.Header
	Body   []byte
	At     time.Time
}

// fakeHubSpot is a loopback server whose handler answers in HubSpot's shapes and
// records every request. handle gets the 1-based index of the request.
type fakeHubSpot struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	handle func(w http.ResponseWriter, r *http.Request, body []byte, n int)
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte, n int)) *fakeHubSpot {
	t.Helper()
	f := &fakeHubSpot{handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: body, At: at})
		n := len(f.reqs)
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeJSON(w, 401, `{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION","correlationId":"auth"}`)
			return
		}
		f.handle(w, r, body, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHubSpot) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeHubSpot) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// fakeClock is a clock whose Sleep returns at once and moves time forward, so waits of
// seconds cost nothing and can be asserted.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newTestClient builds a client on the fake server with a fake clock and no jitter
// (back-off waits its full bound, so tests can assert it).
func newTestClient(t *testing.T, f *fakeHubSpot, mutate func(*Config)) (*Client, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	cfg := Config{
		BaseURL:        f.URL,
		Token:          testToken,
		Workspace:      "acme",
		RequestTimeout: 2 * time.Second,
		Now:            clock.Now,
		Sleep:          clock.Sleep,
		jitter:         func(d time.Duration) time.Duration { return d },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clock
}

// assertJSON compares JSON documents by value, not by bytes.
func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("request body differs\n got: %s\nwant: %s", gi, wi)
	}
}

const contactJSON = `{"id":"%s","properties":{"createdate":"2024-01-17T19:55:04.281Z","firstname":"Ana","lastname":null,"phone":"+1 (415) 555-2671","hs_object_id":"%s"},"createdAt":"2024-01-17T19:55:04.281Z","updatedAt":"2024-09-11T13:27:39.356Z","archived":false}`
