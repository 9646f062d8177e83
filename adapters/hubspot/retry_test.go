package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/domain"
)

const (
	tenSecondly429 = `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"TEN_SECONDLY_ROLLING","groupName":"publicapi:private_app-api-calls-ten-secondly:1:2"}`
	secondly429    = `{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"d1","policyName":"SECONDLY","requestId":"r1"}`
	daily429       = `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa","policyName":"DAILY","requestId":"3d3e35b7"}`
)

func TestRateLimitAnswers(t *testing.T) {
	tests := []struct {
		name       string
		search     bool
		body       string
		retryAfter string
		wantWait   time.Duration // the one wait before the successful retry; 0: no retry
		wantDaily  bool
	}{
		{name: "a first ten-secondly 429 waits a second", body: tenSecondly429, wantWait: time.Second},
		{name: "ten-secondly honours Retry-After", body: tenSecondly429, retryAfter: "3", wantWait: 3 * time.Second},
		{name: "a first unknown 429 on a read waits a second", body: `{}`, wantWait: time.Second},
		{name: "secondly on search waits a second", search: true, body: secondly429, wantWait: time.Second},
		{name: "search 429 without policy waits a second", search: true, body: `{"status":"error","message":"You have reached your secondly limit."}`, wantWait: time.Second},
		{name: "search honours a longer Retry-After", search: true, body: secondly429, retryAfter: "2", wantWait: 2 * time.Second},
		{name: "search never waits less than a second", search: true, body: secondly429, retryAfter: "0.2", wantWait: time.Second},
		{name: "daily is returned at once", body: daily429, wantDaily: true},
		{name: "daily on search is returned at once", search: true, body: daily429, wantDaily: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				if n == 1 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					writeJSON(w, 429, tt.body)
					return
				}
				if tt.search {
					writeJSON(w, 200, `{"total":0,"results":[]}`)
				} else {
					writeJSON(w, 200, fmt.Sprintf(contactJSON, "1", "1"))
				}
			})
			reg := prometheus.NewRegistry()
			c, clock := newTestClient(t, f, func(cfg *Config) { cfg.Registerer = reg })
			var err error
			if tt.search {
				_, err = c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"4155552671"}})
			} else {
				_, err = c.GetContact(context.Background(), "1", nil)
			}
			if tt.wantDaily {
				var apiErr *APIError
				if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &apiErr) || apiErr.Temporary() {
					t.Fatalf("err = %v, want ErrDailyLimit, not temporary", err)
				}
				if apiErr.PolicyName != "DAILY" || apiErr.Category != "RATE_LIMIT" || apiErr.CorrelationID != "c033cdaa" {
					t.Errorf("parsed error = %+v", apiErr)
				}
				if f.count() != 1 || len(clock.slept()) != 0 {
					t.Errorf("daily limit was retried: %d requests, sleeps %v", f.count(), clock.slept())
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if f.count() != 2 {
				t.Fatalf("requests = %d, want 2", f.count())
			}
			slept := clock.slept()
			if len(slept) != 1 || slept[0] != tt.wantWait {
				t.Errorf("sleeps = %v, want one of %s", slept, tt.wantWait)
			}
			if gap := f.requests()[1].At.Sub(f.requests()[0].At); gap > time.Second {
				t.Errorf("the fake clock should make the wait free, real gap %s", gap)
			}
			policy := "unknown"
			if i := strings.Index(tt.body, `"policyName":"`); i >= 0 {
				policy = strings.SplitN(tt.body[i+len(`"policyName":"`):], `"`, 2)[0]
			}
			if got := counterValue(t, reg, "switchboard_hubspot_rate_limited_total", map[string]string{"policy": policy, "workspace": "acme"}); got != 1 {
				t.Errorf("rate_limited_total{policy=%s} = %v, want 1", policy, got)
			}
		})
	}
}

func TestRateLimitPausesEveryCallerOfTheBucket(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n == 1 {
			writeJSON(w, 429, tenSecondly429)
			return
		}
		writeJSON(w, 200, fmt.Sprintf(contactJSON, "1", "1"))
	})
	c, clock := newTestClient(t, f, func(cfg *Config) { cfg.MaxAttempts = 1 })
	_, err := c.GetContact(context.Background(), "1", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 429 || !apiErr.Temporary() || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("err = %v, want a temporary 429", err)
	}
	// Another call to the portal waits for the window too, instead of earning a 429.
	if err := c.UpdateContact(context.Background(), "1", map[string]string{"phone": "1"}); err != nil {
		t.Fatalf("UpdateContact: %v", err)
	}
	if slept := clock.slept(); len(slept) != 1 || slept[0] != time.Second {
		t.Errorf("sleeps = %v, want [1s]", slept)
	}
}

