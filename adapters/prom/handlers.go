package prom

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HandlerMetrics is the Prometheus side of the application layer's metrics decorator
// (command.Metrics): one counter and one latency histogram per command and query.
type HandlerMetrics struct {
	handled *prometheus.CounterVec   // kind, name, outcome
	seconds *prometheus.HistogramVec // kind, name
	waits   *prometheus.HistogramVec // workspace
}

// NewHandlerMetrics registers the collectors with reg; a nil reg keeps them
// unregistered (tests).
func NewHandlerMetrics(reg prometheus.Registerer) (*HandlerMetrics, error) {
	m := &HandlerMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "app", Name: "handled_total",
			Help: "Commands and queries handled, by kind (command, query), name (resolve_message, ...) and outcome (ok, error).",
		}, []string{"kind", "name", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard", Subsystem: "app", Name: "handle_seconds",
			Help:    "Time to handle one command or query, HubSpot calls included, by kind and name.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"kind", "name"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard", Subsystem: "publication", Name: "wait_seconds",
			Help: "Time from a message's recording in the log to its publication in the HubSpot inbox, by workspace: " +
				"resolution, the publisher's queue and HubSpot's rate budget included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"workspace"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.handled, err = Register(reg, m.handled, "application"); err != nil {
		return nil, err
	}
	if m.seconds, err = Register(reg, m.seconds, "application"); err != nil {
		return nil, err
	}
	if m.waits, err = Register(reg, m.waits, "publication"); err != nil {
		return nil, err
	}
	return m, nil
}

// ObserveHandler records one handled command or query.
func (m *HandlerMetrics) ObserveHandler(kind, name, outcome string, took time.Duration) {
	m.handled.WithLabelValues(kind, name, outcome).Inc()
	m.seconds.WithLabelValues(kind, name).Observe(took.Seconds())
}

// ObservePublication records how long a published message waited since its recording
// (command.PublicationMetrics).
func (m *HandlerMetrics) ObservePublication(workspace string, wait time.Duration) {
	m.waits.WithLabelValues(workspace).Observe(max(wait, 0).Seconds())
}
