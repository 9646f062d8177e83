// Package loaddriver offers a running switchboard signed webhooks (or command-API calls)
// at a closed-loop concurrency or an open-loop constant rate, and measures what it
// acknowledged, how fast, and — reading the HubSpot emulator's own views — how long each
// acknowledged message took to reach the inbox and what it cost in HubSpot calls.
// `switchboard dev load` is its command line; `make bench` drives it against `serve`.
package loaddriver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/samples"
	"switchboard/domain"
)

// BurstSize is how many channels one new sender writes on at once in a burst.
const BurstSize = 3

// Options shape one run.
type Options struct {
	// Config supplies the channels' secrets (webhooks are signed with them) and the
	// admin token (the command API).
	Config *config.Config
	// BaseURL is the service's, for example http://127.0.0.1:8080.
	BaseURL string
	// EmulatorURL is the HubSpot emulator's (`dev hubspot`); "" measures the
	// acknowledgments only.
	EmulatorURL string
	// Channels are the channel ids messages go to, in turn. A burst uses the first
	// BurstSize of them, which must be phone channels (sms, whatsapp) so that one
	// number is one person on all three.
	Channels []string
	// API sends POST /v1/messages instead of the platforms' webhooks.
	API bool

	// Clients is the closed-loop concurrency: each client sends, waits for the answer,
	// sends again. Rate, when positive, replaces it with an open loop offering Rate
	// messages per second whatever the answers' pace.
	Clients int
	Rate    float64
	// Duration or Count (messages) ends the run, whichever comes first; at least one
	// must be set.
	Duration time.Duration
	Count    int

	// KnownSenders is the share (0..1) of messages from a small pool of senders whose
	// contacts exist and whose match keys switchboard has resolved (a warm-up sends
	// one message from each on each channel first, and waits for their publication).
	// The others come from fresh senders, never seen before.
	KnownSenders float64
	// PoolSize is the number of known senders (default 20).
	PoolSize int
	// Burst makes each new sender write on BurstSize channels at once.
	Burst bool

	// Settle bounds the wait, after the last answer, for the acknowledged messages to
	// reach the inbox (default 30 s); the warm-up waits as long.
	Settle time.Duration
	// Timeout bounds one request (default 30 s).
	Timeout time.Duration
	// MaxInFlight caps the open loop's concurrent requests (default 4096).
	MaxInFlight int
	// HTTPClient sends everything (default: a client keeping enough idle connections
	// for the concurrency).
	HTTPClient *http.Client
	// Progress receives one line per phase (default: discarded).
	Progress io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.PoolSize <= 0 {
		o.PoolSize = 20
	}
	if o.Settle <= 0 {
		o.Settle = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4096
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		// Keep a connection per request that can be in flight: closing the surplus after
		// each answer would measure TCP handshakes and fill the port range with TIME_WAIT.
		idle := o.Clients*BurstSize + 8
		if o.Rate > 0 {
			idle = o.MaxInFlight * BurstSize
		}
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
}

// target is one channel messages go to.
type target struct {
	ch  *config.Channel
	url string
}

// message is one message of the run.
type message struct {
	t     target
	from  string
	name  string
	text  string
	id    string
	isNew bool
}

// run holds one run's state.
type run struct {
	o       Options
	targets []target
	// runNum makes the run's senders and message ids its own: two runs against the
	// same store and emulator never deduplicate each other's messages.
	runNum  uint64
	runID   string
	records recorder
}

// Validate says what is wrong with o, every problem at once.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Config == nil {
		bad("no configuration: the driver signs webhooks with the channels' secrets")
	}
	if o.BaseURL == "" {
		bad("no service URL")
	}
	if len(o.Channels) == 0 {
		bad("no channel: name at least one channel id")
	}
	if o.Clients <= 0 && o.Rate <= 0 {
		bad("neither clients nor rate: use a positive concurrency (closed loop) or rate (open loop)")
	}
	if o.Clients > 0 && o.Rate > 0 {
		bad("both clients (%d) and rate (%g): choose a closed loop or an open loop", o.Clients, o.Rate)
	}
	if o.Duration <= 0 && o.Count <= 0 {
		bad("neither duration nor count: the run would never end")
	}
	if o.KnownSenders < 0 || o.KnownSenders > 1 || math.IsNaN(o.KnownSenders) {
		bad("known senders share %g is outside 0..1", o.KnownSenders)
	}
	if o.Burst && len(o.Channels) < BurstSize {
		bad("a burst writes on %d channels at once; %d given", BurstSize, len(o.Channels))
	}
	if o.Config != nil {
		for i, id := range o.Channels {
			ch, _, ok := o.Config.Channel(id)
			if !ok {
				bad("channel %q is not in %s", id, o.Config.Path)
				continue
			}
			if o.Burst && i < BurstSize && !phoneKind(ch) {
				bad("a burst's channels must be phone channels (sms, whatsapp) so one number is one person on all of them; %s is %s", id, ch.Kind)
			}
		}
		if o.API && o.Config.AdminToken == "" {
			bad("the command API needs the admin token: set the variable %s names", o.Config.AdminTokenEnv)
		}
	}
	return errors.Join(errs...)
}

