package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
)

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage: switchboard dev hubspot|demo|send|load [flags]\n")
		return errUsage
	}
	switch args[0] {
	case "hubspot":
		return cmdDevHubSpot(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDevDemo(ctx, args[1:], stdout, stderr)
	case "send":
		return cmdDevSend(ctx, args[1:], stdout, stderr)
	case "load":
		return cmdDevLoad(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, "Usage: switchboard dev hubspot|demo|send|load [flags]\n")
		return nil
	}
	return fmt.Errorf("%w: unknown dev tool %q: use hubspot, demo, send or load", errUsage, args[0])
}

func cmdDevHubSpot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev hubspot", "dev hubspot [--listen 127.0.0.1:8090] [--search-lag 2s] [--region US] [--state FILE]\n"+
		"                       [--ten-second-limit N] [--search-per-second N] [--unlimited] [--fault KIND=RATE]... [--fault-ops OP,...] [--stall-for D] [--seed N]\n"+
		"                       [--access-token-lifetime D] [--rotate-refresh-tokens] [--client-id ID --client-secret S] [--portal-id N]", stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the emulated HubSpot on")
	lag := fs.Duration("search-lag", 2*time.Second, "how long new and changed contacts stay invisible to search")
	region := fs.String("region", "US", "the portal's default region for phone numbers typed without a country code")
	tenSecond := fs.Int("ten-second-limit", 110, "requests a token may make in any rolling 10 seconds, search excluded (HubSpot's OAuth app limit)")
	searchPerSecond := fs.Int("search-per-second", 5, "search requests a token may make in any rolling second")
	unlimited := fs.Bool("unlimited", false, "lift both rate limits (for load runs that measure switchboard, not HubSpot's budget); overrides --ten-second-limit and --search-per-second")
	seed := fs.Int64("seed", 0, "seed of the fault draws and generated message ids (same seed, same requests in the same order: same faults)")
	state := fs.String("state", "", "file the emulator loads its data from at start (when it exists) and saves it to when it stops, so a restart keeps contacts, inbox messages and idempotency")
	stallFor := fs.Duration("stall-for", 0, "how long the stall and apply-stall faults hold a request (default 10s, the HubSpot client's timeout)")
	tokenLifetime := fs.Duration("access-token-lifetime", emulator.DefaultAccessTokenLifetime, "expires_in of the access tokens POST /oauth/v1/token issues (HubSpot: 30m); calls past it answer 401 EXPIRED_AUTHENTICATION")
	rotate := fs.Bool("rotate-refresh-tokens", false, "answer every refresh with a new refresh token and refuse the old one")
	clientID := fs.String("client-id", "", "the only client_id the token endpoint and consent page accept (default: any)")
	clientSecret := fs.String("client-secret", "", "the only client_secret the token endpoint accepts (default: any)")
	portalID := fs.Int64("portal-id", emulator.DefaultPortalID, "the hub_id of the token answers")
	faultOps := fs.String("fault-ops", "", "comma-separated operations the faults apply to (default all): "+strings.Join(emulatorOps, ", "))
	faults := emulator.Faults{Rates: map[string]float64{}}
	fs.Func("fault", "KIND=RATE: fail this share (0..1) of requests with KIND, one of "+strings.Join(emulator.FaultKinds, ", ")+
		" (repeatable; the apply- kinds apply the write, then lose the answer)", func(v string) error {
		kind, rate, ok := strings.Cut(v, "=")
		r, err := strconv.ParseFloat(rate, 64)
		if !ok || err != nil {
			return fmt.Errorf("want KIND=RATE, for example apply-502=0.05, got %q", v)
		}
		faults.Rates[kind] += r
		return nil
	})
	if _, err := parse(fs, args); err != nil {
		return err
	}
	faults.StallFor = *stallFor
	if *faultOps != "" {
		for _, op := range strings.Split(*faultOps, ",") {
			op = strings.TrimSpace(op)
			if !slices.Contains(emulatorOps, op) {
				return fmt.Errorf("%w: --fault-ops: operation %q is unknown; use %s", errUsage, op, strings.Join(emulatorOps, ", "))
			}
			faults.Operations = append(faults.Operations, op)
		}
	}
	if err := faults.Validate(); err != nil {
		return fmt.Errorf("%w: --fault: %v", errUsage, err)
	}
	if *tenSecond <= 0 || *searchPerSecond <= 0 {
		return fmt.Errorf("%w: --ten-second-limit and --search-per-second must be positive, got %d and %d", errUsage, *tenSecond, *searchPerSecond)
	}
	if *tokenLifetime < time.Second {
		return fmt.Errorf("%w: --access-token-lifetime must be at least 1s (expires_in counts whole seconds), got %s", errUsage, *tokenLifetime)
	}
	if *unlimited {
		*tenSecond, *searchPerSecond = unlimitedRate, unlimitedRate
	}
	emu := emulator.New(emulator.Options{SearchLag: *lag, Region: *region, TenSecondLimit: *tenSecond, SearchPerSecond: *searchPerSecond, Seed: *seed,
		AccessTokenLifetime: *tokenLifetime, RotateRefreshTokens: *rotate, ClientID: *clientID, ClientSecret: *clientSecret, PortalID: *portalID})
	defer emu.Close()
	emu.SetFaults(faults)
	loaded := ""
	if *state != "" {
		found, err := emu.LoadFile(*state)
		if err != nil {
			return fmt.Errorf("dev hubspot: %w", err)
		}
		if found {
			loaded = fmt.Sprintf("; loaded %d contacts and %d inbox messages from %s", len(emu.Contacts()), len(emu.Published()), *state)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("dev hubspot: listen %s: %w", *listen, err)
	}
	limits := fmt.Sprintf("%d requests/10 s, %d searches/s", *tenSecond, *searchPerSecond)
	if *unlimited {
		limits = "rate limits lifted"
	}
	fmt.Fprintf(stdout, "emulated HubSpot on http://%s (search lag %s, region %s, %s%s%s); its state: /_emulator/contacts, /_emulator/inbox, /_emulator/stats\n",
		ln.Addr(), *lag, *region, limits, describeFaults(faults), loaded)
	srv := &http.Server{Handler: inspectable(emu, emulatorLimits{TenSecondLimit: *tenSecond, SearchPerSecond: *searchPerSecond}), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("dev hubspot: serve: %w", err)
	case <-ctx.Done():
	}
	// Stalled requests are released first so the shutdown does not wait them out; the
	// state is saved once the handlers in flight have finished, so that every write a
	// client was told about is in the file.
	emu.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if *state != "" {
		if err := emu.SaveFile(*state); err != nil {
			return fmt.Errorf("dev hubspot: %w", err)
		}
	}
	return nil
}

