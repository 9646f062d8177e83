package hubspot

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/prom"
)

// TokenSource gives the access token of each attempt of a call. The client asks it
// before every attempt, so a refresh between a call's attempts is picked up.
type TokenSource interface {
	// Token returns an access token valid now, refreshing it first when needed.
	Token(ctx context.Context) (string, error)
	// Expired tells the source that HubSpot answered 401 EXPIRED_AUTHENTICATION to
	// token: the next Token refreshes, unless another caller already replaced it.
	Expired(token string)
}

// ErrAuthorizationStopped matches (errors.Is) the error of every call of a workspace
// whose refresh token HubSpot refused, or that has none. It is not permanent: the
// work waits, nothing is dead-lettered, and it goes out once the token is fixed.
var ErrAuthorizationStopped = errors.New("HubSpot authorization stopped")

// AuthStoppedError says why a workspace's HubSpot work stopped and how to fix it.
type AuthStoppedError struct {
	Workspace string
	Reason    string
	Fix       string
	Since     time.Time
}

func (e *AuthStoppedError) Error() string {
	s := fmt.Sprintf("workspace %s: HubSpot authorization stopped: %s", e.Workspace, e.Reason)
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// Is makes errors.Is(err, ErrAuthorizationStopped) true. It never matches
// domain.ErrPermanent: the message waits for the fix instead of becoming a dead letter.
func (e *AuthStoppedError) Is(target error) bool { return target == ErrAuthorizationStopped }

// StoredRefreshToken is a workspace's refresh token as the token store keeps it. It
// is a secret: never log it.
type StoredRefreshToken struct {
	RefreshToken string
	// Seed is SeedOf the refresh_token_env value in force when the token was stored
	// ("" when none was set). While the variable keeps that value the stored token wins
	// (it was rotated or installed later); once an operator sets the variable to
	// something else, the variable wins.
	Seed string
	// PortalID is the hub_id of the install, when known.
	PortalID  string
	UpdatedAt time.Time
}

// SeedOf is the digest of a refresh_token_env value that StoredRefreshToken.Seed keeps:
// enough to notice a change, useless to anyone reading the store.
func SeedOf(envValue string) string {
	if envValue == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("switchboard refresh_token_env\x00" + envValue))
	return hex.EncodeToString(sum[:8])
}

// RefreshTokenStore keeps the refresh token of each workspace across restarts: the
// one the install flow obtained, or the one HubSpot rotated to.
type RefreshTokenStore interface {
	LoadRefreshToken(ctx context.Context, workspace string) (StoredRefreshToken, bool, error)
	SaveRefreshToken(ctx context.Context, workspace string, t StoredRefreshToken) error
}

// MemoryTokenStore is a RefreshTokenStore that forgets at exit (tests, `check`).
type MemoryTokenStore struct {
	mu sync.Mutex
	m  map[string]StoredRefreshToken
}

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore {
	return &MemoryTokenStore{m: map[string]StoredRefreshToken{}}
}

func (s *MemoryTokenStore) LoadRefreshToken(_ context.Context, ws string) (StoredRefreshToken, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[ws]
	return t, ok, nil
}

func (s *MemoryTokenStore) SaveRefreshToken(_ context.Context, ws string, t StoredRefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ws] = t
	return nil
}

// SQLTokenStore keeps refresh tokens in a table of the service's own SQLite database,
// beside the event log but never in it: a token is a secret that must be replaceable
// and forgettable, which an append-only log is not. The table is created on first use.
// With an encryption key (secret_key_env) each token is sealed with AES-256-GCM, bound
// to its workspace; without one it is stored as given, and whoever can read the
// database file can read it.
type SQLTokenStore struct {
	db     *sql.DB
	aead   cipher.AEAD
	keyErr error
	once   sync.Once
	err    error
}

// NewSQLTokenStore uses db (a SQLite database). secretKey, when not empty, seals the
// tokens; changing or losing it makes the kept tokens unreadable (install again).
func NewSQLTokenStore(db *sql.DB, secretKey string) *SQLTokenStore {
	s := &SQLTokenStore{db: db}
	if secretKey != "" {
		key := sha256.Sum256([]byte("switchboard hubspot refresh tokens\x00" + secretKey))
		block, err := aes.NewCipher(key[:])
		if err == nil {
			s.aead, err = cipher.NewGCM(block)
		}
		if err != nil {
			// Not reachable with a 32-byte key; init reports it on first use if it is.
			s.keyErr = fmt.Errorf("token encryption: %w", err)
		}
	}
	return s
}

// sealedPrefix marks a sealed token: "v1:" + base64(nonce ‖ ciphertext).
const sealedPrefix = "v1:"

