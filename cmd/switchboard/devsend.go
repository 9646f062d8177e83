package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/samples"
)

func cmdDevSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev send", "dev send --config F --channel ID --from SENDER [--text T] [--name N] [--username U] [--id MESSAGE_ID] [--bsuid B] [--url BASE]", stderr)
	path := fs.String("config", "demo/switchboard.yaml", "configuration of the running service (for the channel's secrets)")
	channel := fs.String("channel", "", "channel id to send to")
	from := fs.String("from", "", "sender as the platform names them: phone (sms, whatsapp), PSID/IGSID, Telegram user id, Slack user id")
	text := fs.String("text", "hello", "message text")
	name := fs.String("name", "", "display name, where the platform's payload carries one")
	username := fs.String("username", "", "username, where the platform's payload carries one (Telegram)")
	id := fs.String("id", "", "platform message id (default: a fresh one); repeat one to see deduplication")
	bsuid := fs.String("bsuid", "", "WhatsApp business-scoped user id")
	base := fs.String("url", "", "service base URL (default: http:// + the configuration's listen address)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *channel == "" {
		fs.Usage()
		return fmt.Errorf("%w: --channel is required", errUsage)
	}
	getenv := demoGetenv
	if !strings.HasPrefix(*path, "demo/") {
		getenv = nil
	}
	cfg, err := loadSendConfig(*path, getenv)
	if err != nil {
		return err
	}
	ch, _, ok := cfg.Channel(*channel)
	if !ok {
		return fmt.Errorf("channel %q is not in %s", *channel, cfg.Path)
	}
	if *base == "" {
		*base = "http://" + cfg.Listen
	}
	signed := *ch
	if signed.PublicURL == "" && cfg.PublicURL != "" {
		// Twilio signs the URL it was told to call: with a top-level public_url that is
		// the base + this channel's webhook path, not the address dev send connects to.
		signed.PublicURL = strings.TrimRight(cfg.PublicURL, "/") + "/webhooks/" + ch.ID
	}
	req, err := samples.Build(signed, strings.TrimRight(*base, "/")+"/webhooks/"+ch.ID, samples.Sample{
		From: *from, Username: *username, Name: *name, Text: *text, MessageID: *id, BSUID: *bsuid})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(cctx))
	if err != nil {
		return fmt.Errorf("send to %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%s %s → %s %s\n", req.Method, req.URL, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the service refused the webhook (%s)", resp.Status)
	}
	return nil
}

func loadSendConfig(path string, getenv func(string) string) (*config.Config, error) {
	if getenv == nil {
		return loadConfig(path)
	}
	return config.Load(path, getenv)
}

// platformProfiles answers the Graph API user profile and Slack users.info the way the
// platforms do, for the demo's Instagram, Messenger and Slack channels: names are
// derived from the user id so every demo sender has one.
func platformProfiles() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users.info", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("user")
		writeDemoJSON(w, map[string]any{"ok": true, "user": map[string]any{"id": id, "name": strings.ToLower(id),
			"real_name": "Slack " + id, "profile": map[string]any{"first_name": "Slack", "last_name": id,
				"real_name": "Slack " + id, "email": strings.ToLower(id) + "@example.com"}}})
	})
	mux.HandleFunc("GET /{version}/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		writeDemoJSON(w, map[string]any{"id": id, "first_name": "Meta", "last_name": "User " + id,
			"name": "Meta User " + id, "username": "user_" + id})
	})
	return mux
}

func writeDemoJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
