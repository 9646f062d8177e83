package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// publicationGate refuses to pass the emulator's publish requests until opened, so
// that a backlog can be recorded and resolved while nothing is published. A request
// that arrives while the gate is closed is held until its client gives up and never
// reaches the emulator, even once the gate opens: it is as if HubSpot never got it.
type publicationGate struct {
	once sync.Once
	open chan struct{}
}

func newPublicationGate() *publicationGate { return &publicationGate{open: make(chan struct{})} }

func (g *publicationGate) release() { g.once.Do(func() { close(g.open) }) }

func (g *publicationGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/custom-channels/") && strings.HasSuffix(r.URL.Path, "/messages") {
			select {
			case <-g.open:
			default:
				// The server notices the client's going only once the body is read.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// budgetWindows counts the publications in consecutive 10-second windows of the
// emulator's clock, from the first publication, keeping only the windows that end
// before the last one (the backlog lasted the whole window).
func budgetWindows(pubs []emulator.PublishedMessage) []int {
	times := make([]time.Time, 0, len(pubs))
	for _, p := range pubs {
		times = append(times, p.PublishedAt)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) == 0 {
		return nil
	}
	first, last := times[0], times[len(times)-1]
	var out []int
	for start := first; !start.Add(10 * time.Second).After(last); start = start.Add(10 * time.Second) {
		n := 0
		for _, t := range times {
			if !t.Before(start) && t.Before(start.Add(10*time.Second)) {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

// emptiestWindowAfterTheFirst is the fewest publications in a 10-second window that
// starts at a publication at least 10.5 s after the first (the first window's slots
// are reused by then) and ends before the last.
func emptiestWindowAfterTheFirst(pubs []emulator.PublishedMessage) (int, bool) {
	times := make([]time.Time, 0, len(pubs))
	for _, p := range pubs {
		times = append(times, p.PublishedAt)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) == 0 {
		return 0, false
	}
	least, found := len(times), false
	for i, start := range times {
		if start.Before(times[0].Add(10500 * time.Millisecond)) {
			continue
		}
		if start.Add(10 * time.Second).After(times[len(times)-1]) {
			break
		}
		n := 0
		for _, t := range times[i:] {
			if t.Before(start.Add(10 * time.Second)) {
				n++
			}
		}
		least, found = min(least, n), true
	}
	return least, found
}

// waitLine matches the publication-wait histogram's count and sum of workspace acme.
var waitLine = regexp.MustCompile(`(?m)^switchboard_publication_wait_seconds_(count|sum)\{workspace="acme"\} (\S+)$`)

// publicationWaits reads the count and sum of the workspace's publication waits from
// /metrics.
func publicationWaits(t *testing.T, s *stack) (int, float64) {
	t.Helper()
	_, body := s.do("GET", "/metrics", nil)
	var count int
	var sum float64
	for _, m := range waitLine.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("/metrics: %s: %v", m[0], err)
		}
		if m[1] == "count" {
			count = int(v)
		} else {
			sum = v
		}
	}
	return count, sum
}

// TestBacklogKeepsTheTenSecondBudgetBusy records a backlog of messages from senders
// whose contacts exist (their resolution costs searches only, which HubSpot counts
// apart) while every publication is held, stops serve, then starts it again against an emulator
// with HubSpot's OAuth limit (110 per 10 s). In every full 10-second window of the
// emulator's clock the publications fill at least 95 % of the client's budget
// (ten_second_limit), and HubSpot answers no 429: both with the default budget (100,
// below HubSpot's figure) and with a budget of HubSpot's figure itself.
func TestBacklogKeepsTheTenSecondBudgetBusy(t *testing.T) {
	for _, budget := range []int{100, 110} {
		t.Run(fmt.Sprintf("ten_second_limit=%d", budget), func(t *testing.T) {
			backlogKeepsTheBudgetBusy(t, budget)
		})
	}
}

func backlogKeepsTheBudgetBusy(t *testing.T, budget int) {
	const senders, perSender = 50, 5
	total := senders * perSender
	gate := newPublicationGate()
	t.Cleanup(gate.release)
	s := startStack(t, stackOptions{emulator: emulator.Options{TenSecondLimit: 110}, tenSecondLimit: budget,
		hubspotWrap: gate.wrap})
	for i := range senders {
		s.emu.CreateContactAt(map[string]string{"firstname": fmt.Sprintf("Backlog %d", i), "mobilephone": fmt.Sprintf("+1628555%04d", i)},
			time.Now().Add(-time.Hour))
	}
	type key struct{ channel, id string }
	var ids []key
	recorded := time.Now()
	for k := range perSender {
		for i := range senders {
			id := fmt.Sprintf("backlog-%d-%d", i, k)
			s.post(msg("acme-sms", id, map[string]any{"phone": fmt.Sprintf("+1628555%04d", i)}, "backlog"), http.StatusAccepted)
			ids = append(ids, key{"acme-sms", id})
		}
	}
	waitFor(t, "the backlog to be resolved", 60*time.Second, func() bool {
		for _, k := range ids {
			if s.messageState(k.channel, k.id).Outcome == "" {
				return false
			}
		}
		return true
	})
	// Serve stops with the backlog waiting (the publications it held never reached
	// HubSpot) and starts again: the new client's limiter starts empty, as after a
	// restart or an outage.
	s.stop()
	gate.release()
	s.emu.ResetStats()
	s.start()
	var pubs []emulator.PublishedMessage
	waitFor(t, fmt.Sprintf("%d publications", total), 90*time.Second, func() bool {
		pubs = s.emu.Published()
		return len(pubs) >= total
	})
	for _, k := range ids {
		if st := s.waitSettled(k.channel, k.id); st.Published == nil || st.Outcome != domain.EventContactMatched {
			t.Fatalf("message %s: outcome %s, published %v", k.id, st.Outcome, st.Published != nil)
		}
	}
	// Every publication's wait is in /metrics: the whole backlog waited at least the
	// restart, and none longer than since the first recording.
	count, sum := publicationWaits(t, s)
	if count != total {
		t.Errorf("switchboard_publication_wait_seconds counts %d publications, want %d", count, total)
	} else if mean := sum / float64(count); mean <= 0 || mean > time.Since(recorded).Seconds() {
		t.Errorf("mean publication wait %.2f s, want more than 0 and at most the %.2f s since the first recording", mean, time.Since(recorded).Seconds())
	} else {
		t.Logf("mean publication wait %.2f s over %d publications", mean, count)
	}
	windows := budgetWindows(pubs)
	least, _ := emptiestWindowAfterTheFirst(pubs)
	t.Logf("publications per full 10-second window: %v, emptiest window after the first %d (budget %d, emulator limit 110); stats %+v, peak in 10 s %d",
		windows, least, budget, s.emu.Stats(), s.emu.MaxRequestsInAnyTenSeconds())
	if len(windows) < 2 {
		t.Fatalf("%d full windows of backlog, want at least 2 (publications %v)", len(windows), windows)
	}
	for i, n := range windows {
		if use := float64(n) / float64(budget); use < 0.95 {
			t.Errorf("window %d: %d publications, %.3f of the budget of %d, want at least 0.95", i, n, use, budget)
		}
	}
	// Past the first window the budget stays busy whichever moment a window starts at,
	// not only in windows aligned on the first publication: the publications are
	// spread, not sent in a burst of the whole budget per window.
	if least, ok := emptiestWindowAfterTheFirst(pubs); !ok {
		t.Errorf("no 10-second window starts after the first and ends before the last publication")
	} else if use := float64(least) / float64(budget); use < 0.95 {
		t.Errorf("the emptiest 10-second window starting after the first holds %d publications, %.3f of the budget of %d, want at least 0.95", least, use, budget)
	}
	if n := s.emu.Stats().RateLimited; n != 0 {
		t.Errorf("HubSpot answered %d 429s, want none", n)
	}
}
