package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TokenPath is HubSpot's OAuth token endpoint, under the API base URL.
const TokenPath = "/oauth/v1/token"

// DefaultAuthorizeURL is HubSpot's consent page (the emulator serves /oauth/authorize).
const DefaultAuthorizeURL = "https://app.hubspot.com/oauth/authorize"

// DefaultScopes are the scopes switchboard asks for (hubspot.md §1): contacts read and
// write, custom channels read and write, and conversations read to list inboxes.
var DefaultScopes = []string{
	"crm.objects.contacts.read", "crm.objects.contacts.write",
	"conversations.custom_channels.read", "conversations.custom_channels.write",
	"conversations.read",
}

// Grant is a successful answer of the token endpoint. It holds secrets: never log it.
type Grant struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	// PortalID is the hub_id: the portal the app was installed in.
	PortalID string
	Scopes   []string
}

// TokenRefusedError is the token endpoint's 4xx answer: the refresh token, the code
// or the app's credentials are not accepted, and asking again with the same ones
// cannot help. Code is HubSpot's (BAD_REFRESH_TOKEN, BAD_AUTH_CODE, BAD_CLIENT_ID...).
type TokenRefusedError struct {
	Status        int
	Code          string
	Message       string
	CorrelationID string
}

func (e *TokenRefusedError) Error() string {
	s := fmt.Sprintf("HubSpot's token endpoint answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.CorrelationID != "" {
		s += " [correlation id " + e.CorrelationID + "]"
	}
	return s
}

// tokenClient calls the token endpoint of one base URL with the app's credentials.
type tokenClient struct {
	endpoint     string
	clientID     string
	clientSecret string
	http         *http.Client
	timeout      time.Duration
}

func newTokenClient(baseURL, clientID, clientSecret string, hc *http.Client, timeout time.Duration) tokenClient {
	if hc == nil {
		hc = &http.Client{Transport: transport}
	}
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return tokenClient{endpoint: strings.TrimSuffix(baseURL, "/") + TokenPath, clientID: clientID, clientSecret: clientSecret, http: hc, timeout: timeout}
}

// refresh is grant_type=refresh_token.
func (tc tokenClient) refresh(ctx context.Context, refreshToken string) (Grant, error) {
	return tc.post(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// exchange is grant_type=authorization_code: the install flow's callback.
func (tc tokenClient) exchange(ctx context.Context, code, redirectURI string) (Grant, error) {
	return tc.post(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}})
}

// post sends one token request. A 4xx answer is a *TokenRefusedError; anything else
// that is not a 200 with an access token is a temporary error.
func (tc tokenClient) post(ctx context.Context, form url.Values) (Grant, error) {
	form.Set("client_id", tc.clientID)
	form.Set("client_secret", tc.clientSecret)
	ctx, cancel := context.WithTimeout(ctx, tc.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Grant{}, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := tc.http.Do(req)
	if err != nil {
		// The error of net/http names the URL, never the form: no secret leaks here.
		return Grant{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Grant{}, fmt.Errorf("read token answer: %w", err)
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
		// HubSpot puts its code in "status"; RFC 6749's error/error_description are
		// read too, for other OAuth servers in front of an emulator.
		var b struct {
			Status           string `json:"status"`
			Message          string `json:"message"`
			CorrelationID    string `json:"correlationId"`
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &b)
		if b.Error != "" && (b.Status == "" || b.Status == "error") {
			b.Status, b.Message = b.Error, b.ErrorDescription
		}
		return Grant{}, &TokenRefusedError{Status: resp.StatusCode, Code: b.Status, Message: b.Message, CorrelationID: b.CorrelationID}
	}
	if resp.StatusCode != http.StatusOK {
		return Grant{}, fmt.Errorf("token endpoint answered %d; will try again", resp.StatusCode)
	}
	var ans struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    int64           `json:"expires_in"`
		HubID        json.RawMessage `json:"hub_id"`
		Scopes       []string        `json:"scopes"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return Grant{}, fmt.Errorf("token answer is not JSON: %w", err)
	}
	if ans.AccessToken == "" || ans.ExpiresIn <= 0 {
		return Grant{}, errors.New("token answer has no access_token or no positive expires_in")
	}
	return Grant{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, ExpiresIn: time.Duration(ans.ExpiresIn) * time.Second,
		PortalID: hubID(ans.HubID), Scopes: ans.Scopes}, nil
}

// hubID reads hub_id, a number in HubSpot's answers, as a string (portal ids are
// compared as text everywhere else).
func hubID(raw json.RawMessage) string {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return ""
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return ""
	}
	return s
}