// unlimitedRate is --unlimited's limit: far above any rate one machine can offer.
const unlimitedRate = 1 << 30

// emulatorOps are the operation names --fault-ops accepts.
var emulatorOps = []string{emulator.OpCreate, emulator.OpRead, emulator.OpList, emulator.OpUpdate, emulator.OpArchive,
	emulator.OpBatchRead, emulator.OpBatchUpsert, emulator.OpSearch, emulator.OpMerge, emulator.OpProperties,
	emulator.OpPublish, emulator.OpGetMessage}

func describeFaults(f emulator.Faults) string {
	var parts []string
	for _, k := range emulator.FaultKinds {
		if r := f.Rates[k]; r > 0 {
			parts = append(parts, fmt.Sprintf("%s %.3g", k, r))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	out := "; faults: " + strings.Join(parts, ", ")
	if len(f.Operations) > 0 {
		out += " on " + strings.Join(f.Operations, ", ")
	}
	return out
}

// serveUntil serves h on ln until ctx ends.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demoSecrets are the values `dev demo` uses for secrets the environment leaves unset.
var demoSecrets = map[string]string{
	"SWITCHBOARD_ADMIN_TOKEN":    "demo-admin-token",
	"DEMO_HUBSPOT_CLIENT_ID":     "demo-client-id",
	"DEMO_HUBSPOT_CLIENT_SECRET": "demo-client-secret",
	"ACME_HUBSPOT_REFRESH_TOKEN": "demo-refresh-token",
	"ACME_TWILIO_TOKEN":          "demo-twilio-auth-token",
	"ACME_META_SECRET":           "demo-meta-app-secret",
	"ACME_META_VERIFY":           "demo-meta-verify-token",
	"ACME_META_ACCESS_TOKEN":     "demo-meta-access-token",
	"ACME_TG_SECRET":             "demo-telegram-secret",
	"ACME_SLACK_SECRET":          "demo-slack-signing-secret",
	"ACME_SLACK_BOT_TOKEN":       "xoxb-demo",
}

func demoGetenv(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return demoSecrets[name]
}

func cmdDevDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev demo", "dev demo [--config demo/switchboard.yaml]", stderr)
	path := fs.String("config", "demo/switchboard.yaml", "demo configuration file")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, demoGetenv)
	if err != nil {
		return err
	}
	opts := emulator.Options{SearchLag: 2 * time.Second, Region: "US"}
	if app := cfg.HubSpotApp; app != nil {
		// Short-lived tokens, so the demo shows switchboard refreshing them.
		opts.AccessTokenLifetime, opts.ClientID, opts.ClientSecret = demoTokenLifetime, app.ClientID, app.ClientSecret
		opts.PortalID = demoPortalID
	}
	emu := emulator.New(opts)
	defer emu.Close()
	for _, w := range cfg.Workspaces {
		if w.HubSpot.RefreshToken != "" {
			emu.AddRefreshToken(w.HubSpot.RefreshToken)
		}
	}
	ids := seedDemo(emu, cfg)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 3)
	// One emulated portal serves the demo: the first workspace's.
	u, err := url.Parse(cfg.Workspaces[0].HubSpot.BaseURL)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		return fmt.Errorf("dev demo: workspace %s: hubspot.base_url %q must be a loopback URL for the emulator", cfg.Workspaces[0].ID, cfg.Workspaces[0].HubSpot.BaseURL)
	}
	hln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return fmt.Errorf("dev demo: emulated HubSpot: listen %s: %w", u.Host, err)
	}
	go func() {
		errs <- serveUntil(ctx, hln, inspectable(emu, emulatorLimits{TenSecondLimit: 110, SearchPerSecond: 5}))
	}()
	if addr := platformAPIAddr(cfg); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("dev demo: emulated platform APIs: listen %s: %w", addr, err)
		}
		go func() { errs <- serveUntil(ctx, ln, platformProfiles()) }()
	}
	ready := make(chan string, 1)
	go func() { errs <- serve(ctx, cfg, newLogger(stderr, *level), ready) }()
	select {
	case addr := <-ready:
		demoWebhooks(emu, cfg, addr)
		printDemo(stdout, cfg, addr, *path, selfCommand(), ids)
	case err := <-errs:
		return err
	}
	return <-errs
}

