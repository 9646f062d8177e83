// Package hubspot is switchboard's client of one HubSpot portal: the CRM v3 contacts,
// properties and search APIs, and the Conversations custom-channels API, on the classic
// /crm/v3 and /conversations/v3 paths.
//
// The client stays inside HubSpot's limits on its own (a rolling 10-second bucket for
// every call but search, and a per-second limit on search), honours 429 answers, and
// retries what can be retried. It never retries a contact create whose outcome it
// cannot know: see ErrCreateOutcomeUnknown. Concurrent lookups share requests: identical
// ones through single flight, different ones waiting for the same limiter through
// batched searches and batch reads (see batcher), so a burst of new senders costs a few
// searches instead of one each.
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"switchboard/domain"
)

const (
	// maxResponseBytes bounds what the client reads of one answer.
	maxResponseBytes = 8 << 20
	// backoffBase and backoffCap shape the exponential back-off (full jitter) after
	// server errors and timeouts: attempt n waits uniformly in [0, min(cap, base·2^(n-1))].
	backoffBase = time.Second
	backoffCap  = 30 * time.Second
	// lockedWait is HubSpot's documented lock duration after a burst of writes (423).
	lockedWait = 2 * time.Second
	// tenSecondWindow is HubSpot's burst window.
	tenSecondWindow = 10 * time.Second
	// tenSecondlyWait and secondlyWait are the waits after a 429 without Retry-After.
	tenSecondlyWait = 10 * time.Second
	secondlyWait    = time.Second
	// maxRetryWait is the longest the client waits before one retry. A longer
	// Retry-After (HubSpot's 477 "migration in progress" can ask for hours) returns the
	// temporary error to the caller instead of holding a goroutine.
	maxRetryWait = 2 * time.Minute
)

// Client is the HubSpot client of one portal (one workspace). It is safe for
// concurrent use; its rate limiters only protect the portal's limits when every call to
// the portal goes through the same Client.
type Client struct {
	cfg     Config
	base    string
	http    *http.Client
	log     *slog.Logger
	metrics *metrics

	general limiter // every call but search: the rolling 10-second bucket
	search  limiter // search: the per-second limit

	// strikes counts the 10-second bucket's 429s since its last success: the pause
	// after a 429 doubles with each (see rateLimitWait).
	strikes atomic.Int32

	readProperties []string // properties read back on every candidate

	group    singleflight.Group
	flightMu sync.Mutex
	flights  map[string]*flight

	// phones batches the searches by phone number; batchers the lookups by property,
	// per property (see batcher).
	phones   *batcher
	batchMu  sync.Mutex
	batchers map[string]*batcher

	propMu sync.RWMutex
	props  map[string]Property
}

var (
	_ domain.ContactDirectory = (*Client)(nil)
	_ domain.InboxPublisher   = (*Client)(nil)
)

// New checks the configuration and builds the client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Registerer, cfg.Workspace)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With(slog.String("component", "hubspot"))
	if cfg.Workspace != "" {
		log = log.With(slog.String("workspace", cfg.Workspace))
	}
	for _, w := range cfg.Warnings() {
		log.Warn("hubspot config: " + w)
	}
	c := &Client{
		cfg:            cfg,
		base:           strings.TrimSuffix(cfg.BaseURL, "/"),
		http:           cfg.HTTPClient,
		log:            log,
		metrics:        m,
		general:        newWindowLimiter(cfg.TenSecondLimit, tenSecondWindow),
		search:         newSpacingLimiter(cfg.SearchPerSecond),
		readProperties: readProperties(cfg.ExtraProperties),
		flights:        map[string]*flight{},
		batchers:       map[string]*batcher{},
		props:          map[string]Property{},
	}
	c.phones = c.searchBatcher(c.phoneSearch())
	return c, nil
}

// baseProperties are read back on every candidate contact.
var baseProperties = []string{"firstname", "lastname", "email", "phone", "mobilephone", "createdate", "hs_object_id"}

