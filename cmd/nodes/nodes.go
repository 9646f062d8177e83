package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot/emulator"
	"switchboard/cmd/internal/harness"
)

// Config is one run of three nodes.
type Config struct {
	// DSN is the PostgreSQL schema the nodes share; RebuildDSN an empty schema of the
	// same database where the log is copied and rebuilt to check the projections.
	DSN, RebuildDSN string
	// NATS is the server's URL and Stream the JetStream stream the nodes share.
	NATS, Stream string
	// Seed drives the plan's random choices.
	Seed int64
	// Race builds the service with the race detector.
	Race bool
	// Dir holds the binary, the configurations and the logs (default: a new temporary
	// directory, removed after a run without violations).
	Dir string
	// Progress receives one line per phase (nil: quiet).
	Progress io.Writer
}

// Secrets the nodes' configuration names; the children get them in their environment.
var nodesEnv = map[string]string{
	"NODES_ADMIN": "nodes-admin-token", "NODES_HS_TOKEN": "nodes-hubspot-token", "NODES_TWILIO": "nodes-twilio-token",
	"NODES_META_SECRET": "nodes-meta-secret", "NODES_META_VERIFY": "nodes-meta-verify", "NODES_TG": "nodes-telegram-secret",
}

// nodeConfig is the configuration of every node but for its listen address: one log in
// PostgreSQL, one NATS stream, one HubSpot.
func nodeConfig(listen, dsn, natsURL, stream, hubspotURL string) string {
	bus := ""
	if natsURL != "" {
		bus = fmt.Sprintf("bus: {driver: nats, url: %q, stream: %q}\n", natsURL, stream)
	}
	return bus + fmt.Sprintf(`listen: %s
admin_token_env: NODES_ADMIN
store: {driver: postgres, dsn: %q}
workspaces:
  - id: nodes
    hubspot: {base_url: %q, token_env: NODES_HS_TOKEN, region: US, ten_second_limit: 250, search_per_second: 5}
    channels:
      - {id: %s, kind: sms, default_region: US, auth_token_env: NODES_TWILIO, inbox: {channel_id: "1001", channel_account_id: "%s"}}
      - {id: %s, kind: whatsapp, provider: cloud, default_region: US, app_secret_env: NODES_META_SECRET,
         verify_token_env: NODES_META_VERIFY, inbox: {channel_id: "1001", channel_account_id: "%s"}}
      - {id: %s, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: NODES_TG, inbox: {channel_id: "1001", channel_account_id: "%s"}}
`, listen, dsn, hubspotURL, chSMS, accounts[chSMS], chWhatsApp, accounts[chWhatsApp], chTelegram, accounts[chTelegram])
}

// Report is what a run did and what it found wrong.
type Report struct {
	Dir                              string
	Messages, Acknowledged, Requests int
	Retried                          int // requests sent again to another node
	Kills, RollingRestarts           int
	Contacts, InboxMessages          int
	ProjectionTables                 int
	Violations                       []string
	Elapsed                          time.Duration
}

func (r *Report) Failed() bool { return len(r.Violations) > 0 }

func (r *Report) String() string {
	s := fmt.Sprintf("%d messages (%d acknowledged) in %d requests, %d sent again to another node; %d kill -9, %d graceful restarts; %d contacts, %d inbox messages; %d projection tables compared; %s",
		r.Messages, r.Acknowledged, r.Requests, r.Retried, r.Kills, r.RollingRestarts, r.Contacts, r.InboxMessages, r.ProjectionTables, r.Elapsed.Round(time.Millisecond))
	for _, v := range r.Violations {
		s += "\n  VIOLATION: " + v
	}
	return s
}

