package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// DefaultAccessTokenLifetime is HubSpot's: the docs' example token answer has
// "expires_in": 1800 (hubspot.md §1).
const DefaultAccessTokenLifetime = 30 * time.Minute

// DefaultPortalID is the hub_id the emulator answers with when Options.PortalID is 0.
const DefaultPortalID int64 = 62515

// OAuthStats counts the token endpoint's work since New or the last ResetStats.
type OAuthStats struct {
	// Refreshes counts refresh_token grants answered 200; Exchanges authorization_code
	// grants answered 200; Refused token requests answered 400 (or 401 for the client).
	Refreshes int
	Exchanges int
	Refused   int
	// Expired counts API calls refused with 401 EXPIRED_AUTHENTICATION.
	Expired int
}

// oauthState is the emulated OAuth app's memory: issued access tokens with their
// expiry, refresh tokens and one-time authorization codes.
type oauthState struct {
	access    map[string]time.Time // access token -> expiry
	refresh   map[string]bool      // refresh tokens added or issued
	refusedRT map[string]bool      // revoked refresh tokens
	codes     map[string]string    // authorization code -> redirect_uri it was issued for
	stats     OAuthStats
}

func newOAuthState() oauthState {
	return oauthState{access: map[string]time.Time{}, refresh: map[string]bool{}, refusedRT: map[string]bool{}, codes: map[string]string{}}
}

// AddRefreshToken makes rt a refresh token the token endpoint accepts. Once any was
// added (or issued by an authorization_code grant), only those are accepted; before
// that any non-empty refresh token is, as for access tokens (AddToken).
func (s *Server) AddRefreshToken(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.refresh[rt] = true
	delete(s.oauth.refusedRT, rt)
}

// RevokeRefreshToken makes the token endpoint refuse rt with 400 BAD_REFRESH_TOKEN, as
// HubSpot does after the app is uninstalled or the token is revoked. Access tokens
// already issued keep working until they expire.
func (s *Server) RevokeRefreshToken(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.refusedRT[rt] = true
	delete(s.oauth.refresh, rt)
}

// ExpireAccessTokens makes every issued access token expired now, as if the clock had
// jumped past their lifetime: their next call answers 401 EXPIRED_AUTHENTICATION.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for t, exp := range s.oauth.access {
		if exp.After(now) {
			s.oauth.access[t] = now.Add(-time.Second)
		}
	}
}

// RevokeAccessTokens makes every issued access token invalid (401
// INVALID_AUTHENTICATION), as an uninstall of the app does; with RevokeRefreshToken
// it is the whole uninstall.
func (s *Server) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.oauth.access {
		s.revoked[t] = true
	}
}

// IssueAuthorizationCode returns a one-time code for redirectURI, as HubSpot's consent
// page gives the app after the user approves (see also GET /oauth/authorize).
func (s *Server) IssueAuthorizationCode(redirectURI string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueCodeLocked(redirectURI)
}

func (s *Server) issueCodeLocked(redirectURI string) string {
	code := "emu-code-" + randomHex(12)
	s.oauth.codes[code] = redirectURI
	return code
}

// OAuthStats returns the token endpoint's counters.
func (s *Server) OAuthStats() OAuthStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.stats
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// accessTokenState tells an API call's bearer token apart: an access token the token
// endpoint issued (valid or expired, with how long ago), or another token.
func (s *Server) accessTokenState(token string, now time.Time) (issued bool, expiredFor time.Duration) {
	exp, ok := s.oauth.access[token]
	if !ok {
		return false, 0
	}
	if now.Before(exp) {
		return true, 0
	}
	return true, now.Sub(exp) + time.Nanosecond
}

// expiredErr is HubSpot's answer to a call made with an expired OAuth token (hubspot.md
// §5, the EXPIRED_AUTHENTICATION category).
func expiredErr(ago time.Duration) *apiError {
	secs := int(ago.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return apiErr(http.StatusUnauthorized, "EXPIRED_AUTHENTICATION",
		"The OAuth token used to make this call expired "+strconv.Itoa(secs)+" second(s) ago.")
}

// oauthErrorBody is the token endpoint's error shape: the error code sits in "status"
// (BAD_REFRESH_TOKEN, BAD_AUTH_CODE, BAD_CLIENT_ID, ...) rather than in a category.
type oauthErrorBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, message string) {
	b := oauthErrorBody{Status: code, Message: message, CorrelationID: uuid.NewString()}
	w.Header().Set("X-HubSpot-Correlation-Id", b.CorrelationID)
	writeJSON(w, status, b)
}

