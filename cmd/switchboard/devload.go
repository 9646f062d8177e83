package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/loaddriver"
	"switchboard/domain"
)

const devLoadSynopsis = `dev load [--config F] [--channels ID,...] [--api] (--clients N | --rate R) (--duration D | --count N)
                     [--known-senders F] [--pool N] [--burst] [--url BASE] [--emulator URL | --no-emulator] [--settle D] [--json]`

func cmdDevLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev load", devLoadSynopsis, stderr)
	path := fs.String("config", "demo/switchboard.yaml", "configuration of the running service (for the channels' secrets and the admin token)")
	channels := fs.String("channels", "", "comma-separated channel ids the messages go to, in turn (default: the first workspace's sms and whatsapp channels)")
	api := fs.Bool("api", false, "send command-API calls (POST /v1/messages with the admin token) instead of signed webhooks")
	clients := fs.Int("clients", 8, "closed loop: this many clients, each sending its next message when its last is answered")
	rate := fs.Float64("rate", 0, "open loop: offer this many messages per second, whatever the answers' pace (replaces --clients)")
	duration := fs.Duration("duration", 0, "how long to send (default 10s unless --count is given)")
	count := fs.Int("count", 0, "how many messages to send (the run ends at whichever of --duration and --count comes first)")
	known := fs.Float64("known-senders", 0, "share (0..1) of messages from a pool of known senders (warmed up first: their contacts exist); the rest come from new senders")
	pool := fs.Int("pool", 20, "number of known senders")
	burst := fs.Bool("burst", false, "each new sender writes on the first three channels (phone channels) at once")
	base := fs.String("url", "", "service base URL (default: http:// + the configuration's listen address)")
	emuURL := fs.String("emulator", "", "HubSpot emulator (switchboard dev hubspot) to read publication and calls from (default: the first channel's workspace's hubspot.base_url)")
	noEmu := fs.Bool("no-emulator", false, "measure acknowledgments only; do not read the emulator")
	settle := fs.Duration("settle", 30*time.Second, "how long to wait after the last answer for the acknowledged messages to reach the inbox (and for the warm-up)")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout of one request")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	// Say what was wrong: main prints nothing for a usage error (the flag package has
	// printed its own), and these are the driver's.
	usageErr := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintln(stderr, "switchboard dev load:", msg)
		return fmt.Errorf("%w: %s", errUsage, msg)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *rate > 0 {
		if set["clients"] {
			return usageErr("--clients and --rate: choose a closed loop (--clients) or an open loop (--rate)")
		}
		*clients = 0
	}
	if *duration == 0 && *count == 0 {
		*duration = 10 * time.Second
	}
	getenv := demoGetenv
	if !strings.HasPrefix(*path, "demo/") {
		getenv = nil
	}
	cfg, err := loadSendConfig(*path, getenv)
	if err != nil {
		return err
	}
	ids := splitList(*channels)
	if len(ids) == 0 {
		ids = phoneChannels(cfg)
		if len(ids) == 0 {
			return usageErr("%s has no sms or whatsapp channel in its first workspace; name channels with --channels", cfg.Path)
		}
	}
	if *base == "" {
		*base = "http://" + cfg.Listen
	}
	if *noEmu {
		*emuURL = ""
	} else if *emuURL == "" {
		if _, w, ok := cfg.Channel(ids[0]); ok {
			*emuURL = w.HubSpot.BaseURL
		}
		if u, err := url.Parse(*emuURL); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
			return usageErr("hubspot.base_url %q is not a loopback emulator; pass --emulator URL or --no-emulator", *emuURL)
		}
	}
	rep, err := loaddriver.Run(ctx, loaddriver.Options{Config: cfg, BaseURL: *base, EmulatorURL: *emuURL, Channels: ids, API: *api,
		Clients: *clients, Rate: *rate, Duration: *duration, Count: *count, KnownSenders: *known, PoolSize: *pool, Burst: *burst,
		Settle: *settle, Timeout: *timeout, Progress: stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	if rep.Sent > 0 && rep.Acknowledged == 0 {
		return fmt.Errorf("dev load: none of %d messages was acknowledged: is the service serving %s?", rep.Sent, *base)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// phoneChannels are the first workspace's sms and whatsapp channels: one number is one
// person on all of them, which a burst needs.
func phoneChannels(cfg *config.Config) []string {
	var out []string
	if len(cfg.Workspaces) == 0 {
		return nil
	}
	for _, ch := range cfg.Workspaces[0].Channels {
		if k := domain.ChannelKind(ch.Kind); k == domain.KindSMS || k == domain.KindWhatsApp {
			out = append(out, ch.ID)
		}
	}
	return out
}
