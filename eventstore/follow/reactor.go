// Package follow runs reactors: loops that follow the event log from a durable
// checkpoint and hand each relevant event to an idempotent handler. The checkpoint only
// moves past an event once its handler succeeded, so a crash replays, never skips.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/domain"
)

// Checkpoints keep each reactor's last handled position.
type Checkpoints interface {
	Load(ctx context.Context, name string) (int64, error)
	Save(ctx context.Context, name string, position int64) error
}

// Reactor follows the log. Events of one partition are handled one after the other in
// log order; partitions of one batch run side by side.
type Reactor struct {
	// Name keys the checkpoint: renaming a reactor makes it start again from zero.
	Name        string
	Store       domain.EventStore
	Checkpoints Checkpoints
	// Accept selects the events to handle.
	Accept func(domain.RecordedEvent) bool
	// Partition groups events that must be handled in order ("" = one partition).
	Partition func(domain.RecordedEvent) string
	// Handle must be idempotent; attempt starts at 1. An error is retried with backoff
	// until it succeeds or the context ends.
	Handle func(ctx context.Context, e domain.RecordedEvent, attempt int) error
	// Wake signals that new events may exist; the reactor also polls every PollEvery.
	Wake      <-chan struct{}
	PollEvery time.Duration
	BatchSize int
	// MaxParallel bounds how many partitions run at once.
	MaxParallel int
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics

	mu       sync.Mutex
	position int64
}

// Metrics are shared by all reactors of a process.
type Metrics struct {
	position *prometheus.GaugeVec
	failures *prometheus.CounterVec
	handled  *prometheus.CounterVec
}

// NewMetrics registers the reactor metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_reactor_position",
			Help: "Last event log position a reactor has handled."}, []string{"reactor"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_reactor_failures_total",
			Help: "Handler failures that will be retried."}, []string{"reactor"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_reactor_events_total",
			Help: "Events handled by a reactor."}, []string{"reactor"}),
	}
	if reg != nil {
		reg.MustRegister(m.position, m.failures, m.handled)
	}
	return m
}

// Position is the last position the reactor has handled.
func (r *Reactor) Position() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.position
}

