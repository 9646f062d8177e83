package hubspot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/domain"
)

// newEmulatorClient serves emu on a loopback server and builds a client on it with the
// real clock (the emulator's rate limits run on real time too).
func newEmulatorClient(t *testing.T, h http.Handler, mutate func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{BaseURL: srv.URL, Token: testToken, Workspace: "acme", RequestTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func newEmulator(t *testing.T) *emulator.Server {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	t.Cleanup(emu.Close)
	return emu
}

func ids(cs []domain.Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// senderNumber is the E.164 number of sender i: mostly US numbers (one national
// number each), every fifth an Argentine mobile (two national numbers: with and
// without the mobile 9).
func senderNumber(i int) string {
	if i%5 == 4 {
		return fmt.Sprintf("+54911%08d", 23450000+i)
	}
	return fmt.Sprintf("+1415555%04d", 100+i)
}

func TestConcurrentPhoneLookupsShareSearches(t *testing.T) {
	emu := newEmulator(t)
	reg := prometheus.NewRegistry()
	c := newEmulatorClient(t, emu, func(cfg *Config) { cfg.Registerer = reg })

	const n = 40
	want := make([][]string, n) // contact ids each sender must get
	add := func(props map[string]string, senders ...int) {
		id := emu.CreateContact(props)
		for _, s := range senders {
			want[s] = append(want[s], id)
		}
	}
	for i := 0; i < n; i += 3 {
		add(map[string]string{"firstname": fmt.Sprint("sender ", i), "phone": senderNumber(i)}, i)
	}
	// One contact holds two senders' numbers, in phone and in mobilephone.
	add(map[string]string{"firstname": "shared", "phone": senderNumber(1), "mobilephone": senderNumber(2)}, 1, 2)
	// A second contact for sender 3, by mobile; a contact nobody asks for.
	add(map[string]string{"firstname": "second", "mobilephone": senderNumber(3)}, 3)
	emu.CreateContact(map[string]string{"firstname": "decoy", "phone": "+14155559999"})
	for i := range want {
		slices.Sort(want[i])
	}

	results := make([]domain.LookupResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e164 := senderNumber(i)
			results[i], errs[i] = c.FindByPhone(context.Background(), domain.PhoneQuery{E164: e164, NationalNumbers: domain.NationalNumbers(e164)})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	searches := emu.Stats().Requests[emulator.OpSearch]
	if searches > 10 {
		t.Errorf("%d searches for %d senders, want at most 10", searches, n)
	}
	if got := emu.MaxSearchesInAnySecond(); got > 5 {
		t.Errorf("%d searches in one second, HubSpot allows 5", got)
	}
	shared := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("sender %d: %v", i, errs[i])
		}
		if got := ids(results[i].Candidates); !slices.Equal(got, want[i]) {
			t.Errorf("sender %d (%s): candidates %v, want %v", i, senderNumber(i), got, want[i])
		}
		found := 0
		for _, l := range results[i].Lookups {
			found += l.Found
			if l.Kind != "search" {
				t.Errorf("sender %d: lookup kind %q", i, l.Kind)
			}
		}
		if found != len(results[i].Candidates) || len(results[i].Lookups) == 0 {
			t.Errorf("sender %d: lookups %+v do not account for %d candidates", i, results[i].Lookups, len(results[i].Candidates))
		}
		if q := results[i].Lookups[0].Query; strings.Contains(q, "one search shared by") {
			shared++
			for _, nat := range domain.NationalNumbers(senderNumber(i)) {
				if !strings.Contains(q, "this sender's ") || !strings.Contains(q[strings.Index(q, "this sender's "):], nat) {
					t.Errorf("sender %d: shared lookup does not name its number %s: %q", i, nat, q)
				}
			}
			// The lookup is sealed with this sender's key and erased with this sender:
			// it must not name the others it shared the search with (rule 17).
			for j := range n {
				for _, nat := range domain.NationalNumbers(senderNumber(j)) {
					if j != i && strings.Contains(q, nat) && !strings.Contains(senderNumber(i), nat) {
						t.Errorf("sender %d: shared lookup names sender %d's number %s: %q", i, j, nat, q)
					}
				}
			}
		}
	}
	// Only a sender that found the limiter free (the first, maybe one more) goes alone.
	if shared < n/2 {
		t.Errorf("%d of %d lookups say their search was shared", shared, n)
	}
	t.Logf("%d senders: %d searches in %s, %d lookups shared", n, searches, elapsed, shared)

	// Every lookup is counted once in the batch-size histogram, one sample per search.
	count, sum := histogram(t, reg, "switchboard_hubspot_batch_lookups", map[string]string{"operation": "search_contacts_by_phone"})
	if sum != n || count != uint64(searches) {
		t.Errorf("batch_lookups: %d samples summing to %v, want %d samples summing to %d", count, sum, searches, n)
	}
}

// histogram returns the sample count and sum of the histogram name whose labels
// include want.
func histogram(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			count += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return count, sum
}

func TestBatchedSearchStaysUnderTheRequestSizeLimit(t *testing.T) {
	extra := []string{}
	for i := range 40 {
		extra = append(extra, fmt.Sprintf("a_rather_long_identifier_property_name_%02d", i))
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 200, `{"total":0,"results":[]}`)
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.ExtraProperties = extra })
	s := c.phoneSearch()
	b := c.searchBatcher(s)
	var batch [][]string
	for i := range maxBatchSearchValues {
		next := []string{fmt.Sprint(4155550000 + i)}
		if len(batch) > 0 && !b.fits(batch, next) {
			break
		}
		batch = append(batch, next)
	}
	if len(batch) == maxBatchSearchValues {
		t.Fatalf("the size check never refused a lookup")
	}
	outs := c.sendSearchBatch(context.Background(), s, batch, false)
	for _, o := range outs {
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
	for _, r := range f.requests() {
		if len(r.Body) > 3000 {
			t.Errorf("search body of %d bytes, HubSpot refuses more than 3,000 characters", len(r.Body))
		}
	}
	t.Logf("%d lookups fit one search with %d extra properties", len(batch), len(extra))
}

func TestBatchedSearchFailureFailsEveryCaller(t *testing.T) {
	emu := newEmulator(t)
	emu.AddToken("some-other-token") // only added tokens are valid now: ours gets 401
	c := newEmulatorClient(t, emu, nil)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: domain.NationalNumbers(senderNumber(i))})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var apiErr *APIError
		if !errors.Is(err, domain.ErrPermanent) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Errorf("sender %d: err = %v, want a permanent 401", i, err)
		}
	}
	if got := emu.Stats().Unauthorized; got >= n {
		t.Errorf("%d requests for %d senders: the failing searches were not shared", got, n)
	}
}