// platformAPIAddr is the loopback address the demo's channels reach their platform
// profile APIs at ("" when none is configured).
func platformAPIAddr(cfg *config.Config) string {
	for _, w := range cfg.Workspaces {
		for _, ch := range w.Channels {
			if u, err := url.Parse(ch.APIBaseURL); err == nil && ch.APIBaseURL != "" {
				return u.Host
			}
		}
	}
	return ""
}

// seedDemo gives the emulated portal the identifier properties the channels use and a
// few contacts typed the way people type them, so the demo shows matching at work.
// demoTokenLifetime is how long the demo's emulated access tokens live.
const demoTokenLifetime = time.Minute

// demoPortalID is the emulated portal's hub id (the demo workspace's portal_id).
const demoPortalID = 62515

// seedDemo defines the identifier properties and the contacts the printed commands
// write as, and returns the contact ids by first name.
func seedDemo(emu *emulator.Server, cfg *config.Config) map[string]string {
	for _, w := range cfg.Workspaces {
		for _, p := range w.IdentifierProperties() {
			emu.DefineProperty(p, true)
		}
	}
	day := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ids := map[string]string{}
	for i, props := range []map[string]string{
		{"firstname": "Ana", "lastname": "Bento", "mobilephone": "(415) 555-2671"},
		{"firstname": "Luis", "lastname": "Ortega", "phone": "+52 55 1234 5678"},
		{"firstname": "Maya", "lastname": "Chen", "email": "maya@example.com", "slack_user_id": "U0MAYA"},
		{"firstname": "Pia", "lastname": "Sand", "messenger_psid": "PSID-PIA"},
		// The demo's emulated Graph API names Instagram user 1784 "user_1784".
		{"firstname": "Ivo", "lastname": "Lenz", "instagram_username": "@User_1784"},
		{"firstname": "Jo", "lastname": "Brown", "phone": "0044 7911 123456"},
		// A second record of Pia that sales typed by hand: the demo merges the first
		// into it.
		{"firstname": "Pia", "lastname": "Sand-Berg", "email": "pia@example.com"},
	} {
		id := emu.CreateContactAt(props, day.Add(time.Duration(i)*time.Hour))
		ids[props["firstname"]+" "+props["lastname"]] = id
	}
	return ids
}

