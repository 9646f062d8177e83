package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/adapters/loaddriver"
	"switchboard/cmd/internal/harness"
)

// benchEnv are the secrets the generated configuration names.
var benchEnv = []string{"BENCH_ADMIN=bench-admin-token", "BENCH_HS=bench-hubspot-token", "BENCH_TWILIO=bench-twilio-token",
	"BENCH_META_SECRET=bench-meta-secret", "BENCH_META_VERIFY=bench-meta-verify"}

// benchChannels are three phone channels: one number is one person on all of them, so
// a burst of one new sender on three channels is one contact to create.
const benchChannels = "bench-sms,bench-wa,bench-wa-twilio"

// benchPool is the number of known senders of the known-sender runs.
const benchPool = 20

func serviceConfig(listen, dsn, hubspotURL string, tenSecond int, searchPerSecond float64) string {
	return fmt.Sprintf(`listen: %s
admin_token_env: BENCH_ADMIN
store: {driver: sqlite, dsn: %q}
bus: {driver: gochannel}
workspaces:
  - id: bench
    hubspot: {base_url: %q, token_env: BENCH_HS, region: US, ten_second_limit: %d, search_per_second: %g}
    channels:
      - {id: bench-sms, kind: sms, default_region: US, auth_token_env: BENCH_TWILIO,
         inbox: {channel_id: "1001", channel_account_id: "4001"}}
      - {id: bench-wa, kind: whatsapp, provider: cloud, default_region: US, app_secret_env: BENCH_META_SECRET,
         verify_token_env: BENCH_META_VERIFY, inbox: {channel_id: "1001", channel_account_id: "4002"}}
      - {id: bench-wa-twilio, kind: whatsapp, provider: twilio, default_region: US, auth_token_env: BENCH_TWILIO,
         inbox: {channel_id: "1001", channel_account_id: "4003"}}
`, listen, dsn, hubspotURL, tenSecond, searchPerSecond)
}

// stackSpec is one serve + dev hubspot pair and the runs made against it.
type stackSpec struct {
	name string
	// lifted lifts the emulator's limits (and the client's budget): the runs measure
	// switchboard. Otherwise both keep HubSpot's figures (110 per 10 s and 5 searches
	// per second at the emulator, the client's defaults below them).
	lifted bool
	runs   []runSpec
}

type runSpec struct {
	name string
	args []string
}

// loadResult is one load run's report, with what its stack measured.
type loadResult struct {
	stack, name string
	lifted      bool
	args        []string
	rep         loaddriver.Report
	// eventsPerMsg is the events the run added to the log over its messages (its
	// warm-up's included); peakRSS is serve's VmHWM when the stack's last run ended, in kB.
	eventsPerMsg float64
	peakRSS      int64
	// writer is serve's SQLite writer over the run (warm-up and publication included).
	writer *writerStats
}