func phoneKind(ch *config.Channel) bool {
	k := domain.ChannelKind(ch.Kind)
	return k == domain.KindSMS || k == domain.KindWhatsApp
}

// Run offers the load and reports what it measured. The error is for a run that could
// not be carried out (bad options, a warm-up that never published); failed sends are
// counted in Report.Errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	o.defaults()
	r := &run{o: o}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.runNum = binary.BigEndian.Uint64(b[:])
	r.runID = hex.EncodeToString(b[:4])
	base := strings.TrimRight(o.BaseURL, "/")
	for _, id := range o.Channels {
		ch, _, _ := o.Config.Channel(id)
		r.targets = append(r.targets, target{ch: ch, url: base + "/webhooks/" + ch.ID})
	}
	rep := &Report{Target: strings.Join(o.Channels, ","), Mode: "webhooks", Clients: o.Clients, Rate: o.Rate,
		KnownSenders: o.KnownSenders, Burst: o.Burst, Errors: map[string]int{}}
	if o.API {
		rep.Mode = "api"
	}

	var emu *emulatorView
	if o.EmulatorURL != "" {
		emu = &emulatorView{base: strings.TrimRight(o.EmulatorURL, "/"), http: o.HTTPClient}
	}
	if o.KnownSenders > 0 {
		if err := r.warmUp(ctx, emu); err != nil {
			return nil, err
		}
	}
	inboxFrom := 0
	if emu != nil {
		if err := emu.resetStats(ctx); err != nil {
			return nil, err
		}
		n, err := emu.inboxLen(ctx)
		if err != nil {
			return nil, err
		}
		inboxFrom = n
	}

	fmt.Fprintf(o.Progress, "load %s: sending\n", r.runID)
	began := o.Now()
	if o.Rate > 0 {
		r.openLoop(ctx, began)
	} else {
		r.closedLoop(ctx, began)
	}
	recs := r.records.all()
	var ends time.Time
	var lat []time.Duration
	newSenders := map[string]bool{}
	for _, rec := range recs {
		rep.Sent++
		if rec.end.After(ends) {
			ends = rec.end
		}
		if rec.m.isNew {
			newSenders[rec.m.from] = true
		}
		if rec.outcome != "" {
			rep.Errors[rec.outcome]++
			continue
		}
		rep.Acknowledged++
		lat = append(lat, rec.end.Sub(rec.start))
	}
	rep.NewSenders = len(newSenders)
	if rep.Sent > 0 {
		rep.Elapsed = ends.Sub(began).Seconds()
		if rep.Elapsed > 0 {
			rep.AckPerSec = float64(rep.Acknowledged) / rep.Elapsed
		}
	}
	rep.AckLatency = Summarize(lat)
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	if emu != nil {
		er, err := r.observe(ctx, emu, inboxFrom, recs, rep)
		if err != nil {
			return nil, err
		}
		rep.Emulator = er
	}
	return rep, nil
}

// unit is the messages sent together: one, or a burst's BurstSize.
func (r *run) unit(i int) []message {
	h := mix(r.runNum ^ uint64(i)*0x9e3779b97f4a7c15)
	known := float64(h>>11)/float64(1<<53) < r.o.KnownSenders
	if known {
		t := r.targets[i%len(r.targets)]
		return []message{r.newMessage(t, int(h%uint64(r.o.PoolSize)), false, i, 0)}
	}
	// New senders are numbered after the pool, one number per unit.
	sender := r.o.PoolSize + i
	if r.o.Burst {
		out := make([]message, BurstSize)
		for k := range out {
			out[k] = r.newMessage(r.targets[k], sender, true, i, k)
		}
		return out
	}
	return []message{r.newMessage(r.targets[i%len(r.targets)], sender, true, i, 0)}
}

