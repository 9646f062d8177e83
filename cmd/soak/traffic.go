package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/samples"
)

// Channels the harness drives. Phone persons write on SMS and WhatsApp Cloud and through
// the command API (on the SMS channel); Telegram persons write on Telegram.
const (
	chSMS      = "soak-sms"
	chWhatsApp = "soak-wa"
	chTelegram = "soak-tg"
	viaAPI     = "api"
)

// person is one human sender. Phone is E.164 for phone persons; TelegramID for Telegram.
type person struct {
	Key        string // "phone:+1415…" or "telegram:…", how contacts are grouped
	Phone      string
	TelegramID string
	Name       string
}

// plannedMessage is one message a platform delivers (and redelivers until answered 2xx).
type plannedMessage struct {
	Via       string // chSMS, chWhatsApp, chTelegram or viaAPI
	Channel   string // the channel id the message is recorded under
	MessageID string // the platform's id as switchboard records it
	Person    *person
	Text      string
	At        time.Duration // when in the traffic phase it is first sent
	// Twice sends it twice at the same moment (a platform's concurrent redelivery);
	// Again resends it once more later, after it was acknowledged.
	Twice bool
	Again time.Duration
}

func (m *plannedMessage) key() string { return m.Channel + "/" + m.MessageID }

// attempt is one HTTP request the harness made and what came back.
type attempt struct {
	Key     string
	Start   time.Time
	Elapsed time.Duration
	Status  int // 0: no answer (connection refused, reset, timeout)
	Err     string
	Body    string
	Redeliv bool // a deliberate duplicate, not a retry of an unanswered request
	Attempt int
}

// traffic sends a plan and records every attempt.
type traffic struct {
	cfg     *config.Config
	service string // base URL
	admin   string
	client  *http.Client

	mu       sync.Mutex
	attempts []attempt
	acked    map[string]bool
	refused  map[string]string // key -> first non-retryable answer

	sent atomic.Int64
}

func newTraffic(cfg *config.Config, service, admin string) *traffic {
	return &traffic{cfg: cfg, service: service, admin: admin, acked: map[string]bool{}, refused: map[string]string{},
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableKeepAlives: false}}}
}

// request builds a fresh request for m (bodies are single-use), signed like the platform.
func (t *traffic) request(m *plannedMessage, now time.Time) (*http.Request, error) {
	if m.Via == viaAPI {
		body, _ := json.Marshal(map[string]any{"channel_id": m.Channel, "message_id": m.MessageID,
			"sender": map[string]any{"phone": m.Person.Phone, "first_name": m.Person.Name}, "text": m.Text})
		req, err := http.NewRequest("POST", t.service+"/v1/messages", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+t.admin)
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
	ch, _, ok := t.cfg.Channel(m.Channel)
	if !ok {
		return nil, fmt.Errorf("channel %s is not configured", m.Channel)
	}
	s := samples.Sample{Text: m.Text, Name: m.Person.Name, Now: now}
	switch m.Via {
	case chSMS:
		s.From, s.MessageID = m.Person.Phone, m.MessageID
	case chWhatsApp:
		s.From, s.MessageID = m.Person.Phone[1:], m.MessageID
	case chTelegram:
		s.From, s.MessageID = m.Person.TelegramID, m.MessageID
	}
	return samples.Build(*ch, t.service+"/webhooks/"+m.Channel, s)
}

// deliver sends m until it is answered 2xx, refused (4xx) or ctx ends, waiting between
// attempts as platforms do (they redeliver what was not acknowledged).
func (t *traffic) deliver(ctx context.Context, m *plannedMessage, rng *rand.Rand, redelivery bool) {
	backoff := 100 * time.Millisecond
	for n := 1; ; n++ {
		req, err := t.request(m, time.Now())
		if err != nil {
			t.record(attempt{Key: m.key(), Start: time.Now(), Err: "build: " + err.Error(), Attempt: n})
			return
		}
		req = req.WithContext(ctx)
		start := time.Now()
		t.sent.Add(1)
		res, err := t.client.Do(req)
		a := attempt{Key: m.key(), Start: start, Elapsed: time.Since(start), Attempt: n, Redeliv: redelivery}
		if err != nil {
			a.Err = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
			res.Body.Close()
			a.Status, a.Body = res.StatusCode, string(b)
		}
		t.record(a)
		switch {
		case a.Status >= 200 && a.Status < 300:
			return
		case a.Status >= 400 && a.Status < 500 && a.Status != http.StatusTooManyRequests && a.Status != http.StatusRequestTimeout:
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rng.Int63n(int64(backoff)))):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

func (t *traffic) record(a attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts = append(t.attempts, a)
	switch {
	case a.Status >= 200 && a.Status < 300:
		t.acked[a.Key] = true
	case a.Status >= 400 && a.Status < 500 && a.Status != http.StatusTooManyRequests && a.Status != http.StatusRequestTimeout:
		if _, ok := t.refused[a.Key]; !ok {
			t.refused[a.Key] = fmt.Sprintf("%d %s", a.Status, a.Body)
		}
	}
}

// run sends the whole plan: each message at its time, with at most conc in flight,
// until every message was acknowledged or refused, or ctx ends.
func (t *traffic) run(ctx context.Context, plan []*plannedMessage, conc int, seed int64) {
	start := time.Now()
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, m := range plan {
		if d := time.Until(start.Add(m.At)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		copies := 1
		if m.Twice {
			copies = 2
		}
		for c := 0; c < copies; c++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(m *plannedMessage, rng *rand.Rand, redelivery bool) {
				defer wg.Done()
				t.deliver(ctx, m, rng, redelivery)
				<-sem
				if m.Again > 0 && !redelivery {
					select {
					case <-ctx.Done():
						return
					case <-time.After(m.Again):
					}
					t.deliver(ctx, m, rng, true)
				}
			}(m, rand.New(rand.NewSource(seed+int64(i)*7919+int64(c))), c > 0)
		}
	}
	wg.Wait()
}

func (t *traffic) snapshot() (attempts []attempt, acked map[string]bool, refused map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	acked = make(map[string]bool, len(t.acked))
	for k := range t.acked {
		acked[k] = true
	}
	refused = make(map[string]string, len(t.refused))
	for k, v := range t.refused {
		refused[k] = v
	}
	return append([]attempt(nil), t.attempts...), acked, refused
}
