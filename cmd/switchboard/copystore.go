package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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
	upgrade := fs.Bool("upgrade", false, "the source was written before streams were stored under random names: re-seal every event into the new form (docs/privacy.md §8)")
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
	if *upgrade {
		return upgradeStore(ctx, src, dst, *to, stdout, stderr)
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
	start := time.Now()
	copied, err := copyEvents(ctx, in, out, &recordedAt, nil, stderr)
	if err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
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
	reportCompaction(out, stderr, bar)
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

// upgradeStore copies a log written before streams were stored under random names
// (or before personal values were sealed at all) into an empty store in the current
// form: each event is read opened, with the source's data keys, and appended again
// through the sealed log, which seals it with new keys and stores its stream under a
// random name. Ids, versions, times and correlation ids are kept. A stream whose person
// was erased in the source gets a random name that leads nowhere and its values stay
// "[erased]": its old name, which holds the identifier, is not carried over.
func upgradeStore(ctx context.Context, src, dst *config.Config, toPath string, stdout, stderr io.Writer) error {
	plainIn, err := openPlainStore(src, nil)
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: source: %w", err)
	}
	defer plainIn.Close()
	keys, err := datakeys.Open(ctx, plainIn, src.SecretKey)
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: source: %s: %w", src.Path, err)
	}
	if hidden, err := keys.HiddenStreamNames(ctx); err != nil {
		return fmt.Errorf("copy-store --upgrade: source: %w", err)
	} else if hidden {
		return fmt.Errorf("copy-store --upgrade: the store of %s is in the current form already; copy it without --upgrade", src.Path)
	}
	in, err := wrapSealed(src, plainIn, keys)
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: source: %w", err)
	}
	var recordedAt atomic.Pointer[time.Time]
	out, err := openStore(dst, func() time.Time {
		if t := recordedAt.Load(); t != nil {
			return *t
		}
		return time.Now()
	})
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: target: %w", err)
	}
	defer func() { _ = out.Close() }()
	if last, err := out.LastPosition(ctx); err != nil {
		return fmt.Errorf("copy-store --upgrade: target: %w", err)
	} else if last > 0 {
		return fmt.Errorf("copy-store --upgrade: the target store of %s already holds events (up to position %d); want an empty log", toPath, last)
	}
	start := time.Now()
	erasedAs := map[string]string{} // source stream of an erased person -> its new random name
	streamOf := func(e domain.RecordedEvent) (string, error) {
		if name, ok := erasedAs[e.StreamID]; ok {
			return name, nil
		}
		if e.Version != 1 || !erasedStream(e) {
			return e.StreamID, nil
		}
		prefix, _, _ := strings.Cut(e.StreamID, ":")
		name, err := datakeys.NewStreamName(prefix + ":")
		erasedAs[e.StreamID] = name
		return name, err
	}
	copied, err := copyEvents(ctx, in, out, &recordedAt, streamOf, stderr)
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: %w", err)
	}
	runner, err := projections.NewRunner(out, out, nil)
	if err != nil {
		return fmt.Errorf("copy-store --upgrade: target: %w", err)
	}
	bar := &progressBar{w: stderr}
	reportCompaction(out, stderr, bar)
	if err := runner.Rebuild(ctx, nil, bar.rebuilt); err != nil {
		return fmt.Errorf("copy-store --upgrade: rebuild the target's projections: %w", err)
	}
	bar.finish()
	fmt.Fprintf(stdout, "upgraded %d events from the store of %s into the store of %s and rebuilt its projections in %s; delete the old store's files\n",
		copied, src.Path, toPath, time.Since(start).Round(time.Millisecond))
	return nil
}

// copyEvents appends every event of in to out in log order, keeping ids, versions and
// times (recordedAt is the clock out stamps appends with), with a progress line on
// stderr. streamOf names the target stream of each append (nil: the source's).
func copyEvents(ctx context.Context, in, out domain.EventStore, recordedAt *atomic.Pointer[time.Time], streamOf func(domain.RecordedEvent) (string, error), stderr io.Writer) (int, error) {
	total, err := in.LastPosition(ctx)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	var after int64
	copied, last := 0, time.Time{}
	for {
		evs, err := in.ReadAll(ctx, after, 500)
		if err != nil {
			return copied, fmt.Errorf("read the source after position %d: %w", after, err)
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
			stream := evs[i].StreamID
			if streamOf != nil {
				if stream, err = streamOf(evs[i]); err != nil {
					return copied, err
				}
			}
			at := evs[i].RecordedAt
			recordedAt.Store(&at)
			if _, err := out.Append(ctx, stream, domain.ExpectedVersion(evs[i].Version-1), batch...); err != nil {
				return copied, fmt.Errorf("append the event at source position %d (stream version %d): %w", evs[i].Position, evs[i].Version, err)
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
	return copied, nil
}

// erasedStream reports whether the first event of a source stream belongs to a person
// erased in the source: a message whose id reads "[erased]", or a match key whose
// identifier does. Its stream name holds the identifier and is not carried over.
func erasedStream(e domain.RecordedEvent) bool {
	if !strings.HasPrefix(e.StreamID, "message:") && !strings.HasPrefix(e.StreamID, "matchkey:") {
		return false
	}
	var p struct {
		MessageID string `json:"message_id"`
		MatchKey  *struct {
			Identifier string `json:"identifier"`
		} `json:"match_key"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return false
	}
	return p.MessageID == domain.Erased || (p.MatchKey != nil && p.MatchKey.Identifier == domain.Erased)
}