// gate holds search requests until released, and records their bodies.
type gate struct {
	next    http.Handler
	mu      sync.Mutex
	bodies  []string
	held    int
	release chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/search") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.Lock()
		g.bodies = append(g.bodies, string(body))
		g.held++
		g.mu.Unlock()
		<-g.release
	}
	g.next.ServeHTTP(w, r)
}

func (g *gate) waitHeld(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d searches held", n), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.held == n
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

func TestCancelledCallerDoesNotBreakTheBatch(t *testing.T) {
	emu := newEmulator(t)
	g := &gate{next: emu, release: make(chan struct{})}
	c := newEmulatorClient(t, g, nil)
	want := map[int]string{}
	for _, i := range []int{0, 1, 2, 3, 5, 6} {
		want[i] = emu.CreateContact(map[string]string{"phone": senderNumber(i)})
	}

	type answer struct {
		res domain.LookupResult
		err error
	}
	answers := make([]chan answer, 8)
	cancels := make([]context.CancelFunc, 8)
	find := func(i int) {
		ctx, cancel := context.WithCancel(context.Background())
		answers[i], cancels[i] = make(chan answer, 1), cancel
		go func() {
			res, err := c.FindByPhone(ctx, domain.PhoneQuery{NationalNumbers: domain.NationalNumbers(senderNumber(i))})
			answers[i] <- answer{res, err}
		}()
	}
	defer func() {
		for _, cancel := range cancels {
			if cancel != nil {
				cancel()
			}
		}
	}()

	// Sender 0 finds the limiter free and leaves alone.
	find(0)
	g.waitHeld(t, 1)
	// Senders 1, 2 and 3 wait for the next slot and leave together.
	find(1)
	find(2)
	find(3)
	g.waitHeld(t, 2)
	// Sender 2 gives up while the shared search is in flight: it gets its context's
	// error at once, the search goes on for 1 and 3.
	cancels[2]()
	if a := <-answers[2]; !errors.Is(a.err, context.Canceled) {
		t.Errorf("sender 2: err = %v, want context.Canceled", a.err)
	}
	// Senders 4, 5 and 6 queue for the slot after; 4 gives up before the slot comes and
	// leaves the queue: its number is not searched.
	find(4)
	find(5)
	find(6)
	eventually(t, "three lookups queued", func() bool { return c.phones.queued() == 3 })
	cancels[4]()
	if a := <-answers[4]; !errors.Is(a.err, context.Canceled) {
		t.Errorf("sender 4: err = %v, want context.Canceled", a.err)
	}
	g.waitHeld(t, 3)
	close(g.release)

	for _, i := range []int{0, 1, 3, 5, 6} {
		a := <-answers[i]
		if a.err != nil {
			t.Errorf("sender %d: %v", i, a.err)
			continue
		}
		if got := ids(a.res.Candidates); len(got) != 1 || got[0] != want[i] {
			t.Errorf("sender %d: candidates %v, want [%s]", i, got, want[i])
		}
	}
	g.mu.Lock()
	bodies := slices.Clone(g.bodies)
	g.mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("searches = %d, want 3", len(bodies))
	}
	nat := func(i int) string { return domain.NationalNumbers(senderNumber(i))[0] }
	if !strings.Contains(bodies[1], nat(2)) || !strings.Contains(bodies[1], nat(3)) {
		t.Errorf("second search does not hold senders 1-3: %s", bodies[1])
	}
	if strings.Contains(bodies[2], nat(4)) || !strings.Contains(bodies[2], nat(5)) {
		t.Errorf("third search holds the number of sender 4, who gave up, or lacks 5's: %s", bodies[2])
	}
	if !strings.Contains(bodies[1], searchablePhone) || !strings.Contains(bodies[1], `"properties"`) {
		t.Errorf("a shared search must read the searchable values back: %s", bodies[1])
	}

	// When everyone queued gives up, the leader stops waiting and goes away.
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.FindByPhone(ctx, domain.PhoneQuery{NationalNumbers: []string{fmt.Sprint(4155551000 + i)}}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled lookup: err = %v", err)
		}
	}
	eventually(t, "the leader left", func() bool {
		c.phones.mu.Lock()
		defer c.phones.mu.Unlock()
		return !c.phones.leading && len(c.phones.queue) == 0
	})
}

