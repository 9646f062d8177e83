package loaddriver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/adapters/config"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentileIsNearestRank(t *testing.T) {
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", ms(7), 99.9, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four is the largest", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"p50 of 1..1000", thousand, 50, 500 * time.Millisecond},
		{"p99 of 1..1000", thousand, 99, 990 * time.Millisecond},
		{"p99.9 of 1..1000", thousand, 99.9, 999 * time.Millisecond},
		{"p100 is the max", thousand, 100, 1000 * time.Millisecond},
		{"p0 is the min", thousand, 0, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%g) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsAndReportsMilliseconds(t *testing.T) {
	// One slow answer among a hundred: p50 and p99 do not see it, p99.9 and max do.
	ds := ms(250)
	for range 99 {
		ds = append(ds, 2*time.Millisecond)
	}
	ds = append(ds, 1500*time.Microsecond)
	got := Summarize(ds)
	want := Latency{Count: 101, P50: 2, P99: 2, P999: 250, Max: 250}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("Summarize(nil) is not empty")
	}
}

func TestPacerSchedulesAConstantRate(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := newPacer(start, 1000, 1) // 1,000 messages/s: one every millisecond
	for i, want := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 999 * time.Millisecond} {
		if i == 3 {
			i = 999
		}
		if got := p.at(i).Sub(start); got != want {
			t.Errorf("unit %d due at +%s, want +%s", i, got, want)
		}
	}
	for _, tt := range []struct {
		at   time.Duration
		want int
	}{{-time.Millisecond, 0}, {0, 1}, {500 * time.Microsecond, 1}, {time.Millisecond, 2}, {2500 * time.Microsecond, 3}, {time.Second, 1001}} {
		if got := p.due(start.Add(tt.at)); got != tt.want {
			t.Errorf("due at +%s = %d, want %d", tt.at, got, tt.want)
		}
	}
	// Bursts of three at 30 messages/s offered are ten units a second.
	b := newPacer(start, 30, BurstSize)
	if got := b.at(10).Sub(start); got != time.Second {
		t.Errorf("burst unit 10 due at +%s, want +1s", got)
	}
	// A rate that does not divide a second evenly does not drift.
	odd := newPacer(start, 3, 1)
	if got := odd.at(3000).Sub(start); got != 1000*time.Second {
		t.Errorf("unit 3000 at 3/s due at +%s, want +1000s", got)
	}
}

// testConfig is a workspace with three phone channels and a Telegram one.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	env := map[string]string{"A": "admin", "H": "hs", "T": "twilio", "M": "meta", "V": "verify", "G": "tg"}
	path := t.TempDir() + "/sb.yaml"
	raw := `listen: 127.0.0.1:0
admin_token_env: A
store: {driver: sqlite, dsn: x.db}
workspaces:
  - id: w
    hubspot: {base_url: "http://127.0.0.1:9", token_env: H}
    channels:
      - {id: sms, kind: sms, default_region: US, auth_token_env: T, inbox: {channel_id: "1", channel_account_id: "1"}}
      - {id: wa, kind: whatsapp, provider: cloud, default_region: US, app_secret_env: M, verify_token_env: V, inbox: {channel_id: "1", channel_account_id: "2"}}
      - {id: wat, kind: whatsapp, provider: twilio, default_region: US, auth_token_env: T, inbox: {channel_id: "1", channel_account_id: "3"}}
      - {id: tg, kind: telegram, identifier: user_id, property: telegram_user_id, auto_create: true, secret_token_env: G, inbox: {channel_id: "1", channel_account_id: "4"}}
`
	if err := writeFile(path, raw); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestRun(t *testing.T, o Options) *run {
	t.Helper()
	o.defaults()
	r := &run{o: o, runNum: 42, runID: "test"}
	for _, id := range o.Channels {
		ch, _, ok := o.Config.Channel(id)
		if !ok {
			t.Fatalf("no channel %s", id)
		}
		r.targets = append(r.targets, target{ch: ch, url: "http://x/webhooks/" + id})
	}
	return r
}