func (r *Reactor) defaults() {
	if r.PollEvery <= 0 {
		r.PollEvery = time.Second
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 256
	}
	if r.MaxParallel <= 0 {
		r.MaxParallel = 16
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Partition == nil {
		r.Partition = func(domain.RecordedEvent) string { return "" }
	}
	if r.Metrics == nil {
		r.Metrics = NewMetrics(nil)
	}
}

// Run follows the log until ctx ends.
func (r *Reactor) Run(ctx context.Context) error {
	_, err := r.run(ctx, false)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Step handles everything the log holds now and returns how many events it read; it
// fails when ctx ends before every handler succeeded.
func (r *Reactor) Step(ctx context.Context) (int, error) {
	return r.run(ctx, true)
}

// run is the engine. Events are dispatched to their partition's queue as they are read;
// each partition is worked by at most one goroutine, in log order, and up to
// MaxParallel partitions run at once. A partition stuck on a failing handler holds
// only itself: the others go on. The checkpoint is the low watermark — the position
// before the oldest event still in flight — so a crash replays, never skips.
func (r *Reactor) run(ctx context.Context, untilIdle bool) (int, error) {
	if r.Name == "" || r.Store == nil || r.Checkpoints == nil || r.Accept == nil || r.Handle == nil {
		return 0, errors.New("follow: reactor needs a name, store, checkpoints, accept and handle")
	}
	r.defaults()
	pos, err := r.Checkpoints.Load(ctx, r.Name)
	if err != nil {
		return 0, fmt.Errorf("reactor %s: load checkpoint: %w", r.Name, err)
	}
	r.setPosition(pos)
	var (
		readPos  = pos
		saved    = pos
		read     int
		inflight = map[int64]bool{}
		queues   = map[string][]domain.RecordedEvent{}
		active   = map[string]bool{}
		waiting  []string // partitions with queued events and no worker yet
		done     = make(chan finished)
		workers  sync.WaitGroup
		maxQueue = 4 * r.BatchSize
		ticker   = time.NewTicker(r.PollEvery)
	)
	defer ticker.Stop()
	wctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		go func() {
			for range done { // let finishing workers report
			}
		}()
		workers.Wait()
		close(done)
	}()
	startWorkers := func() {
		for len(waiting) > 0 && len(active) < r.MaxParallel {
			p := waiting[0]
			waiting = waiting[1:]
			active[p] = true
			evs := queues[p]
			delete(queues, p)
			workers.Add(1)
			go func() {
				defer workers.Done()
				n, err := 0, error(nil)
				for _, e := range evs {
					if err = r.handleWithRetry(wctx, e); err != nil {
						break
					}
					n++
				}
				done <- finished{partition: p, events: evs[:n], err: err}
			}()
		}
	}
	watermark := func() int64 {
		low := readPos
		for p := range inflight {
			if p-1 < low {
				low = p - 1
			}
		}
		return low
	}
	for {
		// Read while there is room in flight.
		exhausted := false
		for len(inflight) < maxQueue && !exhausted {
			evs, err := r.Store.ReadAll(ctx, readPos, r.BatchSize)
			if err != nil {
				if ctx.Err() != nil {
					return read, ctx.Err()
				}
				r.Logger.Error("reactor read failed", "reactor", r.Name, "after", readPos, "error", err)
				break
			}
			read += len(evs)
			exhausted = len(evs) < r.BatchSize
			for _, e := range evs {
				readPos = e.Position
				if !r.Accept(e) {
					continue
				}
				inflight[e.Position] = true
				p := r.Partition(e)
				if _, queued := queues[p]; !queued && !active[p] {
					waiting = append(waiting, p)
				}
				queues[p] = append(queues[p], e)
			}
		}
		startWorkers()
		if wm := watermark(); wm > saved {
			if err := r.Checkpoints.Save(ctx, r.Name, wm); err != nil {
				r.Logger.Error("reactor checkpoint not saved", "reactor", r.Name, "position", wm, "error", err)
			} else {
				saved = wm
				r.setPosition(wm)
			}
		}
		if untilIdle && exhausted && len(inflight) == 0 {
			return read, nil
		}
		select {
		case <-ctx.Done():
			return read, ctx.Err()
		case f := <-done:
			delete(active, f.partition)
			for _, e := range f.events {
				delete(inflight, e.Position)
			}
			if f.err != nil && ctx.Err() == nil {
				r.Logger.Error("reactor partition stopped", "reactor", r.Name, "partition", f.partition, "error", f.err)
			}
			if _, more := queues[f.partition]; more {
				waiting = append(waiting, f.partition)
			}
		case <-r.Wake:
		case <-ticker.C:
		}
	}
}

// finished is a partition worker's report: the events it handled, in order.
type finished struct {
	partition string
	events    []domain.RecordedEvent
	err       error
}

func (r *Reactor) handleWithRetry(ctx context.Context, e domain.RecordedEvent) error {
	backoff := r.MinBackoff
	for attempt := 1; ; attempt++ {
		err := r.Handle(ctx, e, attempt)
		if err == nil {
			r.Metrics.handled.WithLabelValues(r.Name).Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.Metrics.failures.WithLabelValues(r.Name).Inc()
		r.Logger.Warn("handler failed; will retry", "reactor", r.Name, "position", e.Position,
			"stream", e.StreamID, "correlation_id", e.CorrelationID, "attempt", attempt, "error", err)
		// Full jitter keeps many retrying partitions from hammering HubSpot in step.
		wait := time.Duration(rand.Int64N(int64(backoff))) + r.MinBackoff/2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, r.MaxBackoff)
	}
}

func (r *Reactor) setPosition(p int64) {
	r.mu.Lock()
	r.position = p
	r.mu.Unlock()
	if r.Metrics != nil {
		r.Metrics.position.WithLabelValues(r.Name).Set(float64(p))
	}
}