func TestConcurrentUniquePropertyLookupsShareBatchReads(t *testing.T) {
	emu := newEmulator(t)
	emu.DefineProperty("telegram_username", true)
	c := newEmulatorClient(t, emu, nil)
	ctx := context.Background()
	if _, err := c.PropertyInfo(ctx, "telegram_username"); err != nil {
		t.Fatal(err)
	}
	// One read per half second: the lookups queue behind the first and leave together.
	c.general = newWindowLimiter(1, 500*time.Millisecond)

	const n = 30
	want := make([]string, n)
	for i := range n {
		switch i % 3 {
		case 0:
			want[i] = emu.CreateContact(map[string]string{"telegram_username": fmt.Sprintf("user_%d", i)})
		case 1: // stored with its '@' and another case
			want[i] = emu.CreateContact(map[string]string{"telegram_username": fmt.Sprintf("@User_%d", i)})
		}
	}
	emu.ResetStats()

	results := make([]domain.LookupResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("user_%d", i)
			results[i], errs[i] = c.FindByProperty(ctx, "telegram_username", u, "@"+u)
		}()
	}
	wg.Wait()

	st := emu.Stats()
	if reads := st.Requests[emulator.OpBatchRead] + st.Requests[emulator.OpRead]; reads > 3 {
		t.Errorf("%d reads for %d lookups, want at most 3", reads, n)
	}
	if st.Requests[emulator.OpSearch] != 0 {
		t.Errorf("a unique property was searched")
	}
	shared := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("lookup %d: %v", i, errs[i])
		}
		got := ids(results[i].Candidates)
		switch {
		case want[i] == "" && len(got) != 0:
			t.Errorf("lookup %d (not held): candidates %v", i, got)
		case want[i] != "" && (len(got) != 1 || got[0] != want[i]):
			t.Errorf("lookup %d: candidates %v, want [%s]", i, got, want[i])
		}
		if len(results[i].Lookups) == 0 || results[i].Lookups[0].Kind != "read_by_property" || results[i].Lookups[0].Found != len(got) {
			t.Errorf("lookup %d: lookups %+v", i, results[i].Lookups)
		}
		if q := results[i].Lookups[0].Query; strings.Contains(q, "shared by") {
			shared++
			// Sealed with this sender's key and erased with this sender, the lookup
			// must not name the others the read was shared with (rule 17).
			for j := range n {
				if other := fmt.Sprintf("user_%d\"", j); j != i && strings.Contains(q, other) {
					t.Errorf("lookup %d names lookup %d's value: %q", i, j, q)
				}
			}
		}
	}
	if shared < n/2 {
		t.Errorf("%d of %d lookups say their read was shared", shared, n)
	}
}

