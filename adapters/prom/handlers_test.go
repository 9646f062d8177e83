package prom

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered reads every sample of reg: name and labels to value (counters) or sample
// count (histograms).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				out[key] = float64(h.GetSampleCount())
			}
		}
	}
	return out
}

// Two apps on one registry (tests, a restart in process) share the collectors, and
// each observation lands under its command's labels.
func TestHandlerMetricsCountByCommandAndOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewHandlerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewHandlerMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	a.ObserveHandler("command", "resolve_message", "ok", 20*time.Millisecond)
	b.ObserveHandler("command", "resolve_message", "ok", 30*time.Millisecond)
	b.ObserveHandler("command", "resolve_message", "error", time.Millisecond)
	got := gathered(t, reg)
	for key, want := range map[string]float64{
		"switchboard_app_handled_total kind=command name=resolve_message outcome=ok":    2,
		"switchboard_app_handled_total kind=command name=resolve_message outcome=error": 1,
		"switchboard_app_handle_seconds kind=command name=resolve_message":              3,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}

// A publication's wait lands in its workspace's histogram, with its value: the sum is
// what a p50 or a mean is read from.
func TestPublicationWaitsByWorkspace(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewHandlerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ObservePublication("acme", 1500*time.Millisecond)
	m.ObservePublication("acme", 500*time.Millisecond)
	m.ObservePublication("beta", -time.Second) // a clock step back counts as no wait
	got := gathered(t, reg)
	for key, want := range map[string]float64{
		"switchboard_publication_wait_seconds workspace=acme": 2,
		"switchboard_publication_wait_seconds workspace=beta": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_publication_wait_seconds" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			sum := mm.GetHistogram().GetSampleSum()
			if ws := mm.GetLabel()[0].GetValue(); (ws == "acme" && sum != 2) || (ws == "beta" && sum != 0) {
				t.Errorf("workspace %s: sum of waits %v s", ws, sum)
			}
		}
	}
}
