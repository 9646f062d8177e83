package hubspot

import (
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/prom"
)

// metrics are the client's Prometheus collectors. Each client registers its own set
// with a constant "workspace" label, so the clients of several workspaces share one
// registry; a second client of the same workspace reuses the first one's collectors.
type metrics struct {
	requests    *prometheus.CounterVec   // operation, status_class
	retries     *prometheus.CounterVec   // operation, reason
	rateLimited *prometheus.CounterVec   // operation, policy
	limiterWait *prometheus.HistogramVec // bucket
	batchSize   *prometheus.HistogramVec // operation
}

func newMetrics(reg prometheus.Registerer, workspace string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "hubspot", Name: "requests_total",
			Help: "HTTP requests sent to HubSpot, by operation and status class (2xx, 4xx, 429, 5xx, error).",
		}, []string{"operation", "status_class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "hubspot", Name: "retries_total",
			Help: "Attempts repeated after a failure, by operation and reason.",
		}, []string{"operation", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "hubspot", Name: "rate_limited_total",
			Help: "429 answers from HubSpot, by operation and policy (TEN_SECONDLY_ROLLING, SECONDLY, DAILY, unknown).",
		}, []string{"operation", "policy"}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard", Subsystem: "hubspot", Name: "limiter_wait_seconds",
			Help:    "Time a request waited for the client-side rate limiter, by bucket (ten_secondly, search).",
			Buckets: []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"bucket"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard", Subsystem: "hubspot", Name: "batch_lookups",
			Help:    "Lookups answered by one batched request (1: the lookup went alone), by operation (search_contacts_by_phone, search_contacts_by_property, read_contacts_by_property).",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100},
		}, []string{"operation"}),
	}
	if reg == nil {
		return m, nil
	}
	if workspace != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"workspace": workspace}, reg)
	}
	var err error
	m.requests, err = prom.Register(reg, m.requests, "hubspot")
	if err != nil {
		return nil, err
	}
	m.retries, err = prom.Register(reg, m.retries, "hubspot")
	if err != nil {
		return nil, err
	}
	m.rateLimited, err = prom.Register(reg, m.rateLimited, "hubspot")
	if err != nil {
		return nil, err
	}
	m.limiterWait, err = prom.Register(reg, m.limiterWait, "hubspot")
	if err != nil {
		return nil, err
	}
	m.batchSize, err = prom.Register(reg, m.batchSize, "hubspot")
	if err != nil {
		return nil, err
	}
	return m, nil
}

func statusClass(status int) string {
	switch {
	case status == 429:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}