func TestConcurrentPropertySearchesShareSearches(t *testing.T) {
	emu := newEmulator(t)
	emu.DefineProperty("instagram_username", false)
	c := newEmulatorClient(t, emu, nil)
	const n = 20
	want := make([][]string, n)
	for i := 0; i < n; i += 2 {
		want[i] = append(want[i], emu.CreateContact(map[string]string{"instagram_username": fmt.Sprintf("Insta_%d", i)}))
	}
	// Two contacts share one username.
	want[4] = append(want[4], emu.CreateContact(map[string]string{"instagram_username": "insta_4"}))
	for i := range want {
		slices.Sort(want[i])
	}
	results := make([]domain.LookupResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.FindByProperty(context.Background(), "instagram_username", fmt.Sprintf("insta_%d", i))
		}()
	}
	wg.Wait()
	if searches := emu.Stats().Requests[emulator.OpSearch]; searches > 5 {
		t.Errorf("%d searches for %d lookups", searches, n)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("lookup %d: %v", i, errs[i])
		}
		if got := ids(results[i].Candidates); !slices.Equal(got, want[i]) {
			t.Errorf("lookup %d: candidates %v, want %v", i, got, want[i])
		}
	}
}

func TestBatchedSearchSplitsWhenItReachesThePageCap(t *testing.T) {
	// Sender A's number is a placeholder held by more contacts than one search reads;
	// sender B's number has one contact, created last (the search is oldest first).
	const a, b = "4155550001", "4155550002"
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		hasA, hasB := strings.Contains(string(body), a), strings.Contains(string(body), b)
		switch {
		case hasA: // endless pages of A's contacts
			writeJSON(w, 200, fmt.Sprintf(`{"total":100000,"results":[{"id":"%d","properties":{"hs_searchable_calculated_phone_number":"%s"},"createdAt":"2024-01-01T00:00:00Z"}],"paging":{"next":{"after":"%d"}}}`, n, a, n*100))
		case hasB:
			writeJSON(w, 200, `{"total":1,"results":[{"id":"999","properties":{"hs_searchable_calculated_mobile_number":"`+b+`"},"createdAt":"2025-01-01T00:00:00Z"}]}`)
		}
	})
	c, _ := newTestClient(t, f, nil)
	outs := c.sendSearchBatch(context.Background(), c.phoneSearch(), [][]string{{a}, {b}}, false)
	if outs[0].err != nil || outs[1].err != nil {
		t.Fatal(outs[0].err, outs[1].err)
	}
	if got := ids(outs[1].res.Candidates); len(got) != 1 || got[0] != "999" {
		t.Errorf("sender B: candidates %v, want [999]", got)
	}
	if got := len(outs[0].res.Candidates); got != maxSearchPages {
		t.Errorf("sender A: %d candidates, want the %d of its own capped search", got, maxSearchPages)
	}
	if last := outs[0].res.Lookups[len(outs[0].res.Lookups)-1].Query; !strings.Contains(last, "stopped after 5 pages") {
		t.Errorf("sender A's last lookup does not say it stopped: %q", last)
	}
	if first := outs[1].res.Lookups[0]; first.Found != 0 || !strings.Contains(first.Query, "searched again in smaller groups") {
		t.Errorf("sender B's dropped shared search is not recorded honestly: %+v", first)
	}
	// 5 shared pages, then A alone (5 pages) and B alone (1).
	if f.count() != 2*maxSearchPages+1 {
		t.Errorf("requests = %d", f.count())
	}
}

