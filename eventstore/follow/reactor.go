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
	"sync/atomic"
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
	// Partition groups events that must be handled in order ("" = one partition). It is
	// called for several events of a batch at once, and may read the log.
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
	// Group names the share of workers a partition draws from (a workspace, so one
	// portal's failing HubSpot cannot hold every worker): at most MaxPerGroup
	// partitions of one group run at once, and a partition waiting for its group's
	// share lets the partitions of other groups overtake it. nil: one group.
	Group       func(partition string) string
	MaxPerGroup int
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics
	// Leases share the work with other nodes (nil: this process handles every event,
	// under one checkpoint): the reactor handles only the buckets it holds, each with a
	// checkpoint of its own, and starts again whenever what it holds changes.
	Leases Leases

	mu       sync.Mutex
	position int64
}

// Metrics are shared by all reactors of a process.
type Metrics struct {
	position *prometheus.GaugeVec
	failures *prometheus.CounterVec
	handled  *prometheus.CounterVec
	// buckets is how many of a reactor's buckets this node leases: on a shared store,
	// the nodes' values add up to Buckets once the shares settle, and a node at 0 is
	// idle for that reactor.
	buckets *prometheus.GaugeVec
	// oldest is the age of the oldest event a reactor took and has not handled: for the
	// publisher, how long the oldest message waiting for its inbox has waited since its
	// resolution was recorded — a backlog's depth in time, which grows while HubSpot
	// refuses or throttles, where the wait histogram only speaks once a message is out.
	oldest *prometheus.GaugeVec
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
		buckets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_reactor_buckets_held",
			Help: "Buckets of a reactor's partitions this node leases (of 16), when nodes share a store."}, []string{"reactor"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_reactor_oldest_pending_seconds",
			Help: "Age (since it was recorded) of the oldest event a reactor has taken and not yet handled on this node; 0 when none waits."}, []string{"reactor"}),
	}
	if reg != nil {
		reg.MustRegister(m.position, m.failures, m.handled, m.buckets, m.oldest)
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
	if r.MaxPerGroup <= 0 || r.MaxPerGroup > r.MaxParallel {
		r.MaxPerGroup = r.MaxParallel
	}
	if r.Group == nil {
		r.Group = func(string) string { return "" }
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

// run follows the log with a Follower feeding a partitions sink: once, or with Leases
// once per set of buckets held.
func (r *Reactor) run(ctx context.Context, untilIdle bool) (int, error) {
	if r.Name == "" || r.Store == nil || r.Checkpoints == nil || r.Accept == nil || r.Handle == nil {
		return 0, errors.New("follow: reactor needs a name, store, checkpoints, accept and handle")
	}
	r.defaults()
	if r.Leases == nil {
		return r.follow(ctx, untilIdle, nil)
	}
	total := 0
	for {
		held, err := r.Leases.Hold(ctx, r.Name)
		if err != nil {
			if untilIdle || ctx.Err() != nil {
				return total, err
			}
			r.Logger.Error("reactor leases not held; trying again", "reactor", r.Name, "error", err)
			if err := sleepCtx(ctx, r.Leases.Renew()); err != nil {
				return total, nil
			}
			continue
		}
		r.Metrics.buckets.WithLabelValues(r.Name).Set(float64(len(held)))
		ectx, cancel := context.WithCancel(ctx)
		changed := make(chan struct{})
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			r.renew(ectx, held, changed, cancel)
		}()
		n, err := r.follow(ectx, untilIdle, held)
		cancel()
		<-renewed
		total += n
		select {
		case <-changed:
			r.Logger.Info("reactor buckets changed hands; starting again from their checkpoints", "reactor", r.Name)
			continue
		default:
		}
		return total, err
	}
}

// renew keeps the leases of held and ends the epoch (cancel) when the buckets this node
// holds change: a node joined or left, or a lease lapsed.
func (r *Reactor) renew(ctx context.Context, held map[int]bool, changed chan<- struct{}, cancel context.CancelFunc) {
	t := time.NewTicker(r.Leases.Renew())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := r.Leases.Hold(ctx, r.Name)
		if err != nil {
			if ctx.Err() == nil {
				r.Logger.Warn("reactor leases not renewed", "reactor", r.Name, "error", err)
			}
			continue
		}
		r.Metrics.buckets.WithLabelValues(r.Name).Set(float64(len(now)))
		if !sameBuckets(now, held) {
			close(changed)
			cancel()
			return
		}
	}
}

