package inbound

import (
	"sync"
	"time"
)

// Cache is a small in-memory TTL cache for profile lookups. Platforms rate-limit their
// profile APIs (Instagram: 2 calls/s per account; Slack users.info: tier 4), and one
// sender usually writes several messages in a row, so one answer serves them all.
// Only successful answers are stored: a failed lookup is retried by the next caller.
type Cache[V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	entries map[string]cacheEntry[V]
}

type cacheEntry[V any] struct {
	value   V
	expires time.Time
}

// NewCache returns a cache holding at most max entries for ttl each. now may be nil
// (time.Now).
func NewCache[V any](ttl time.Duration, max int, now func() time.Time) *Cache[V] {
	if now == nil {
		now = time.Now
	}
	if max <= 0 {
		max = 10000
	}
	return &Cache[V]{ttl: ttl, max: max, now: now, entries: map[string]cacheEntry[V]{}}
}

// Get returns the live value stored under key.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put stores value under key. When the cache is full it first drops expired entries
// and then, if still full, an arbitrary one: profiles are cheap to fetch again, so a
// precise LRU is not worth its bookkeeping.
func (c *Cache[V]) Put(key string, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, exists := c.entries[key]; !exists && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry[V]{value: value, expires: now.Add(c.ttl)}
}

// Len reports how many entries are stored, expired or not.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