func readProperties(extra []string) []string {
	out := append([]string(nil), baseProperties...)
	for _, p := range extra {
		out = appendUnique(out, p)
	}
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// request is one logical call to HubSpot; do turns it into attempts.
type request struct {
	op     string // metrics and logs: search_contacts, read_contact, create_contact, …
	method string
	path   string // escaped
	query  url.Values
	body   any
	// search selects the search limiter instead of the 10-second one.
	search bool
	// slotTaken means the caller already waited for the limiter for the first attempt
	// (a batch leader, at the slot it formed the batch in); retries wait as usual.
	slotTaken bool
	// create marks a call HubSpot may have acted on even when it failed (a contact
	// create): it is retried only when HubSpot certainly did not act.
	create bool
	// notFoundOK makes a 404 an ordinary answer for the caller to interpret (a read);
	// otherwise a 404 is permanent (a publication into a channel that does not exist).
	notFoundOK bool
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r until HubSpot answers 2xx, the attempts run out, a permanent answer
// comes, or ctx ends. Non-2xx answers come back as *APIError.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	if _, err := url.Parse(target); err != nil {
		return nil, fmt.Errorf("build request URL: %w: %w", err, domain.ErrPermanent)
	}
	lim, bucket := c.general, "ten_secondly"
	if r.search {
		lim, bucket = c.search, "search"
	}

	var lastErr error
	reauthorized := false // a 401 was answered by a refresh and one retry
	for attempt := 1; ; attempt++ {
		if attempt > 1 || !r.slotTaken {
			if err := c.waitLimiter(ctx, lim, bucket); err != nil {
				return nil, stopped(err, lastErr)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, stopped(err, lastErr)
		}
		token, err := c.token(ctx)
		if err != nil {
			// No request was sent: nothing to be unsure about, even for a create.
			return nil, err
		}
		start := c.cfg.Now()
		resp, err := c.send(ctx, r.method, target, token, body)
		elapsed := c.cfg.Now().Sub(start)

		if err != nil {
			c.metrics.requests.WithLabelValues(r.op, "error").Inc()
			c.log.LogAttrs(ctx, slog.LevelDebug, "hubspot request failed", slog.String("op", r.op),
				slog.String("method", r.method), slog.String("path", r.path), slog.Int("attempt", attempt),
				slog.Duration("elapsed", elapsed), slog.String("error", err.Error()))
			if r.create && !notSent(err) {
				// The request may have reached HubSpot: the contact may exist now.
				return nil, fmt.Errorf("%w: %w", ErrCreateOutcomeUnknown, err)
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, stopped(ctxErr, lastErr)
			}
			lastErr = err
			reason := "connection"
			if errors.Is(err, context.DeadlineExceeded) {
				reason = "timeout"
			}
			if attempt >= c.cfg.MaxAttempts {
				return nil, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			if err := c.retryWait(ctx, r, attempt, reason, c.backoff(attempt), err); err != nil {
				return nil, stopped(err, lastErr)
			}
			continue
		}

		c.metrics.requests.WithLabelValues(r.op, statusClass(resp.status)).Inc()
		var apiErr *APIError
		if resp.status < 200 || resp.status >= 300 {
			apiErr = parseAPIError(resp.status, resp.header, resp.body, c.cfg.Now())
			lastErr = apiErr
		}
		v := classify(r, resp.status, apiErr)
		if v.answer == answerSuccess {
			if !r.search {
				c.strikes.Store(0)
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "hubspot request", slog.String("op", r.op),
				slog.String("method", r.method), slog.String("path", r.path), slog.Int("status", resp.status),
				slog.Int("attempt", attempt), slog.Duration("elapsed", elapsed))
			return resp, nil
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "hubspot request", slog.String("op", r.op),
			slog.String("method", r.method), slog.String("path", r.path), slog.Int("status", resp.status),
			slog.Int("attempt", attempt), slog.Duration("elapsed", elapsed),
			slog.String("category", apiErr.Category), slog.String("policy", apiErr.PolicyName),
			slog.String("correlation_id", apiErr.CorrelationID))

		if resp.status == http.StatusUnauthorized && c.cfg.Tokens != nil && !reauthorized {
			// HubSpot did not act on a refused token: refresh now and retry, once. An
			// expired token is the usual case; a revoked one (an uninstall) then shows
			// as a refused refresh token, which stops the workspace instead of making
			// dead letters.
			reauthorized = true
			c.cfg.Tokens.Expired(token)
			c.metrics.retries.WithLabelValues(r.op, "unauthorized").Inc()
			continue
		}
		switch v.answer {
		case answerDailyLimit, answerRateLimited:
			policy := apiErr.PolicyName
			if policy == "" {
				policy = "unknown"
			}
			c.metrics.rateLimited.WithLabelValues(r.op, policy).Inc()
			if v.answer == answerDailyLimit {
				c.log.LogAttrs(ctx, slog.LevelError, "hubspot daily API limit reached; calls fail until the portal's quota resets",
					slog.String("op", r.op), slog.String("correlation_id", apiErr.CorrelationID))
				return nil, apiErr
			}
			strikes := 1
			if !r.search {
				strikes = int(c.strikes.Add(1))
			}
			wait := rateLimitWait(apiErr, r.search, strikes)
			// Hold every caller of the bucket, not only this one: HubSpot answers 429 to
			// all calls until the window frees. The next attempt waits in the limiter.
			until := c.cfg.Now().Add(min(wait, maxRetryWait))
			lim.pause(until)
			if strings.EqualFold(apiErr.PolicyName, PolicyTenSecondlyRolling) && lim != c.general {
				c.general.pause(until)
			}
			if attempt >= c.cfg.MaxAttempts || wait > maxRetryWait {
				return nil, apiErr
			}
			c.metrics.retries.WithLabelValues(r.op, "rate_limited").Inc()
			c.log.LogAttrs(ctx, slog.LevelWarn, "hubspot rate limit hit; pausing the bucket",
				slog.String("op", r.op), slog.String("bucket", bucket), slog.String("policy", policy),
				slog.Duration("wait", wait), slog.Int("attempt", attempt))
			continue
		case answerLocked:
			if attempt >= c.cfg.MaxAttempts {
				return nil, apiErr
			}
			if err := c.retryWait(ctx, r, attempt, "locked", max(lockedWait, c.backoff(attempt)), apiErr); err != nil {
				return nil, stopped(err, lastErr)
			}
			continue
		case answerCreateUnknown:
			return nil, fmt.Errorf("%w: %w", ErrCreateOutcomeUnknown, apiErr)
		case answerServerError:
			if attempt >= c.cfg.MaxAttempts || apiErr.RetryAfter > maxRetryWait {
				return nil, apiErr
			}
			if err := c.retryWait(ctx, r, attempt, "server_error", max(apiErr.RetryAfter, c.backoff(attempt)), apiErr); err != nil {
				return nil, stopped(err, lastErr)
			}
			continue
		default:
			// An expired OAuth token is fixed by a refresh, never by dropping the
			// message: it stays temporary even when the one retry did not fix it. A static
			// token cannot be refreshed, so there it is permanent, as before.
			apiErr.permanent = v.permanent && !(apiErr.expired() && c.cfg.Tokens != nil)
			return nil, apiErr
		}
	}
}

// rateLimitWait is how long a 429 holds its bucket: what Retry-After says when present;
// at least a second for search; for the 10-second bucket a second after the first 429
// since the last success, doubling with each further one up to the whole 10-second
// window. A lone 429 (a neighbour sharing the portal's budget, a blip) then costs a
// second instead of ten, while a bucket that is really exhausted is waited out after a
// few probes, each of which HubSpot answers at once.
func rateLimitWait(e *APIError, search bool, strikes int) time.Duration {
	switch {
	case strings.EqualFold(e.PolicyName, PolicyTenSecondlyRolling):
	case strings.EqualFold(e.PolicyName, PolicySecondly), search:
		return max(secondlyWait, e.RetryAfter)
	}
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	wait := secondlyWait << min(max(strikes-1, 0), 4)
	return min(wait, tenSecondlyWait)
}

// token is the access token of one attempt: the static one, or the source's.
func (c *Client) token(ctx context.Context) (string, error) {
	if c.cfg.Tokens == nil {
		return c.cfg.Token, nil
	}
	return c.cfg.Tokens.Token(ctx)
}

func (c *Client) waitLimiter(ctx context.Context, lim limiter, bucket string) error {
	now := c.cfg.Now()
	d := lim.reserve(now).Sub(now)
	if d < 0 {
		d = 0
	}
	c.metrics.limiterWait.WithLabelValues(bucket).Observe(d.Seconds())
	if d == 0 {
		return nil
	}
	return c.cfg.Sleep(ctx, d)
}

func (c *Client) retryWait(ctx context.Context, r request, attempt int, reason string, wait time.Duration, cause error) error {
	c.metrics.retries.WithLabelValues(r.op, reason).Inc()
	c.log.LogAttrs(ctx, slog.LevelWarn, "hubspot request will be retried", slog.String("op", r.op),
		slog.String("reason", reason), slog.Int("attempt", attempt), slog.Duration("wait", wait),
		slog.String("error", cause.Error()))
	return c.cfg.Sleep(ctx, wait)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 16 {
		d = min(backoffCap, backoffBase<<(attempt-1))
	}
	return c.cfg.jitter(d)
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// send makes one attempt, bounded by RequestTimeout, and reads the whole answer.
func (c *Client) send(ctx context.Context, method, target, token string, body []byte) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchboard-hubspot/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, timeoutError(actx, ctx, c.cfg.RequestTimeout, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, timeoutError(actx, ctx, c.cfg.RequestTimeout, fmt.Errorf("read answer: %w", err))
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func timeoutError(attemptCtx, ctx context.Context, timeout time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded)
	}
	return err
}

// notSent reports whether err proves the request never reached HubSpot: the
// connection could not be opened (refused, unreachable, unknown host).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// stopped is the error of a call that ctx ended, keeping the last failure for context.
func stopped(ctxErr, last error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last attempt: %w)", ctxErr, last)
}

// flight is one shared lookup: its context ends when the last caller waiting for it
// gives up, not when the first caller does.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
}