func TestSenderMixFollowsTheKnownShare(t *testing.T) {
	cfg := testConfig(t)
	r := newTestRun(t, Options{Config: cfg, Channels: []string{"sms", "wa", "tg"}, KnownSenders: 0.9, PoolSize: 5, Clients: 1})
	known, fresh := 0, map[string]bool{}
	pool := map[string]bool{}
	const n = 10000
	for i := range n {
		u := r.unit(i)
		if len(u) != 1 {
			t.Fatalf("unit %d has %d messages without --burst", i, len(u))
		}
		m := u[0]
		if m.t.ch.ID != []string{"sms", "wa", "tg"}[i%3] {
			t.Fatalf("unit %d went to %s: channels are used in turn", i, m.t.ch.ID)
		}
		if m.isNew {
			if fresh[m.t.ch.ID+"/"+m.from] {
				t.Fatalf("new sender %s on %s twice", m.from, m.t.ch.ID)
			}
			fresh[m.t.ch.ID+"/"+m.from] = true
			continue
		}
		known++
		pool[m.t.ch.ID+"/"+m.from] = true
	}
	if share := float64(known) / n; share < 0.88 || share > 0.92 {
		t.Errorf("known share %.3f over %d units, want about 0.90", share, n)
	}
	if len(pool) != 5*3 {
		t.Errorf("known senders used %d (channel, sender) pairs, want the pool's 5 on each of 3 channels", len(pool))
	}
	for k := range pool {
		if fresh[k] {
			t.Errorf("sender %s is both in the pool and new", k)
		}
	}
}

func TestBurstIsOneNewSenderOnThreeChannels(t *testing.T) {
	cfg := testConfig(t)
	r := newTestRun(t, Options{Config: cfg, Channels: []string{"sms", "wa", "wat"}, Burst: true, Clients: 1})
	seen := map[string]bool{}
	for i := range 50 {
		u := r.unit(i)
		if len(u) != BurstSize {
			t.Fatalf("burst unit %d has %d messages", i, len(u))
		}
		ids := map[string]bool{}
		for k, m := range u {
			if !m.isNew || m.from != u[0].from || m.t.ch.ID != []string{"sms", "wa", "wat"}[k] {
				t.Fatalf("burst unit %d message %d: %+v", i, k, m)
			}
			ids[m.id] = true
		}
		if len(ids) != BurstSize {
			t.Errorf("burst unit %d reuses a message id: %v", i, ids)
		}
		if seen[u[0].from] {
			t.Errorf("burst sender %s used twice", u[0].from)
		}
		seen[u[0].from] = true
	}
	if got := r.meanUnit(); got != BurstSize {
		t.Errorf("mean unit %g, want %d", got, BurstSize)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	cfg := testConfig(t)
	err := Options{Config: cfg, Channels: []string{"sms", "tg", "nope"}, Clients: 2, Rate: 5, KnownSenders: 1.5, Burst: true}.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad options")
	}
	for _, w := range []string{"no service URL", "both clients", "neither duration nor count", "1.5 is outside", `"nope" is not in`, "tg is telegram"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

// TestOpenLoopSendsOnScheduleAndCountsAnswers runs the open loop against a server that
// refuses every fifth message: the report counts each answer, and every send's latency
// is counted from the time the pacer had it due.
func TestOpenLoopSendsOnScheduleAndCountsAnswers(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	cfg := testConfig(t)
	o := Options{Config: cfg, BaseURL: srv.URL, Channels: []string{"sms", "wa", "wat", "tg"}, Rate: 2000, Count: 40}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 40 || rep.Acknowledged != 32 || rep.Errors["status 503"] != 8 || len(rep.Errors) != 1 {
		t.Errorf("sent %d, acknowledged %d, errors %v; want 40, 32, 8 × status 503", rep.Sent, rep.Acknowledged, rep.Errors)
	}
	if rep.AckLatency.Count != 32 || rep.NewSenders != 40 {
		t.Errorf("latency over %d answers, %d new senders; want 32 and 40", rep.AckLatency.Count, rep.NewSenders)
	}

	// The schedule itself: a run's records start at the pacer's times.
	o.defaults()
	r := newTestRun(t, o)
	began := time.Now()
	r.openLoop(context.Background(), began)
	p := newPacer(began, 2000, 1)
	recs := r.records.all()
	if len(recs) != 40 {
		t.Fatalf("%d records, want 40", len(recs))
	}
	starts := map[time.Time]bool{}
	for _, rec := range recs {
		starts[rec.start] = true
	}
	for i := range 40 {
		if !starts[p.at(i)] {
			t.Errorf("no send counted from unit %d's due time", i)
		}
	}
}

func TestClosedLoopStopsAtTheCountEvenInBursts(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	rep, err := Run(context.Background(), Options{Config: testConfig(t), BaseURL: srv.URL, Channels: []string{"sms", "wa", "wat"},
		Clients: 4, Count: 10, Burst: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 10 || rep.Acknowledged != 10 || n.Load() != 10 {
		t.Errorf("sent %d, acknowledged %d, server saw %d; want 10 each", rep.Sent, rep.Acknowledged, n.Load())
	}
	if rep.NewSenders != 4 {
		t.Errorf("%d new senders for 10 messages in bursts of 3, want 4", rep.NewSenders)
	}
	var text, js bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "acknowledged 10") || !strings.Contains(text.String(), "p99.9") {
		t.Errorf("text report:\n%s", text.String())
	}
	if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"acknowledged": 10`) {
		t.Errorf("JSON report (%v):\n%s", err, js.String())
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
