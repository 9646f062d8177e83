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

// windowLimiter guarantees at most limit departures in any window of the given length,
// by remembering the last limit departures (a sliding log). A token bucket of the same
// average rate would not: its full bucket plus a window's refill lets twice the limit
// through one window.
type windowLimiter struct {
	mu          sync.Mutex
	window      time.Duration
	grants      []time.Time // ring of the last len(grants) departures, oldest at next
	next        int
	last        time.Time
	pausedUntil time.Time
}

func newWindowLimiter(limit int, window time.Duration) *windowLimiter {
	return &windowLimiter{
		window: window + time.Duration(float64(window)*limitMargin),
		grants: make([]time.Time, limit),
	}
}

func (l *windowLimiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := now
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
