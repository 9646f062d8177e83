// Command soak runs the real switchboard binary against the HubSpot emulator (also the
// real binary, `switchboard dev hubspot`), drives signed webhooks of several channels at
// it concurrently while it kills the service with SIGKILL, restarts the emulator and has
// HubSpot fail (429, 5xx, resets, stalls, writes applied and then answered with a
// failure), and then checks SPEC rules 8 and 10 against the event log, the projections
// and the emulator. `make soak SEED=… DURATION=…` runs it; the Go test in this package
// runs a short version.
//
// Every process it starts listens on 127.0.0.1; every process it ends, it ends by its
// own pid. The traffic is bounded in count and time and the run stops by itself.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/adapters/config"
	"switchboard/cmd/internal/harness"
)

// Config is one soak run.
type Config struct {
	// Seed drives every random choice: the plan, the kill moments, the emulator's faults.
	Seed int64
	// Messages is the number of distinct messages sent over Span (each sent until
	// acknowledged, some twice at once, some again later).
	Messages int
	// Span is the traffic phase: messages are spread over it.
	Span time.Duration
	// PhonePersons and TelegramPersons are the number of distinct senders (0: derived
	// from Messages). A phone person writes on SMS, WhatsApp and the command API.
	PhonePersons, TelegramPersons int
	// Concurrency is the number of requests in flight at most.
	Concurrency int
	// Kills is the number of kill -9 of the service during the traffic phase.
	Kills int
	// EmulatorRestarts is the number of restarts of the emulator during the traffic phase.
	EmulatorRestarts int
	// FaultRate is the share of HubSpot calls that fail; ApplyShare the share of those
	// that apply the write and then fail (apply-502, apply-reset, apply-stall). The
	// others are 429, 502, 503, resets and stalls before the handler.
	FaultRate, ApplyShare float64
	// StallShare is the share of faults that are stalls (before or after apply); they
	// hold a request for StallFor, past the client's 10 s timeout. Taken from both halves.
	StallShare float64
	StallFor   time.Duration
	// Faults, when set, replaces FaultRate/ApplyShare/StallShare: kind -> rate.
	Faults map[string]float64
	// FaultOps limits the faults to these emulator operations (empty: all).
	FaultOps []string
	// SearchLag is how long the emulator's search lags its writes.
	SearchLag time.Duration
	// NoCreateKey runs the service without hubspot.create_key_property, so a create
	// whose answer is lost is confirmed by a search after SearchLagAllowance instead of
	// a read by the create key (docs/exactly-once.md).
	NoCreateKey bool
	// SearchLagAllowance is the service's hubspot.search_lag_allowance (0: its default).
	SearchLagAllowance time.Duration
	// DuplicateShare of messages are sent twice at the same moment; RedeliverShare are
	// sent again a second or two after their acknowledgement.
	DuplicateShare, RedeliverShare float64
	// SettleTimeout bounds the wait, after the traffic, for every acknowledged message
	// to be published. SettleWithFaults keeps the faults on while settling.
	SettleTimeout    time.Duration
	SettleWithFaults bool
	// Race builds the service with the race detector.
	Race bool
	// Dir is where the binary, the store, the emulator state and the logs go (default:
	// a new temporary directory, removed on success unless KeepDir).
	Dir     string
	KeepDir bool
	// Plan, when set, replaces the random plan (the 20-senders scenario uses it).
	Plan func(rng *rand.Rand) ([]*person, []*plannedMessage)
	// Progress receives one line per phase (nil: quiet).
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.Messages <= 0 {
		c.Messages = 150
	}
	if c.Span <= 0 {
		c.Span = 10 * time.Second
	}
	if c.PhonePersons <= 0 {
		c.PhonePersons = max(4, c.Messages/5)
	}
	if c.TelegramPersons <= 0 {
		c.TelegramPersons = max(2, c.Messages/20)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.StallFor <= 0 {
		c.StallFor = 11 * time.Second
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 90 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// faultArgs turns the fault settings into `dev hubspot` flags.
func (c *Config) faultArgs() []string {
	rates := c.Faults
	if rates == nil && c.FaultRate > 0 {
		apply := c.FaultRate * c.ApplyShare
		before := c.FaultRate - apply
		stallBefore, stallApply := before*c.StallShare, apply*c.StallShare
		before -= stallBefore
		apply -= stallApply
		rates = map[string]float64{
			"429": before * 0.4, "502": before * 0.2, "503": before * 0.2, "reset": before * 0.2, "stall": stallBefore,
			"apply-502": apply * 0.5, "apply-reset": apply * 0.5, "apply-stall": stallApply,
		}
	}
	var args []string
	kinds := make([]string, 0, len(rates))
	for k := range rates {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if rates[k] > 0 {
			args = append(args, "--fault", k+"="+strconv.FormatFloat(rates[k], 'g', 6, 64))
		}
	}
	if len(args) > 0 {
		args = append(args, "--stall-for", c.StallFor.String())
		if len(c.FaultOps) > 0 {
			args = append(args, "--fault-ops", strings.Join(c.FaultOps, ","))
		}
	}
	return args
}

// Secrets the run's configuration names; the children get them in their environment.
var soakEnv = map[string]string{
	"SOAK_ADMIN": "soak-admin-token", "SOAK_HS_TOKEN": "soak-hubspot-token", "SOAK_TWILIO": "soak-twilio-token",
	"SOAK_META_SECRET": "soak-meta-secret", "SOAK_META_VERIFY": "soak-meta-verify", "SOAK_TG": "soak-telegram-secret",
}

// soakCreateKey is the soak workspace's hubspot.create_key_property.
const soakCreateKey = "switchboard_key"

func serviceConfig(listen, dsn, hubspotURL string, cfg *Config) string {
	policy := ""
	if !cfg.NoCreateKey {
		policy += ", create_key_property: " + soakCreateKey
	}
	if cfg.SearchLagAllowance > 0 {
		policy += ", search_lag_allowance: " + cfg.SearchLagAllowance.String()
	}
	return fmt.Sprintf(`listen: %s
admin_token_env: SOAK_ADMIN
store: {driver: sqlite, dsn: %q}
workspaces:
  - id: soak
    hubspot: {base_url: %q, token_env: SOAK_HS_TOKEN, region: US, ten_second_limit: 250, search_per_second: 5%s}
    channels:
      - {id: %s, kind: sms, default_region: US, auth_token_env: SOAK_TWILIO, inbox: {channel_id: "1001", channel_account_id: "3001"}}
      - {id: %s, kind: whatsapp, provider: cloud, default_region: US, app_secret_env: SOAK_META_SECRET,
         verify_token_env: SOAK_META_VERIFY, inbox: {channel_id: "1001", channel_account_id: "3002"}}
      - {id: %s, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true,
         secret_token_env: SOAK_TG, inbox: {channel_id: "1001", channel_account_id: "3003"}}
`, listen, dsn, hubspotURL, policy, chSMS, chWhatsApp, chTelegram)
}

// randomPlan spreads cfg.Messages over cfg.Span among the persons: the first messages
// of a person often arrive on two channels at once, which is where duplicates are made.
func randomPlan(cfg *Config, rng *rand.Rand) ([]*person, []*plannedMessage) {
	var people []*person
	for i := 0; i < cfg.PhonePersons; i++ {
		phone := fmt.Sprintf("+1415555%04d", 2000+i)
		people = append(people, &person{Key: "phone:" + phone, Phone: phone, Name: fmt.Sprintf("Phone Person %d", i)})
	}
	for i := 0; i < cfg.TelegramPersons; i++ {
		id := strconv.Itoa(880000000 + i)
		people = append(people, &person{Key: "telegram:" + id, TelegramID: id, Name: fmt.Sprintf("Tele Person %d", i)})
	}
	var plan []*plannedMessage
	tgSeq := map[string]int{}
	for i := 0; i < cfg.Messages; i++ {
		at := time.Duration(rng.Int63n(int64(cfg.Span)))
		m := &plannedMessage{At: at, Text: fmt.Sprintf("soak message %d", i)}
		switch r := rng.Float64(); {
		case r < 0.15 && cfg.TelegramPersons > 0:
			p := people[cfg.PhonePersons+rng.Intn(cfg.TelegramPersons)]
			tgSeq[p.TelegramID]++
			m.Via, m.Channel, m.Person = chTelegram, chTelegram, p
			m.MessageID = p.TelegramID + ":" + strconv.Itoa(tgSeq[p.TelegramID])
		default:
			p := people[rng.Intn(cfg.PhonePersons)]
			m.Person = p
			switch r := rng.Float64(); {
			case r < 0.42:
				m.Via, m.Channel, m.MessageID = chSMS, chSMS, fmt.Sprintf("SM%016x%016x", rng.Uint64(), rng.Uint64())
			case r < 0.84:
				m.Via, m.Channel, m.MessageID = chWhatsApp, chWhatsApp, fmt.Sprintf("wamid.SOAK%016X", rng.Uint64())
			default:
				m.Via, m.Channel, m.MessageID = viaAPI, chSMS, fmt.Sprintf("API-%d-%d", cfg.Seed, i)
			}
		}
		m.Twice = rng.Float64() < cfg.DuplicateShare
		if rng.Float64() < cfg.RedeliverShare {
			m.Again = time.Second + time.Duration(rng.Int63n(int64(time.Second)))
		}
		plan = append(plan, m)
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].At < plan[j].At })
	return people, plan
}

// moments draws n moments in (10 %, 90 %) of span, sorted.
func moments(rng *rand.Rand, n int, span time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = span/10 + time.Duration(rng.Int63n(int64(span*8/10)+1))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Run executes one soak run and reports what it found. The error is for a run that
// could not be carried out (the binary did not build, a process did not start); broken
// invariants are in Report.Violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	began := time.Now()
	rep := &Report{Seed: cfg.Seed, Faults: map[string]int{}}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "switchboard-soak-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	rep.Dir = dir
	progress := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "soak %6.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	progress("building switchboard into %s (race %v)", dir, cfg.Race)
	bin, err := harness.Build(ctx, dir, cfg.Race)
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	for k, v := range soakEnv {
		env = append(env, k+"="+v)
	}
	hsAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	svcAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	emu := &emulatorProc{bin: bin, addr: hsAddr, state: filepath.Join(dir, "hubspot-state.json"), logPath: filepath.Join(dir, "emulator.log"),
		env: env, args: []string{"--search-lag", cfg.SearchLag.String(), "--ten-second-limit", "250", "--search-per-second", "5"}}
	faults := cfg.faultArgs()
	if err := emu.start(nil, cfg.Seed); err != nil {
		return nil, err
	}
	defer emu.stop()
	// The identifier property exists before the service starts, as `hubspot setup`
	// would leave it; not unique, so HubSpot itself does not stop duplicates.
	if err := defineProperty(emu.url(), soakEnv["SOAK_HS_TOKEN"], "telegram_user_id"); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, "switchboard.db")
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfgPath, []byte(serviceConfig(svcAddr, dbPath, emu.url(), &cfg)), 0o600); err != nil {
		return nil, err
	}
	if !cfg.NoCreateKey {
		// The create key property is made by the service's own command, as an operator
		// (or `hubspot setup`) would.
		if err := createKeyProperty(ctx, bin, cfgPath, env); err != nil {
			return nil, err
		}
	}
	if err := emu.stop(); err != nil {
		return nil, err
	}
	if err := emu.start(faults, cfg.Seed); err != nil {
		return nil, err
	}
	progress("emulator on %s with %s; create key %v", emu.url(), strings.Join(append([]string{"search lag " + cfg.SearchLag.String()}, faults...), " "), !cfg.NoCreateKey)
	scfg, err := config.Load(cfgPath, func(k string) string { return soakEnv[k] })
	if err != nil {
		return nil, fmt.Errorf("soak configuration: %w", err)
	}
	svc := &serviceProc{bin: bin, config: cfgPath, addr: svcAddr, logPath: filepath.Join(dir, "service.log"), env: env}
	if err := svc.start(); err != nil {
		return nil, err
	}
	defer svc.kill9()

	rng := rand.New(rand.NewSource(cfg.Seed))
	var people []*person
	var plan []*plannedMessage
	if cfg.Plan != nil {
		people, plan = cfg.Plan(rng)
	} else {
		people, plan = randomPlan(&cfg, rng)
	}
	rep.Planned, rep.Persons = len(plan), len(people)
	killAt := moments(rng, cfg.Kills, cfg.Span)
	restartAt := moments(rng, cfg.EmulatorRestarts, cfg.Span)
	progress("sending %d messages from %d persons over %s; %d kills, %d emulator restarts", len(plan), len(people), cfg.Span, len(killAt), len(restartAt))

	tr := newTraffic(scfg, svc.url(), soakEnv["SOAK_ADMIN"])
	tctx, cancel := context.WithTimeout(ctx, cfg.Span+cfg.SettleTimeout)
	defer cancel()
	start := time.Now()
	var chaos sync.WaitGroup
	var faultErr error
	var faultMu sync.Mutex
	fail := func(err error) {
		faultMu.Lock()
		defer faultMu.Unlock()
		if faultErr == nil {
			faultErr = err
		}
	}
	chaos.Add(2)
	go func() {
		defer chaos.Done()
		krng := rand.New(rand.NewSource(cfg.Seed ^ 0x6b696c6c))
		for _, at := range killAt {
			if !sleepUntil(tctx, start.Add(at)) {
				return
			}
			svc.kill9()
			rep.Kills++
			time.Sleep(time.Duration(krng.Int63n(int64(300 * time.Millisecond))))
			if err := svc.start(); err != nil {
				fail(fmt.Errorf("restart after kill %d: %w", rep.Kills, err))
				return
			}
		}
	}()
	go func() {
		defer chaos.Done()
		for i, at := range restartAt {
			if !sleepUntil(tctx, start.Add(at)) {
				return
			}
			if err := emu.stop(); err != nil {
				fail(fmt.Errorf("emulator restart %d: %w", i+1, err))
			}
			rep.EmulatorRestarts++
			if err := emu.start(faults, cfg.Seed+int64(i)+1); err != nil {
				fail(fmt.Errorf("emulator restart %d: %w", i+1, err))
				return
			}
		}
	}()
	tr.run(tctx, plan, cfg.Concurrency, cfg.Seed)
	chaos.Wait()
	if faultErr != nil {
		return rep, faultErr
	}
	attempts, acked, refused := tr.snapshot()
	if err := writeAttempts(filepath.Join(dir, "requests.jsonl"), attempts); err != nil {
		return rep, err
	}
	progress("traffic done in %s: %d requests, %d of %d acknowledged", time.Since(start).Round(time.Millisecond), len(attempts), len(acked), len(plan))

	if !cfg.SettleWithFaults {
		// Settling with HubSpot healthy bounds the run; everything the faults did to
		// the messages sent so far stays in the log and the emulator to be checked.
		if err := emu.stop(); err != nil {
			return rep, err
		}
		if err := emu.start(nil, cfg.Seed+1000); err != nil {
			return rep, err
		}
	}
	settled, err := waitSettled(ctx, dbPath, plan, acked, cfg.SettleTimeout)
	if err != nil {
		return rep, err
	}
	progress("settled: %v", settled)
	if err := svc.stop(); err != nil {
		rep.Violations = append(rep.Violations, "service did not stop on SIGTERM: "+err.Error())
	}
	rep.Faults, rep.HubSpotRequests = copyCounts(emu.faults), copyCounts(emu.requests)
	if err := check(ctx, rep, checkInput{bin: bin, env: env, dir: dir, cfgPath: cfgPath, dbPath: dbPath, emulator: emu.url(),
		plan: plan, people: people, attempts: attempts, acked: acked, refused: refused}); err != nil {
		return rep, err
	}
	if err := emu.stop(); err != nil {
		return rep, err
	}
	rep.Faults, rep.HubSpotRequests = copyCounts(emu.faults), copyCounts(emu.requests)
	rep.Elapsed = time.Since(began)
	if !rep.Failed() && cfg.Dir == "" && !cfg.KeepDir {
		os.RemoveAll(dir)
		rep.Dir = ""
	}
	return rep, nil
}

// createKeyProperty runs `switchboard hubspot create-key-property` against the emulator.
func createKeyProperty(ctx context.Context, bin, cfgPath string, env []string) error {
	cmd := exec.CommandContext(ctx, bin, "hubspot", "create-key-property", "--config", cfgPath)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("switchboard hubspot create-key-property: %w: %s", err, out)
	}
	return nil
}

func copyCounts(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// writeAttempts keeps every request the traffic made and its answer, one JSON object a
// line, beside the store and the logs, for reading a failed run after the fact.
func writeAttempts(path string, attempts []attempt) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("record requests: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, a := range attempts {
		if err := enc.Encode(a); err != nil {
			f.Close()
			return fmt.Errorf("record requests: %w", err)
		}
	}
	return f.Close()
}