func (s *SQLTokenStore) seal(ws, token string) (string, error) {
	if s.aead == nil {
		return token, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("token encryption: %w", err)
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(token), []byte(ws))), nil
}

func (s *SQLTokenStore) open(ws, stored string) (string, error) {
	sealed, ok := strings.CutPrefix(stored, sealedPrefix)
	switch {
	case !ok:
		// Plain: kept without a key, or before secret_key_env was set (the next save
		// seals it).
		return stored, nil
	case s.aead == nil:
		return "", fmt.Errorf("the kept refresh token of workspace %s is encrypted: set secret_key_env to the key it was kept with, or install the app again", ws)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("the kept refresh token of workspace %s is damaged; install the app again", ws)
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(ws))
	if err != nil {
		return "", fmt.Errorf("the kept refresh token of workspace %s does not open with this secret_key_env: set the key it was kept with, or install the app again", ws)
	}
	return string(plain), nil
}

// CreateTable creates the refresh-token table if it is missing, as first use would:
// `switchboard migrate` calls it so a deploy makes every table before nodes start.
func (s *SQLTokenStore) CreateTable(ctx context.Context) error { return s.init(ctx) }

func (s *SQLTokenStore) init(ctx context.Context) error {
	if s.keyErr != nil {
		return s.keyErr
	}
	s.once.Do(func() {
		_, s.err = s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS hubspot_refresh_tokens (
			workspace TEXT PRIMARY KEY,
			refresh_token TEXT NOT NULL,
			seed TEXT NOT NULL,
			portal_id TEXT NOT NULL,
			updated_at TEXT NOT NULL)`)
	})
	if s.err != nil {
		return fmt.Errorf("create table hubspot_refresh_tokens: %w", s.err)
	}
	return nil
}

func (s *SQLTokenStore) LoadRefreshToken(ctx context.Context, ws string) (StoredRefreshToken, bool, error) {
	if err := s.init(ctx); err != nil {
		return StoredRefreshToken{}, false, err
	}
	var t StoredRefreshToken
	var at string
	err := s.db.QueryRowContext(ctx, `SELECT refresh_token, seed, portal_id, updated_at FROM hubspot_refresh_tokens WHERE workspace = $1`, ws).
		Scan(&t.RefreshToken, &t.Seed, &t.PortalID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredRefreshToken{}, false, nil
	}
	if err != nil {
		return StoredRefreshToken{}, false, fmt.Errorf("load refresh token of workspace %s: %w", ws, err)
	}
	if t.RefreshToken, err = s.open(ws, t.RefreshToken); err != nil {
		return StoredRefreshToken{}, false, err
	}
	t.UpdatedAt, _ = time.Parse(time.RFC3339Nano, at)
	return t, true, nil
}

func (s *SQLTokenStore) SaveRefreshToken(ctx context.Context, ws string, t StoredRefreshToken) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	sealed, err := s.seal(ws, t.RefreshToken)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO hubspot_refresh_tokens (workspace, refresh_token, seed, portal_id, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace) DO UPDATE SET refresh_token = excluded.refresh_token,
		seed = excluded.seed, portal_id = excluded.portal_id, updated_at = excluded.updated_at`,
		ws, sealed, t.Seed, t.PortalID, t.UpdatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("save refresh token of workspace %s: %w", ws, err)
	}
	return nil
}

// OAuthConfig configures the access tokens of one workspace.
type OAuthConfig struct {
	// BaseURL is the workspace's API base URL; the token endpoint is BaseURL+TokenPath.
	BaseURL      string
	ClientID     string
	ClientSecret string
	Workspace    string
	// RefreshToken is the value of refresh_token_env ("" when the install flow is to
	// provide it through Store).
	RefreshToken string
	// Store keeps installed and rotated refresh tokens (default: in memory).
	Store RefreshTokenStore
	// Fix is what the operator is told to do when authorization stops.
	Fix string

	HTTPClient     *http.Client
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	// Registerer registers switchboard_hubspot_token_refreshes_total{outcome} and
	// switchboard_hubspot_authorization_stopped, labelled by workspace; nil: none.
	Registerer prometheus.Registerer
}

// Refresh timing (SPEC §6 "Access tokens"): refresh when a tenth of the lifetime, or
// five minutes if that is shorter, remains.
const maxRefreshMargin = 5 * time.Minute

// failedRefreshPause is how long callers get the last temporary failure of a refresh
// (a network error, a 5xx) instead of starting another: waiting work retries with its
// own back-off, and HubSpot is not asked once per waiting request.
const failedRefreshPause = time.Second

// OAuthTokens is the TokenSource of an OAuth install: it refreshes the access token
// before it expires, once for however many requests wait, keeps a rotated refresh
// token in Store, and stops — visibly, losing nothing — when HubSpot refuses the
// refresh token. While stopped, Token looks at Store again (at most once a second, and
// without asking HubSpot unless the token there changed), so a re-install resumes the
// work without a restart.
type OAuthTokens struct {
	cfg    OAuthConfig
	tokens tokenClient
	log    *slog.Logger

	mu        sync.Mutex
	access    string
	refreshAt time.Time
	expiresAt time.Time
	inflight  chan struct{}
	failed    error
	failedAt  time.Time
	stopped   *AuthStoppedError
	refused   string // the refresh token HubSpot refused: not offered again
	refreshes int

	refreshCount *prometheus.CounterVec // outcome: ok, refused, failed
	stoppedGauge prometheus.Gauge
}

var _ TokenSource = (*OAuthTokens)(nil)

// NewOAuthTokens builds the source; it makes no request until the first Token.
func NewOAuthTokens(cfg OAuthConfig) (*OAuthTokens, error) {
	var errs []error
	if cfg.BaseURL == "" {
		errs = append(errs, errors.New("oauth: base URL is empty"))
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		errs = append(errs, errors.New("oauth: client id and client secret are required (hubspot_app.client_id_env, client_secret_env)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryTokenStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With(slog.String("component", "hubspot_oauth"), slog.String("workspace", cfg.Workspace))
	t := &OAuthTokens{cfg: cfg, log: log,
		tokens: newTokenClient(cfg.BaseURL, cfg.ClientID, cfg.ClientSecret, cfg.HTTPClient, cfg.RequestTimeout),
		refreshCount: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchboard", Subsystem: "hubspot", Name: "token_refreshes_total",
			Help: "OAuth access token refreshes, by outcome (ok, refused: the refresh token was refused, failed: to be tried again)."}, []string{"outcome"}),
		stoppedGauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "switchboard", Subsystem: "hubspot", Name: "authorization_stopped",
			Help: "1 while the workspace's HubSpot work is stopped for want of a refresh token HubSpot accepts."}),
	}
	if reg := cfg.Registerer; reg != nil {
		if cfg.Workspace != "" {
			reg = prometheus.WrapRegistererWith(prometheus.Labels{"workspace": cfg.Workspace}, reg)
		}
		var err error
		if t.refreshCount, err = prom.Register(reg, t.refreshCount, "hubspot oauth"); err != nil {
			return nil, err
		}
		if t.stoppedGauge, err = prom.Register(reg, t.stoppedGauge, "hubspot oauth"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Token implements TokenSource.
func (t *OAuthTokens) Token(ctx context.Context) (string, error) {
	for {
		t.mu.Lock()
		now := t.cfg.Now()
		if t.access != "" && now.Before(t.refreshAt) {
			tok := t.access
			t.mu.Unlock()
			return tok, nil
		}
		if t.inflight == nil {
			if t.failed != nil && now.Sub(t.failedAt) < failedRefreshPause {
				err := t.failed
				tok := t.usable(now)
				t.mu.Unlock()
				if tok != "" {
					return tok, nil
				}
				return "", err
			}
			t.inflight = make(chan struct{})
			// The refresh outlives the caller that started it: others wait for it too.
			go t.refresh(context.WithoutCancel(ctx), t.inflight)
		}
		done := t.inflight
		t.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		t.mu.Lock()
		now = t.cfg.Now()
		if t.access != "" && now.Before(t.refreshAt) {
			tok := t.access
			t.mu.Unlock()
			return tok, nil
		}
		err := t.failed
		if t.stopped != nil {
			err = t.stopped
		}
		tok := t.usable(now)
		t.mu.Unlock()
		if tok != "" {
			return tok, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// usable is the current access token if it has not expired yet: a refresh that failed
// ahead of time leaves the old token working until its end.
func (t *OAuthTokens) usable(now time.Time) string {
	if t.access != "" && now.Before(t.expiresAt) {
		return t.access
	}
	return ""
}

// Expired implements TokenSource.
func (t *OAuthTokens) Expired(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if token == t.access {
		t.refreshAt, t.expiresAt = time.Time{}, time.Time{}
	}
}

// Stopped returns why the workspace's HubSpot work is stopped, or nil.
func (t *OAuthTokens) Stopped() *AuthStoppedError {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped == nil {
		return nil
	}
	cp := *t.stopped
	return &cp
}

// Refreshes counts the successful refreshes since start.
func (t *OAuthTokens) Refreshes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refreshes
}

// candidate is the refresh token to offer: the stored one while refresh_token_env
// still has the value it was stored under, else the variable's.
func (t *OAuthTokens) candidate(ctx context.Context) (token, seed string, err error) {
	seed = SeedOf(t.cfg.RefreshToken)
	st, ok, err := t.cfg.Store.LoadRefreshToken(ctx, t.cfg.Workspace)
	if err != nil {
		return "", seed, err
	}
	switch {
	case ok && st.RefreshToken != "" && (st.Seed == seed || t.cfg.RefreshToken == ""):
		return st.RefreshToken, seed, nil
	default:
		return t.cfg.RefreshToken, seed, nil
	}
}

func (t *OAuthTokens) refresh(ctx context.Context, done chan struct{}) {
	grant, rt, err := t.obtain(ctx)
	t.mu.Lock()
	defer func() {
		t.inflight = nil
		close(done)
		t.mu.Unlock()
	}()
	now := t.cfg.Now()
	var stopped *AuthStoppedError
	switch {
	case err == nil:
		lifetime := grant.ExpiresIn
		t.access = grant.AccessToken
		t.expiresAt = now.Add(lifetime)
		t.refreshAt = t.expiresAt.Add(-min(lifetime/10, maxRefreshMargin))
		t.failed = nil
		t.refused = ""
		t.refreshes++
		t.refreshCount.WithLabelValues("ok").Inc()
		t.stoppedGauge.Set(0)
		if t.stopped != nil {
			t.log.Info("HubSpot authorization restored; waiting work goes out", "stopped_since", t.stopped.Since)
			t.stopped = nil
		}
		t.log.Debug("hubspot access token refreshed", "expires_in", lifetime.String())
		return
	case errors.As(err, &stopped):
		if rt != "" && rt != t.refused {
			t.refreshCount.WithLabelValues("refused").Inc()
		}
		t.stoppedGauge.Set(1)
		t.refused = rt
		if t.stopped == nil || t.stopped.Reason != stopped.Reason {
			t.log.Error("HubSpot authorization stopped; this workspace's HubSpot work waits, nothing is lost",
				"reason", stopped.Reason, "fix", stopped.Fix)
		}
		if t.stopped != nil {
			stopped.Since = t.stopped.Since
		} else {
			stopped.Since = now
		}
		t.stopped = stopped
		t.failed = stopped
		t.failedAt = now
	default:
		t.refreshCount.WithLabelValues("failed").Inc()
		t.log.Warn("hubspot token refresh failed; will try again", "error", err.Error())
		t.failed = fmt.Errorf("workspace %s: refresh the HubSpot access token: %w", t.cfg.Workspace, err)
		t.failedAt = now
	}
}

// obtain asks HubSpot for an access token with the current refresh token and keeps a
// rotated one. A token HubSpot refused is not offered again: the source stays stopped
// without a request until Store or the variable gives another.
func (t *OAuthTokens) obtain(ctx context.Context) (Grant, string, error) {
	rt, seed, err := t.candidate(ctx)
	if err != nil {
		return Grant{}, "", err
	}
	stop := func(reason string) *AuthStoppedError {
		return &AuthStoppedError{Workspace: t.cfg.Workspace, Reason: reason, Fix: t.cfg.Fix}
	}
	if rt == "" {
		return Grant{}, "", stop("no refresh token: the app is not installed in this portal and refresh_token_env gives none")
	}
	t.mu.Lock()
	refused, prev := t.refused, t.stopped
	t.mu.Unlock()
	if rt == refused && prev != nil {
		return Grant{}, rt, prev
	}
	grant, err := t.tokens.refresh(ctx, rt)
	var ref *TokenRefusedError
	if errors.As(err, &ref) {
		return Grant{}, rt, stop("HubSpot refused the refresh token (" + ref.Error() + ")")
	}
	if err != nil {
		return Grant{}, rt, err
	}
	if grant.RefreshToken != "" && grant.RefreshToken != rt {
		// Losing a rotated token locks the workspace out at the next restart: say so
		// loudly, but use the new access token meanwhile.
		if err := t.cfg.Store.SaveRefreshToken(ctx, t.cfg.Workspace, StoredRefreshToken{RefreshToken: grant.RefreshToken, Seed: seed,
			PortalID: grant.PortalID, UpdatedAt: t.cfg.Now()}); err != nil {
			t.log.Error("could not keep the rotated HubSpot refresh token; a restart will need a new install", "error", err.Error())
		} else {
			t.log.Info("kept the rotated HubSpot refresh token")
		}
	}
	return grant, rt, nil
}
