// Package prom holds what switchboard's adapters share about Prometheus.
package prom

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds c to reg, or returns the collector already registered under the same
// name, so that building a second client or handler on one registry (tests, several
// workspaces) works. what names the metrics in the error.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, what string) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register %s metrics: %w", what, err)
	}
	return c, nil
}
