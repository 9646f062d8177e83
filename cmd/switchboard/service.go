package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"switchboard/adapters/config"
	"switchboard/adapters/httpapi"
	"switchboard/adapters/hubspot"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/follow"
	"switchboard/eventstore/notify"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// Reactor names key their checkpoints: renaming one replays the whole log through it.
const (
	reactorResolver  = "resolver"
	reactorPublisher = "publisher"
)

// service is switchboard wired together: the only place that knows every adapter.
type service struct {
	cfg       *config.Config
	log       *slog.Logger
	registry  *prometheus.Registry
	sqlite    *sqlite.Store
	store     domain.EventStore
	bus       *gochannel.GoChannel
	catalog   *config.Catalog
	hubspot   hubspotClients
	record    *command.RecordMessage
	resolve   *command.ResolveMessage
	publish   *command.PublishMessage
	retry     *command.RetryDeadLetter
	runner    *projections.Runner
	reader    *projections.Reader
	reactors  []*follow.Reactor
	http      *httpapi.Server
	readyLag  int64
	pollEvery time.Duration
	// drainTimeout bounds how long shutdown waits for requests in flight.
	drainTimeout time.Duration
}

type serviceOptions struct {
	Logger *slog.Logger
	// Now and NewID are injectable so tests and replays are deterministic.
	Now   func() time.Time
	NewID func() string
	// PollEvery is how often followers look at the log without a notification.
	PollEvery time.Duration
	// HTTPClient reaches HubSpot and the platforms' profile APIs.
	HTTPClient *http.Client
	// DrainTimeout bounds how long shutdown waits for requests in flight (default 10 s).
	DrainTimeout time.Duration
}

// hubspotClients holds one HubSpot client per workspace.
type hubspotClients map[string]*hubspot.Client

func (h hubspotClients) Directory(ws string) (domain.ContactDirectory, error) {
	c, ok := h[ws]
	if !ok {
		return nil, fmt.Errorf("workspace %q has no HubSpot client", ws)
	}
	return c, nil
}

