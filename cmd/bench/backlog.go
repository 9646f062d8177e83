package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/adapters/loaddriver"
	"switchboard/cmd/internal/harness"
)

// The backlog run: backlogMessages from backlogSenders known senders recorded while
// nothing is published, then serve restarted to publish them against an emulator with
// HubSpot's OAuth limit (110 per 10 s), the client at its default budget (100).
const (
	backlogMessages = 400
	backlogSenders  = 100
	backlogBudget   = 100
	backlogEmuLimit = 110
)

// backlogResult is what the backlog run measured at the emulator.
type backlogResult struct {
	messages, budget, emuLimit int
	// windows are the publications in each full 10-second window of the emulator's
	// clock from the first publication; least is the fewest in any 10-second window
	// that starts at a publication once the first window's slots are reused (10.5 s on)
	// and ends before the last.
	windows     []int
	least       int
	rateLimited int
	drain       time.Duration
	// wait is each message's acknowledgment → publication; metricMean the mean of
	// serve's switchboard_publication_wait_seconds over its count.
	wait        loaddriver.Latency
	metricMean  float64
	metricCount int
}

// holdGate keeps publications from reaching the emulator while closed: a request that
// arrives then is held until its client gives up and never reaches the emulator.
type holdGate struct {
	once sync.Once
	open chan struct{}
}

func (g *holdGate) release() { g.once.Do(func() { close(g.open) }) }

