package loaddriver

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Latency is a distribution of durations, in milliseconds so a JSON report reads as it
// prints.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Percentile is the nearest-rank percentile p (0 < p <= 100) of sorted: the smallest
// value at least p % of the values are at or below. Nearest rank never interpolates, so
// every figure reported is a latency some request actually had.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The slack keeps float rounding (99.9/100 × 1000 = 999.0000000000001) from
	// skipping a rank.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summarize sorts ds in place and returns its distribution.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{Count: len(ds), P50: ms(Percentile(ds, 50)), P99: ms(Percentile(ds, 99)),
		P999: ms(Percentile(ds, 99.9)), Max: ms(ds[len(ds)-1])}
}

// Report is what one load run measured.
type Report struct {
	// Target describes the run: channels, mode, load shape, sender mix.
	Target string `json:"target"`
	Mode   string `json:"mode"` // "webhooks" or "api"
	// Clients is the closed-loop concurrency; Rate the open-loop offered messages/s
	// (one of the two is zero).
	Clients      int     `json:"clients,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	KnownSenders float64 `json:"known_senders"`
	Burst        bool    `json:"burst,omitempty"`

	// Sent counts the messages sent; Acknowledged those answered 2xx. NewSenders counts
	// the distinct new senders among them (a burst's three messages are one sender).
	Sent         int `json:"sent"`
	Acknowledged int `json:"acknowledged"`
	NewSenders   int `json:"new_senders"`
	// Elapsed is from the first send to the last answer.
	Elapsed    float64 `json:"elapsed_s"`
	AckPerSec  float64 `json:"acknowledged_per_s"`
	AckLatency Latency `json:"ack_latency"`
	// Errors counts the failed sends by answer ("status 503") or by transport failure
	// ("transport: timeout").
	Errors map[string]int `json:"errors,omitempty"`

	// The rest is read from the emulator; absent without one.
	Emulator *EmulatorReport `json:"emulator,omitempty"`
}

// EmulatorReport is what the emulated HubSpot saw of the run (its warm-up excluded).
type EmulatorReport struct {
	// Published counts the run's acknowledged messages found in the inbox within the
	// settle time; Unpublished the rest.
	Published   int `json:"published"`
	Unpublished int `json:"unpublished"`
	// SettleWait is how long after the last answer the driver waited for publication.
	SettleWait float64 `json:"settle_wait_s"`
	// AckToInbox is from a message's acknowledgment to its publication in the inbox.
	AckToInbox Latency `json:"ack_to_inbox"`
	// Calls counts the requests by endpoint; CallsPerMessage divides them by the
	// acknowledged messages, CallsPerNewSender by the new senders.
	Calls             map[string]int     `json:"calls"`
	CallsPerMessage   map[string]float64 `json:"calls_per_message"`
	CallsPerNewSender map[string]float64 `json:"calls_per_new_sender,omitempty"`
	CRMCallsPerMsg    float64            `json:"crm_calls_per_message"`
	RateLimited       int                `json:"rate_limited"`
	// The highest admitted rates, and the limits the emulator ran with.
	MaxTenSeconds   int `json:"max_requests_in_any_10s"`
	MaxSearchSecond int `json:"max_searches_in_any_second"`
	TenSecondLimit  int `json:"ten_second_limit"`
	SearchPerSecond int `json:"search_per_second"`
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) {
	shape := fmt.Sprintf("%d clients (closed loop)", r.Clients)
	if r.Rate > 0 {
		shape = fmt.Sprintf("%g messages/s offered (open loop)", r.Rate)
	}
	mix := fmt.Sprintf("%.0f%% known senders", r.KnownSenders*100)
	if r.Burst {
		mix += ", new senders in bursts of three channels"
	}
	fmt.Fprintf(w, "load: %s via %s, %s, %s\n", r.Target, r.Mode, shape, mix)
	fmt.Fprintf(w, "  sent %d, acknowledged %d in %.2f s: %.1f acknowledged messages/s; %d new senders\n",
		r.Sent, r.Acknowledged, r.Elapsed, r.AckPerSec, r.NewSenders)
	fmt.Fprintf(w, "  acknowledgment latency  %s\n", r.AckLatency)
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "  errors: none\n")
	} else {
		fmt.Fprintf(w, "  errors: %s\n", formatCounts(r.Errors))
	}
	e := r.Emulator
	if e == nil {
		return
	}
	fmt.Fprintf(w, "  published %d of %d acknowledged (%d not within %.1f s)\n", e.Published, r.Acknowledged, e.Unpublished, e.SettleWait)
	fmt.Fprintf(w, "  acknowledgment to inbox  %s\n", e.AckToInbox)
	fmt.Fprintf(w, "  HubSpot calls per message: %s (CRM %.3f)\n", formatRatios(e.CallsPerMessage), e.CRMCallsPerMsg)
	if len(e.CallsPerNewSender) > 0 {
		fmt.Fprintf(w, "  HubSpot calls per new sender: %s\n", formatRatios(e.CallsPerNewSender))
	}
	fmt.Fprintf(w, "  429 answers %d; peak %d requests in 10 s (limit %s), %d searches in 1 s (limit %s)\n",
		e.RateLimited, e.MaxTenSeconds, limit(e.TenSecondLimit), e.MaxSearchSecond, limit(e.SearchPerSecond))
}

// limit prints an emulator limit; `dev hubspot --unlimited` sets them past a billion.
func limit(n int) string {
	switch {
	case n >= 1<<30:
		return "lifted"
	case n <= 0:
		return "unknown"
	}
	return fmt.Sprint(n)
}

func (l Latency) String() string {
	if l.Count == 0 {
		return "(none)"
	}
	return fmt.Sprintf("p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms  (n=%d)", l.P50, l.P99, l.P999, l.Max, l.Count)
}

func formatCounts(m map[string]int) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func formatRatios(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.3f", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
