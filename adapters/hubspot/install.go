package hubspot

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Install routes: the operator opens InstallPath+workspace; HubSpot sends the browser
// back to the app's redirect URL, which must route to CallbackPath.
const (
	InstallPath  = "/hubspot/install/"
	CallbackPath = "/hubspot/oauth/callback"
)

// installCookie binds a consent round trip to the browser that started it, so that a
// callback link made by someone else cannot install their portal here.
const installCookie = "sb_hubspot_install"

// DefaultStateTTL bounds how long an operator may take on HubSpot's consent page.
const DefaultStateTTL = 15 * time.Minute

// InstallWorkspace is what the install flow knows of one workspace.
type InstallWorkspace struct {
	// BaseURL is the API base URL; the code is exchanged at BaseURL+TokenPath.
	BaseURL string
	// PortalID, when set, is the only portal (hub_id) the install may be in.
	PortalID string
	// Seed is SeedOf(the workspace's refresh_token_env value), kept with the installed
	// token so the variable does not override it until an operator changes it.
	Seed string
}

// InstallConfig configures the install flow of the app.
type InstallConfig struct {
	ClientID     string
	ClientSecret string
	// AuthorizeURL is HubSpot's consent page (DefaultAuthorizeURL) or an emulator's.
	AuthorizeURL string
	// RedirectURL is the app's redirect URL, registered with HubSpot; it must reach
	// CallbackPath. Without it the install page says what to configure.
	RedirectURL string
	Scopes      []string
	Workspaces  map[string]InstallWorkspace
	Store       RefreshTokenStore
	// AdminToken gates the install: whoever starts it decides which portal the
	// workspace's messages go to. Empty refuses every install.
	AdminToken string
	// StateTTL bounds a consent round trip (default DefaultStateTTL).
	StateTTL time.Duration

	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Installer serves InstallPath and CallbackPath. Its state parameter is an HMAC (keyed
// by a digest of the client secret, so it survives restarts and no one without the
// secret can make one) over the workspace, an expiry and a nonce that a cookie of the
// operator's browser must repeat.
type Installer struct {
	cfg InstallConfig
	key []byte
	log *slog.Logger
}

// NewInstaller checks the configuration.
func NewInstaller(cfg InstallConfig) (*Installer, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.Store == nil {
		return nil, errors.New("install: client id, client secret and a token store are required")
	}
	if cfg.AuthorizeURL == "" {
		cfg.AuthorizeURL = DefaultAuthorizeURL
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := sha256.Sum256([]byte("switchboard install state\x00" + cfg.ClientSecret))
	return &Installer{cfg: cfg, key: key[:], log: cfg.Logger.With(slog.String("component", "hubspot_install"))}, nil
}

// ServeHTTP routes InstallPath{workspace} (GET shows the admin-token form, POST
// starts the consent) and CallbackPath.
func (in *Installer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch {
	case r.URL.Path == CallbackPath && r.Method == http.MethodGet:
		in.callback(w, r)
	case strings.HasPrefix(r.URL.Path, InstallPath) && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		in.install(w, r, strings.TrimPrefix(r.URL.Path, InstallPath))
	default:
		page(w, http.StatusNotFound, "Not found", "There is nothing here.", "")
	}
}

func (in *Installer) install(w http.ResponseWriter, r *http.Request, ws string) {
	if _, ok := in.cfg.Workspaces[ws]; !ok {
		page(w, http.StatusNotFound, "Unknown workspace", fmt.Sprintf("No workspace %q is configured.", ws), "Check the workspace id in the configuration file.")
		return
	}
	if in.cfg.RedirectURL == "" {
		page(w, http.StatusServiceUnavailable, "No redirect URL", "switchboard does not know the URL HubSpot must send you back to.",
			"Set hubspot_app.redirect_url (or the top-level public_url) to the app's redirect URL ending in "+CallbackPath+", and restart.")
		return
	}
	if in.cfg.AdminToken == "" {
		page(w, http.StatusForbidden, "Install disabled", "Installing the app needs the admin token, and none is configured.",
			"Set the variable named by admin_token_env and restart.")
		return
	}
	if r.Method == http.MethodGet {
		tokenForm(w, ws, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	given := r.PostFormValue("admin_token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && given == "" {
		given = bearer
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(in.cfg.AdminToken)) != 1 {
		tokenForm(w, ws, "That is not the admin token.")
		return
	}
	nonce := randomToken()
	state := in.sign(ws, in.cfg.Now().Add(in.cfg.StateTTL), nonce)
	http.SetCookie(w, &http.Cookie{Name: installCookie, Value: nonce, Path: CallbackPath, MaxAge: int(in.cfg.StateTTL / time.Second),
		HttpOnly: true, Secure: strings.HasPrefix(in.cfg.RedirectURL, "https://"), SameSite: http.SameSiteLaxMode})
	q := url.Values{"client_id": {in.cfg.ClientID}, "redirect_uri": {in.cfg.RedirectURL},
		"scope": {strings.Join(in.cfg.Scopes, " ")}, "state": {state}}
	target := in.cfg.AuthorizeURL
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	in.log.Info("hubspot install started", "workspace", ws)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (in *Installer) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		page(w, http.StatusBadRequest, "Not authorized", "HubSpot did not authorize the app: "+e+" "+q.Get("error_description"),
			"Nothing was changed. Start the install again when ready.")
		return
	}
	ws, nonce, err := in.verify(q.Get("state"))
	cookie, cerr := r.Cookie(installCookie)
	if err == nil && (cerr != nil || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(nonce)) != 1) {
		err = errors.New("this browser did not start this install")
	}
	if err != nil {
		in.log.Warn("hubspot install callback refused", "reason", err.Error())
		page(w, http.StatusBadRequest, "Install link not valid", "This answer from HubSpot cannot be used: "+err.Error()+".",
			"Nothing was changed. Start again from "+InstallPath+"{workspace} in this browser.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: installCookie, Value: "", Path: CallbackPath, MaxAge: -1, HttpOnly: true})
	wcfg := in.cfg.Workspaces[ws]
	code := q.Get("code")
	if code == "" {
		page(w, http.StatusBadRequest, "No code", "HubSpot's answer carries no authorization code.", "Start the install again.")
		return
	}
	tc := newTokenClient(wcfg.BaseURL, in.cfg.ClientID, in.cfg.ClientSecret, in.cfg.HTTPClient, 0)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	grant, err := tc.exchange(ctx, code, in.cfg.RedirectURL)
	var refused *TokenRefusedError
	switch {
	case errors.As(err, &refused):
		in.log.Warn("hubspot install: code refused", "workspace", ws, "status", refused.Status, "code", refused.Code)
		page(w, http.StatusBadRequest, "HubSpot refused the code", refused.Error()+".",
			"Nothing was kept. Start the install again (a code works once and only for a few minutes); check hubspot_app's client id, secret and redirect_url.")
		return
	case err != nil:
		in.log.Warn("hubspot install: code exchange failed", "workspace", ws, "error", err.Error())
		page(w, http.StatusBadGateway, "HubSpot did not answer", "Exchanging the code failed: "+err.Error()+".", "Nothing was kept. Start the install again.")
		return
	case grant.RefreshToken == "":
		page(w, http.StatusBadGateway, "No refresh token", "HubSpot's answer carries no refresh token.", "Nothing was kept. Start the install again.")
		return
	}
	if wcfg.PortalID != "" && grant.PortalID != wcfg.PortalID {
		in.log.Warn("hubspot install into the wrong portal refused", "workspace", ws, "portal_id", grant.PortalID, "want_portal_id", wcfg.PortalID)
		page(w, http.StatusForbidden, "Wrong HubSpot portal",
			fmt.Sprintf("The app was authorized in portal %s, but workspace %s is configured for portal %s.", orUnknown(grant.PortalID), ws, wcfg.PortalID),
			"Nothing was kept. Log in to HubSpot portal "+wcfg.PortalID+" and install again, or correct the workspace's hubspot.portal_id.")
		return
	}
	if err := in.cfg.Store.SaveRefreshToken(ctx, ws, StoredRefreshToken{RefreshToken: grant.RefreshToken, Seed: wcfg.Seed,
		PortalID: grant.PortalID, UpdatedAt: in.cfg.Now()}); err != nil {
		in.log.Error("hubspot install: could not keep the refresh token", "workspace", ws, "error", err.Error())
		page(w, http.StatusInternalServerError, "Not kept", "HubSpot authorized the app, but switchboard could not keep the token: "+err.Error()+".",
			"Check the database, then install again.")
		return
	}
	in.log.Info("hubspot app installed", "workspace", ws, "portal_id", grant.PortalID, "scopes", strings.Join(grant.Scopes, " "))
	page(w, http.StatusOK, "Connected",
		fmt.Sprintf("Workspace %s is connected to HubSpot portal %s.", ws, orUnknown(grant.PortalID)),
		"switchboard keeps the refresh token; no restart is needed, and HubSpot work that was waiting goes out now.")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// sign makes the state of one round trip: payload "workspace|expiry|nonce", base64url,
// then "." and its HMAC-SHA256.
func (in *Installer) sign(ws string, exp time.Time, nonce string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(ws + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + nonce))
	return payload + "." + in.mac(payload)
}

func (in *Installer) mac(payload string) string {
	m := hmac.New(sha256.New, in.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (in *Installer) verify(state string) (ws, nonce string, err error) {
	payload, sig, ok := strings.Cut(state, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(in.mac(payload))) {
		return "", "", errors.New("its state was not made by this switchboard")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", "", errors.New("its state is malformed")
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return "", "", errors.New("its state is malformed")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || in.cfg.Now().Unix() > exp {
		return "", "", errors.New("it took too long; the install link expired")
	}
	if _, ok := in.cfg.Workspaces[parts[0]]; !ok {
		return "", "", errors.New("its workspace is no longer configured")
	}
	return parts[0], parts[2], nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>switchboard · {{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.What}}</p>{{if .Next}}<p>{{.Next}}</p>{{end}}
{{if .Form}}<form method="post"><label>Admin token <input type="password" name="admin_token" autocomplete="off"></label>
<button type="submit">Continue to HubSpot</button></form>{{end}}</body></html>
`))

func page(w http.ResponseWriter, status int, title, what, next string) {
	render(w, status, map[string]any{"Title": title, "What": what, "Next": next})
}

func tokenForm(w http.ResponseWriter, ws, problem string) {
	status := http.StatusOK
	what := "Connect workspace " + ws + " to a HubSpot portal. HubSpot will ask you to choose the portal and approve the app's scopes."
	if problem != "" {
		status, what = http.StatusUnauthorized, problem
	}
	render(w, status, map[string]any{"Title": "Install the HubSpot app", "What": what, "Next": "Give the admin token to continue.", "Form": true})
}

func render(w http.ResponseWriter, status int, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, data)
}
