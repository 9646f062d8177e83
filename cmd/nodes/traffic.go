package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/samples"
)

// The channels of the run: phone persons write on SMS and WhatsApp Cloud, Telegram
// persons on Telegram.
const (
	chSMS      = "nodes-sms"
	chWhatsApp = "nodes-wa"
	chTelegram = "nodes-tg"
)

// accounts are the channels' HubSpot channel accounts (the inbox a message lands in).
var accounts = map[string]string{chSMS: "3001", chWhatsApp: "3002", chTelegram: "3003"}

// person is one human sender; Key groups the contacts made for them.
type person struct {
	Key        string // "phone:+1415…" or "telegram:…"
	Phone      string
	TelegramID string
	Name       string
}

// message is one platform message, delivered until some node answers it 2xx.
type message struct {
	Channel   string
	MessageID string
	Person    *person
	Text      string
	Node      int // the node the platform first reaches (the load balancer's pick)
}

func (m *message) key() string { return m.Channel + "/" + m.MessageID }

// traffic delivers messages to the nodes, moving to the next node when one does not
// answer or answers 5xx, as a load balancer's retry or the platform's redelivery would.
type traffic struct {
	cfg    *config.Config
	nodes  []*node
	client *http.Client

	mu       sync.Mutex
	sent     []*message
	acked    map[string]bool
	ackedBy  map[string]int // node index that acknowledged
	refused  map[string]string
	retried  int // requests sent again to another node after no answer or a 5xx
	requests int
}

func newTraffic(cfg *config.Config, nodes []*node) *traffic {
	return &traffic{cfg: cfg, nodes: nodes, acked: map[string]bool{}, ackedBy: map[string]int{}, refused: map[string]string{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

func (t *traffic) request(m *message, base string) (*http.Request, error) {
	ch, _, ok := t.cfg.Channel(m.Channel)
	if !ok {
		return nil, fmt.Errorf("channel %s is not configured", m.Channel)
	}
	s := samples.Sample{Text: m.Text, Name: m.Person.Name, Now: time.Now(), MessageID: m.MessageID}
	switch m.Channel {
	case chSMS:
		s.From = m.Person.Phone
	case chWhatsApp:
		s.From = m.Person.Phone[1:]
	case chTelegram:
		s.From = m.Person.TelegramID
	}
	return samples.Build(*ch, base+"/webhooks/"+m.Channel, s)
}

// deliver sends m to its node, and on no answer or a 5xx to the next node, until one
// answers 2xx or 4xx or ctx ends.
func (t *traffic) deliver(ctx context.Context, m *message, rng *rand.Rand) {
	t.mu.Lock()
	t.sent = append(t.sent, m)
	t.mu.Unlock()
	backoff := 50 * time.Millisecond
	for n := 0; ctx.Err() == nil; n++ {
		i := (m.Node + n) % len(t.nodes)
		req, err := t.request(m, t.nodes[i].url())
		if err != nil {
			t.refuse(m, "build: "+err.Error())
			return
		}
		res, err := t.client.Do(req.WithContext(ctx))
		status, body := 0, ""
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
			res.Body.Close()
			status, body = res.StatusCode, string(b)
		}
		t.mu.Lock()
		t.requests++
		if n > 0 {
			t.retried++
		}
		t.mu.Unlock()
		switch {
		case status >= 200 && status < 300:
			t.mu.Lock()
			t.acked[m.key()], t.ackedBy[m.key()] = true, i
			t.mu.Unlock()
			return
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			t.refuse(m, fmt.Sprintf("%d %s", status, body))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rng.Int63n(int64(backoff)))):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (t *traffic) refuse(m *message, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.refused[m.key()]; !ok {
		t.refused[m.key()] = why
	}
}

// snapshot is what the platforms know: what they sent, and what was acknowledged.
func (t *traffic) snapshot() (sent []*message, acked map[string]bool, refused map[string]string) {
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
	return append([]*message(nil), t.sent...), acked, refused
}

// people makes phone and Telegram persons, numbered from first.
func people(phones, telegrams, first int) []*person {
	var out []*person
	for i := range phones {
		phone := fmt.Sprintf("+1415555%04d", 3000+first+i)
		out = append(out, &person{Key: "phone:" + phone, Phone: phone, Name: fmt.Sprintf("Node Person %d", first+i)})
	}
	for i := range telegrams {
		id := fmt.Sprintf("%d", 770000000+first+i)
		out = append(out, &person{Key: "telegram:" + id, TelegramID: id, Name: fmt.Sprintf("Tele Person %d", first+i)})
	}
	return out
}

// newMessage is the next message of p on a channel p writes on, first reaching node.
func newMessage(rng *rand.Rand, p *person, nodeIdx int, seq *int) *message {
	*seq++
	m := &message{Person: p, Node: nodeIdx, Text: fmt.Sprintf("nodes message %d", *seq)}
	switch {
	case p.TelegramID != "":
		m.Channel, m.MessageID = chTelegram, fmt.Sprintf("%s:%d", p.TelegramID, *seq)
	case rng.Intn(2) == 0:
		m.Channel, m.MessageID = chSMS, fmt.Sprintf("SM%016x%016x", rng.Uint64(), rng.Uint64())
	default:
		m.Channel, m.MessageID = chWhatsApp, fmt.Sprintf("wamid.NODES%016X", rng.Uint64())
	}
	return m
}
