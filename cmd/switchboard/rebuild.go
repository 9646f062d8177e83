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
	start := time.Now()
	bar := &progressBar{w: stderr}
	if err := runner.Rebuild(ctx, names, bar.update); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	bar.finish()
	if len(names) == 0 {
		names = runner.Names()
	}
	fmt.Fprintf(stdout, "rebuilt %s in %s\n", strings.Join(names, ", "), time.Since(start).Round(time.Millisecond))
	return nil
}

// progressBar draws one line per projection, redrawn in place.
type progressBar struct {
	w       io.Writer
	current string
	last    time.Time
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
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	fmt.Fprintf(b.w, "\r%-14s [%s%s] %3.0f%%  %d/%d events", name, strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, done, total)
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
