package hubspot

import (
	"sync"
	"time"
)

// limitMargin widens every limiter window by 5%, so the requests still fit HubSpot's
// windows when they arrive there with some latency jitter (HubSpot counts arrivals,
// we can only count departures).
const limitMargin = 0.05

// limiter hands out departure times. reserve is called under no lock by the caller and
// returns when the request may leave; the caller sleeps until then. A reserved slot is
// never given back (a caller that gives up leaves a gap): that can only make the
// client slower, never exceed the limit.
type limiter interface {
	reserve(now time.Time) time.Time
	// pause makes every reservation wait until t (after a 429: the window is full).
	pause(t time.Time)
}

// windowMarginCap caps the margin of the 10-second window: a quarter of a second
// covers the difference in latency between two requests ten seconds apart, and 5 % of
// the window (half a second) would leave that much more of the budget unused (a
// backlog would fill 95.2 % of the budget instead of 97.6 %).
const windowMarginCap = 250 * time.Millisecond

// windowLimiter guarantees at most limit departures in any window of the given length
// (widened by a margin), by remembering the last limit departures (a sliding log): a
// token bucket of the same average rate would not, its full bucket plus a window's
// refill letting twice the limit through one window.
//
// Within that guarantee departures are spread evenly, one every window/limit, with a
// burst of a tenth of the limit allowed after a quiet moment (GCRA). A sliding log alone
// repeats its first window forever: a backlog would leave in bursts of the whole limit
// every window, HubSpot's window emptying between them, and every burst arriving at
// HubSpot at once with its latency spread. Spread evenly, a backlog keeps HubSpot's
// rolling window full at every moment, and the margin only has to cover the jitter of
// one request at a time.
type windowLimiter struct {
	mu       sync.Mutex
	window   time.Duration
	interval time.Duration // window/limit: the even spacing
	// tolerance is how far ahead of the even schedule a burst may leave: (burst-1)
	// intervals.
	tolerance   time.Duration
	tat         time.Time   // GCRA's theoretical arrival time of the next departure
	grants      []time.Time // ring of the last len(grants) departures, oldest at next
	next        int
	last        time.Time
	pausedUntil time.Time
}

func newWindowLimiter(limit int, window time.Duration) *windowLimiter {
	w := window + min(time.Duration(float64(window)*limitMargin), windowMarginCap)
	interval := w / time.Duration(limit)
	burst := (limit + 9) / 10
	return &windowLimiter{
		window:    w,
		interval:  interval,
		tolerance: time.Duration(burst-1) * interval,
		grants:    make([]time.Time, limit),
	}
}

func (l *windowLimiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	even := now
	if early := l.tat.Add(-l.tolerance); early.After(even) {
		even = early
	}
	t := even
	// Departures stay in order, so the ring stays sorted and the oldest entry is the
	// one limit departures back.
	if l.last.After(t) {
		t = l.last
	}
	if l.pausedUntil.After(t) {
		t = l.pausedUntil
	}
	if oldest := l.grants[l.next]; !oldest.IsZero() {
		if free := oldest.Add(l.window); free.After(t) {
			t = free
		}
	}
	if t.After(even) {
		// Held by the window or a 429's pause: the burst allowance is not given back,
		// or what waited would leave together when the hold ends.
		l.tat = t.Add(l.tolerance + l.interval)
	} else {
		if l.tat.Before(t) {
			l.tat = t
		}
		l.tat = l.tat.Add(l.interval)
	}
	l.grants[l.next] = t
	l.next = (l.next + 1) % len(l.grants)
	l.last = t
	return t
}

func (l *windowLimiter) pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
}

// spacingLimiter is a token bucket with a burst of one: departures are at least
// interval apart, so a second never holds more than the rate, whichever second
// HubSpot's counter looks at.
type spacingLimiter struct {
	mu          sync.Mutex
	interval    time.Duration
	next        time.Time
	pausedUntil time.Time
}

func newSpacingLimiter(perSecond float64) *spacingLimiter {
	return &spacingLimiter{interval: time.Duration(float64(time.Second) * (1 + limitMargin) / perSecond)}
}

func (l *spacingLimiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := now
	if l.next.After(t) {
		t = l.next
	}
	if l.pausedUntil.After(t) {
		t = l.pausedUntil
	}
	l.next = t.Add(l.interval)
	return t
}

func (l *spacingLimiter) pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
}