func loadRuns(ctx context.Context, dir, bin string, o options) ([]loadResult, error) {
	d := o.loadDuration.String()
	clients := strconv.Itoa(o.clients)
	stacks := []stackSpec{
		{name: "lifted", lifted: true, runs: []runSpec{
			{"all known senders, closed loop", []string{"--known-senders", "1", "--clients", clients, "--duration", d}},
			{"all known senders, open loop", []string{"--known-senders", "1", "--rate", strconv.FormatFloat(o.rate, 'g', -1, 64), "--duration", d}},
			{"90 % known / 10 % new, closed loop", []string{"--known-senders", "0.9", "--clients", clients, "--duration", d}},
		}},
		{name: "kept", runs: []runSpec{
			// Ten times HubSpot's search limit offered, for two seconds.
			{"all new senders, 50/s offered", []string{"--known-senders", "0", "--rate", "50", "--count", "100"}},
			{"burst: one new sender on three channels", []string{"--known-senders", "0", "--burst", "--rate", "30", "--count", "60"}},
		}},
	}
	if o.loadRuns != "" {
		only, err := regexp.Compile(o.loadRuns)
		if err != nil {
			return nil, fmt.Errorf("-load-runs: %w", err)
		}
		kept := stacks[:0]
		for _, st := range stacks {
			st.runs = slices.DeleteFunc(st.runs, func(r runSpec) bool { return !only.MatchString(r.name) })
			if len(st.runs) > 0 {
				kept = append(kept, st)
			}
		}
		stacks = kept
	}
	var out []loadResult
	for _, st := range stacks {
		rs, err := runStack(ctx, dir, bin, st)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func runStack(ctx context.Context, dir, bin string, st stackSpec) ([]loadResult, error) {
	hsAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	svcAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), benchEnv...)
	emuArgs := []string{"dev", "hubspot", "--listen", hsAddr, "--search-lag", "2s"}
	tenSecond, search := 100, 4.0
	if st.lifted {
		emuArgs = append(emuArgs, "--unlimited")
		tenSecond, search = 1_000_000, 5
	}
	emu, err := startProc(ctx, "dev hubspot ("+st.name+")", bin, emuArgs, env, filepath.Join(dir, "emulator-"+st.name+".log"))
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	if err := harness.WaitHTTP(emu.Proc, "http://"+hsAddr+"/_emulator/stats", 20*time.Second); err != nil {
		return nil, err
	}
	dsn := filepath.Join(dir, "store-"+st.name+".db")
	cfgPath := filepath.Join(dir, "switchboard-"+st.name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(serviceConfig(svcAddr, dsn, "http://"+hsAddr, tenSecond, search)), 0o644); err != nil {
		return nil, err
	}
	svc, err := startProc(ctx, "serve ("+st.name+")", bin, []string{"serve", "--config", cfgPath, "--log-level", "warn"}, env,
		filepath.Join(dir, "serve-"+st.name+".log"))
	if err != nil {
		return nil, err
	}
	defer svc.stop()
	if err := harness.WaitHTTP(svc.Proc, "http://"+svcAddr+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	var out []loadResult
	for _, r := range st.runs {
		before, err := lastPosition("http://" + svcAddr)
		if err != nil {
			return nil, err
		}
		writerBefore, werr := scrapeWriter("http://" + svcAddr)
		progress("load %s: %s", st.name, r.name)
		args := append([]string{"dev", "load", "--config", cfgPath, "--channels", benchChannels, "--pool", strconv.Itoa(benchPool),
			"--settle", "60s", "--json"}, r.args...)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stdout bytes.Buffer
		stderr, err := os.OpenFile(filepath.Join(dir, "load.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = &stdout, stderr
		err = cmd.Run()
		stderr.Close()
		if err != nil {
			return nil, fmt.Errorf("switchboard %s: %w (see %s)", strings.Join(args, " "), err, filepath.Join(dir, "load.log"))
		}
		var rep loaddriver.Report
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			return nil, fmt.Errorf("dev load --json: %w: %q", err, stdout.String())
		}
		// The driver returns once its messages are published (or the settle time has
		// passed), so the log holds what they wrote, their warm-up's included.
		after, err := lastPosition("http://" + svcAddr)
		if err != nil {
			return nil, err
		}
		messages := rep.Acknowledged
		if rep.KnownSenders > 0 {
			messages += benchPool * len(strings.Split(benchChannels, ",")) // the warm-up: the pool on each channel
		}
		lr := loadResult{stack: st.name, name: r.name, lifted: st.lifted, args: r.args, rep: rep}
		if writerAfter, err := scrapeWriter("http://" + svcAddr); err == nil && werr == nil {
			d := writerAfter.since(writerBefore)
			lr.writer = &d
		}
		if messages > 0 {
			lr.eventsPerMsg = float64(after-before) / float64(messages)
		}
		out = append(out, lr)
	}
	rss := vmHWM(svc.Pid())
	if err := svc.stop(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].peakRSS = rss
	}
	return out, nil
}

// lastPosition is the log's last position, as /readyz reports it (ready or not).
func lastPosition(base string) (int64, error) {
	res, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, fmt.Errorf("read the log position: %w", err)
	}
	defer res.Body.Close()
	var body struct {
		LastPosition *int64 `json:"last_position"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.LastPosition == nil {
		return 0, fmt.Errorf("GET %s/readyz: %s without last_position (%v)", base, res.Status, err)
	}
	return *body.LastPosition, nil
}

// readMetrics is serve's /metrics text at base.
func readMetrics(base string) (string, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return "", fmt.Errorf("read /metrics: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return "", fmt.Errorf("read /metrics: %w", err)
	}
	return string(body), nil
}

// vmHWM is a process's peak resident set size in kB (0 when unreadable).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// proc is a child process the bench started, stopped (SIGTERM) when the run's context
// ends; it is stopped by its own pid only.
type proc struct{ *harness.Proc }

func startProc(ctx context.Context, name, bin string, args, env []string, logPath string) (*proc, error) {
	hp, err := harness.Start(name, bin, args, env, logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{hp}
	go func() {
		select {
		case <-ctx.Done():
			_ = p.stop()
		case <-hp.Done():
		}
	}()
	return p, nil
}

// stop sends SIGTERM, waits up to 30 s, then SIGKILL (idempotent); an exit status after
// SIGTERM is not an error.
func (p *proc) stop() error {
	err := p.Term(30 * time.Second)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}