func (g *holdGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/custom-channels/") && strings.HasSuffix(r.URL.Path, "/messages") {
			select {
			case <-g.open:
			default:
				_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leave
				<-r.Context().Done()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func backlogRun(ctx context.Context, dir, bin string) (*backlogResult, error) {
	emu := emulator.New(emulator.Options{TenSecondLimit: backlogEmuLimit, SearchPerSecond: 5})
	defer emu.Close()
	for i := range backlogSenders {
		emu.CreateContactAt(map[string]string{"firstname": fmt.Sprintf("Backlog %d", i), "mobilephone": backlogPhone(i)}, time.Now().Add(-time.Hour))
	}
	gate := &holdGate{open: make(chan struct{})}
	defer gate.release()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: gate.wrap(emu), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	svcAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), benchEnv...)
	cfgPath := filepath.Join(dir, "switchboard-backlog.yaml")
	cfg := serviceConfig(svcAddr, filepath.Join(dir, "store-backlog.db"), "http://"+ln.Addr().String(), backlogBudget, 4)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	base := "http://" + svcAddr
	serve := func(n int) (*proc, error) {
		p, err := startProc(ctx, "serve (backlog)", bin, []string{"serve", "--config", cfgPath, "--log-level", "warn"}, env,
			filepath.Join(dir, fmt.Sprintf("serve-backlog-%d.log", n)))
		if err != nil {
			return nil, err
		}
		if err := harness.WaitHTTP(p.Proc, base+"/healthz", 30*time.Second); err != nil {
			_ = p.stop()
			return nil, err
		}
		return p, nil
	}

	progress("backlog: recording %d messages while nothing is published", backlogMessages)
	svc, err := serve(1)
	if err != nil {
		return nil, err
	}
	acked := map[string]time.Time{}
	for k := range backlogMessages {
		id := fmt.Sprintf("backlog-%d", k)
		body, _ := json.Marshal(map[string]any{"channel_id": "bench-sms", "message_id": id,
			"sender": map[string]any{"phone": backlogPhone(k % backlogSenders)}, "text": "backlog"})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench-admin-token")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			_ = svc.stop()
			return nil, fmt.Errorf("backlog: record %s: %w", id, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			_ = svc.stop()
			return nil, fmt.Errorf("backlog: record %s: %s", id, res.Status)
		}
		acked["sb:bench-sms:"+id] = time.Now()
	}
	// Resolution (searches only: the contacts exist) is done when the log stops growing.
	if err := waitStill(ctx, base, 3*time.Second, 60*time.Second); err != nil {
		_ = svc.stop()
		return nil, err
	}
	if err := svc.stop(); err != nil {
		return nil, err
	}
	gate.release()
	emu.ResetStats()
	progress("backlog: serve restarted to publish the backlog")
	if svc, err = serve(2); err != nil {
		return nil, err
	}
	defer svc.stop()
	deadline := time.Now().Add(3 * time.Minute)
	for len(emu.Published()) < backlogMessages {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("backlog: %d of %d published after 3 minutes", len(emu.Published()), backlogMessages)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	r := &backlogResult{messages: backlogMessages, budget: backlogBudget, emuLimit: backlogEmuLimit, rateLimited: emu.Stats().RateLimited}
	var times []time.Time
	var waits []time.Duration
	for _, p := range emu.Published() {
		times = append(times, p.PublishedAt)
		if at, ok := acked[p.IntegrationIdempotencyID]; ok {
			waits = append(waits, p.PublishedAt.Sub(at))
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	r.windows, r.least = publicationWindows(times)
	r.drain = times[len(times)-1].Sub(times[0])
	r.wait = loaddriver.Summarize(waits)
	// The publisher observes a wait after appending MessagePublished, a moment after
	// the emulator's answer.
	time.Sleep(time.Second)
	r.metricCount, r.metricMean, err = publicationWaitMetric(base)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func backlogPhone(i int) string { return fmt.Sprintf("+1628555%04d", i) }

// publicationWindows counts sorted publication times in full 10-second windows from the
// first, and finds the emptiest 10-second window starting at a publication 10.5 s or
// more after the first (-1: none fits before the last).
func publicationWindows(times []time.Time) (windows []int, least int) {
	if len(times) == 0 {
		return nil, -1
	}
	first, last := times[0], times[len(times)-1]
	count := func(from time.Time) int {
		n := 0
		for _, t := range times {
			if !t.Before(from) && t.Before(from.Add(10*time.Second)) {
				n++
			}
		}
		return n
	}
	for start := first; !start.Add(10 * time.Second).After(last); start = start.Add(10 * time.Second) {
		windows = append(windows, count(start))
	}
	least = -1
	for _, start := range times {
		if start.Before(first.Add(10500*time.Millisecond)) || start.Add(10*time.Second).After(last) {
			continue
		}
		if n := count(start); least < 0 || n < least {
			least = n
		}
	}
	return windows, least
}

// waitStill returns once the log's last position has not moved for still.
func waitStill(ctx context.Context, base string, still, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pos, since := int64(-1), time.Now()
	for {
		p, err := lastPosition(base)
		if err != nil {
			return err
		}
		if p != pos {
			pos, since = p, time.Now()
		} else if time.Since(since) >= still {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backlog: the log still grows after %s", timeout)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

var waitMetric = regexp.MustCompile(`(?m)^switchboard_publication_wait_seconds_(count|sum)\{workspace="bench"\} (\S+)$`)

// publicationWaitMetric reads the publication-wait histogram's count and mean.
func publicationWaitMetric(base string) (int, float64, error) {
	body, err := readMetrics(base)
	if err != nil {
		return 0, 0, err
	}
	var count, sum float64
	for _, m := range waitMetric.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "count" {
			count = v
		} else {
			sum = v
		}
	}
	if count == 0 {
		return 0, 0, nil
	}
	return int(count), sum / count, nil
}

// backlogRows are the backlog run's rows of the table.
func (r *backlogResult) rows(row func(part, fig, val, rat string)) {
	part := fmt.Sprintf("backlog: %d messages of %d known senders held, then published (limits kept)", r.messages, backlogSenders)
	var uses []string
	for _, n := range r.windows {
		uses = append(uses, fmt.Sprintf("%.2f", float64(n)/float64(r.budget)))
	}
	row(part, fmt.Sprintf("budget use: publications per full 10 s window ÷ ten_second_limit %d (emulator %d)", r.budget, r.emuLimit),
		fmt.Sprintf("%s (%v publications)", strings.Join(uses, ", "), r.windows), "—")
	row(part, "emptiest 10 s window after the first ÷ budget", fmt.Sprintf("%.2f (%d publications)", float64(r.least)/float64(r.budget), r.least), "—")
	row(part, "429 answers; first → last publication", fmt.Sprintf("%d; %.1f s (%.1f publications per 10 s)", r.rateLimited, r.drain.Seconds(),
		float64(r.messages-1)/r.drain.Seconds()*10), "—")
	row(part, "wait, acknowledgment → inbox p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f s", r.wait.P50/1000, r.wait.P99/1000, r.wait.Max/1000), "—")
	row(part, "switchboard_publication_wait_seconds: count, mean", fmt.Sprintf("%d, %.1f s", r.metricCount, r.metricMean), "—")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
