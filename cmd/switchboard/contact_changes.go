package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/adapters/publicurl"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/projections"
)

// keyIndex answers which match keys are bound to contacts from the identifier→contact
// cache, once that projection has caught up with the event that asks: a key resolved
// just before a HubSpot webhook was recorded must not be missed.
type keyIndex struct {
	reader *projections.Reader
	// position is the contact_keys projection's checkpoint; nil when the caller caught
	// the projections up itself (the reconcile command).
	position func() int64
	timeout  time.Duration
}

func (k keyIndex) KeysOfContacts(ctx context.Context, workspace string, contactIDs []string, atLeast int64) ([]domain.MatchKey, error) {
	if k.position != nil {
		deadline := time.Now().Add(k.timeout)
		for k.position() < atLeast {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the contact_keys projection is at position %d, behind %d, after %s", k.position(), atLeast, k.timeout)
			}
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
	var out []domain.MatchKey
	for _, id := range contactIDs {
		rows, err := k.reader.KeysOfContact(ctx, workspace, id)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out = append(out, domain.MatchKey{Workspace: r.Workspace, Lookup: r.Lookup, Identifier: r.Identifier})
		}
	}
	return out, nil
}

func (k keyIndex) MessageSubjectsOf(ctx context.Context, workspace, contactID string) ([]string, error) {
	return k.reader.MessageSubjectsOfContact(ctx, workspace, contactID)
}

// contactChanges builds the reactor route that applies HubSpot's contact changes to
// match keys and heals publications refused for a missing contact.
func (s *service) contactChanges(opts serviceOptions) (command.ContactChangesRoute, error) {
	// The keys come from the identifier cache, a privacy deletion's messages from the
	// audit: both must have caught up.
	index := keyIndex{reader: s.reader, position: func() int64 {
		p := s.runner.Positions()
		return min(p[projections.ContactKeys{}.Name()], p[projections.Audit{}.Name()])
	}, timeout: 30 * time.Second}
	h, err := command.NewContactChangesHandler(s.store, s.catalog, s.hubspot, index, opts.NewID, opts.Now, opts.Logger)
	if err != nil {
		return command.ContactChangesRoute{}, err
	}
	if sl, ok := s.events.(*sealedLog); ok {
		eraser, err := command.NewEraseSubjectsHandler(s.store, sl.keys, opts.NewID, opts.Now)
		if err != nil {
			return command.ContactChangesRoute{}, err
		}
		h.EraseWith(eraser)
	}
	s.changes = h
	return command.NewContactChangesRoute(h), nil
}

// hubspotWebhooks builds the receiver of HubSpot's contact webhooks: per workspace,
// its app secret and the base URL HubSpot signs (hubspot.public_url, else the
// top-level public_url, else the request as trusted proxies tell it).
func (s *service) hubspotWebhooks(opts serviceOptions) (*hubspot.WebhookHandler, error) {
	rec, err := command.NewRecordHubSpotChangesHandler(s.store, opts.NewID, opts.Now)
	if err != nil {
		return nil, err
	}
	var wss []hubspot.WebhookWorkspace
	for _, w := range s.cfg.Workspaces {
		base := w.HubSpot.PublicURL
		if base == "" {
			base = s.cfg.PublicURL
		}
		urls, err := publicurl.New(base, s.cfg.TrustedProxyPrefixes)
		if err != nil {
			return nil, fmt.Errorf("%s: workspace %s: hubspot.public_url: %w", s.cfg.Path, w.ID, err)
		}
		if w.HubSpot.AppSecret == "" {
			s.log.Warn("workspace has no HubSpot app secret: its contact webhooks are refused (401)", "workspace", w.ID,
				"app_secret_env", w.HubSpot.AppSecretEnv)
		}
		// config checked portal_id is digits.
		portal, _ := strconv.ParseInt(w.HubSpot.PortalID, 10, 64)
		wss = append(wss, hubspot.WebhookWorkspace{ID: w.ID, Secret: w.HubSpot.AppSecret, URLs: urls, PortalID: portal})
	}
	return hubspot.NewWebhookHandler(wss, changeRecorder{rec}, opts.Logger, opts.Now)
}

// changeRecorder is the command path as the HubSpot receiver calls it.
type changeRecorder struct {
	h *command.RecordHubSpotChangesHandler
}

func (c changeRecorder) RecordHubSpotChanges(ctx context.Context, evs []domain.HubSpotContactChanged) (int, int, error) {
	r, err := c.h.Handle(ctx, command.RecordHubSpotChanges{Events: evs})
	return r.Recorded, r.Duplicates, err
}

func (h hubspotClients) BatchReader(ws string) (command.ContactBatchReader, error) {
	c, ok := h[ws]
	if !ok {
		return nil, fmt.Errorf("workspace %q has no HubSpot client", ws)
	}
	return c, nil
}

// demoWebhooks makes the demo's emulated HubSpot send its contact webhooks to the
// service, signed with the first workspace's app secret, so that a merge, deletion or
// phone edit made through the emulator's API reaches the match keys as in a portal.
func demoWebhooks(emu *emulator.Server, cfg *config.Config, addr string) {
	w := cfg.Workspaces[0]
	if w.HubSpot.AppSecret == "" {
		return
	}
	base := w.HubSpot.PublicURL
	if base == "" {
		base = cfg.PublicURL
	}
	if base == "" {
		base = "http://" + addr
	}
	emu.SetWebhooks(emulator.WebhookTarget{URL: strings.TrimRight(base, "/") + "/hubspot/webhooks/" + w.ID,
		Secret: w.HubSpot.AppSecret, PortalID: 62515})
}