// TestRepeatedTenSecondly429sWaitOutTheWindow: each 429 since the last success doubles
// the pause up to the whole 10-second window; a success starts again from a second.
func TestRepeatedTenSecondly429sWaitOutTheWindow(t *testing.T) {
	var fail atomic.Int32
	fail.Store(6)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if fail.Add(-1) >= 0 {
			writeJSON(w, 429, tenSecondly429)
			return
		}
		writeJSON(w, 200, fmt.Sprintf(contactJSON, "1", "1"))
	})
	c, clock := newTestClient(t, f, func(cfg *Config) { cfg.MaxAttempts = 10 })
	if _, err := c.GetContact(context.Background(), "1", nil); err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if got := clock.slept(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	fail.Store(1)
	if _, err := c.GetContact(context.Background(), "1", nil); err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	if got := clock.slept(); got[len(got)-1] != time.Second {
		t.Errorf("after a success the next 429 waited %s, want 1s", got[len(got)-1])
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	tests := []struct {
		status int
		body   string
		cat    string
	}{
		{400, `{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR","subCategory":"x.y","correlationId":"a43683b0","errors":[{"message":"bad"}]}`, "VALIDATION_ERROR"},
		{401, `{"status":"error","message":"The OAuth token used to make this call expired 3 second(s) ago.","category":"EXPIRED_AUTHENTICATION","correlationId":"a1"}`, "EXPIRED_AUTHENTICATION"},
		{403, `{"status":"error","message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES","correlationId":"a2"}`, "MISSING_SCOPES"},
	}
	ops := map[string]func(c *Client) error{
		"search": func(c *Client) error {
			_, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"4155552671"}})
			return err
		},
		"create": func(c *Client) error {
			_, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671"})
			return err
		},
		"read": func(c *Client) error { _, err := c.GetContact(context.Background(), "1", nil); return err },
		"publish": func(c *Client) error {
			_, err := c.Publish(context.Background(), testMessage(""))
			return err
		},
	}
	for _, tt := range tests {
		for name, op := range ops {
			t.Run(fmt.Sprintf("%d %s", tt.status, name), func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, tt.status, tt.body) })
				c, clock := newTestClient(t, f, nil)
				err := op(c)
				var apiErr *APIError
				if !errors.Is(err, domain.ErrPermanent) || !errors.As(err, &apiErr) {
					t.Fatalf("err = %v, want a permanent *APIError", err)
				}
				if apiErr.Status != tt.status || apiErr.Category != tt.cat || apiErr.CorrelationID == "" || apiErr.Message == "" || apiErr.Temporary() {
					t.Errorf("parsed error = %+v", apiErr)
				}
				if f.count() != 1 || len(clock.slept()) != 0 {
					t.Errorf("retried: %d requests, sleeps %v", f.count(), clock.slept())
				}
			})
		}
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 400, `{"message":"bad"}`)
	})
	c, _ := newTestClient(t, f, nil)
	_, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"1"}})
	if err == nil || !strings.HasPrefix(err.Error(), "search contacts by phone: HubSpot answered 400 Bad Request") {
		t.Errorf("err = %v", err)
	}
}

// HubSpot's messages quote the values it refused; error texts reach logs at warn and
// error level, so they carry the status, category and correlation id, and the message
// only as the error's detail, which dead letters record sealed.
func TestHubSpotsMessageIsADetailNotTheErrorText(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 400, `{"status":"error","message":"Property values were not valid: +14155552671 is not a valid phone number","category":"VALIDATION_ERROR","correlationId":"c-1"}`)
	})
	c, _ := newTestClient(t, f, nil)
	_, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671"})
	if err == nil {
		t.Fatal("a refused create succeeded")
	}
	if strings.Contains(err.Error(), "4155552671") || !strings.Contains(err.Error(), "VALIDATION_ERROR") || !strings.Contains(err.Error(), "c-1") {
		t.Errorf("error text %q: want the category and correlation id, and not the refused value", err)
	}
	if d := domain.ErrorWithDetail(err); !strings.HasSuffix(d, ": Property values were not valid: +14155552671 is not a valid phone number") {
		t.Errorf("ErrorWithDetail = %q, want HubSpot's message after the error text", d)
	}
}