// meanUnit is the average number of messages per unit.
func (r *run) meanUnit() float64 {
	if !r.o.Burst {
		return 1
	}
	return r.o.KnownSenders + (1-r.o.KnownSenders)*BurstSize
}

func (r *run) newMessage(t target, sender int, isNew bool, unit, k int) message {
	text := fmt.Sprintf("load %s %d.%d", r.runID, unit, k)
	return message{t: t, from: senderID(t.ch, r.runNum, sender), name: fmt.Sprintf("Load Sender %d", sender),
		text: text, id: messageID(t.ch, r.runNum, unit*BurstSize+k), isNew: isNew}
}

// senderID is sender n of the run as channel ch's platform names people. Phone numbers
// are valid US numbers (415, exchanges 200..999), so they pass normalization.
func senderID(ch *config.Channel, runNum uint64, n int) string {
	off := uint64(n) + runNum%1_000_000_007
	switch domain.ChannelKind(ch.Kind) {
	case domain.KindSMS, domain.KindWhatsApp:
		return fmt.Sprintf("+1415%07d", 2_000_000+off%8_000_000)
	case domain.KindTelegram:
		return strconv.FormatUint(100_000_000+off%800_000_000, 10)
	case domain.KindSlack:
		return fmt.Sprintf("UL%09d", off%1_000_000_000)
	}
	return strconv.FormatUint(2_400_000_000_000_000+off%100_000_000_000_000, 10)
}

// messageID is message seq of the run in the platform's id format.
func messageID(ch *config.Channel, runNum uint64, seq int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d", runNum, seq))
	h := hex.EncodeToString(sum[:])
	switch kind := domain.ChannelKind(ch.Kind); {
	case kind == domain.KindSMS, kind == domain.KindWhatsApp && ch.Provider == "twilio":
		return "SM" + h[:32]
	case kind == domain.KindWhatsApp:
		return "wamid.LOAD" + strings.ToUpper(h[:40])
	case kind == domain.KindTelegram:
		// Positive and below 2^53: the run's own block of a billion ids.
		return strconv.FormatUint((runNum%4_000_000)*1_000_000_000+uint64(seq)+1, 10)
	case kind == domain.KindSlack:
		n := (runNum%100_000)*1_000_000 + uint64(seq)
		return fmt.Sprintf("%d.%06d", 1_700_000_000+n/1_000_000, n%1_000_000)
	}
	return "m_" + h[:40]
}

// mix is splitmix64's finalizer: a unit's known-or-new draw, independent of the others.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// record is one message's outcome; outcome "" is an acknowledgment.
type record struct {
	m          message
	start, end time.Time
	outcome    string
}

type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (rc *recorder) add(recs ...record) {
	rc.mu.Lock()
	rc.recs = append(rc.recs, recs...)
	rc.mu.Unlock()
}

func (rc *recorder) all() []record {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]record(nil), rc.recs...)
}

// closedLoop runs the clients until the duration passes or the count is sent.
func (r *run) closedLoop(ctx context.Context, began time.Time) {
	var next, sent atomic.Int64
	var wg sync.WaitGroup
	for range r.o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if r.o.Duration > 0 && r.o.Now().Sub(began) >= r.o.Duration {
					return
				}
				i := int(next.Add(1) - 1)
				u := r.unit(i)
				if r.o.Count > 0 {
					// Claim this unit's messages; a unit that would overshoot the count is
					// cut to what is left.
					after := sent.Add(int64(len(u)))
					if over := after - int64(r.o.Count); over > 0 {
						if over >= int64(len(u)) {
							return
						}
						u = u[:int64(len(u))-over]
					}
				}
				r.records.add(r.sendUnit(ctx, u, r.o.Now())...)
			}
		}()
	}
	wg.Wait()
}

// openLoop sends unit after unit at the pacer's times; latency counts from the time each
// was due, so a service that falls behind shows it in the figures.
func (r *run) openLoop(ctx context.Context, began time.Time) {
	p := newPacer(began, r.o.Rate, r.meanUnit())
	sem := make(chan struct{}, r.o.MaxInFlight)
	var wg sync.WaitGroup
	sent := 0
	for i := 0; ctx.Err() == nil; i++ {
		due := p.at(i)
		if r.o.Duration > 0 && due.Sub(began) >= r.o.Duration {
			break
		}
		u := r.unit(i)
		if r.o.Count > 0 {
			if sent >= r.o.Count {
				break
			}
			u = u[:min(len(u), r.o.Count-sent)]
		}
		sent += len(u)
		if wait := due.Sub(r.o.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.records.add(r.sendUnit(ctx, u, due)...)
		}()
	}
	wg.Wait()
}

