package webhooks

import (
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/prom"
)

// Request outcomes, the "outcome" label of switchboard_webhook_requests_total.
const (
	OutcomeAccepted       = "accepted"        // at least one new message recorded
	OutcomeDuplicate      = "duplicate"       // every message was already recorded
	OutcomeIgnored        = "ignored"         // acknowledged, nothing to record
	OutcomeInvalid        = "invalid"         // acknowledged, the recorder refused every message as invalid
	OutcomeUnauthorized   = "unauthorized"    // bad or missing signature, secret or stale timestamp (401)
	OutcomeMalformed      = "malformed"       // body is not what the platform sends (400)
	OutcomeTooLarge       = "too_large"       // body over the limit (413)
	OutcomeError          = "error"           // the recorder failed; the platform retries (500)
	OutcomeUnknownChannel = "unknown_channel" // no such channel (404)
	OutcomeVerified       = "verified"        // Meta handshake answered
	OutcomeForbidden      = "forbidden"       // Meta handshake with a wrong verify token (403)
)

type metrics struct {
	requests *prometheus.CounterVec
	messages *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "webhook", Name: "requests_total",
			Help: "Webhook requests by channel kind and outcome (accepted, duplicate, ignored, invalid, unauthorized, malformed, too_large, error, unknown_channel, verified, forbidden).",
		}, []string{"kind", "outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "webhook", Name: "messages_total",
			Help: "Customer messages found in webhook requests by channel kind and what the recorder did (accepted, duplicate, invalid, error).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchboard", Subsystem: "webhook", Name: "request_duration_seconds",
			Help: "Time to answer a webhook request, recording included. Slack gives up after 3 s, Twilio and Meta after about 15 s.",
			// Buckets around the platforms' deadlines.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 15},
		}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.requests, err = prom.Register(reg, m.requests, "webhook")
	if err != nil {
		return nil, err
	}
	m.messages, err = prom.Register(reg, m.messages, "webhook")
	if err != nil {
		return nil, err
	}
	m.duration, err = prom.Register(reg, m.duration, "webhook")
	if err != nil {
		return nil, err
	}
	return m, nil
}
