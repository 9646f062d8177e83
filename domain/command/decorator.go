package command

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
)

// CommandHandler handles one kind of command: a plain value (ResolveMessage,
// PublishMessage) that changes the log and answers only whether it did.
type CommandHandler[C any] interface {
	Handle(ctx context.Context, cmd C) error
}

// ResultHandler handles a command that answers with a result (RecordMessage's receipt,
// RetryDeadLetter's stage).
type ResultHandler[C, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
}

// QueryHandler answers one kind of query without changing anything.
type QueryHandler[Q, R any] interface {
	Handle(ctx context.Context, q Q) (R, error)
}

// Metrics receives one observation per handled command or query. kind is "command"
// or "query", name the command's (resolve_message), outcome "ok" or "error". The
// Prometheus implementation is adapters/prom's; this package stays free of it.
type Metrics interface {
	ObserveHandler(kind, name, outcome string, took time.Duration)
}

// NoMetrics observes nothing.
type NoMetrics struct{}

// ObserveHandler does nothing.
func (NoMetrics) ObserveHandler(string, string, string, time.Duration) {}

// ApplyCommandDecorators wraps h with the cross-cutting concerns every command shares:
// a debug log line per command and its metrics. Handlers keep only the logs that say
// something about the domain (a dead letter, a claim lost after a create).
func ApplyCommandDecorators[C any](h CommandHandler[C], log *slog.Logger, m Metrics) CommandHandler[C] {
	inner := ApplyResultDecorators[C, struct{}](commandAsResult[C]{h}, "command", log, m)
	return resultAsCommand[C]{inner}
}

// ApplyResultDecorators is ApplyCommandDecorators for handlers that answer: commands
// with a result (kind "command") and queries (kind "query").
func ApplyResultDecorators[C, R any](h ResultHandler[C, R], kind string, log *slog.Logger, m Metrics) ResultHandler[C, R] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NoMetrics{}
	}
	var zero C
	name := actionName(zero)
	return metricsDecorator[C, R]{kind: kind, name: name, metrics: m,
		base: loggingDecorator[C, R]{kind: kind, name: name, log: log, base: h}}
}

type loggingDecorator[C, R any] struct {
	kind, name string
	log        *slog.Logger
	base       ResultHandler[C, R]
}

// Handle logs at debug level only: the error of a failed command goes back to its
// caller (the follower logs and retries it, the HTTP API answers it), and an error may
// name a match key, which holds personal data.
func (d loggingDecorator[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	r, err := d.base.Handle(ctx, cmd)
	if d.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{d.kind, d.name, "took", time.Since(start)}
		if err != nil {
			d.log.DebugContext(ctx, d.kind+" failed", append(attrs, "error", err)...)
		} else {
			d.log.DebugContext(ctx, d.kind+" handled", attrs...)
		}
	}
	return r, err
}

type metricsDecorator[C, R any] struct {
	kind, name string
	metrics    Metrics
	base       ResultHandler[C, R]
}

func (d metricsDecorator[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	r, err := d.base.Handle(ctx, cmd)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	d.metrics.ObserveHandler(d.kind, d.name, outcome, time.Since(start))
	return r, err
}

type commandAsResult[C any] struct{ h CommandHandler[C] }

func (a commandAsResult[C]) Handle(ctx context.Context, cmd C) (struct{}, error) {
	return struct{}{}, a.h.Handle(ctx, cmd)
}

type resultAsCommand[C any] struct{ h ResultHandler[C, struct{}] }

func (a resultAsCommand[C]) Handle(ctx context.Context, cmd C) error {
	_, err := a.h.Handle(ctx, cmd)
	return err
}

// actionName turns a command's type name into a metric label: ResolveMessage becomes
// resolve_message.
func actionName(v any) string {
	t := fmt.Sprintf("%T", v)
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	var b strings.Builder
	for i, r := range t {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
