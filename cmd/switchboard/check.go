package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "check --config F", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (%d workspace(s))\n", cfg.Path, len(cfg.Workspaces))
	var failed []error
	tokens, closeTokens := checkTokenStore(cfg)
	defer closeTokens()
	for _, w := range cfg.Workspaces {
		hc := hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID, MaxAttempts: 2}
		if w.UsesOAuth() {
			src, err := newTokenSource(cfg, w, tokens, nil, nil, nil)
			if err != nil {
				failed = append(failed, err)
				continue
			}
			hc.Tokens = src
		}
		c, err := hubspot.New(hc)
		if err != nil {
			failed = append(failed, fmt.Errorf("workspace %s: %w", w.ID, err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		// Reading a built-in property proves the URL, the token and its scope at once.
		if _, err := c.PropertyInfo(cctx, "phone"); err != nil {
			cancel()
			if errors.Is(err, hubspot.ErrAuthorizationStopped) {
				failed = append(failed, err)
				continue
			}
			failed = append(failed, fmt.Errorf("workspace %s: HubSpot at %s does not answer: %w", w.ID, w.HubSpot.BaseURL, err))
			continue
		}
		fmt.Fprintf(stdout, "workspace %s: HubSpot at %s answers\n", w.ID, w.HubSpot.BaseURL)
		for _, p := range w.IdentifierProperties() {
			info, err := c.PropertyInfo(cctx, p)
			switch {
			case err != nil:
				failed = append(failed, fmt.Errorf("workspace %s: contact property %q: %w; create it in HubSpot (Settings → Properties) or fix the channel's property key", w.ID, p, err))
			case !info.HasUniqueValue:
				fmt.Fprintf(stdout, "workspace %s: WARNING property %q is not unique: lookups use search (eventually consistent) and two contacts may hold one identifier; a unique property is safer\n", w.ID, p)
			default:
				fmt.Fprintf(stdout, "workspace %s: property %q exists and is unique\n", w.ID, p)
			}
		}
		if err := checkCreateKey(cctx, c, w.ID, w.HubSpot.CreateKeyProperty, stdout); err != nil {
			failed = append(failed, err)
		}
		cancel()
	}
	failed = append(failed, checkChannelAccounts(ctx, cfg, stdout)...)
	return errors.Join(failed...)
}

// checkTokenStore is the refresh-token store `serve` uses, when its database already
// exists (check creates nothing); otherwise an empty one in memory.
func checkTokenStore(cfg *config.Config) (hubspot.RefreshTokenStore, func()) {
	if cfg.Store.Driver == "sqlite" {
		if _, err := os.Stat(cfg.Store.DSN); err == nil {
			if st, err := openStore(cfg, nil); err == nil {
				return hubspot.NewSQLTokenStore(st.DB(), cfg.SecretKey), func() { _ = st.Close() }
			}
		}
	}
	return hubspot.NewMemoryTokenStore(), func() {}
}
