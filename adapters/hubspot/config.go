package hubspot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// transport is http.DefaultTransport keeping more idle connections per host. Go's
// default keeps two: the publisher sends from several partition workers, so a connection
// freed while no request waited was closed, and the next request dialed (and, against
// HubSpot, shook hands over TLS) again, about once per publication under load.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}()

// Defaults. The limits sit below HubSpot's published ones on purpose: a 10-second
// bucket of 110 (OAuth apps) or 100 (private apps, Starter), and 5 searches per second.
const (
	DefaultTenSecondLimit  = 100
	DefaultSearchPerSecond = 4.0
	DefaultMaxAttempts     = 8
	DefaultRequestTimeout  = 10 * time.Second

	// PublishedTenSecondLimit is the highest burst limit HubSpot publishes (private app
	// with the API limit increase). A larger value is accepted with a warning at start:
	// an operator's plan may allow more than the published table, and a load run against
	// the emulator lifts the limit on purpose.
	PublishedTenSecondLimit = 250
	// PublishedOAuthTenSecondLimit is HubSpot's published burst limit of an OAuth app in
	// one installing account; API limit increase packs do not apply to OAuth apps.
	PublishedOAuthTenSecondLimit = 110
	// maxSearchPerSecond is HubSpot's search limit.
	maxSearchPerSecond = 5.0
)

// Config configures the client of one HubSpot portal (one switchboard workspace).
type Config struct {
	// BaseURL is https://api.hubapi.com in production, an emulator's URL in tests.
	BaseURL string
	// Token is a static access token (a private app's, or any for the emulator), sent
	// as a bearer token. It is never logged. Ignored when Tokens is set.
	Token string
	// Tokens gives the access token of each attempt (OAuthTokens for an OAuth install);
	// nil uses Token.
	Tokens TokenSource
	// Workspace names the workspace in logs and in the metrics' "workspace" label.
	Workspace string

	// TenSecondLimit caps the non-search calls in any rolling 10-second window
	// (default 100).
	TenSecondLimit int
	// SearchPerSecond caps the search calls per second (default 4). Searches are spaced
	// evenly, never sent in bursts.
	SearchPerSecond float64
	// MaxAttempts is the number of attempts a call makes before it gives up with a
	// temporary error (default 8). Creates are retried only where HubSpot cannot have
	// acted; see ErrCreateOutcomeUnknown.
	MaxAttempts int
	// RequestTimeout bounds one HTTP attempt, reading the answer included (default 10 s).
	RequestTimeout time.Duration

	// ExtraProperties are identifier properties read back on every candidate, on top of
	// firstname, lastname, email, phone, mobilephone, createdate and hs_object_id.
	ExtraProperties []string

	// HTTPClient sends the requests (default: a client on the package's transport; the
	// per-attempt timeout comes from RequestTimeout, not from the client).
	HTTPClient *http.Client
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
	// Registerer registers the client's Prometheus metrics; nil registers nothing.
	Registerer prometheus.Registerer

	// Now and Sleep are the clock, injectable so tests run without waiting. Sleep must
	// return ctx.Err() when ctx ends first.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// jitter is the random part of back-off (uniform in [0, d]); a test seam.
	jitter func(d time.Duration) time.Duration
}

func (c *Config) setDefaults() {
	if c.TenSecondLimit == 0 {
		c.TenSecondLimit = DefaultTenSecondLimit
	}
	if c.SearchPerSecond == 0 {
		c.SearchPerSecond = DefaultSearchPerSecond
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: transport}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.jitter == nil {
		c.jitter = fullJitter
	}
}

// Validate reports every problem of the configuration at once, each naming the field
// and the fix.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("hubspot config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch u, err := url.Parse(c.BaseURL); {
	case strings.TrimSpace(c.BaseURL) == "":
		add("base_url", "is empty; use https://api.hubapi.com or an emulator's URL")
	case err != nil:
		add("base_url", "%q is not a URL: %v", c.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		add("base_url", "%q must start with https:// (or http:// for a local emulator)", c.BaseURL)
	case u.Host == "":
		add("base_url", "%q has no host; use https://api.hubapi.com or an emulator's URL", c.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		add("base_url", "%q must not carry a query or fragment", c.BaseURL)
	}
	switch {
	case c.Tokens != nil:
	case c.Token == "":
		add("token", "is empty; set the environment variable named by token_env to the portal's access token")
	case strings.TrimSpace(c.Token) != c.Token || strings.ContainsAny(c.Token, " \t\r\n"):
		add("token", "contains whitespace; check the environment variable for a stray newline")
	}
	if c.TenSecondLimit < 0 {
		add("ten_second_limit", "%d is negative; HubSpot allows 100 to %d calls per 10 seconds depending on the app and tier (0 uses the default %d)", c.TenSecondLimit, PublishedTenSecondLimit, DefaultTenSecondLimit)
	}
	if c.SearchPerSecond < 0 || c.SearchPerSecond > maxSearchPerSecond {
		add("search_per_second", "%g is outside (0, %g]; HubSpot allows 5 searches per second (0 uses the default %g)", c.SearchPerSecond, maxSearchPerSecond, DefaultSearchPerSecond)
	}
	if c.MaxAttempts < 0 {
		add("max_attempts", "%d is negative; use 1 for no retries (0 uses the default %d)", c.MaxAttempts, DefaultMaxAttempts)
	}
	if c.RequestTimeout < 0 {
		add("request_timeout", "%s is negative (0 uses the default %s)", c.RequestTimeout, DefaultRequestTimeout)
	}
	for i, p := range c.ExtraProperties {
		if !validPropertyName(p) {
			add(fmt.Sprintf("extra_properties[%d]", i), "%q is not a HubSpot property name (lowercase letters, digits and underscores)", p)
		}
	}
	return errors.Join(errs...)
}

// Warnings are the settings Validate accepts but an operator should look at twice, one
// sentence each; New logs them at warn level.
func (c Config) Warnings() []string {
	var out []string
	switch {
	case c.TenSecondLimit > PublishedTenSecondLimit:
		out = append(out, fmt.Sprintf("ten_second_limit %d is above HubSpot's published figures (%d per 10 s for OAuth apps, 100 to %d for private apps): "+
			"unless the portal's plan allows it, HubSpot will answer 429 and the client will back off", c.TenSecondLimit, PublishedOAuthTenSecondLimit, PublishedTenSecondLimit))
	case c.Tokens != nil && c.TenSecondLimit > PublishedOAuthTenSecondLimit:
		// The higher private-app figures do not apply to an OAuth install.
		out = append(out, fmt.Sprintf("ten_second_limit %d is above HubSpot's published figures for an OAuth app (%d per 10 s per installing account; "+
			"the higher private-app figures do not apply): unless HubSpot granted more, it will answer 429 and the client will back off",
			c.TenSecondLimit, PublishedOAuthTenSecondLimit))
	}
	return out
}

// validPropertyName accepts HubSpot's internal property names. It is deliberately
// loose on case (HubSpot lowercases names it creates) but refuses anything that would
// break a comma-separated properties parameter or a URL path.
func validPropertyName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
