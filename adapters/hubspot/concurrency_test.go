package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
)

// waitForWaiters blocks until n callers share the flight of key.
func waitForWaiters(t *testing.T, c *Client, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.flightMu.Lock()
		f := c.flights[key]
		got := 0
		if f != nil {
			got = f.waiters
		}
		c.flightMu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d callers never joined flight %q", n, key)
}

func TestConcurrentIdenticalLookupsShareOneRequest(t *testing.T) {
	release, release2 := make(chan struct{}), make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if r.URL.Path == "/crm/v3/objects/contacts/search" {
			<-release
		} else {
			<-release2
		}
		switch r.URL.Path {
		case "/crm/v3/properties/contacts/telegram_user_id":
			writeJSON(w, 200, `{"name":"telegram_user_id","hasUniqueValue":true}`)
		case "/crm/v3/objects/contacts/search":
			writeJSON(w, 200, `{"total":1,"results":[`+fmt.Sprintf(contactJSON, "101", "101")+`]}`)
		default:
			writeJSON(w, 200, fmt.Sprintf(contactJSON, "202", "202"))
		}
	})
	c, err := New(Config{BaseURL: f.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	results := make([]domain.LookupResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nums := []string{"4155552671", "14155552671"}
			if i%2 == 1 {
				nums = []string{"14155552671", "4155552671"} // same set, other order
			}
			results[i], errs[i] = c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: nums})
		}()
	}
	// A caller that gives up does not take the shared request down with it.
	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() {
		_, err := c.FindByPhone(ctx, domain.PhoneQuery{NationalNumbers: []string{"4155552671", "14155552671"}})
		quitter <- err
	}()
	waitForWaiters(t, c, "phone\x0014155552671,4155552671", n+1)
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Errorf("quitter err = %v", err)
	}
	close(release)
	wg.Wait()

	if f.count() != 1 {
		t.Fatalf("requests = %d, want 1", f.count())
	}
	for i := range n {
		if errs[i] != nil || len(results[i].Candidates) != 1 || results[i].Candidates[0].ID != "101" {
			t.Fatalf("caller %d: %+v, %v", i, results[i], errs[i])
		}
	}
	// Each caller owns its copy.
	results[0].Candidates[0].Properties["phone"] = "changed"
	if results[1].Candidates[0].Properties["phone"] == "changed" {
		t.Error("callers share one properties map")
	}

	// The same holds for FindByProperty, property definition included.
	before := f.count()
	var wg2 sync.WaitGroup
	for range n {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			res, err := c.FindByProperty(context.Background(), "telegram_user_id", "5550123")
			if err != nil || len(res.Candidates) != 1 {
				t.Errorf("FindByProperty: %+v, %v", res, err)
			}
		}()
	}
	waitForWaiters(t, c, "property\x00telegram_user_id\x005550123", n)
	close(release2)
	wg2.Wait()
	if got := f.count() - before; got != 2 {
		t.Errorf("requests = %d, want 2 (one property read, one contact read)", got)
	}
}

// maxInWindow is the largest number of times in any half-open window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < w; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

func arrivals(f *fakeHubSpot) []time.Time {
	var out []time.Time
	for _, r := range f.requests() {
		out = append(out, r.At)
	}
	return out
}

// grantLog wraps a limiter and records every departure time it grants.
type grantLog struct {
	limiter
	mu    sync.Mutex
	times []time.Time
}

func (g *grantLog) reserve(now time.Time) time.Time {
	t := g.limiter.reserve(now)
	g.mu.Lock()
	g.times = append(g.times, t)
	g.mu.Unlock()
	return t
}

func (g *grantLog) all() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.times...)
}

// arrivalSlack is the latency a request may gain between its departure time and its
// arrival at the loopback server (waking up, connection set-up, scheduling under
// -race). The limiters' 5% margin exists to absorb exactly this on the way to HubSpot.
const arrivalSlack = 100 * time.Millisecond

