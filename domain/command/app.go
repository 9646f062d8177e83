package command

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"switchboard/domain"
)

// App is switchboard's application layer: every command and query handler, built
// once, decorated, and the routes of those that react to the log. A new command is one
// file here (the command value and its handler), one field in Commands and its
// registration in NewApp, plus a route when it reacts to events.
type App struct {
	Commands Commands
	Queries  Queries
	Routes   Routes
}

// Commands change the log.
type Commands struct {
	RecordMessage   ResultHandler[RecordMessage, Receipt]
	ResolveMessage  CommandHandler[ResolveMessage]
	PublishMessage  CommandHandler[PublishMessage]
	RetryDeadLetter ResultHandler[RetryDeadLetter, string]
	CorrectMatchKey ResultHandler[CorrectMatchKey, CorrectionReceipt]
}

// Queries read it.
type Queries struct {
	Message QueryHandler[GetMessage, domain.MessageState]
}

// AppDeps are the ports the application needs. Profiles, Sleep, Logger and Metrics may
// be nil.
type AppDeps struct {
	Store       domain.EventStore
	Catalog     Catalog
	Directories Directories
	Inboxes     Inboxes
	Profiles    domain.ProfileLookup
	NewID       func() string
	Now         func() time.Time
	// Sleep waits for another resolver's claim; nil sleeps for real.
	Sleep   func(context.Context, time.Duration) error
	Logger  *slog.Logger
	Metrics Metrics
	// Erasures, when the store seals personal values, tells a resolution or a
	// publication under way that someone was erased (untilErasure); nil: no erasures.
	Erasures ErasureSignal
}

// NewApp builds every handler once and wraps each with the logging and metrics
// decorators; it refuses missing dependencies.
func NewApp(d AppDeps) (*App, error) {
	if d.Store == nil || d.Catalog == nil || d.Directories == nil || d.Inboxes == nil || d.NewID == nil || d.Now == nil {
		return nil, errors.New("new app: store, catalog, directories, inboxes, id generator and clock are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NoMetrics{}
	}
	record, err := NewRecordMessageHandler(d.Store, d.Catalog, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	resolve, err := NewResolveMessageHandler(ResolveDeps{Store: d.Store, Catalog: d.Catalog, Directories: d.Directories,
		Profiles: d.Profiles, NewID: d.NewID, Now: d.Now, Sleep: d.Sleep, Logger: d.Logger, Erasures: d.Erasures})
	if err != nil {
		return nil, err
	}
	publish, err := NewPublishMessageHandler(d.Store, d.Catalog, d.Inboxes, d.NewID, d.Now, d.Logger)
	if err != nil {
		return nil, err
	}
	if waits, ok := d.Metrics.(PublicationMetrics); ok {
		publish.waits = waits
	}
	publish.erasures = d.Erasures
	retry, err := NewRetryDeadLetterHandler(d.Store, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	correct, err := NewCorrectMatchKeyHandler(d.Store, d.Catalog, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	message, err := NewGetMessageHandler(d.Store)
	if err != nil {
		return nil, err
	}
	messages, err := MessageRepository(d.Store, d.NewID, d.Now)
	if err != nil {
		return nil, err
	}
	a := &App{
		Commands: Commands{
			RecordMessage:   ApplyResultDecorators[RecordMessage, Receipt](record, "command", d.Logger, d.Metrics),
			ResolveMessage:  ApplyCommandDecorators[ResolveMessage](resolve, d.Logger, d.Metrics),
			PublishMessage:  ApplyCommandDecorators[PublishMessage](publish, d.Logger, d.Metrics),
			RetryDeadLetter: ApplyResultDecorators[RetryDeadLetter, string](retry, "command", d.Logger, d.Metrics),
			CorrectMatchKey: ApplyResultDecorators[CorrectMatchKey, CorrectionReceipt](correct, "command", d.Logger, d.Metrics),
		},
		Queries: Queries{
			Message: ApplyResultDecorators[GetMessage, domain.MessageState](message, "query", d.Logger, d.Metrics),
		},
	}
	a.Routes = Routes{
		Resolve: NewResolveRoute(d.Catalog, a.Commands.ResolveMessage),
		Publish: NewPublishRoute(messages, a.Commands.PublishMessage),
	}
	return a, nil
}

// Inbound is the RecordMessage command as the inbound adapters call it.
func (a *App) Inbound() Inbound { return Inbound{Record: a.Commands.RecordMessage} }
