package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/cmd/internal/rebuildbench"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
	"switchboard/eventstore/sqlite"
)

// rebuildTarget is issue 14's target for `switchboard rebuild`: half the raw scan's rate.
const rebuildTarget = 0.5

// rebuildResult is the rebuild row: the raw scan of the events table before and after
// `switchboard rebuild` of the same store, in the same run.
type rebuildResult struct {
	events           int64
	eventsPerMessage float64
	fill             time.Duration
	scanPage         int
	scans            []scanResult
	rebuild          time.Duration
}

type scanResult struct {
	rows int64
	took time.Duration
}

func (s scanResult) rate() float64 { return float64(s.rows) / s.took.Seconds() }

// rebuildRun writes a store of about events events as serve would (sealed, through the
// configuration's channels), then measures the raw scan and the real `switchboard
// rebuild` on it. Writing the store is not measured.
func rebuildRun(ctx context.Context, dir, bin string, events, page int) (*rebuildResult, error) {
	dsn := filepath.Join(dir, "store-rebuild.db")
	cfgPath := filepath.Join(dir, "switchboard-rebuild.yaml")
	if err := os.WriteFile(cfgPath, []byte(serviceConfig("127.0.0.1:1", dsn, "http://127.0.0.1:1", 100, 4)), 0o644); err != nil {
		return nil, err
	}
	res := &rebuildResult{scanPage: page}
	progress("rebuild: writing a store of %d events (sealed, as serve writes them)", events)
	began := time.Now()
	n, messages, err := fillStore(ctx, cfgPath, events)
	if err != nil {
		return nil, err
	}
	res.events, res.fill = n, time.Since(began)
	res.eventsPerMessage = float64(n) / float64(messages)
	scan := func() error {
		st, err := sqlite.Open(dsn)
		if err != nil {
			return err
		}
		defer st.Close()
		began := time.Now()
		rows, err := rebuildbench.RawScan(ctx, st.DB(), page)
		if err != nil {
			return err
		}
		res.scans = append(res.scans, scanResult{rows: rows, took: time.Since(began)})
		return nil
	}
	progress("rebuild: raw scan of the events table")
	if err := scan(); err != nil {
		return nil, err
	}
	progress("rebuild: switchboard rebuild --config %s", cfgPath)
	logPath := filepath.Join(dir, "rebuild.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "rebuild", "--config", cfgPath)
	cmd.Env = append(os.Environ(), benchEnv...)
	cmd.Stdout, cmd.Stderr = lf, lf
	began = time.Now()
	err = cmd.Run()
	res.rebuild = time.Since(began)
	lf.Close()
	if err != nil {
		return nil, fmt.Errorf("switchboard rebuild: %w (see %s)", err, logPath)
	}
	progress("rebuild: raw scan again")
	if err := scan(); err != nil {
		return nil, err
	}
	return res, nil
}

// fillStore opens the store of the configuration with its data keys and channels, as
// the command opens it, and writes the traffic; it returns the events and messages.
func fillStore(ctx context.Context, cfgPath string, events int) (int64, int64, error) {
	cfg, err := config.LoadForStore(cfgPath)
	if err != nil {
		return 0, 0, err
	}
	st, err := sqlite.Open(cfg.Store.DSN)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	keys, err := datakeys.Open(ctx, st, cfg.SecretKey)
	if err != nil {
		return 0, 0, err
	}
	// As serve marks a new store before its first event: a store without the mark and
	// with events is one from before random stream names, which rebuild refuses.
	if err := keys.MarkHiddenStreamNames(ctx); err != nil {
		return 0, 0, err
	}
	log, err := sealed.NewStore(st, keys, cfg.Catalog())
	if err != nil {
		return 0, 0, err
	}
	n, err := rebuildbench.Fill(ctx, log, cfg.Catalog(), rebuildbench.Traffic{Events: events, Channels: strings.Split(benchChannels, ","),
		Workspace: "bench", Senders: 1000, Writers: 256})
	if err != nil {
		return n, 0, err
	}
	var messages int64
	if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE type = 'MessageReceived'`).Scan(&messages); err != nil {
		return n, 0, err
	}
	return n, messages, nil
}

// rows renders the rebuild's part of the table.
func (r *rebuildResult) rows(row func(part, fig, val, rat string)) {
	if len(r.scans) == 0 {
		return
	}
	raw := r.scans[0]
	part := fmt.Sprintf("rebuild (%s events, %.2f per message)", num(float64(r.events)), r.eventsPerMessage)
	row(part, fmt.Sprintf("raw scan of the events table (pages of %d)", r.scanPage), fmt.Sprintf("%s events/s (%.2f s)", num(raw.rate()), raw.took.Seconds()), "1.000 × raw scan")
	rate := float64(r.events) / r.rebuild.Seconds()
	row(part, "`switchboard rebuild` (all projections, sealed log)", fmt.Sprintf("%s events/s (%.2f s)", num(rate), r.rebuild.Seconds()),
		fmt.Sprintf("%.3f × raw scan (target %.1f)", rate/raw.rate(), rebuildTarget))
	for _, s := range r.scans[1:] {
		row(part, "raw scan again, after the rebuild", fmt.Sprintf("%s events/s (%.2f s)", num(s.rate()), s.took.Seconds()), fmt.Sprintf("%.3f × raw scan", s.rate()/raw.rate()))
	}
}