// stallFirst answers nothing to the first request until the client gives up on it.
func stallFirst(w http.ResponseWriter, r *http.Request, n int) bool {
	if n != 1 {
		return false
	}
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
	return true
}

func TestLookupsRetryServerErrorsAndStalls(t *testing.T) {
	tests := []struct {
		name     string
		first    func(w http.ResponseWriter, r *http.Request, n int) bool
		wantWait time.Duration
	}{
		{"502", func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				writeJSON(w, 502, `<html>Bad Gateway</html>`)
			}
			return n == 1
		}, backoffBase},
		{"503 with Retry-After", func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "5")
				writeJSON(w, 503, `{"status":"error","message":"Service Unavailable"}`)
			}
			return n == 1
		}, 5 * time.Second},
		{"423 waits two seconds", func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				writeJSON(w, 423, `{"status":"error","message":"Locked"}`)
			}
			return n == 1
		}, lockedWait},
		{"stall", stallFirst, backoffBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				if tt.first(w, r, n) {
					return
				}
				writeJSON(w, 200, `{"total":1,"results":[`+fmt.Sprintf(contactJSON, "7", "7")+`]}`)
			})
			c, clock := newTestClient(t, f, func(cfg *Config) { cfg.RequestTimeout = 100 * time.Millisecond })
			res, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"4155552671"}})
			if err != nil {
				t.Fatalf("FindByPhone: %v", err)
			}
			if len(res.Candidates) != 1 || f.count() != 2 {
				t.Fatalf("candidates = %d, requests = %d", len(res.Candidates), f.count())
			}
			// The second search also waits for its spacing slot; the retry wait is the
			// larger one.
			var retryWait time.Duration
			for _, d := range clock.slept() {
				retryWait = max(retryWait, d)
			}
			if retryWait != tt.wantWait {
				t.Errorf("sleeps = %v, want a retry wait of %s", clock.slept(), tt.wantWait)
			}
		})
	}
}

func TestLookupsGiveUpAfterMaxAttempts(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 500, `{"message":"boom"}`)
	})
	c, clock := newTestClient(t, f, func(cfg *Config) { cfg.MaxAttempts = 4 })
	_, err := c.GetContact(context.Background(), "1", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !apiErr.Temporary() || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("err = %v, want a temporary 500", err)
	}
	if f.count() != 4 {
		t.Errorf("requests = %d, want 4", f.count())
	}
	// Exponential bounds (jitter disabled in tests): 1s, 2s, 4s.
	if got := fmt.Sprint(clock.slept()); got != "[1s 2s 4s]" {
		t.Errorf("sleeps = %s", got)
	}
}

func TestCreateIsNotRetriedAfterAnAmbiguousFailure(t *testing.T) {
	tests := []struct {
		name  string
		first func(w http.ResponseWriter, r *http.Request, n int) bool
	}{
		{"500", func(w http.ResponseWriter, r *http.Request, n int) bool {
			writeJSON(w, 500, `{"message":"internal"}`)
			return true
		}},
		{"502", func(w http.ResponseWriter, r *http.Request, n int) bool {
			writeJSON(w, 502, `bad gateway`)
			return true
		}},
		{"503", func(w http.ResponseWriter, r *http.Request, n int) bool { writeJSON(w, 503, `{}`); return true }},
		{"504", func(w http.ResponseWriter, r *http.Request, n int) bool { writeJSON(w, 504, `{}`); return true }},
		{"stall", stallFirst},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request, n int) bool {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				if tt.first(w, r, n) {
					return
				}
				writeJSON(w, 201, fmt.Sprintf(contactJSON, "9", "9"))
			})
			c, clock := newTestClient(t, f, func(cfg *Config) { cfg.RequestTimeout = 100 * time.Millisecond })
			_, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671"})
			if !errors.Is(err, ErrCreateOutcomeUnknown) {
				t.Fatalf("err = %v, want ErrCreateOutcomeUnknown", err)
			}
			if errors.Is(err, domain.ErrPermanent) {
				t.Errorf("an unknown outcome is not permanent: the caller looks up, then creates again")
			}
			if f.count() != 1 || len(clock.slept()) != 0 {
				t.Errorf("create was re-sent: %d requests, sleeps %v", f.count(), clock.slept())
			}
		})
	}
}