// TestLimitersHoldUnderAConcurrentBurst fires bursts of concurrent callers at real
// loopback servers and checks the windows on both sides: the departure times the
// limiter grants never exceed the limit in any window, and neither do the server's
// arrival times, up to arrivalSlack. The 10-second window is scaled down to one
// second and search runs at 10/s, so the test takes about two seconds.
func TestLimitersHoldUnderAConcurrentBurst(t *testing.T) {
	t.Run("search", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
			writeJSON(w, 200, `{"total":0,"results":[]}`)
		})
		const perSecond, calls = 10, 13
		c, err := New(Config{BaseURL: f.URL, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		grants := &grantLog{limiter: newSpacingLimiter(perSecond)} // above HubSpot's limit, to keep the test short
		c.search = grants
		var wg sync.WaitGroup
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Distinct numbers, a full batch per call: no single flight and no
				// batching, every call is a search of its own.
				nums := make([]string, maxBatchSearchValues)
				for j := range nums {
					nums[j] = fmt.Sprint(4155550000 + i*maxBatchSearchValues + j)
				}
				if _, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: nums}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		departures, arrived := grants.all(), arrivals(f)
		if len(departures) != calls || len(arrived) != calls {
			t.Fatalf("departures = %d, arrivals = %d, want %d", len(departures), len(arrived), calls)
		}
		if got := maxInWindow(departures, time.Second); got > perSecond {
			t.Errorf("%d searches left in one second, limit %d", got, perSecond)
		}
		// Burst of one: searches leave spaced, never together.
		if got := maxInWindow(departures, time.Second/perSecond); got > 1 {
			t.Errorf("%d searches left within %s", got, time.Second/perSecond)
		}
		if got := maxInWindow(arrived, time.Second-arrivalSlack); got > perSecond {
			t.Errorf("%d searches arrived within %s, limit %d", got, time.Second-arrivalSlack, perSecond)
		}
	})
	t.Run("ten-secondly", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
			writeJSON(w, 200, fmt.Sprintf(contactJSON, "1", "1"))
		})
		const limit, calls = 5, 11
		c, err := New(Config{BaseURL: f.URL, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		grants := &grantLog{limiter: newWindowLimiter(limit, 500*time.Millisecond)}
		c.general = grants
		var wg sync.WaitGroup
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.GetContact(context.Background(), fmt.Sprint(i), nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		departures, arrived := grants.all(), arrivals(f)
		if len(departures) != calls || len(arrived) != calls {
			t.Fatalf("departures = %d, arrivals = %d, want %d", len(departures), len(arrived), calls)
		}
		const window = 500 * time.Millisecond
		if got := maxInWindow(departures, window); got > limit {
			t.Errorf("%d calls left in one window, limit %d", got, limit)
		}
		// Calls leave evenly spaced (a limit of 5 allows a burst of one): never two
		// within a tenth of the window, which is 500 ms plus its margin over 5.
		if got := maxInWindow(departures, window/10); got > 1 {
			t.Errorf("%d calls left within %s, want them spread", got, window/10)
		}
		if got := maxInWindow(arrived, window-arrivalSlack); got > limit {
			t.Errorf("%d calls arrived within %s, limit %d", got, window-arrivalSlack, limit)
		}
		if span := arrived[len(arrived)-1].Sub(arrived[0]); span < 2*window {
			t.Errorf("%d calls at %d per %s spread over only %s", calls, limit, window, span)
		}
	})
}

func TestWindowLimiterSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newWindowLimiter(3, 10*time.Second)
	var got []time.Duration
	for range 7 {
		got = append(got, l.reserve(t0).Sub(t0).Round(time.Millisecond))
	}
	// 10 s window + 250 ms margin, spread evenly: a limit of 3 allows a burst of one.
	if fmt.Sprint(got) != "[0s 3.417s 6.833s 10.25s 13.667s 17.083s 20.5s]" {
		t.Errorf("schedule = %v", got)
	}
	// A 429 pause holds later reservations.
	l = newWindowLimiter(100, 10*time.Second)
	l.pause(t0.Add(10 * time.Second))
	if d := l.reserve(t0).Sub(t0); d != 10*time.Second {
		t.Errorf("after pause: %v", d)
	}
	// and what waited for the pause leaves spread, not in a burst.
	if d := l.reserve(t0).Sub(t0); d != 10*time.Second+102500*time.Microsecond {
		t.Errorf("second after pause: %v", d)
	}
}

// TestWindowLimiterUnderABacklog runs the 10-second limiter as the publisher's workers
// use it under a backlog (16 callers, each back 5 ms after its departure): no window of
// 10 s ever holds more than the limit, every 10-second window once the first has passed
// holds at least 97 % of it (those starting in the first, 89 %: the first burst's
// share), and a quiet limiter lets a tenth of the limit leave at once.
func TestWindowLimiterUnderABacklog(t *testing.T) {
	const limit, workers, calls = 100, 16, 1000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newWindowLimiter(limit, 10*time.Second)
	back := make([]time.Time, workers)
	for i := range back {
		back[i] = t0
	}
	var departures []time.Time
	for i := range calls {
		w := i % workers
		d := l.reserve(back[w])
		departures = append(departures, d)
		back[w] = d.Add(5 * time.Millisecond)
	}
	if got := maxInWindow(departures, 10*time.Second+time.Nanosecond); got > limit {
		t.Errorf("%d departures in 10 s, limit %d", got, limit)
	}
	last := departures[len(departures)-1]
	// The first burst's slots free together one window later; from then on the
	// departures are evenly spread.
	settled := t0.Add(l.window)
	leastFirst, least := calls, calls
	for _, start := range departures {
		if start.Add(10 * time.Second).After(last) {
			break
		}
		n := 0
		for _, d := range departures {
			if !d.Before(start) && d.Before(start.Add(10*time.Second)) {
				n++
			}
		}
		if start.Before(settled) {
			leastFirst = min(leastFirst, n)
		} else {
			least = min(least, n)
		}
	}
	if least < 97 {
		t.Errorf("the emptiest 10-second window after the first held %d departures, want at least 97 of %d", least, limit)
	}
	if leastFirst < limit-limit/10-1 {
		t.Errorf("the emptiest 10-second window of the first held %d departures, want at least %d (the burst's share less)", leastFirst, limit-limit/10-1)
	}
	quiet := last.Add(time.Minute)
	burst := 0
	for l.reserve(quiet).Equal(quiet) {
		burst++
	}
	if burst != limit/10 {
		t.Errorf("after a quiet minute %d left at once, want %d", burst, limit/10)
	}
}

func TestSpacingLimiterSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newSpacingLimiter(4)
	var got []time.Duration
	for range 5 {
		got = append(got, l.reserve(t0).Sub(t0))
	}
	// 4 per second + 5% margin: the fifth search leaves 1.05 s after the first.
	if fmt.Sprint(got) != "[0s 262.5ms 525ms 787.5ms 1.05s]" {
		t.Errorf("schedule = %v", got)
	}
	// Time that passed without searches does not build up a burst.
	later := t0.Add(time.Minute)
	if a, b := l.reserve(later), l.reserve(later); b.Sub(a) != 262500*time.Microsecond {
		t.Errorf("after idle: %v apart", b.Sub(a))
	}
}
