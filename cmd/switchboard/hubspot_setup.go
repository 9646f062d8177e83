package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
	"switchboard/domain"
	"switchboard/domain/command"
)

// ChannelName is the name switchboard's custom channel is registered under; setup
// finds a channel registered before by this name (once per app).
const ChannelName = "switchboard"

// channelPath is where HubSpot sends the custom channel's own webhooks (SPEC §5).
const channelPath = "/hubspot/channel"

// cmdHubSpotSetup is the day-one job in a portal (SPEC §5 "Command line"). Every step
// first reads what exists — the ids recorded in the log, then HubSpot's listings — and
// writes only what is missing, so a second run makes no write to HubSpot.
func cmdHubSpotSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("hubspot setup", "hubspot setup --config F [--workspace ID]", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	only := fs.String("workspace", "", "set up this workspace only (default: every workspace)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: hubspot setup takes no arguments, got %q", errUsage, pos)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	workspaces := cfg.Workspaces
	if *only != "" {
		w, ok := cfg.Workspace(*only)
		if !ok {
			return fmt.Errorf("%w: %s has no workspace %q", errUsage, cfg.Path, *only)
		}
		workspaces = []config.Workspace{*w}
	}
	if cfg.HubSpotApp == nil {
		return fmt.Errorf("%w: %s: hubspot_app is missing: custom channels belong to a HubSpot app; configure hubspot_app (app_id, client_id_env, client_secret_env, developer_api_key_env)", config.ErrInvalid, cfg.Path)
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	run := &setupRun{cfg: cfg, out: stdout, tokens: hubspot.NewSQLTokenStore(st.DB(), cfg.SecretKey),
		correlation: newID(), channels: map[string]*hubspot.CustomChannel{}}
	if run.repo, err = command.NewRepository(st, domain.FoldHubSpotSetup, nil, newID, time.Now); err != nil {
		return err
	}
	var failed []error
	for _, w := range workspaces {
		if err := run.workspace(ctx, w); err != nil {
			fmt.Fprintf(stdout, "workspace %s: FAILED: %v\n", w.ID, err)
			failed = append(failed, fmt.Errorf("workspace %s: %w", w.ID, err))
		}
	}
	return errors.Join(failed...)
}

// setupRun is one run of setup over the chosen workspaces.
type setupRun struct {
	cfg         *config.Config
	out         io.Writer
	tokens      hubspot.RefreshTokenStore
	repo        *command.Repository[domain.HubSpotSetup]
	correlation string
	// listed is the app's channels as listed once per run (nil: not yet listed), and
	// channels the channel found or registered per webhook URL, shared by the
	// workspaces of the run.
	listed   []hubspot.CustomChannel
	channels map[string]*hubspot.CustomChannel
}

// report collects what a workspace's setup did and what is left to the operator.
type report struct {
	did, left []string
}

func (r *report) done(format string, args ...any) {
	r.did = append(r.did, fmt.Sprintf(format, args...))
}
func (r *report) todo(format string, args ...any) {
	r.left = append(r.left, fmt.Sprintf(format, args...))
}

func (r *setupRun) workspace(ctx context.Context, w config.Workspace) error {
	fmt.Fprintf(r.out, "workspace %s (HubSpot at %s)\n", w.ID, w.HubSpot.BaseURL)
	rep := &report{}
	defer r.print(w, rep)
	base := r.cfg.PublicURL
	if base == "" {
		base = w.HubSpot.PublicURL
	}
	if base == "" {
		return fmt.Errorf("%w: %s: neither public_url nor workspaces[%s].hubspot.public_url is set: HubSpot needs the URL where it reaches switchboard (https://...)", config.ErrInvalid, r.cfg.Path, w.ID)
	}
	webhookURL := strings.TrimSuffix(base, "/") + channelPath

	hc := hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID, MaxAttempts: 3}
	if w.UsesOAuth() {
		src, err := newTokenSource(r.cfg, w, r.tokens, nil, nil, nil)
		if err != nil {
			return err
		}
		hc.Tokens = src
	}
	c, err := hubspot.New(hc)
	if err != nil {
		return err
	}
	stream := domain.HubSpotStream(w.ID)
	state, _, err := r.repo.Load(ctx, stream)
	if err != nil {
		return err
	}
	record := func(typ string, payload any) error {
		_, err := r.repo.Update(ctx, stream, func(domain.HubSpotSetup, int64) ([]command.Change, error) {
			return []command.Change{{Type: typ, Payload: payload}}, nil
		}, command.CorrelatedWith(r.correlation), command.RetryOnConflict(3))
		if err != nil {
			return fmt.Errorf("record %s: %w", typ, err)
		}
		return nil
	}

	r.scopes(ctx, c, w, rep)

	channel, registered, err := r.channel(ctx, state, webhookURL, rep)
	if err != nil {
		return err
	}
	if channel != nil && string(channel.ID) != state.Channel.ChannelID {
		ev := domain.HubSpotChannelRegistered{AppID: r.cfg.HubSpotApp.AppID, ChannelID: string(channel.ID), Name: channel.Name,
			WebhookURL: channel.WebhookURL, Found: !registered}
		if err := record(domain.EventHubSpotChannelRegistered, ev); err != nil {
			return err
		}
		state.Channel = ev
	}

	var errs []error
	if channel != nil {
		if err := r.accounts(ctx, c, w, string(channel.ID), state, rep, record); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.properties(ctx, c, w, rep, record); err != nil {
		errs = append(errs, err)
	}
	r.subscriptions(w, base, rep)
	return errors.Join(errs...)
}

// scopes compares the token's scopes with those switchboard needs.
func (r *setupRun) scopes(ctx context.Context, c *hubspot.Client, w config.Workspace, rep *report) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	have, err := c.TokenScopes(cctx)
	if err != nil {
		rep.todo("check the token's scopes by hand (%v); switchboard needs %s", err, strings.Join(config.DefaultScopes, ", "))
		return
	}
	got := map[string]bool{}
	for _, s := range have {
		got[s] = true
	}
	var missing []string
	for _, s := range config.DefaultScopes {
		if !got[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		rep.todo("the token lacks the scopes %s: add them to the app's scopes (hubspot_app.scopes and the app's Auth settings) and install the app again at %s",
			strings.Join(missing, ", "), r.installURL(w))
		return
	}
	rep.done("the token has every scope switchboard needs (%d)", len(config.DefaultScopes))
}

func (r *setupRun) installURL(w config.Workspace) string {
	u := "/hubspot/install/" + w.ID
	if r.cfg.PublicURL != "" {
		u = strings.TrimSuffix(r.cfg.PublicURL, "/") + u
	}
	return u
}

// channel finds the app's custom channel or registers it. Without the developer API
// key it trusts the channel recorded before, or leaves the registration to do.
// registered is true when this call registered it.
func (r *setupRun) channel(ctx context.Context, state domain.HubSpotSetup, webhookURL string, rep *report) (ch *hubspot.CustomChannel, registered bool, err error) {
	if ch := r.channels[webhookURL]; ch != nil {
		rep.done("the custom channel %s %q is the app's (webhook URL %s)", ch.ID, ch.Name, ch.WebhookURL)
		return ch, false, nil
	}
	app := r.cfg.HubSpotApp
	if app.DeveloperAPIKey == "" || app.AppID == "" {
		if state.Channel.ChannelID != "" {
			rep.done("the custom channel %s was recorded by an earlier setup (not checked: no developer API key or app_id)", state.Channel.ChannelID)
			return &hubspot.CustomChannel{ID: hubspot.ID(state.Channel.ChannelID), Name: state.Channel.Name, WebhookURL: state.Channel.WebhookURL}, false, nil
		}
		rep.todo("register the custom channel: set hubspot_app.app_id and hubspot_app.developer_api_key_env (the developer account's API key), then run setup again")
		return nil, false, nil
	}
	dev, err := hubspot.NewDeveloper(r.baseURL(), app.DeveloperAPIKey, app.AppID, nil)
	if err != nil {
		return nil, false, err
	}
	if r.listed == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		listed, err := dev.Channels(cctx)
		if err != nil {
			return nil, false, err
		}
		r.listed = append([]hubspot.CustomChannel{}, listed...)
	}
	var found *hubspot.CustomChannel
	for i := range r.listed {
		ch := &r.listed[i]
		// The recorded channel wins over another of the same name (an operator's test).
		if string(ch.ID) == state.Channel.ChannelID {
			found = ch
			break
		}
		if ch.Name == ChannelName && found == nil {
			found = ch
		}
	}
	if found != nil {
		rep.done("the custom channel %s %q is registered already", found.ID, found.Name)
		if found.WebhookURL != webhookURL {
			rep.todo("the custom channel %s sends its webhooks to %q, not %q: update its webhookUrl (PATCH /conversations/v3/custom-channels/%s with the developer API key)",
				found.ID, found.WebhookURL, webhookURL, found.ID)
		}
		r.channels[webhookURL] = found
		return found, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reg, err := dev.RegisterChannel(cctx, hubspot.ChannelRegistration{Name: ChannelName, WebhookURL: webhookURL,
		Description:  "Messages from SMS, WhatsApp, Instagram, Messenger, Telegram and Slack, linked to their contacts by switchboard",
		Capabilities: hubspot.SwitchboardCapabilities()})
	if err != nil {
		return nil, false, err
	}
	rep.done("registered the custom channel %s %q with webhook URL %s", reg.ID, reg.Name, webhookURL)
	r.listed = append(r.listed, reg)
	r.channels[webhookURL] = &reg
	return &reg, true, nil
}

// baseURL is where the developer calls go: the HubSpot of the workspaces (one app,
// one API; an emulator's URL in tests).
func (r *setupRun) baseURL() string {
	for _, w := range r.cfg.Workspaces {
		return w.HubSpot.BaseURL
	}
	return "https://api.hubapi.com"
}

// accounts connects one channel account per configured channel to the workspace's
// inbox, skipping channels with inbox ids in the configuration and those connected.
func (r *setupRun) accounts(ctx context.Context, c *hubspot.Client, w config.Workspace, channelID string, state domain.HubSpotSetup, rep *report, record func(string, any) error) error {
	var pending []config.Channel
	for _, ch := range w.Channels {
		if ch.Inbox.ChannelID != "" && ch.Inbox.ChannelAccountID != "" {
			rep.done("channel %s publishes to the inbox ids in the configuration (channel %s, account %s); setup leaves it", ch.ID, ch.Inbox.ChannelID, ch.Inbox.ChannelAccountID)
			continue
		}
		pending = append(pending, ch)
	}
	if len(pending) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	inboxes, err := c.Inboxes(cctx)
	if err != nil {
		return err
	}
	var names []string
	inboxOK := false
	for _, in := range inboxes {
		names = append(names, fmt.Sprintf("%s (%s)", in.ID, in.Name))
		inboxOK = inboxOK || string(in.ID) == w.HubSpot.InboxID
	}
	switch {
	case w.HubSpot.InboxID == "":
		rep.todo("choose the inbox of the channel accounts: set hubspot.inbox_id of workspace %s to one of %s, then run setup again", w.ID, orNone(names))
		return nil
	case !inboxOK:
		rep.todo("the portal has no inbox %s: set hubspot.inbox_id of workspace %s to one of %s, then run setup again", w.HubSpot.InboxID, w.ID, orNone(names))
		return nil
	}
	existing, err := c.ChannelAccounts(cctx, channelID)
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range pending {
		var have *hubspot.ChannelAccount
		connected := false
		recorded, isRecorded := state.Inbox(ch.ID)
		for i := range existing {
			a := &existing[i]
			if a.Archived || string(a.InboxID) != w.HubSpot.InboxID {
				continue
			}
			if isRecorded && string(a.ID) == recorded.ChannelAccountID {
				have = a
				break
			}
			if a.Name == ch.ID && have == nil {
				have = a
			}
		}
		switch {
		case have != nil && isRecorded && string(have.ID) == recorded.ChannelAccountID:
			rep.done("channel %s is connected already (channel account %s)", ch.ID, have.ID)
			continue
		case have != nil:
			rep.done("channel %s: found its channel account %s in inbox %s", ch.ID, have.ID, w.HubSpot.InboxID)
		default:
			a, err := c.ConnectChannelAccount(cctx, channelID, w.HubSpot.InboxID, ch.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("channel %s: %w", ch.ID, err))
				continue
			}
			have, connected = &a, true
			rep.done("channel %s: connected channel account %s to inbox %s", ch.ID, a.ID, w.HubSpot.InboxID)
		}
		if err := record(domain.EventHubSpotChannelAccountConnected, domain.HubSpotChannelAccountConnected{Channel: ch.ID,
			ChannelID: channelID, ChannelAccountID: string(have.ID), InboxID: w.HubSpot.InboxID, Name: have.Name,
			Found: !connected}); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// properties creates each missing identifier property as a unique text property.
func (r *setupRun) properties(ctx context.Context, c *hubspot.Client, w config.Workspace, rep *report, record func(string, any) error) error {
	var errs []error
	for _, p := range w.IdentifierProperties() {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		info, err := c.PropertyInfo(cctx, p)
		switch {
		case err == nil && info.HasUniqueValue:
			rep.done("property %s exists and is unique", p)
		case err == nil:
			rep.todo("property %s exists but is not unique (HubSpot cannot change that): lookups use search, which lags; for a unique one create a new property and point the channels' property at it", p)
		case errors.Is(err, hubspot.ErrPropertyNotFound):
			_, cerr := c.CreateIdentifierProperty(cctx, p, propertyLabel(p))
			switch {
			case errors.Is(cerr, hubspot.ErrPropertyExists):
				rep.done("property %s exists (created meanwhile)", p)
			case cerr != nil:
				errs = append(errs, cerr)
			default:
				rep.done("created property %s (unique, single-line text)", p)
				if err := record(domain.EventHubSpotPropertyCreated, domain.HubSpotPropertyCreated{Property: p, Unique: true}); err != nil {
					errs = append(errs, err)
				}
			}
		default:
			errs = append(errs, fmt.Errorf("read contact property %s: %w", p, err))
		}
		cancel()
	}
	if k := w.HubSpot.CreateKeyProperty; k != "" {
		// The create key (rule 5, issue 10): what hubspot create-key-property makes.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		created, err := c.EnsureCreateKeyProperty(cctx, k)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("create key property %s: %w", k, err))
		case created:
			rep.done("created the create key property %s (unique)", k)
			if err := record(domain.EventHubSpotPropertyCreated, domain.HubSpotPropertyCreated{Property: k, Unique: true}); err != nil {
				errs = append(errs, err)
			}
		default:
			rep.done("create key property %s exists", k)
		}
	} else {
		rep.todo("set hubspot.create_key_property (e.g. switchboard_key) so that a create whose answer is lost can never become a second contact (docs/exactly-once.md); run hubspot setup again to create it")
	}
	return errors.Join(errs...)
}

// propertyLabel makes a label of a property name: "telegram_user_id" → "Telegram user id".
func propertyLabel(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// subscriptions says which webhook subscriptions the app needs (SPEC §5 "HubSpot
// webhooks"): they belong to the app's settings, which setup does not edit.
func (r *setupRun) subscriptions(w config.Workspace, base string, rep *report) {
	props := append([]string{"phone", "mobilephone"}, w.IdentifierProperties()...)
	sort.Strings(props[2:])
	rep.todo("in the app's Webhooks settings, set the target URL %s/hubspot/webhooks/%s and create (and activate) the subscriptions contact.deletion, contact.merge, contact.restore, contact.privacyDeletion and contact.propertyChange of %s",
		strings.TrimSuffix(base, "/"), w.ID, strings.Join(props, ", "))
}

func (r *setupRun) print(w config.Workspace, rep *report) {
	for _, d := range rep.did {
		fmt.Fprintf(r.out, "  done: %s\n", d)
	}
	for _, l := range rep.left {
		fmt.Fprintf(r.out, "  to do: %s\n", l)
	}
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "(the portal lists no inbox: create one in HubSpot, Settings → Inbox)"
	}
	return strings.Join(xs, ", ")
}

// warnUnconnected names, at start, each channel that has neither inbox ids nor a
// channel account recorded by setup: its messages become dead letters until setup
// connects it.
func (s *service) warnUnconnected(ctx context.Context) {
	for _, w := range s.cfg.Workspaces {
		st, err := command.RecordedSetup(ctx, s.store, w.ID)
		if err != nil {
			s.log.Warn("cannot read what hubspot setup recorded", "workspace", w.ID, "error", err.Error())
			continue
		}
		for _, ch := range w.Channels {
			if _, ok := st.Inbox(ch.ID); ok || (ch.Inbox.ChannelID != "" && ch.Inbox.ChannelAccountID != "") {
				continue
			}
			s.log.Warn("channel has no HubSpot channel account: its messages become dead letters until `switchboard hubspot setup` connects it (or the channel gets inbox ids)",
				"workspace", w.ID, "channel_id", ch.ID)
		}
	}
}

// checkChannelAccounts tells, for `check`, where each channel without inbox ids
// publishes: into the channel account `hubspot setup` recorded, or nowhere yet — a
// failure, since its messages would become dead letters.
func checkChannelAccounts(ctx context.Context, cfg *config.Config, stdout io.Writer) []error {
	var pending []config.Workspace
	for _, w := range cfg.Workspaces {
		for _, ch := range w.Channels {
			if ch.Inbox.ChannelID == "" || ch.Inbox.ChannelAccountID == "" {
				pending = append(pending, w)
				break
			}
		}
	}
	if len(pending) == 0 {
		return nil
	}
	var st logStore
	if _, err := os.Stat(cfg.Store.DSN); cfg.Store.Driver != "sqlite" || err == nil {
		if st, err = openStore(cfg, nil); err != nil {
			return []error{fmt.Errorf("read the channel accounts hubspot setup recorded: %w", err)}
		}
		defer st.Close()
	}
	var failed []error
	for _, w := range pending {
		var setup domain.HubSpotSetup
		if st != nil {
			var err error
			if setup, err = command.RecordedSetup(ctx, st, w.ID); err != nil {
				failed = append(failed, fmt.Errorf("workspace %s: read what hubspot setup recorded: %w", w.ID, err))
				continue
			}
		}
		for _, ch := range w.Channels {
			if ch.Inbox.ChannelID != "" && ch.Inbox.ChannelAccountID != "" {
				continue
			}
			if in, ok := setup.Inbox(ch.ID); ok {
				fmt.Fprintf(stdout, "workspace %s: channel %s publishes into channel account %s of custom channel %s (recorded by hubspot setup)\n", w.ID, ch.ID, in.ChannelAccountID, in.ChannelID)
				continue
			}
			failed = append(failed, fmt.Errorf("workspace %s: channel %s has no inbox ids and no HubSpot channel account: run `switchboard hubspot setup --config %s --workspace %s`", w.ID, ch.ID, cfg.Path, w.ID))
		}
	}
	return failed
}