func TestCreateIsRetriedWhereHubSpotDidNotAct(t *testing.T) {
	tests := []struct {
		name  string
		first func(w http.ResponseWriter, r *http.Request, n int) bool
	}{
		{"429", func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				writeJSON(w, 429, tenSecondly429)
			}
			return n == 1
		}},
		{"423", func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				writeJSON(w, 423, `{"message":"locked"}`)
			}
			return n == 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				if tt.first(w, r, n) {
					return
				}
				writeJSON(w, 201, fmt.Sprintf(contactJSON, "9", "9"))
			})
			c, _ := newTestClient(t, f, nil)
			ct, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671"})
			if err != nil || ct.ID != "9" || f.count() != 2 {
				t.Fatalf("contact = %+v, err = %v, requests = %d", ct, err, f.count())
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
			writeJSON(w, 201, fmt.Sprintf(contactJSON, "9", "9"))
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		var dials atomic.Int32
		transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if dials.Add(1) == 1 {
				return d.DialContext(ctx, network, closed) // nothing listens: refused
			}
			return d.DialContext(ctx, network, f.Listener.Addr().String())
		}}
		t.Cleanup(transport.CloseIdleConnections)
		c, clock := newTestClient(t, f, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: transport} })
		ct, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671"})
		if err != nil || ct.ID != "9" {
			t.Fatalf("contact = %+v, err = %v", ct, err)
		}
		if f.count() != 1 || dials.Load() != 2 || len(clock.slept()) != 1 {
			t.Errorf("requests = %d, dials = %d, sleeps = %v", f.count(), dials.Load(), clock.slept())
		}
	})
}

func TestContextCancellationStopsWaiting(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, 429, tenSecondly429) })
	// The real clock: the 10-second wait must end with the context, not after it.
	c, err := New(Config{BaseURL: f.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.GetContact(ctx, "1", nil)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("returned after %s", elapsed)
	}
	var apiErr *APIError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &apiErr) || apiErr.Status != 429 {
		t.Errorf("err = %v, want the deadline with the last 429", err)
	}
	if f.count() != 1 {
		t.Errorf("requests = %d, want 1", f.count())
	}
}

func TestParseAPIError(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
	e := parseAPIError(477, h, []byte(`<html>migrating</html>`), now)
	if e.RetryAfter != 90*time.Second || e.Message != "<html>migrating</html>" || !e.Temporary() {
		t.Errorf("parsed = %+v", e)
	}
	e = parseAPIError(400, http.Header{}, []byte(`{"status":"error","message":"One or more Channel Capabilities specified had invalid values","category":"VALIDATION_ERROR","subCategory":"CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES","correlationId":"abc"}`), now)
	if e.SubCategory != "CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES" || e.Category != "VALIDATION_ERROR" {
		t.Errorf("parsed = %+v", e)
	}
	want := "HubSpot answered 400 Bad Request (VALIDATION_ERROR/CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES) [correlation id abc]"
	if e.Error() != want || e.Detail() != "One or more Channel Capabilities specified had invalid values" {
		t.Errorf("Error() = %q, Detail() = %q", e.Error(), e.Detail())
	}
}

func TestMetricsOfTwoWorkspacesShareARegistry(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 200, fmt.Sprintf(contactJSON, "1", "1"))
	})
	reg := prometheus.NewRegistry()
	for _, ws := range []string{"acme", "globex", "acme"} {
		c, err := New(Config{BaseURL: f.URL, Token: testToken, Workspace: ws, Registerer: reg})
		if err != nil {
			t.Fatalf("New(%s): %v", ws, err)
		}
		if _, err := c.GetContact(context.Background(), "1", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := counterValue(t, reg, "switchboard_hubspot_requests_total", map[string]string{"workspace": "acme", "operation": "read_contact", "status_class": "2xx"}); got != 2 {
		t.Errorf("acme requests = %v, want 2", got)
	}
	if got := counterValue(t, reg, "switchboard_hubspot_requests_total", map[string]string{"workspace": "globex"}); got != 1 {
		t.Errorf("globex requests = %v, want 1", got)
	}
}

// counterValue sums the counter samples of name whose labels include want.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