// sendUnit sends a unit's messages at once and waits for every answer.
func (r *run) sendUnit(ctx context.Context, u []message, start time.Time) []record {
	out := make([]record, len(u))
	if len(u) == 1 {
		out[0] = r.send(ctx, u[0], start)
		return out
	}
	var wg sync.WaitGroup
	for k := range u {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[k] = r.send(ctx, u[k], start)
		}()
	}
	wg.Wait()
	return out
}

func (r *run) send(ctx context.Context, m message, start time.Time) record {
	rec := record{m: m, start: start}
	req, err := r.request(m)
	if err != nil {
		rec.end, rec.outcome = r.o.Now(), "build: "+err.Error()
		return rec
	}
	cctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	res, err := r.o.HTTPClient.Do(req.WithContext(cctx))
	if err != nil {
		rec.end, rec.outcome = r.o.Now(), transportOutcome(err)
		return rec
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	rec.end = r.o.Now()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		rec.outcome = "status " + strconv.Itoa(res.StatusCode)
	}
	return rec
}

// request builds a signed webhook, or a command-API call.
func (r *run) request(m message) (*http.Request, error) {
	if !r.o.API {
		return samples.Build(*m.t.ch, m.t.url, samples.Sample{From: m.from, Name: m.name, Text: m.text, MessageID: m.id, Now: r.o.Now()})
	}
	sender := map[string]string{}
	if phoneKind(m.t.ch) {
		sender["phone"] = m.from
	} else {
		sender["user_id"] = m.from
	}
	body, err := json.Marshal(map[string]any{"channel_id": m.t.ch.ID, "message_id": m.id, "sender": sender, "text": m.text})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(r.o.BaseURL, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.o.Config.AdminToken)
	return req, nil
}

// transportOutcome names a failed request by its kind, not its full text (which carries
// addresses and ports that would split one cause into many lines).
func transportOutcome(err error) string {
	var ne net.Error
	switch s := err.Error(); {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, context.Canceled):
		return "transport: canceled"
	case strings.Contains(s, "connection refused"):
		return "transport: connection refused"
	case strings.Contains(s, "connection reset"):
		return "transport: connection reset"
	case strings.Contains(s, "EOF"):
		return "transport: EOF"
	default:
		return "transport: error"
	}
}