func printDemo(w io.Writer, cfg *config.Config, addr, path, self string, ids map[string]string) {
	token := demoGetenv(cfg.AdminTokenEnv)
	fmt.Fprintf(w, `
switchboard demo is serving on http://%[1]s  (emulated HubSpot on %[2]s)

Send a message through the command API (an SMS from a number HubSpot has as "(415) 555-2671"):
  curl -s -H 'Authorization: Bearer %[3]s' -d '{"channel_id":"acme-sms","message_id":"SM1","sender":{"phone":"+1 415 555 2671"},"text":"Hi, is my order ready?"}' http://%[1]s/v1/messages

Send signed webhooks the way each platform does (in another terminal):
  %[5]s dev send --config %[4]s --channel acme-wa --from 5215512345678 --text hola             # Luis, typed +52 55 1234 5678
  %[5]s dev send --config %[4]s --channel acme-wa-twilio --from +447911123456 --text hiya     # Jo, typed 0044 7911 123456
  %[5]s dev send --config %[4]s --channel acme-fb --from PSID-PIA --text hey                  # Pia, by page-scoped id
  %[5]s dev send --config %[4]s --channel acme-ig --from 1784 --text ola                      # Ivo, username from the Graph API
  %[5]s dev send --config %[4]s --channel acme-slack --from U0MAYA --text hello               # Maya, by Slack user id
  %[5]s dev send --config %[4]s --channel acme-tg --from 777001 --name "Rui Costa" --text oi  # new: a contact is created

Ask why:
  %[5]s audit --config %[4]s message acme-sms SM1
  curl -s -H 'Authorization: Bearer %[3]s' http://%[1]s/v1/messages/acme-sms/SM1

Merge Pia's two records in the emulated HubSpot, as a person would in HubSpot (the
second survives); HubSpot tells switchboard through a signed contact.merge webhook:
  curl -s -H 'Authorization: Bearer demo-operator' -d '{"primaryObjectId":"%[6]s","objectIdToMerge":"%[7]s"}' %[2]s/crm/v3/objects/contacts/merge
Pia writes again: the message lands on the surviving record, with no HubSpot search:
  %[5]s dev send --config %[4]s --channel acme-fb --from PSID-PIA --text "me again"           # Pia, after the merge

See what the emulated HubSpot holds (these paths are the emulator's own, not HubSpot's):
  curl -s %[2]s/_emulator/contacts
  curl -s %[2]s/_emulator/inbox
  curl -s %[2]s/_emulator/oauth                                                       # token refreshes
`, addr, cfg.Workspaces[0].HubSpot.BaseURL, token, path, self, ids["Pia Sand-Berg"], ids["Pia Sand"])
}

// selfCommand is how the printed demo commands call switchboard again: the binary
// itself when it was built to stay (`make run` builds bin/switchboard, so the commands
// reuse it instead of compiling SQLite a second time with other flags), and `go run`
// when this binary sits in go run's temporary directory, which is gone once it exits.
func selfCommand() string {
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") {
		return exe
	}
	return "go run ./cmd/switchboard"
}

// emulatorLimits are the rate limits the emulator was started with, shown in its stats
// so a load report can say which budget its figures were measured under.
type emulatorLimits struct {
	TenSecondLimit  int
	SearchPerSecond int
}

// emulatorStats is what GET /_emulator/stats answers: the counts, the highest admitted
// rates (a run under the limits shows how close it came to them) and the limits.
type emulatorStats struct {
	emulator.Stats
	MaxRequestsInAnyTenSeconds int
	MaxSearchesInAnySecond     int
	Limits                     emulatorLimits
}

// inspectable adds the emulator's own views (not HubSpot endpoints) so a person trying
// the demo can see the contacts and inbox messages switchboard made, and a load driver
// can read what HubSpot was asked. POST /_emulator/stats/reset zeroes the counts (not
// the rate-limit windows) so a run can measure itself after its warm-up.
func inspectable(emu *emulator.Server, limits emulatorLimits) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/contacts", func(w http.ResponseWriter, r *http.Request) { writeDemoJSON(w, emu.Contacts()) })
	mux.HandleFunc("GET /_emulator/inbox", func(w http.ResponseWriter, r *http.Request) {
		// ?offset=N answers the messages published after the first N, so a load driver
		// polling a large inbox reads only what is new.
		all := emu.Published()
		if v := r.URL.Query().Get("offset"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, fmt.Sprintf("offset %q: want a count of messages, 0 or more", v), http.StatusBadRequest)
				return
			}
			all = all[min(n, len(all)):]
		}
		writeDemoJSON(w, all)
	})
	mux.HandleFunc("GET /_emulator/inbox/count", func(w http.ResponseWriter, r *http.Request) {
		writeDemoJSON(w, map[string]int{"Published": len(emu.Published())})
	})
	mux.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		writeDemoJSON(w, emulatorStats{Stats: emu.Stats(), MaxRequestsInAnyTenSeconds: emu.MaxRequestsInAnyTenSeconds(),
			MaxSearchesInAnySecond: emu.MaxSearchesInAnySecond(), Limits: limits})
	})
	mux.HandleFunc("GET /_emulator/oauth", func(w http.ResponseWriter, r *http.Request) { writeDemoJSON(w, emu.OAuthStats()) })
	mux.HandleFunc("POST /_emulator/stats/reset", func(w http.ResponseWriter, r *http.Request) {
		emu.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", emu)
	return mux
}
