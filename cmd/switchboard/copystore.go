package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"switchboard/adapters/config"
	"switchboard/domain"
	"switchboard/eventstore/datakeys"
	"switchboard/projections"
)

// cmdCopyStore copies the event log of one configuration's store into another's — the
// move from SQLite to PostgreSQL (docs/deployment.md) — and rebuilds the target's
// projections from it. Every event keeps its id, stream, version, times and payload;
// global positions are the target's own, in the source's order. The target must be
// empty: copying into a log that has events would interleave two histories. The
// service must be stopped on the source while it runs, or the copy misses what comes
// after.
func cmdCopyStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("copy-store", "copy-store --from F --to G   copy the event log of F's store into G's empty store, then rebuild G's projections", stderr)
	from := fs.String("from", "", "configuration whose store is read")
	to := fs.String("to", "", "configuration whose store is written (its log must be empty)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *from == "" || *to == "" {
		fmt.Fprintln(stderr, "switchboard copy-store: want --from F --to G, two configuration files, and nothing else")
		return errUsage
	}
	src, err := config.LoadForStore(*from)
	if err != nil {
		return err
	}
	dst, err := config.LoadForStore(*to)
	if err != nil {
		return err
	}
	if src.Store.Driver == dst.Store.Driver && src.Store.DSN == dst.Store.DSN {
		return fmt.Errorf("copy-store: %s and %s name the same store (%s); want two stores", *from, *to, src.Store.Driver)
	}
	// Both sides plain: sealed values are copied as they are, with the data keys that
	// open them (datakeys.CopyKeys), so an erased person stays erased in the copy.
	in, err := openPlainStore(src, nil)
	if err != nil {
		return fmt.Errorf("copy-store: source: %w", err)
	}
	defer in.Close()
	// The target stamps each append with the time the source recorded it, so audit
	// trails and projections keep their times.
	var recordedAt atomic.Pointer[time.Time]
	out, err := openPlainStore(dst, func() time.Time {
		if t := recordedAt.Load(); t != nil {
			return *t
		}
		return time.Now()
	})
	if err != nil {
		return fmt.Errorf("copy-store: target: %w", err)
	}
	// Closes whichever store out is by then: the plain one is closed on the way.
	defer func() { _ = out.Close() }()
	if last, err := out.LastPosition(ctx); err != nil {
		return fmt.Errorf("copy-store: target: %w", err)
	} else if last > 0 {
		return fmt.Errorf("copy-store: the target store of %s already holds events (up to position %d); want an empty log", *to, last)
	}
	total, err := in.LastPosition(ctx)
	if err != nil {
		return fmt.Errorf("copy-store: source: %w", err)
	}
	start := time.Now()
	var after int64
	copied, last := 0, time.Time{}
	for {
		evs, err := in.ReadAll(ctx, after, 500)
		if err != nil {
			return fmt.Errorf("copy-store: read the source after position %d: %w", after, err)
		}
		if len(evs) == 0 {
			break
		}
		// Consecutive events of one stream recorded at one time were one append; they
		// are appended together again, at the version the source gave the first.
		for i := 0; i < len(evs); {
			j := i + 1
			for j < len(evs) && evs[j].StreamID == evs[i].StreamID && evs[j].RecordedAt.Equal(evs[i].RecordedAt) && evs[j].Version == evs[j-1].Version+1 {
				j++
			}
			batch := make([]domain.EventData, 0, j-i)
			for _, e := range evs[i:j] {
				batch = append(batch, e.EventData)
			}
			at := evs[i].RecordedAt
			recordedAt.Store(&at)
			if _, err := out.Append(ctx, evs[i].StreamID, domain.ExpectedVersion(evs[i].Version-1), batch...); err != nil {
				return fmt.Errorf("copy-store: append the event at source position %d (stream version %d): %w", evs[i].Position, evs[i].Version, err)
			}
			copied += j - i
			i = j
		}
		after = evs[len(evs)-1].Position
		if time.Since(last) > 500*time.Millisecond {
			fmt.Fprintf(stderr, "\rcopied %d events (source position %d of %d)", copied, after, total)
			last = time.Now()
		}
	}
	fmt.Fprintf(stderr, "\rcopied %d events (source position %d of %d)\n", copied, after, total)
	if err := datakeys.CopyKeys(ctx, in, out); err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy-store: target: %w", err)
	}
	// The projections hold opened values: they are rebuilt through the sealed log.
	if out, err = openStore(dst, nil); err != nil {
		out = nopCloser{}
		return fmt.Errorf("copy-store: target: %w", err)
	}
	runner, err := projections.NewRunner(out, out, nil)
	if err != nil {
		return fmt.Errorf("copy-store: target: %w", err)
	}
	bar := &progressBar{w: stderr}
	if err := runner.Rebuild(ctx, nil, bar.rebuilt); err != nil {
		return fmt.Errorf("copy-store: rebuild the target's projections: %w", err)
	}
	bar.finish()
	fmt.Fprintf(stdout, "copied %d events from the %s store to the %s store and rebuilt its projections in %s\n",
		copied, src.Store.Driver, dst.Store.Driver, time.Since(start).Round(time.Millisecond))
	return nil
}

// nopCloser stands for a store that failed to open, for the deferred close.
type nopCloser struct{ logStore }

func (nopCloser) Close() error { return nil }
