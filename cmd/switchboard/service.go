package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"switchboard/adapters/config"
	"switchboard/adapters/httpapi"
	"switchboard/adapters/hubspot"
	"switchboard/adapters/natsbus"
	"switchboard/adapters/prom"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/follow"
	"switchboard/eventstore/notify"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// service is switchboard wired together: the only place that knows every adapter.
type service struct {
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	// unlock releases the store's service lock (storelock.go).
	unlock   func()
	events   logStore
	store    domain.EventStore
	bus      bus
	catalog  *config.Catalog
	hubspot  hubspotClients
	auth     *hubspotAuth
	app      *command.App
	runner   *projections.Runner
	reader   *projections.Reader
	reactors []*follow.Reactor
	// leases share the reactors' partitions with other nodes (nil: one node).
	leases    *follow.SQLLeases
	changes   *command.ContactChangesHandler
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
	// LeaseTime is how long a node holds its share of the reactors' partitions without
	// renewing it, on a shared store (default 15 s): a dead node's work moves after it.
	LeaseTime time.Duration
}

// nodeName names this process among the nodes sharing a log: unique per start.
func nodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// workersPerWorkspace bounds how many partitions of one workspace each reactor runs
// at once. Every handler waits for the group commit its append joins, and each waiting
// caller puts one append in a commit: a reactor with fewer workers than the requests
// recording messages concurrently falls behind ingest however fast the commits are (16,
// the former figure, against the bench's 32 clients: a backlog grew at any load above
// that). 64 partitions of one workspace at once keep up with that; the HubSpot client's
// own budget still paces what they send.
const workersPerWorkspace = 64

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

// logStore is the event log with the database its projections and checkpoints live in.
type logStore interface {
	domain.EventStore
	projections.Database
	Close() error
}

// openStore opens the log the configuration names, sealing personal values (issue 12);
// now (nil: the wall clock) stamps recorded_at.
func openStore(cfg *config.Config, now func() time.Time) (logStore, error) {
	st, err := openPlainStore(cfg, now)
	if err != nil {
		return nil, err
	}
	sealed, err := sealLog(cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return sealed, nil
}

// storeMetrics is the store's own metrics, where it has any (the SQLite writer's).
func storeMetrics(l logStore) (prometheus.Collector, bool) {
	if s, ok := l.(*sealedLog); ok {
		l = s.logStore
	}
	c, ok := l.(prometheus.Collector)
	return c, ok
}

// openPlainStore opens the log without sealing: what openStore wraps.
func openPlainStore(cfg *config.Config, now func() time.Time) (logStore, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		return sqlite.Open(cfg.Store.DSN, sqlite.WithNow(now))
	case "postgres":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, cfg.Store.DSN, postgres.WithNow(now))
	}
	return nil, fmt.Errorf("%s: store.driver %q: want sqlite or postgres", cfg.Path, cfg.Store.Driver)
}

// bus carries append notifications to the followers: in-process, or between nodes.
type bus interface {
	notify.Notifier
	// Wake is a new follower's wake-up channel.
	Wake(ctx context.Context) (<-chan struct{}, error)
	// Ping reports whether the bus is reachable (always, in-process).
	Ping() error
	Close() error
}

// inProcessBus is the default bus: one process, no broker. The configuration still
// names it "gochannel", after the watermill Go channel it was until notify.Local.
type inProcessBus struct{ *notify.Local }

func (b inProcessBus) Wake(context.Context) (<-chan struct{}, error) { return b.Local.Wake(), nil }
func (inProcessBus) Ping() error                                     { return nil }

// brokerBus carries the notifications of every node through NATS.
type brokerBus struct{ *natsbus.Bus }

func (b brokerBus) Notify(position int64) error {
	return notify.Broker{Publisher: b.Bus, Topic: b.Topic()}.Notify(position)
}

func (b brokerBus) Wake(ctx context.Context) (<-chan struct{}, error) {
	return notify.Wake(ctx, b.Bus, b.Topic())
}