func TestBatchRefusedWith400FailsOnlyTheLookupAtFault(t *testing.T) {
	const bad = "bad_value"
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if strings.Contains(r.URL.Path+string(body), bad) {
			writeJSON(w, 400, `{"status":"error","message":"Invalid input","category":"VALIDATION_ERROR","correlationId":"v"}`)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/search") {
			writeJSON(w, 200, `{"total":0,"results":[]}`)
			return
		}
		writeJSON(w, 207, `{"status":"COMPLETE","results":[],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"not found","context":{"ids":["x"]}}]}`)
	})
	c, _ := newTestClient(t, f, nil)
	batch := [][]string{{"4155550001"}, {"4155550002"}, {bad}, {"4155550003"}, {"4155550004"}}
	check := func(name string, outs []outcome) {
		t.Helper()
		for i, o := range outs {
			var apiErr *APIError
			switch {
			case i == 2 && (!errors.As(o.err, &apiErr) || apiErr.Status != 400 || !errors.Is(o.err, domain.ErrPermanent)):
				t.Errorf("%s: lookup at fault: err = %v, want its 400", name, o.err)
			case i != 2 && (o.err != nil || len(o.res.Lookups) == 0):
				t.Errorf("%s: lookup %d: %+v, %v", name, i, o.res, o.err)
			}
		}
	}
	check("search", c.sendSearchBatch(context.Background(), c.phoneSearch(), batch, false))
	check("batch read", c.readByUniqueBatch(context.Background(), "telegram_username", batch, false))
}

// A contact a shared search returns without any searched value as the client reads it
// back (HubSpot matched a form of it the client does not know) is some sender's, but
// not one the client can name: it goes to no sender of the shared search, which is
// searched again in smaller groups until a lone sender's search tells whose it is.
// Before, it went to every sender, its values sealed into strangers' events.
func TestBatchedSearchGivesAContactItCannotRouteToNoOtherSender(t *testing.T) {
	const a, b, c3 = "4155550001", "4155550002", "4155550003"
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if strings.Contains(string(body), a) {
			writeJSON(w, 200, `{"total":1,"results":[{"id":"7","properties":{"hs_searchable_calculated_phone_number":"(415) 555-0001","firstname":"Ana"},"createdAt":"2024-01-01T00:00:00Z"}]}`)
			return
		}
		writeJSON(w, 200, `{"total":0,"results":[]}`)
	})
	c, _ := newTestClient(t, f, nil)
	outs := c.sendSearchBatch(context.Background(), c.phoneSearch(), [][]string{{a}, {b}, {c3}}, false)
	onlyTheFirstGetsContact7(t, outs)
	// The shared search, then A alone and B with C together.
	if f.count() != 3 {
		t.Errorf("requests = %d, want 3", f.count())
	}
}

// The same for a batch read by a unique property: a contact whose value the client
// cannot route goes to no sender, and the values are read again in smaller groups.
func TestBatchReadGivesAContactItCannotRouteToNoOtherSender(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		switch {
		case r.Method == http.MethodPost && strings.Contains(string(body), `"42"`):
			writeJSON(w, 200, `{"status":"COMPLETE","results":[{"id":"7","properties":{"telegram_user_id":"0042","firstname":"Ana"}}]}`)
		case r.Method == http.MethodPost:
			writeJSON(w, 207, `{"status":"COMPLETE","results":[],"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"not found"}]}`)
		case strings.HasSuffix(r.URL.Path, "/42"):
			writeJSON(w, 200, `{"id":"7","properties":{"telegram_user_id":"0042","firstname":"Ana"}}`)
		default:
			writeJSON(w, 404, `{"status":"error","message":"resource not found","category":"OBJECT_NOT_FOUND"}`)
		}
	})
	c, _ := newTestClient(t, f, nil)
	outs := c.readByUniqueBatch(context.Background(), "telegram_user_id", [][]string{{"42"}, {"43"}, {"44"}}, false)
	onlyTheFirstGetsContact7(t, outs)
}

// onlyTheFirstGetsContact7: the first lookup's own request found contact 7, and the
// others, which shared a request that returned it, got nothing and say why.
func onlyTheFirstGetsContact7(t *testing.T, outs []outcome) {
	t.Helper()
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("lookup %d: %v", i, o.err)
		}
	}
	if got := ids(outs[0].res.Candidates); !slices.Equal(got, []string{"7"}) {
		t.Errorf("lookup 0: candidates %v, want [7] from its own request", got)
	}
	for i := 1; i < len(outs); i++ {
		if got := ids(outs[i].res.Candidates); len(got) != 0 {
			t.Errorf("lookup %d: candidates %v, want none (the contact is lookup 0's)", i, got)
		}
		if first := outs[i].res.Lookups[0]; first.Found != 0 || !strings.Contains(first.Query, "results dropped") {
			t.Errorf("lookup %d: the dropped shared request is not recorded: %+v", i, first)
		}
	}
}
