package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
)

// hubspotAuth holds the OAuth token sources of the workspaces that use one, and the
// store of their refresh tokens (a table of the service's SQLite database).
type hubspotAuth struct {
	store   hubspot.RefreshTokenStore
	sources map[string]*hubspot.OAuthTokens
	// installer serves the install flow (nil without hubspot_app).
	installer http.Handler
}

// stopped names each workspace whose HubSpot work is stopped, with why and the fix.
func (a *hubspotAuth) stopped() map[string]string {
	out := map[string]string{}
	for ws, src := range a.sources {
		if e := src.Stopped(); e != nil {
			out[ws] = e.Error()
		}
	}
	return out
}

// warmUp obtains every workspace's first access token at start, so a refused refresh
// token shows in /readyz and the log before any message needs HubSpot.
func (a *hubspotAuth) warmUp(ctx context.Context, log *slog.Logger) {
	ids := make([]string, 0, len(a.sources))
	for ws := range a.sources {
		ids = append(ids, ws)
	}
	sort.Strings(ids)
	for _, ws := range ids {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := a.sources[ws].Token(cctx); err != nil && ctx.Err() == nil {
				log.Warn("no HubSpot access token at start; the workspace's HubSpot work waits", "workspace", ws, "error", err.Error())
			}
		}()
	}
}

// newTokenSource builds the OAuth token source of w (which UsesOAuth).
func newTokenSource(cfg *config.Config, w config.Workspace, store hubspot.RefreshTokenStore, hc *http.Client, log *slog.Logger, reg prometheus.Registerer) (*hubspot.OAuthTokens, error) {
	if cfg.HubSpotApp == nil {
		return nil, fmt.Errorf("%s: workspace %s: hubspot has no token_env and there is no hubspot_app to obtain OAuth tokens with", cfg.Path, w.ID)
	}
	return hubspot.NewOAuthTokens(hubspot.OAuthConfig{BaseURL: w.HubSpot.BaseURL, ClientID: cfg.HubSpotApp.ClientID,
		ClientSecret: cfg.HubSpotApp.ClientSecret, Workspace: w.ID, RefreshToken: w.HubSpot.RefreshToken, Store: store,
		Fix: authFix(cfg, w), HTTPClient: hc, Logger: log, Registerer: reg})
}

// authFix tells the operator how to resume a stopped workspace.
func authFix(cfg *config.Config, w config.Workspace) string {
	install := "/hubspot/install/" + w.ID
	if cfg.PublicURL != "" {
		install = strings.TrimSuffix(cfg.PublicURL, "/") + install
	}
	fix := "install the app again at " + install + " (the waiting work then goes out)"
	if w.HubSpot.RefreshTokenEnv != "" {
		fix += ", or set " + w.HubSpot.RefreshTokenEnv + " to a valid refresh token and restart"
	}
	return fix
}

// newInstaller builds the install flow's handler when the configuration has an app.
func newInstaller(cfg *config.Config, store hubspot.RefreshTokenStore, hc *http.Client, log *slog.Logger) (http.Handler, error) {
	app := cfg.HubSpotApp
	if app == nil {
		return nil, nil
	}
	if cfg.Redirect() == "" && log != nil {
		log.Warn("hubspot_app has no redirect_url and there is no public_url: /hubspot/install cannot send HubSpot's answer back")
	}
	ws := map[string]hubspot.InstallWorkspace{}
	for _, w := range cfg.Workspaces {
		ws[w.ID] = hubspot.InstallWorkspace{BaseURL: w.HubSpot.BaseURL, PortalID: w.HubSpot.PortalID, Seed: hubspot.SeedOf(w.HubSpot.RefreshToken)}
	}
	in, err := hubspot.NewInstaller(hubspot.InstallConfig{ClientID: app.ClientID, ClientSecret: app.ClientSecret, AuthorizeURL: app.AuthorizeURL,
		RedirectURL: cfg.Redirect(), Scopes: app.Scopes, Workspaces: ws, Store: store, AdminToken: cfg.AdminToken, HTTPClient: hc, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%s: hubspot_app: %w", cfg.Path, err)
	}
	return in, nil
}
