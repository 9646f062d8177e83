package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the bench's own schema
	"github.com/nats-io/nats.go"

	"switchboard/adapters/loaddriver"
	"switchboard/cmd/internal/harness"
)

// nodesResult compares one node on SQLite with three on PostgreSQL and NATS under the
// same offered load (issue 15): the same total of closed-loop clients, the same known
// senders, one emulator with its limits lifted.
type nodesResult struct {
	clients  int
	duration time.Duration
	one      loaddriver.Report
	three    []loaddriver.Report
}

// nodesConfig is one node's configuration: the bench's channels on store and bus.
func nodesConfig(listen, store, bus, hubspotURL string) string {
	cfg := serviceConfig(listen, "", hubspotURL, 1_000_000, 5)
	cfg = strings.Replace(cfg, `store: {driver: sqlite, dsn: ""}`, store, 1)
	return strings.Replace(cfg, "bus: {driver: gochannel}", bus, 1)
}

// nodesRuns runs the comparison: first one serve on a SQLite file, then three serve
// processes on a fresh schema of the PostgreSQL database pgDSN names and a fresh
// JetStream stream, each driven by a `dev load` of its own with a third of the clients.
func nodesRuns(ctx context.Context, dir, bin, pgDSN, natsURL string, o options) (*nodesResult, error) {
	env := append(os.Environ(), benchEnv...)
	hsAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	emu, err := startProc(ctx, "dev hubspot (nodes)", bin, []string{"dev", "hubspot", "--listen", hsAddr, "--search-lag", "2s", "--unlimited"},
		env, filepath.Join(dir, "emulator-nodes.log"))
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	hubspotURL := "http://" + hsAddr
	if err := harness.WaitHTTP(emu.Proc, hubspotURL+"/_emulator/stats", 20*time.Second); err != nil {
		return nil, err
	}
	per := max(o.clients/3, 1)
	res := &nodesResult{clients: 3 * per, duration: o.loadDuration}

	// One node, SQLite.
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	one := filepath.Join(dir, "nodes-one.yaml")
	if err := os.WriteFile(one, []byte(nodesConfig(addr, fmt.Sprintf("store: {driver: sqlite, dsn: %q}", filepath.Join(dir, "nodes-one.db")),
		"bus: {driver: gochannel}", hubspotURL)), 0o644); err != nil {
		return nil, err
	}
	progress("nodes: one serve on SQLite, %d clients", res.clients)
	reps, err := loadNodes(ctx, dir, bin, env, []string{one}, []string{addr}, res.clients, o.loadDuration, hubspotURL)
	if err != nil {
		return nil, err
	}
	res.one = reps[0]

	// Three nodes, PostgreSQL and NATS, each in a schema and stream of its own.
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sbbench_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", pgDSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return nil, fmt.Errorf("nodes: create schema: %w", err)
	}
	defer func() { _, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+name+" CASCADE") }()
	defer func() {
		if nc, err := nats.Connect(natsURL); err == nil {
			if js, err := nc.JetStream(); err == nil {
				_ = js.DeleteStream(name)
			}
			nc.Close()
		}
	}()
	u, err := url.Parse(pgDSN)
	if err != nil {
		return nil, fmt.Errorf("nodes: -postgres must be a postgres:// URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	var cfgs, addrs []string
	for i := range 3 {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("nodes-three-%d.yaml", i+1))
		if err := os.WriteFile(p, []byte(nodesConfig(a, fmt.Sprintf("store: {driver: postgres, dsn: %q}", u.String()),
			fmt.Sprintf("bus: {driver: nats, url: %q, stream: %q}", natsURL, name), hubspotURL)), 0o644); err != nil {
			return nil, err
		}
		cfgs, addrs = append(cfgs, p), append(addrs, a)
	}
	if out, err := exec.CommandContext(ctx, bin, "migrate", "--config", cfgs[0]).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nodes: migrate: %w: %s", err, out)
	}
	progress("nodes: three serve on PostgreSQL and NATS, %d clients each", per)
	if res.three, err = loadNodes(ctx, dir, bin, env, cfgs, addrs, per, o.loadDuration, hubspotURL); err != nil {
		return nil, err
	}
	return res, nil
}

// loadNodes starts one serve per configuration, then drives each with a `dev load` of
// its own at once (known senders, clients each), and stops them.
func loadNodes(ctx context.Context, dir, bin string, env, cfgs, addrs []string, clients int, d time.Duration, hubspotURL string) ([]loaddriver.Report, error) {
	var procs []*proc
	defer func() {
		for _, p := range procs {
			_ = p.stop()
		}
	}()
	for i, c := range cfgs {
		p, err := startProc(ctx, fmt.Sprintf("serve (node %d)", i+1), bin, []string{"serve", "--config", c, "--log-level", "warn"}, env,
			filepath.Join(dir, strings.TrimSuffix(filepath.Base(c), ".yaml")+".log"))
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	for i, p := range procs {
		if err := harness.WaitHTTP(p.Proc, "http://"+addrs[i]+"/healthz", 60*time.Second); err != nil {
			return nil, err
		}
	}
	reps := make([]loaddriver.Report, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"dev", "load", "--config", cfgs[i], "--url", "http://" + addrs[i], "--emulator", hubspotURL,
				"--channels", benchChannels, "--pool", strconv.Itoa(benchPool), "--settle", "60s", "--json",
				"--known-senders", "1", "--clients", strconv.Itoa(clients), "--duration", d.String()}
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("dev load on node %d: %w: %s", i+1, err, stderr.String())
				return
			}
			errs[i] = json.Unmarshal(stdout.Bytes(), &reps[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return reps, nil
}

// table is the comparison as markdown rows.
func (n *nodesResult) table() string {
	var b strings.Builder
	sum, p99, errs := 0.0, 0.0, 0
	for _, r := range n.three {
		sum += r.AckPerSec
		p99 = max(p99, r.AckLatency.P99)
		for _, c := range r.Errors {
			errs += c
		}
	}
	oneErrs := 0
	for _, c := range n.one.Errors {
		oneErrs += c
	}
	fmt.Fprintf(&b, "\n| several nodes (%d clients in all, all known senders, %s, limits lifted) | acknowledged messages/s | p99 | errors |\n|---|---|---|---|\n",
		n.clients, n.duration)
	fmt.Fprintf(&b, "| one serve on SQLite | %.0f | %.1f ms | %d |\n", n.one.AckPerSec, n.one.AckLatency.P99, oneErrs)
	fmt.Fprintf(&b, "| three serve on PostgreSQL + NATS (sum; worst p99) | %.0f (%.2f × one SQLite node) | %.1f ms | %d |\n",
		sum, sum/max(n.one.AckPerSec, 1e-9), p99, errs)
	return b.String()
}