// Run starts three nodes on one log and one bus with the HubSpot emulator, and then:
//
//  1. a burst: several new senders each write several messages to every node at once,
//     on SMS, WhatsApp and Telegram; one node is killed with SIGKILL mid-burst and what
//     it left unanswered is sent again to the others; the killed node starts again;
//  2. a rolling restart under continuous load: each node in turn is stopped with
//     SIGTERM and started again, while messages keep arriving at all three;
//
// and checks that every acknowledged message is in the log once and published once, that
// each sender has one contact, that every node is ready, and that the projections equal
// a rebuild of the log in a fresh schema. The error is for a run that could not be
// carried out; broken rules are in Report.Violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	began := time.Now()
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "nodes %6.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	rep := &Report{}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "switchboard-nodes-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	rep.Dir = dir
	progress("building switchboard into %s (race %v)", dir, cfg.Race)
	bin, err := harness.Build(ctx, dir, cfg.Race)
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	for k, v := range nodesEnv {
		env = append(env, k+"="+v)
	}

	// The emulator runs in this process over loopback HTTP: the nodes reach it as they
	// reach HubSpot, and the checks read its contacts and inbox directly.
	emu := emulator.New(emulator.Options{Seed: cfg.Seed})
	emu.DefineProperty("telegram_user_id", false)
	hs := httptest.NewServer(emu)
	defer hs.Close()
	defer emu.Close()

	nodes := make([]*node, 3)
	var scfg *config.Config
	for i := range nodes {
		addr, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, fmt.Sprintf("node%d.yaml", i+1))
		if err := os.WriteFile(path, []byte(nodeConfig(addr, cfg.DSN, cfg.NATS, cfg.Stream, hs.URL)), 0o600); err != nil {
			return nil, err
		}
		if i == 0 {
			if scfg, err = config.Load(path, func(k string) string { return nodesEnv[k] }); err != nil {
				return nil, fmt.Errorf("node configuration: %w", err)
			}
		}
		nodes[i] = &node{name: fmt.Sprintf("node%d", i+1), bin: bin, config: path, addr: addr,
			logPath: filepath.Join(dir, fmt.Sprintf("node%d.log", i+1)), env: env}
	}
	// A deploy migrates once before it starts the nodes.
	if _, err := runOnce(ctx, bin, env, "migrate", "--config", nodes[0].config); err != nil {
		return nil, err
	}
	// The nodes start together: their migrations and first leases race on purpose.
	var wg sync.WaitGroup
	startErrs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); startErrs[i] = n.start() }()
	}
	wg.Wait()
	defer func() {
		for _, n := range nodes {
			n.kill9()
		}
	}()
	for _, err := range startErrs {
		if err != nil {
			return nil, err
		}
	}
	progress("three nodes ready on %s, %s, %s", nodes[0].addr, nodes[1].addr, nodes[2].addr)

	rng := rand.New(rand.NewSource(cfg.Seed))
	tr := newTraffic(scfg, nodes)
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var deliveries sync.WaitGroup
	send := func(m *message) {
		deliveries.Add(1)
		mrng := rand.New(rand.NewSource(rng.Int63()))
		go func() { defer deliveries.Done(); tr.deliver(tctx, m, mrng) }()
	}
	seq := 0

	// 1. The burst: 6 phone persons write one SMS and one WhatsApp message to each node,
	// 2 Telegram persons one message to each node, all new senders, in a shuffled order
	// over about 1.5 s; the third node is killed once 40 % of them were sent.
	burstPeople := people(6, 2, 0)
	var burst []*message
	for _, p := range burstPeople {
		for n := range nodes {
			if p.TelegramID != "" {
				burst = append(burst, newMessage(rng, p, n, &seq))
				continue
			}
			for _, ch := range []string{chSMS, chWhatsApp} {
				m := newMessage(rng, p, n, &seq)
				for m.Channel != ch {
					m = newMessage(rng, p, n, &seq)
				}
				burst = append(burst, m)
			}
		}
	}
	rng.Shuffle(len(burst), func(i, j int) { burst[i], burst[j] = burst[j], burst[i] })
	killAt := len(burst) * 4 / 10
	for i, m := range burst {
		if i == killAt {
			nodes[2].kill9()
			rep.Kills++
			progress("killed %s with SIGKILL after %d of %d burst messages", nodes[2].name, i, len(burst))
		}
		send(m)
		time.Sleep(35 * time.Millisecond)
	}
	if err := nodes[2].start(); err != nil {
		return rep, fmt.Errorf("restart the killed node: %w", err)
	}
	progress("%s started again", nodes[2].name)

	// 2. Continuous load through a rolling restart: a message every 40 ms from old and
	// new senders, to the three nodes in turn, while each node is stopped (SIGTERM) and
	// started again in turn.
	loadPeople := append(append([]*person(nil), burstPeople...), people(4, 2, 100)...)
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(40 * time.Millisecond):
			}
			send(newMessage(rng, loadPeople[rng.Intn(len(loadPeople))], i%len(nodes), &seq))
		}
	}()
	time.Sleep(500 * time.Millisecond)
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			rep.Violations = append(rep.Violations, "graceful stop: "+err.Error())
		}
		time.Sleep(200 * time.Millisecond)
		if err := n.start(); err != nil {
			close(stopLoad)
			return rep, fmt.Errorf("rolling restart of %s: %w", n.name, err)
		}
		rep.RollingRestarts++
		progress("%s restarted (SIGTERM, start, ready)", n.name)
	}
	time.Sleep(500 * time.Millisecond)
	close(stopLoad)
	<-loadDone
	deliveries.Wait()
	sent, acked, refused := tr.snapshot()
	rep.Messages, rep.Acknowledged, rep.Requests, rep.Retried = len(sent), len(acked), tr.requests, tr.retried
	progress("traffic done: %d messages, %d acknowledged, %d requests, %d sent again to another node", len(sent), len(acked), tr.requests, tr.retried)

	if err := check(ctx, rep, checkInput{bin: bin, env: env, dir: dir, cfg: cfg, nodes: nodes, emu: emu, hubspotURL: hs.URL,
		sent: sent, acked: acked, refused: refused, people: append(burstPeople, loadPeople[len(burstPeople):]...)}, progress); err != nil {
		return rep, err
	}
	for _, n := range nodes {
		if err := n.stop(); err != nil {
			rep.Violations = append(rep.Violations, "final graceful stop: "+err.Error())
		}
	}
	rep.Elapsed = time.Since(began)
	if !rep.Failed() && cfg.Dir == "" {
		os.RemoveAll(dir)
		rep.Dir = ""
	}
	return rep, nil
}