// share runs fn once for concurrent callers with the same key (the same HubSpot
// request). Each caller waits on its own ctx; the shared request ends only when the
// last caller waiting for it gives up. The result is shared: callers copy what they
// hand out.
func share[T any](c *Client, ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	c.flightMu.Lock()
	f, ok := c.flights[key]
	if !ok {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{ctx: fctx, cancel: cancel}
		c.flights[key] = f
	}
	f.waiters++
	c.flightMu.Unlock()

	ch := c.group.DoChan(key, func() (any, error) { return fn(f.ctx) })

	leave := func() {
		c.flightMu.Lock()
		defer c.flightMu.Unlock()
		f.waiters--
		if f.waiters == 0 {
			if c.flights[key] == f {
				delete(c.flights, key)
			}
			// Nobody waits any more: end the request, and make sure a later caller starts
			// a fresh one instead of joining the cancelled one.
			c.group.Forget(key)
			f.cancel()
		}
	}
	var zero T
	select {
	case res := <-ch:
		leave()
		v, _ := res.Val.(T)
		return v, res.Err
	case <-ctx.Done():
		leave()
		return zero, ctx.Err()
	}
}

func cloneResult(r domain.LookupResult) domain.LookupResult {
	out := domain.LookupResult{
		Lookups:    append([]domain.Lookup(nil), r.Lookups...),
		Candidates: make([]domain.Contact, len(r.Candidates)),
	}
	for i, c := range r.Candidates {
		out.Candidates[i] = c
		if c.Properties != nil {
			p := make(map[string]string, len(c.Properties))
			for k, v := range c.Properties {
				p[k] = v
			}
			out.Candidates[i].Properties = p
		}
	}
	if r.Candidates == nil {
		out.Candidates = nil
	}
	return out
}