// warmUp makes the pool's senders known: one message from each on each channel, then
// a wait until all are published (which means their contacts exist and their match
// keys are resolved).
func (r *run) warmUp(ctx context.Context, emu *emulatorView) error {
	var msgs []message
	for n := range r.o.PoolSize {
		for _, t := range r.targets {
			m := r.newMessage(t, n, false, -1-len(msgs), 0)
			m.text = fmt.Sprintf("load %s warm-up %d", r.runID, len(msgs))
			m.id = messageID(t.ch, r.runNum^0xffff_0000_0000_0000, len(msgs))
			msgs = append(msgs, m)
		}
	}
	fmt.Fprintf(r.o.Progress, "load %s: warming up %d known senders (%d messages)\n", r.runID, r.o.PoolSize, len(msgs))
	from := 0
	if emu != nil {
		n, err := emu.inboxLen(ctx)
		if err != nil {
			return err
		}
		from = n
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if rec := r.send(ctx, m, r.o.Now()); rec.outcome != "" {
				mu.Lock()
				failed = append(failed, rec.outcome)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("load: warm-up: %d of %d messages were refused (first: %s)", len(failed), len(msgs), failed[0])
	}
	if emu == nil {
		return nil
	}
	want := map[string]bool{}
	for _, m := range msgs {
		want[m.text] = true
	}
	deadline := r.o.Now().Add(r.o.Settle)
	for {
		got, err := emu.inbox(ctx, from)
		if err != nil {
			return err
		}
		seen := 0
		for _, p := range got {
			if want[p.Text] {
				seen++
			}
		}
		if seen >= len(want) {
			return nil
		}
		if r.o.Now().After(deadline) {
			return fmt.Errorf("load: warm-up: %d of %d messages published within %s; is the service's publisher running against this emulator?", seen, len(want), r.o.Settle)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// observe waits for the acknowledged messages to reach the inbox (or the settle time to
// pass) and reads the emulator's counts.
func (r *run) observe(ctx context.Context, emu *emulatorView, from int, recs []record, rep *Report) (*EmulatorReport, error) {
	acked := map[string]time.Time{}
	for _, rec := range recs {
		if rec.outcome == "" {
			acked[rec.m.text] = rec.end
		}
	}
	began := r.o.Now()
	deadline := began.Add(r.o.Settle)
	published := map[string]time.Time{}
	for {
		got, err := emu.inbox(ctx, from)
		if err != nil {
			return nil, err
		}
		for _, p := range got {
			if _, ok := acked[p.Text]; ok {
				if _, dup := published[p.Text]; !dup {
					published[p.Text] = p.PublishedAt
				}
			}
		}
		from += len(got)
		if len(published) >= len(acked) || r.o.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	er := &EmulatorReport{Published: len(published), Unpublished: len(acked) - len(published), SettleWait: r.o.Now().Sub(began).Seconds()}
	var lat []time.Duration
	for text, at := range published {
		lat = append(lat, max(at.Sub(acked[text]), 0))
	}
	er.AckToInbox = Summarize(lat)
	st, err := emu.stats(ctx)
	if err != nil {
		return nil, err
	}
	er.Calls = st.Requests
	er.CallsPerMessage = map[string]float64{}
	for op, n := range st.Requests {
		if rep.Acknowledged > 0 {
			er.CallsPerMessage[op] = float64(n) / float64(rep.Acknowledged)
		}
		// A new sender's cost is its CRM calls; publications are per message.
		if rep.NewSenders > 0 && op != "publish" && op != "get_message" {
			if er.CallsPerNewSender == nil {
				er.CallsPerNewSender = map[string]float64{}
			}
			er.CallsPerNewSender[op] = float64(n) / float64(rep.NewSenders)
		}
	}
	if rep.Acknowledged > 0 {
		er.CRMCallsPerMsg = float64(st.CRMCalls) / float64(rep.Acknowledged)
	}
	er.RateLimited = st.RateLimited
	er.MaxTenSeconds, er.MaxSearchSecond = st.MaxRequestsInAnyTenSeconds, st.MaxSearchesInAnySecond
	er.TenSecondLimit, er.SearchPerSecond = st.Limits.TenSecondLimit, st.Limits.SearchPerSecond
	return er, nil
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

// emulatorView reads `dev hubspot`'s own endpoints (/_emulator/...).
type emulatorView struct {
	base string
	http *http.Client
}

type inboxMessage struct {
	Text        string
	PublishedAt time.Time
}

type emulatorStats struct {
	Requests                   map[string]int
	CRMCalls                   int
	RateLimited                int
	MaxRequestsInAnyTenSeconds int
	MaxSearchesInAnySecond     int
	Limits                     struct{ TenSecondLimit, SearchPerSecond int }
}

func (e *emulatorView) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+path, nil)
	if err != nil {
		return err
	}
	res, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("load: read the emulator: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("load: GET %s%s: %s %s (is this `switchboard dev hubspot`?)", e.base, path, res.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("load: GET %s%s: %w", e.base, path, err)
	}
	return nil
}

// inbox returns the published messages from index from on.
func (e *emulatorView) inbox(ctx context.Context, from int) ([]inboxMessage, error) {
	var out []inboxMessage
	err := e.get(ctx, "/_emulator/inbox?offset="+strconv.Itoa(from), &out)
	return out, err
}

func (e *emulatorView) inboxLen(ctx context.Context) (int, error) {
	var st struct{ Published int }
	if err := e.get(ctx, "/_emulator/inbox/count", &st); err != nil {
		return 0, err
	}
	return st.Published, nil
}

func (e *emulatorView) stats(ctx context.Context) (emulatorStats, error) {
	var st emulatorStats
	err := e.get(ctx, "/_emulator/stats", &st)
	return st, err
}

func (e *emulatorView) resetStats(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/_emulator/stats/reset", nil)
	if err != nil {
		return err
	}
	res, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("load: reset the emulator's stats: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("load: POST %s/_emulator/stats/reset: %s", e.base, res.Status)
	}
	return nil
}
