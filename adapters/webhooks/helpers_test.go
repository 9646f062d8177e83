package webhooks_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/config"
	"switchboard/adapters/webhooks"
	"switchboard/domain"
	"switchboard/domain/command"
)

// testEnv is the fake environment the configuration's *_env keys resolve in.
var testEnv = map[string]string{
	"ACME_HUBSPOT_TOKEN": "hs-token",
	"ACME_TWILIO_TOKEN":  "twilio-auth-token",
	"ACME_META_SECRET":   "meta-app-secret",
	"ACME_META_VERIFY":   "meta-verify-token",
	"ACME_FB_TOKEN":      "fb-page-token",
	"ACME_IG_TOKEN":      "ig-token",
	"ACME_TG_SECRET":     "tg-secret_token-1",
	"ACME_SLACK_SECRET":  "8f742231b10e8888abcd99yyyzzz85a5",
	"ACME_SLACK_BOT":     "xoxb-test",
}

func loadConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("testdata", "switchboard.yaml"), func(k string) string { return testEnv[k] })
	if err != nil {
		t.Fatalf("load test configuration: %v", err)
	}
	return cfg
}

// recorder stands in for the command path: it keeps messages by (channel, message id)
// and reports redeliveries as duplicates, as command.RecordMessage does.
type recorder struct {
	mu      sync.Mutex
	msgs    map[string]domain.InboundMessage
	corr    map[string]string
	calls   int
	failOn  map[string]error // message id → error to return
	failAll error
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string]domain.InboundMessage{}, corr: map[string]string{}, failOn: map[string]error{}}
}

func (r *recorder) Handle(_ context.Context, m domain.InboundMessage) (command.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failAll != nil {
		return command.Receipt{}, r.failAll
	}
	if err := r.failOn[m.MessageID]; err != nil {
		return command.Receipt{}, err
	}
	key := m.ChannelID + "\x00" + m.MessageID
	if c, ok := r.corr[key]; ok {
		return command.Receipt{CorrelationID: c, Duplicate: true}, nil
	}
	r.msgs[key] = m
	r.corr[key] = "corr-" + m.MessageID
	return command.Receipt{CorrelationID: r.corr[key]}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) get(channel, id string) (domain.InboundMessage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.msgs[channel+"\x00"+id]
	return m, ok
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.msgs {
		out = append(out, strings.ReplaceAll(k, "\x00", "/"))
	}
	sort.Strings(out)
	return out
}

// env is one Handler served over loopback, with its recorder, metrics and logs.
type env struct {
	t    *testing.T
	cfg  *config.Config
	srv  *httptest.Server
	rec  *recorder
	reg  *prometheus.Registry
	logs *syncBuffer
	now  time.Time
}

var fixedNow = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

func newEnv(t *testing.T, tweak ...func(*webhooks.Options)) *env {
	t.Helper()
	e := &env{t: t, cfg: loadConfig(t), rec: newRecorder(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}, now: fixedNow}
	opts := webhooks.Options{
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        func() time.Time { return e.now },
		Registerer: e.reg,
	}
	for _, f := range tweak {
		f(&opts)
	}
	h, err := webhooks.New(e.cfg, e.rec, opts)
	if err != nil {
		t.Fatalf("webhooks.New: %v", err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) url(channel string) string { return e.srv.URL + "/webhooks/" + channel }

type response struct {
	status int
	body   string
	header http.Header
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// counter reads switchboard_webhook_<name>{kind, outcome} from the registry.
func (e *env) counter(name, kind, outcome string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_webhook_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
