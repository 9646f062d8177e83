package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"switchboard/adapters/hubspot"
)

// cmdCreateKeyProperty creates, in each workspace's HubSpot (or the one named), the
// unique contact property hubspot.create_key_property names, when it is missing.
func cmdCreateKeyProperty(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("hubspot create-key-property", "hubspot create-key-property --config F [--workspace W]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	only := fs.String("workspace", "", "the workspace to set up (default: every workspace that sets hubspot.create_key_property)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *only != "" {
		if _, ok := cfg.Workspace(*only); !ok {
			return fmt.Errorf("%w: --workspace %q is not a workspace of %s", errUsage, *only, cfg.Path)
		}
	}
	var failed []error
	for _, w := range cfg.Workspaces {
		if *only != "" && w.ID != *only {
			continue
		}
		name := w.HubSpot.CreateKeyProperty
		if name == "" {
			fmt.Fprintf(stdout, "workspace %s: hubspot.create_key_property is not set; nothing to create\n", w.ID)
			continue
		}
		c, err := hubspot.New(hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID, MaxAttempts: 3})
		if err != nil {
			failed = append(failed, fmt.Errorf("workspace %s: %w", w.ID, err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		created, err := c.EnsureCreateKeyProperty(cctx, name)
		cancel()
		switch {
		case err != nil:
			failed = append(failed, fmt.Errorf("workspace %s: %w", w.ID, err))
		case created:
			fmt.Fprintf(stdout, "workspace %s: created the unique contact property %q\n", w.ID, name)
		default:
			fmt.Fprintf(stdout, "workspace %s: the unique contact property %q exists\n", w.ID, name)
		}
	}
	return errors.Join(failed...)
}

// checkCreateKey is check's part for the create key property of one workspace.
func checkCreateKey(ctx context.Context, c *hubspot.Client, wsID, name string, stdout io.Writer) error {
	if name == "" {
		fmt.Fprintf(stdout, "workspace %s: WARNING hubspot.create_key_property is not set: a create whose answer is lost is confirmed by a search after the search-lag allowance, and a duplicate contact remains possible if HubSpot's search lags longer (docs/exactly-once.md); set it and run `switchboard hubspot create-key-property`\n", wsID)
		return nil
	}
	info, err := c.PropertyInfo(ctx, name)
	switch {
	case errors.Is(err, hubspot.ErrPropertyNotFound):
		return fmt.Errorf("workspace %s: hubspot.create_key_property %q does not exist in HubSpot; run `switchboard hubspot create-key-property --workspace %s`", wsID, name, wsID)
	case err != nil:
		return fmt.Errorf("workspace %s: contact property %q: %w", wsID, name, err)
	case !info.HasUniqueValue:
		return fmt.Errorf("workspace %s: hubspot.create_key_property %q exists without unique values, so HubSpot does not refuse a repeated create; name another property", wsID, name)
	}
	fmt.Fprintf(stdout, "workspace %s: create key property %q exists and is unique\n", wsID, name)
	return nil
}