type tokenAnswer struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	ExpiresIn    int64    `json:"expires_in"`
	TokenType    string   `json:"token_type"`
	HubID        int64    `json:"hub_id"`
	Scopes       []string `json:"scopes,omitempty"`
}

// handleToken is POST /oauth/v1/token, form-encoded: grant_type refresh_token (with
// refresh_token) or authorization_code (with code and redirect_uri), and client_id and
// client_secret, which must match Options.ClientID and ClientSecret when those are set.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "BAD_REQUEST", "the body must be application/x-www-form-urlencoded: "+err.Error())
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(status int, code, msg string) {
		s.oauth.stats.Refused++
		writeOAuthError(w, status, code, msg)
	}
	if s.opts.ClientID != "" && f.Get("client_id") != s.opts.ClientID {
		refuse(http.StatusBadRequest, "BAD_CLIENT_ID", "missing or unknown client id")
		return
	}
	if s.opts.ClientSecret != "" && f.Get("client_secret") != s.opts.ClientSecret {
		refuse(http.StatusBadRequest, "BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	}
	var rt string
	switch f.Get("grant_type") {
	case "refresh_token":
		rt = f.Get("refresh_token")
		if rt == "" || s.oauth.refusedRT[rt] || (len(s.oauth.refresh) > 0 && !s.oauth.refresh[rt]) {
			refuse(http.StatusBadRequest, "BAD_REFRESH_TOKEN", "missing or invalid refresh token")
			return
		}
		if s.opts.RotateRefreshTokens {
			// The old token stops working at once: a client that lost the new one is
			// locked out, which is what a rotation test needs to see.
			delete(s.oauth.refresh, rt)
			s.oauth.refusedRT[rt] = true
			rt = "emu-rt-" + randomHex(16)
		}
		s.oauth.refresh[rt] = true
		s.oauth.stats.Refreshes++
	case "authorization_code":
		code := f.Get("code")
		uri, ok := s.oauth.codes[code]
		if !ok {
			refuse(http.StatusBadRequest, "BAD_AUTH_CODE", "missing or expired authorization code")
			return
		}
		if uri != "" && f.Get("redirect_uri") != uri {
			refuse(http.StatusBadRequest, "BAD_REDIRECT_URI", "redirect_uri does not match the one the code was issued for")
			return
		}
		delete(s.oauth.codes, code)
		rt = "emu-rt-" + randomHex(16)
		s.oauth.refresh[rt] = true
		s.oauth.stats.Exchanges++
	default:
		refuse(http.StatusBadRequest, "BAD_GRANT_TYPE", "grant_type must be refresh_token or authorization_code")
		return
	}
	lifetime := s.opts.AccessTokenLifetime
	at := "emu-at-" + randomHex(24)
	s.oauth.access[at] = s.now().Add(lifetime)
	writeJSON(w, http.StatusOK, tokenAnswer{AccessToken: at, RefreshToken: rt, ExpiresIn: int64(lifetime / time.Second),
		TokenType: "bearer", HubID: s.opts.PortalID, Scopes: s.opts.Scopes})
}

// handleAuthorize is GET /oauth/authorize, HubSpot's consent page (app.hubspot.com in
// production), reduced to an operator who always approves: it redirects at once to
// redirect_uri with a fresh code and the state it was given. An unknown client_id is
// shown as an error page, as HubSpot does, without redirecting.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if redirect == "" || err != nil || u.Host == "" {
		http.Error(w, "redirect_uri is missing or not an absolute URL", http.StatusBadRequest)
		return
	}
	if s.opts.ClientID != "" && q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if strings.TrimSpace(q.Get("scope")) == "" {
		http.Error(w, "scope is missing", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := s.issueCodeLocked(redirect)
	s.mu.Unlock()
	v := u.Query()
	v.Set("code", code)
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}