func openBus(cfg *config.Config) (bus, error) {
	switch cfg.Bus.Driver {
	case "gochannel":
		return inProcessBus{&notify.Local{}}, nil
	case "nats":
		b, err := natsbus.Open(cfg.Bus.URL, cfg.Bus.Stream, watermill.NopLogger{})
		if err != nil {
			return nil, fmt.Errorf("%s: bus: %w", cfg.Path, err)
		}
		return brokerBus{b}, nil
	}
	return nil, fmt.Errorf("%s: bus.driver %q: want gochannel or nats", cfg.Path, cfg.Bus.Driver)
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
	s := &service{cfg: cfg, log: opts.Logger, registry: prometheus.NewRegistry(), catalog: cfg.Catalog(),
		hubspot: hubspotClients{}, readyLag: 1000, pollEvery: opts.PollEvery, drainTimeout: opts.DrainTimeout}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if s.events, err = openStore(cfg, opts.Now); err != nil {
		return nil, err
	}
	// After the store is open: it creates the directory the lock file goes into.
	if s.unlock, err = lockForService(cfg); err != nil {
		_ = s.events.Close()
		return nil, err
	}
	if c, ok := storeMetrics(s.events); ok {
		s.registry.MustRegister(c)
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.events.Close()
			s.unlock()
		}
	}()
	if s.bus, err = openBus(cfg); err != nil {
		return nil, err
	}
	defer func() {
		if !ok {
			_ = s.bus.Close()
		}
	}()
	s.store = notify.NewStore(s.events, s.bus, opts.Logger)

	s.auth = &hubspotAuth{store: hubspot.NewSQLTokenStore(s.events.DB(), cfg.SecretKey), sources: map[string]*hubspot.OAuthTokens{}}
	for _, w := range cfg.Workspaces {
		hc := hubspot.Config{BaseURL: w.HubSpot.BaseURL, Token: w.HubSpot.Token, Workspace: w.ID,
			TenSecondLimit: w.HubSpot.TenSecondLimit, SearchPerSecond: w.HubSpot.SearchPerSecond,
			ExtraProperties: w.IdentifierProperties(), HTTPClient: opts.HTTPClient, Logger: opts.Logger,
			Registerer: s.registry}
		if w.UsesOAuth() {
			src, err := newTokenSource(cfg, w, s.auth.store, opts.HTTPClient, opts.Logger, s.registry)
			if err != nil {
				return nil, err
			}
			hc.Tokens, s.auth.sources[w.ID] = src, src
		}
		c, err := hubspot.New(hc)
		if err != nil {
			return nil, fmt.Errorf("%s: workspace %s: %w", cfg.Path, w.ID, err)
		}
		s.hubspot[w.ID] = c
	}

	if s.auth.installer, err = newInstaller(cfg, s.auth.store, opts.HTTPClient, opts.Logger); err != nil {
		return nil, err
	}
	appMetrics, err := prom.NewHandlerMetrics(s.registry)
	if err != nil {
		return nil, err
	}
	deps := command.AppDeps{Store: s.store, Catalog: s.catalog, Directories: s.hubspot, Inboxes: s.hubspot,
		Profiles: webhooks.NewProfiles(cfg, opts.HTTPClient), NewID: opts.NewID, Now: opts.Now,
		Logger: opts.Logger, Metrics: appMetrics}
	if sl, ok := s.events.(*sealedLog); ok {
		deps.Erasures = sl.keys
	}
	if s.app, err = command.NewApp(deps); err != nil {
		return nil, err
	}
	if s.runner, err = projections.NewRunner(s.events, s.store, opts.Logger); err != nil {
		return nil, err
	}
	s.reader = projections.NewReader(s.events.DB())
	checkpoints, err := follow.NewSQLCheckpoints(s.events.DB())
	if err != nil {
		return nil, err
	}
	if w, ok := s.events.(follow.TxWriter); ok {
		// Every round of every follower saves a checkpoint: through the commit queue.
		checkpoints = checkpoints.Through(w)
	}
	metrics := follow.NewMetrics(s.registry)
	node := nodeName()
	if err := registerNodeInfo(s.registry, node); err != nil {
		return nil, err
	}
	// On a store several nodes share, each partition is worked by one node at a time.
	var leases follow.Leases
	if cfg.Store.Driver == "postgres" {
		if opts.LeaseTime <= 0 {
			opts.LeaseTime = 15 * time.Second
		}
		if s.leases, err = follow.NewSQLLeases(s.events.DB(), node, opts.LeaseTime, nil); err != nil {
			return nil, err
		}
		leases = s.leases
	}
	resolve, publish := s.app.Routes.Resolve, s.app.Routes.Publish
	// Each workspace gets the parallelism one workspace had before, and may use no more:
	// a portal whose HubSpot fails holds only its own workers (issue 10, item 7).
	perWorkspace := workersPerWorkspace
	all := perWorkspace * max(len(cfg.Workspaces), 1)
	s.reactors = []*follow.Reactor{
		{Name: resolve.Name(), Store: s.store, Checkpoints: checkpoints, Accept: resolve.Accept, Partition: resolve.Partition,
			Group: resolve.Group, MaxPerGroup: perWorkspace, MaxParallel: all,
			Handle: resolve.Handle, PollEvery: opts.PollEvery, Logger: opts.Logger, Metrics: metrics, Leases: leases},
		{Name: publish.Name(), Store: s.store, Checkpoints: checkpoints, Accept: publish.Accept, Partition: publish.Partition,
			Group: publish.Group, MaxPerGroup: perWorkspace, MaxParallel: all,
			Handle: publish.Handle, PollEvery: opts.PollEvery, Logger: opts.Logger, Metrics: metrics, Leases: leases},
	}
	changes, err := s.contactChanges(opts)
	if err != nil {
		return nil, err
	}
	s.reactors = append(s.reactors, &follow.Reactor{Name: changes.Name(), Store: s.store, Checkpoints: checkpoints,
		Accept: changes.Accept, Partition: changes.Partition, Handle: changes.Handle, PollEvery: opts.PollEvery,
		Logger: opts.Logger, Metrics: metrics, Leases: leases})
	if sl, ok := s.events.(*sealedLog); ok {
		s.reactors = append(s.reactors, sl.forgetErasures(checkpoints, opts.PollEvery, opts.Logger, metrics))
	}
	hooks, err := webhooks.New(cfg, s.app.Inbound(), webhooks.Options{Logger: opts.Logger, Now: opts.Now, Registerer: s.registry})
	if err != nil {
		return nil, err
	}
	hsHooks, err := s.hubspotWebhooks(opts)
	if err != nil {
		return nil, err
	}
	s.http, err = httpapi.New(httpapi.Deps{Recorder: s.app.Inbound(), Retrier: s.app.Commands.RetryDeadLetter,
		Messages: s.app.Queries.Message, Store: s.store, Reader: s.reader, Catalog: s.catalog,
		Workspaces: func(id string) bool { _, ok := cfg.Workspace(id); return ok },
		Positions:  s.positions, Authorization: s.auth.stopped, HubSpotInstall: s.auth.installer,
		AdminToken: cfg.AdminToken, AdminTokenName: cfg.AdminTokenEnv, Corrector: s.app.Commands.CorrectMatchKey,
		Webhooks: hooks, HubSpotWebhooks: hsHooks, Gatherer: s.registry, Registerer: s.registry,
		Bus: s.bus.Ping, ReadyLag: s.readyLag, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
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
	s.warnUnconnected(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(s.reactors)+2)
	wake, err := s.bus.Wake(fctx)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- s.runner.Run(fctx, wake, s.pollEvery)
	}()
	for _, r := range s.reactors {
		if r.Wake, err = s.bus.Wake(fctx); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.Run(fctx)
		}()
	}
	s.auth.warmUp(fctx, s.log)
	s.runReconcilers(fctx, &wg)
	srv := &http.Server{Handler: s.http, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("switchboard serving", "listen", ln.Addr().String(), "store", s.cfg.Store.Driver, "bus", s.cfg.Bus.Driver, "workspaces", len(s.cfg.Workspaces))
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
	if s.leases != nil {
		// Hand this node's partitions over now rather than after the lease time.
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.leases.Leave(lctx); err != nil {
			s.log.Warn("partition leases not handed over; they lapse on their own", "error", err)
		}
		cancel()
	}
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
	defer s.unlock()
	return s.events.Close()
}