func sameBuckets(a, b map[int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// follow runs one Follower over the buckets held (nil: every event, one checkpoint).
func (r *Reactor) follow(ctx context.Context, untilIdle bool, held map[int]bool) (int, error) {
	wctx, cancel := context.WithCancel(ctx)
	sink := &partitions{r: r, ctx: wctx, held: held, cps: map[int]int64{}, inflight: map[int64]flight{},
		queues: map[string][]domain.RecordedEvent{},
		active: map[string]bool{}, groups: map[string]int{}, inflightByGroup: map[string]int{}, progress: make(chan struct{}, 1)}
	defer sink.stop(cancel)
	f := &Follower{Name: r.Name, Store: r.Store, Wake: r.Wake, PollEvery: r.PollEvery, BatchSize: r.BatchSize, Logger: r.Logger}
	return f.Follow(ctx, sink, untilIdle)
}

// partitions is the reactor's sink. Events are dispatched to their partition's queue as
// they are read; each partition is worked by at most one goroutine, in log order, and
// up to MaxParallel partitions run at once. A partition stuck on a failing handler
// holds only itself: the others go on. The checkpoint is the low watermark — the
// position before the oldest event still in flight — so a crash replays, never skips.
type partitions struct {
	r   *Reactor
	ctx context.Context // the workers'; cancelled when the follower stops
	// held are the buckets this node works (nil: all, under the reactor's own
	// checkpoint, kept as bucket global); cps is each one's saved checkpoint.
	held map[int]bool
	cps  map[int]int64

	read     int64
	inflight map[int64]flight // by position
	queues   map[string][]domain.RecordedEvent
	active   map[string]bool
	groups   map[string]int // running partitions per group
	// inflightByGroup counts the events in flight per group.
	inflightByGroup map[string]int
	waiting         []string // partitions with queued events and no worker yet, oldest first
	// saved is when the checkpoints were last saved (see Checkpoint).
	saved    time.Time
	progress chan struct{}
	finished []finished
	mu       sync.Mutex // guards finished
	workers  sync.WaitGroup
}

// flight is an event taken and not yet handled: its bucket, and when it was recorded
// (the oldest-pending gauge).
type flight struct {
	bucket     int
	recordedAt time.Time
}

// global is the bucket of every event when the reactor works alone.
const global = -1

// partitionWorkers bounds how many events of a batch have their partition computed at
// once.
const partitionWorkers = 8

// partitionKeys computes the partition of each event, side by side: a partition may
// take a read of the log (the publisher's is the message's thread, which its stream
// decides), and computed one after the other on the follower's goroutine they bounded
// the whole reactor to one read at a time.
func (r *Reactor) partitionKeys(evs []domain.RecordedEvent) []string {
	keys := make([]string, len(evs))
	if len(evs) < 2 {
		for i, e := range evs {
			keys[i] = r.Partition(e)
		}
		return keys
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(partitionWorkers, len(evs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(evs); i = int(next.Add(1) - 1) {
				keys[i] = r.Partition(evs[i])
			}
		}()
	}
	wg.Wait()
	return keys
}

func (s *partitions) checkpointName(b int) string {
	if b == global {
		return s.r.Name
	}
	return fmt.Sprintf("%s#%02d", s.r.Name, b)
}

// Start reads from the oldest checkpoint of the buckets held. A bucket without one yet
// starts where the reactor's own checkpoint is, from before it shared its work.
func (s *partitions) Start(ctx context.Context) (int64, error) {
	pos, err := s.r.Checkpoints.Load(ctx, s.r.Name)
	if err != nil {
		return 0, fmt.Errorf("reactor %s: load checkpoint: %w", s.r.Name, err)
	}
	if s.held == nil {
		s.cps[global] = pos
	} else {
		start := int64(-1)
		for b := range s.held {
			cp, err := s.r.Checkpoints.Load(ctx, s.checkpointName(b))
			if err != nil {
				return 0, fmt.Errorf("reactor %s: load checkpoint of bucket %d: %w", s.r.Name, b, err)
			}
			if cp == 0 {
				cp = pos
			}
			s.cps[b] = cp
			if start < 0 || cp < start {
				start = cp
			}
		}
		if start < 0 {
			// Nothing held: nothing to read until the leases change.
			if start, err = s.r.Store.LastPosition(ctx); err != nil {
				return 0, fmt.Errorf("reactor %s: %w", s.r.Name, err)
			}
		}
		pos = start
	}
	s.read = pos
	s.r.setPosition(pos)
	return pos, nil
}

// Room bounds what is read ahead of the slowest partition: 4 batches in flight. The
// events of a group that holds its whole share of workers do not count, up to 64
// batches, so a workspace whose HubSpot is down cannot fill the read-ahead with its
// backlog and keep the other workspaces' events from being read.
func (s *partitions) Room() bool {
	total := len(s.inflight)
	if total >= 64*s.r.BatchSize {
		return false
	}
	held := 0
	for g, n := range s.inflightByGroup {
		if s.groups[g] >= s.r.MaxPerGroup {
			held += n
		}
	}
	return total-held < 4*s.r.BatchSize
}

func (s *partitions) Take(_ context.Context, evs []domain.RecordedEvent) error {
	var accepted []domain.RecordedEvent
	for _, e := range evs {
		if !s.r.Accept(e) || (s.held == nil && e.Position <= s.cps[global]) {
			continue // handled before this epoch: no need for its partition
		}
		accepted = append(accepted, e)
	}
	keys := s.r.partitionKeys(accepted)
	for i, e := range accepted {
		p := keys[i]
		b := global
		if s.held != nil {
			b = Bucket(p)
		}
		if cp, held := s.cps[b]; !held || e.Position <= cp {
			continue // another node's bucket, or handled before this epoch
		}
		s.inflight[e.Position] = flight{bucket: b, recordedAt: e.RecordedAt}
		s.inflightByGroup[s.r.Group(p)]++
		if _, queued := s.queues[p]; !queued && !s.active[p] {
			s.waiting = append(s.waiting, p)
		}
		s.queues[p] = append(s.queues[p], e)
	}
	s.startWorkers()
	return nil
}

// checkpointEvery spaces the saves of a busy reactor's checkpoints. The follower calls
// Checkpoint after every round, and under load a round ends whenever a partition
// finishes — hundreds of times a second — while each save is a write the commit queue
// must take and the loop must wait for. A checkpoint that lags is harmless (a crash
// replays a little more into idempotent handlers); once nothing is in flight the
// checkpoint is saved at once, so an idle reactor's stands where it got.
const checkpointEvery = 100 * time.Millisecond

func (s *partitions) Checkpoint(ctx context.Context, read int64) error {
	s.read = read
	s.startWorkers()
	if !s.Idle() && time.Since(s.saved) < checkpointEvery {
		return nil
	}
	s.saved = time.Now()
	s.reportOldest(s.saved)
	low := int64(-1)
	for b, saved := range s.cps {
		wm := s.watermark(b)
		if wm > saved {
			if err := s.r.Checkpoints.Save(ctx, s.checkpointName(b), wm); err != nil {
				return fmt.Errorf("reactor %s: save checkpoint %d: %w", s.r.Name, wm, err)
			}
			s.cps[b] = wm
		}
		if low < 0 || s.cps[b] < low {
			low = s.cps[b]
		}
	}
	if low >= 0 {
		s.r.setPosition(low)
	} else {
		s.r.setPosition(read)
	}
	return nil
}

func (s *partitions) Idle() bool { return len(s.inflight) == 0 }

// reportOldest sets the oldest-pending gauge, at most every checkpointEvery while events
// wait and once more when none does. The follower's poll calls Checkpoint even when
// nothing moves, so a reactor stuck on a failing handler shows its backlog ageing.
func (s *partitions) reportOldest(now time.Time) {
	if s.r.Metrics == nil {
		return
	}
	var oldest time.Time
	for _, f := range s.inflight {
		if oldest.IsZero() || f.recordedAt.Before(oldest) {
			oldest = f.recordedAt
		}
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	s.r.Metrics.oldest.WithLabelValues(s.r.Name).Set(age)
}

func (s *partitions) Progress() <-chan struct{} { return s.progress }

// Settle takes in the partitions whose workers finished: their events leave the
// flight, and a partition that queued more meanwhile waits for a worker again.
func (s *partitions) Settle() {
	s.mu.Lock()
	fs := s.finished
	s.finished = nil
	s.mu.Unlock()
	for _, f := range fs {
		delete(s.active, f.partition)
		g := s.r.Group(f.partition)
		if s.groups[g] <= 1 {
			delete(s.groups, g)
		} else {
			s.groups[g]--
		}
		for _, e := range f.events {
			delete(s.inflight, e.Position)
		}
		if s.inflightByGroup[g] -= len(f.events); s.inflightByGroup[g] <= 0 {
			delete(s.inflightByGroup, g)
		}
		if f.err != nil && s.ctx.Err() == nil {
			// Not the partition: it is a sender's key or thread, personal data.
			s.r.Logger.Error("reactor partition stopped", "reactor", s.r.Name, "error", f.err)
		}
		if _, more := s.queues[f.partition]; more {
			s.waiting = append(s.waiting, f.partition)
		}
	}
	s.startWorkers()
}

// watermark is the position before the oldest event of bucket b still in flight.
func (s *partitions) watermark(b int) int64 {
	low := s.read
	for p, f := range s.inflight {
		if f.bucket == b && p-1 < low {
			low = p - 1
		}
	}
	return low
}

// startWorkers starts the oldest waiting partitions that have a worker free, overall
// and in their group.
func (s *partitions) startWorkers() {
	kept := s.waiting[:0]
	for i, p := range s.waiting {
		if len(s.active) >= s.r.MaxParallel {
			kept = append(kept, s.waiting[i:]...)
			break
		}
		g := s.r.Group(p)
		if s.groups[g] >= s.r.MaxPerGroup {
			kept = append(kept, p)
			continue
		}
		s.groups[g]++
		s.start(p)
	}
	s.waiting = kept
}

func (s *partitions) start(p string) {
	s.active[p] = true
	evs := s.queues[p]
	delete(s.queues, p)
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		n, err := 0, error(nil)
		for _, e := range evs {
			if err = s.r.handleWithRetry(s.ctx, e); err != nil {
				break
			}
			n++
		}
		s.report(finished{partition: p, events: evs[:n], err: err})
	}()
}

// report hands a worker's result to Settle and wakes the follower without blocking:
// a worker never waits for the follower, so stopping needs no draining.
func (s *partitions) report(f finished) {
	s.mu.Lock()
	s.finished = append(s.finished, f)
	s.mu.Unlock()
	select {
	case s.progress <- struct{}{}:
	default:
	}
}

// finished is a partition worker's report: the events it handled, in order.
type finished struct {
	partition string
	events    []domain.RecordedEvent
	err       error
}

// stop cancels the workers and waits for them.
func (s *partitions) stop(cancel context.CancelFunc) {
	cancel()
	s.workers.Wait()
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
		// Not the stream: message and key stream names carry identifiers.
		r.Logger.Warn("handler failed; will retry", "reactor", r.Name, "position", e.Position,
			"correlation_id", e.CorrelationID, "attempt", attempt, "error", err)
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
