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
	if r.Name == "" || r.Store == nil || r.Checkpoints == nil || r.Accept == nil || r.Handle == nil {
		return errors.New("follow: reactor needs a name, store, checkpoints, accept and handle")
	}
	r.defaults()
	pos, err := r.Checkpoints.Load(ctx, r.Name)
	if err != nil {
		return fmt.Errorf("reactor %s: load checkpoint: %w", r.Name, err)
	}
	r.setPosition(pos)
	ticker := time.NewTicker(r.PollEvery)
	defer ticker.Stop()
	for {
		n, err := r.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.Logger.Error("reactor step failed", "reactor", r.Name, "error", err)
		}
		if n == r.BatchSize {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Wake:
		case <-ticker.C:
		}
	}
}

// Step handles one batch after the checkpoint and returns how many events it read.
func (r *Reactor) Step(ctx context.Context) (int, error) {
	r.defaults()
	from := r.Position()
	evs, err := r.Store.ReadAll(ctx, from, r.BatchSize)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	parts := map[string][]domain.RecordedEvent{}
	var order []string
	for _, e := range evs {
		if !r.Accept(e) {
			continue
		}
		p := r.Partition(e)
		if _, ok := parts[p]; !ok {
			order = append(order, p)
		}
		parts[p] = append(parts[p], e)
	}
	sem := make(chan struct{}, r.MaxParallel)
	var wg sync.WaitGroup
	errs := make([]error, len(order))
	for i, p := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, e := range parts[p] {
				if err := r.handleWithRetry(ctx, e); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return len(evs), err
	}
	last := evs[len(evs)-1].Position
	if err := r.Checkpoints.Save(ctx, r.Name, last); err != nil {
		return len(evs), fmt.Errorf("reactor %s: save checkpoint %d: %w", r.Name, last, err)
	}
	r.setPosition(last)
	return len(evs), nil
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
