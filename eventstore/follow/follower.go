package follow

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"switchboard/domain"
)

// Follower is the one loop that follows the log, for reactors and projections alike: it
// reads the log after the sink's checkpoint in batches while the sink has room, hands
// each batch to the sink, lets the sink record its checkpoint, and waits for a wake-up,
// a poll tick or the sink's progress. What is done with the events, and when the
// checkpoint may move, is the sink's business; the follower never skips an event it
// handed over, because it only reads forward from where the sink said it stands.
type Follower struct {
	// Name is for logs.
	Name  string
	Store domain.EventStore
	// Wake signals that new events may exist; the follower also polls every PollEvery.
	Wake      <-chan struct{}
	PollEvery time.Duration
	BatchSize int
	Logger    *slog.Logger
}

// Sink is what a follower feeds.
type Sink interface {
	// Start returns the position the sink has handled everything up to (its checkpoint);
	// the follower reads after it.
	Start(ctx context.Context) (int64, error)
	// Room reports whether the sink takes another batch now.
	Room() bool
	// Take receives every event read after the previous batch, in log order; the sink
	// selects what concerns it. After an error the batch is read again: Step returns
	// the error, Run logs it and tries again next round.
	Take(ctx context.Context, evs []domain.RecordedEvent) error
	// Checkpoint records how far the sink got, read being the last position read; the
	// follower calls it after every round. A failure is logged and tried next round.
	Checkpoint(ctx context.Context, read int64) error
	// Idle reports that nothing taken is still being handled.
	Idle() bool
	// Progress is signalled when work a Take started in the background finishes, and
	// the follower then calls Settle; a sink that works synchronously returns nil.
	Progress() <-chan struct{}
	// Settle takes in the work that finished since the last call.
	Settle()
}

func (f *Follower) defaults() {
	if f.PollEvery <= 0 {
		f.PollEvery = time.Second
	}
	if f.BatchSize <= 0 {
		f.BatchSize = 256
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run follows the log into sink until ctx ends, which is not an error.
func (f *Follower) Run(ctx context.Context, sink Sink) error {
	_, err := f.Follow(ctx, sink, false)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Step feeds sink everything the log holds now and returns once the sink is idle, with
// how many events it read; it fails when ctx ends first.
func (f *Follower) Step(ctx context.Context, sink Sink) (int, error) {
	return f.Follow(ctx, sink, true)
}

// Follow is the loop behind Run and Step: untilIdle returns once the log is exhausted
// and the sink idle.
func (f *Follower) Follow(ctx context.Context, sink Sink, untilIdle bool) (int, error) {
	if f.Store == nil || sink == nil {
		return 0, errors.New("follow: a follower needs a store and a sink")
	}
	f.defaults()
	pos, err := sink.Start(ctx)
	if err != nil {
		return 0, err
	}
	ticker := time.NewTicker(f.PollEvery)
	defer ticker.Stop()
	read := 0
	for {
		n, exhausted, err := f.fill(ctx, sink, &pos)
		read += n
		if err != nil {
			if untilIdle || ctx.Err() != nil {
				return read, err
			}
			f.Logger.Error("follower sink failed; will read the batch again", "follower", f.Name, "after", pos, "error", err)
		}
		if err := sink.Checkpoint(ctx, pos); err != nil {
			if ctx.Err() != nil {
				return read, ctx.Err()
			}
			f.Logger.Error("checkpoint not saved", "follower", f.Name, "position", pos, "error", err)
		}
		if untilIdle && exhausted && sink.Idle() {
			return read, nil
		}
		select {
		case <-ctx.Done():
			return read, ctx.Err()
		case <-sink.Progress():
			sink.Settle()
		case <-f.Wake:
		case <-ticker.C:
		}
	}
}

// fill reads batches after *pos into sink while it has room; exhausted reports that the
// last read came back short. A failed read is logged and retried next round, since the
// database may come back; a failed Take leaves *pos before its batch.
func (f *Follower) fill(ctx context.Context, sink Sink, pos *int64) (read int, exhausted bool, err error) {
	for sink.Room() && !exhausted {
		evs, err := f.Store.ReadAll(ctx, *pos, f.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return read, false, ctx.Err()
			}
			f.Logger.Error("follower read failed", "follower", f.Name, "after", *pos, "error", err)
			return read, false, nil
		}
		read += len(evs)
		exhausted = len(evs) < f.BatchSize
		if len(evs) == 0 {
			break
		}
		if err := sink.Take(ctx, evs); err != nil {
			return read, false, err
		}
		*pos = evs[len(evs)-1].Position
	}
	return read, exhausted, nil
}
