package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/projections"
)

func cmdRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rebuild", "rebuild --config F [projection...]   (projections: contact_keys, audit, unlinked, ambiguous, dead_letters, corrections)", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	cfg, err := config.LoadForStore(*path)
	if err != nil {
		return err
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	runner, err := projections.NewRunner(st, st, nil)
	if err != nil {
		return err
	}
	release, err := lockForRebuild(ctx, cfg, st.DB())
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	bar := &progressBar{w: stderr, began: start}
	reportCompaction(st, stderr, bar)
	if err := runner.Rebuild(ctx, names, bar.rebuilt); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	bar.finish()
	if len(names) == 0 {
		names = runner.Names()
	}
	fmt.Fprintf(stdout, "rebuilt %s in %s\n", strings.Join(names, ", "), time.Since(start).Round(time.Millisecond))
	return nil
}

// progressBar draws one line per task, redrawn in place.
type progressBar struct {
	w       io.Writer
	current string
	last    time.Time
	began   time.Time
}

// rebuilt draws a rebuild's one line: every projection is fed in the same pass, so the
// line counts events of the log, with the rate since the rebuild began.
func (b *progressBar) rebuilt(events, position, last int64) {
	if b.began.IsZero() {
		b.began = time.Now()
	}
	b.current = "rebuild"
	if position < last && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	rate := ""
	if d := time.Since(b.began).Seconds(); d > 0 {
		rate = fmt.Sprintf(", %.0f events/s", float64(events)/d)
	}
	fmt.Fprintf(b.w, "\r%-14s %s %d/%d events%s", "rebuild", b.bar(position, last), events, max(last, position), rate)
}

func (b *progressBar) update(name string, done, total int64) {
	if name != b.current {
		if b.current != "" {
			fmt.Fprintln(b.w)
		}
		b.current = name
	}
	// Redrawing on every batch of a fast rebuild would cost more than the rebuild.
	if done < total && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	fmt.Fprintf(b.w, "\r%-14s %s %d/%d events", name, b.bar(done, total), done, total)
}

func (b *progressBar) bar(done, total int64) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	filled := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100)
}

func (b *progressBar) finish() {
	if b.current != "" {
		fmt.Fprintln(b.w)
	}
}

// readSide is the event log and its projections, caught up, for the commands that run
// beside the service (audit, dead-letters).
type readSide struct {
	cfg    *config.Config
	store  logStore
	reader *projections.Reader
}

// openReadSide opens the store of the configuration at path and catches the projections
// up. Applying the log is idempotent, so doing it beside a running service is safe and
// shows what happened a moment ago.
func openReadSide(ctx context.Context, path string) (*readSide, error) {
	cfg, err := config.LoadForStore(path)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		return nil, err
	}
	runner, err := projections.NewRunner(st, st, nil)
	if err == nil {
		_, err = runner.CatchUp(ctx)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("catch up projections: %w", err)
	}
	return &readSide{cfg: cfg, store: st, reader: projections.NewReader(st.DB())}, nil
}

func (r *readSide) close() { r.store.Close() }