func (h hubspotClients) Inbox(ws string) (domain.InboxPublisher, error) {
	c, ok := h[ws]
	if !ok {
		return nil, fmt.Errorf("workspace %q has no HubSpot client", ws)
	}
	return c, nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func openStore(cfg *config.Config, opts ...sqlite.Option) (*sqlite.Store, error) {
	if cfg.Store.Driver != "sqlite" {
		return nil, fmt.Errorf("%s: store.driver %q: this build runs on sqlite only; use {driver: sqlite, dsn: ./var/switchboard.db}", cfg.Path, cfg.Store.Driver)
	}
	return sqlite.Open(cfg.Store.DSN, opts...)
}

func newService(cfg *config.Config, opts serviceOptions) (*service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = newID
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if cfg.Bus.Driver != "gochannel" {
		return nil, fmt.Errorf("%s: bus.driver %q: this build wakes followers in-process only; use {driver: gochannel}", cfg.Path, cfg.Bus.Driver)
	}
	s := &service{cfg: cfg, log: opts.Logger, registry: prometheus.NewRegistry(), catalog: cfg.Catalog(),
		hubspot: hubspotClients{}, readyLag: 1000, pollEvery: opts.PollEvery, drainTimeout: opts.DrainTimeout}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if s.sqlite, err = openStore(cfg, sqlite.WithNow(opts.Now)); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.sqlite.Close()
		}
	}()
	s.bus = gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64}, watermill.NopLogger{})
	s.store = notify.NewStore(s.sqlite, s.bus, opts.Logger)

	for _, w := range cfg.Workspaces {
		c, err := hubspot.New(hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID,
			TenSecondLimit: w.HubSpot.TenSecondLimit, SearchPerSecond: w.HubSpot.SearchPerSecond,
			ExtraProperties: w.IdentifierProperties(), HTTPClient: opts.HTTPClient, Logger: opts.Logger,
			Registerer: s.registry})
		if err != nil {
			return nil, fmt.Errorf("%s: workspace %s: %w", cfg.Path, w.ID, err)
		}
		s.hubspot[w.ID] = c
	}

	if s.record, err = command.NewRecordMessage(s.store, s.catalog, opts.NewID, opts.Now); err != nil {
		return nil, err
	}
	if s.resolve, err = command.NewResolveMessage(command.ResolveDeps{Store: s.store, Catalog: s.catalog, Directories: s.hubspot,
		Profiles: webhooks.NewProfiles(cfg, opts.HTTPClient), NewID: opts.NewID, Now: opts.Now, Logger: opts.Logger}); err != nil {
		return nil, err
	}
	if s.publish, err = command.NewPublishMessage(s.store, s.catalog, s.hubspot, opts.NewID, opts.Now, opts.Logger); err != nil {
		return nil, err
	}
	if s.retry, err = command.NewRetryDeadLetter(s.store, opts.NewID, opts.Now); err != nil {
		return nil, err
	}
	if s.runner, err = projections.NewRunner(s.sqlite.DB(), s.store, opts.Logger); err != nil {
		return nil, err
	}
	s.reader = projections.NewReader(s.sqlite.DB())
	checkpoints, err := follow.NewSQLCheckpoints(s.sqlite.DB())
	if err != nil {
		return nil, err
	}
	metrics := follow.NewMetrics(s.registry)
	s.reactors = []*follow.Reactor{
		{Name: reactorResolver, Store: s.store, Checkpoints: checkpoints, Accept: acceptResolution, Partition: s.senderPartition,
			Handle: func(ctx context.Context, e domain.RecordedEvent, _ int) error {
				return s.resolve.Handle(ctx, e.StreamID)
			},
			PollEvery: opts.PollEvery, Logger: opts.Logger, Metrics: metrics},
		{Name: reactorPublisher, Store: s.store, Checkpoints: checkpoints, Accept: acceptPublication, Partition: s.threadPartition,
			Handle: func(ctx context.Context, e domain.RecordedEvent, attempt int) error {
				return s.publish.Handle(ctx, e.StreamID, attempt)
			},
			PollEvery: opts.PollEvery, Logger: opts.Logger, Metrics: metrics},
	}
	hooks, err := webhooks.New(cfg, s.record, webhooks.Options{Logger: opts.Logger, Now: opts.Now, Registerer: s.registry})
	if err != nil {
		return nil, err
	}
	s.http, err = httpapi.New(httpapi.Deps{Recorder: s.record, Retrier: s.retry, Store: s.store, Reader: s.reader, Catalog: s.catalog,
		Workspaces: func(id string) bool { _, ok := cfg.Workspace(id); return ok },
		Positions:  s.positions, AdminToken: cfg.AdminToken, Webhooks: hooks, Gatherer: s.registry, Registerer: s.registry,
		ReadyLag: s.readyLag, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// acceptResolution selects what the resolver reacts to: new messages and operators'
// retries of a dead-lettered resolution.
func acceptResolution(e domain.RecordedEvent) bool {
	return e.Type == domain.EventMessageReceived || (e.Type == domain.EventRetryRequested && stageOf(e) == domain.StageResolution)
}

// acceptPublication selects resolutions (each is published once) and operators'
// retries of a dead-lettered publication.
func acceptPublication(e domain.RecordedEvent) bool {
	switch e.Type {
	case domain.EventContactMatched, domain.EventContactCreated, domain.EventConversationUnlinked:
		return true
	case domain.EventRetryRequested:
		return stageOf(e) == domain.StagePublication
	}
	return false
}

func stageOf(e domain.RecordedEvent) string {
	var p domain.RetryRequested
	if domain.Decode(e, &p) != nil {
		return ""
	}
	return p.Stage
}

// senderPartition resolves one sender's messages in arrival order, so their outcomes —
// and so their inbox messages — keep that order; different senders run side by side.
// A sender is its normalized identifier on the channel, the same one its thread is
// keyed by: "+1 415 555 2671" and "(415) 555-2671" are one person in one thread and
// must not overtake each other.
func (s *service) senderPartition(e domain.RecordedEvent) string {
	if e.Type != domain.EventMessageReceived {
		return e.StreamID
	}
	var p domain.MessageReceived
	if domain.Decode(e, &p) != nil {
		return e.StreamID
	}
	if ch, ok := s.catalog.Channel(p.ChannelID); ok {
		if id, unlinked := domain.Identify(ch, s.catalog.BlockList(ch.WorkspaceID), p.Sender); unlinked == nil {
			return p.ChannelID + "|" + id.Identifier
		}
	}
	snd := p.Sender
	return p.ChannelID + "|" + snd.Phone + "|" + snd.UserID + "|" + snd.Username + "|" + snd.BSUID
}

// threadPartition publishes one thread's messages in log order — the order their
// resolutions were recorded, which is arrival order per sender — while threads go side
// by side, so a thread stuck on HubSpot retries holds only itself.
func (s *service) threadPartition(e domain.RecordedEvent) string {
	evs, err := s.store.ReadStream(context.Background(), e.StreamID, 0)
	if err != nil || len(evs) == 0 {
		return e.StreamID
	}
	st, err := domain.FoldMessage(evs)
	if err != nil {
		return e.StreamID
	}
	return domain.ThreadID(st.Received.ChannelID, st)
}

func (s *service) positions() map[string]int64 {
	out := s.runner.Positions()
	for _, r := range s.reactors {
		out["reactor:"+r.Name] = r.Position()
	}
	return out
}

// run serves HTTP on ln and runs every follower until ctx ends, then shuts down in
// the order that loses nothing: stop accepting and let in-flight requests finish
// (bounded by drainTimeout) while the store is open, then stop the followers. The
// caller closes the store only after run returns.
func (s *service) run(ctx context.Context, ln net.Listener) error {
	// The followers outlive ctx: a request still being answered may have appended an
	// event they are about to take, and nothing is gained by stopping them first.
	fctx, stopFollowers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFollowers()
	if _, err := s.runner.CatchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before serving: nothing was accepted, nothing to drain
		}
		return fmt.Errorf("catch up projections: %w", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(s.reactors)+2)
	wake, err := notify.Wake(fctx, s.bus)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- s.runner.Run(fctx, wake, s.pollEvery)
	}()
	for _, r := range s.reactors {
		if r.Wake, err = notify.Wake(fctx, s.bus); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.Run(fctx)
		}()
	}
	srv := &http.Server{Handler: s.http, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("switchboard serving", "listen", ln.Addr().String(), "store", s.cfg.Store.DSN, "workspaces", len(s.cfg.Workspaces))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	// Serve returns as soon as Shutdown begins; Shutdown itself is what waits for the
	// requests in flight, so it must finish before the store can close.
	s.log.Info("switchboard draining", "in_flight_bound", s.drainTimeout.String())
	shutdown, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
	if err := srv.Shutdown(shutdown); err != nil {
		s.log.Warn("drain bound reached: closing the connections still open", "error", err)
		_ = srv.Close()
	}
	cancel()
	stopFollowers()
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		if e != nil {
			all = append(all, e)
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		all = append(all, serveErr)
	}
	s.log.Info("switchboard stopped")
	return errors.Join(all...)
}

func (s *service) close() error {
	_ = s.bus.Close()
	return s.sqlite.Close()
}
