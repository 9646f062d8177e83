package emulator

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

const (
	tenSecondWindow = 10 * time.Second
	oneSecond       = time.Second
)

// window holds the admission times of one token inside a rolling window of length span.
type window struct {
	span  time.Duration
	times []time.Time
}

// inWindow drops admissions older than span before now and returns how many remain.
func (w *window) inWindow(now time.Time) int {
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-w.span)) {
		cut++
	}
	if cut > 0 {
		w.times = append(w.times[:0], w.times[cut:]...)
	}
	return len(w.times)
}

func (w *window) add(now time.Time) { w.times = append(w.times, now) }

// tokenWindows is one token's rate-limit state: the limiter windows that decide, and the
// statistics windows (emptied by ResetStats) that measure what was admitted.
type tokenWindows struct {
	tenLimit, searchLimit window
	tenStat, searchStat   window
}

func (s *Server) tokenWindows(token string) *tokenWindows {
	tw := s.windows[token]
	if tw == nil {
		tw = &tokenWindows{
			tenLimit:    window{span: tenSecondWindow},
			searchLimit: window{span: oneSecond},
			tenStat:     window{span: tenSecondWindow},
			searchStat:  window{span: oneSecond},
		}
		s.windows[token] = tw
	}
	return tw
}

// admit applies the token's rolling windows: search requests its per-second window,
// everything else its 10-second window. A rejected request leaves no trace in either.
// remaining is what is left of the 10-second window after this request.
func (s *Server) admit(token string, search bool, now time.Time) (remaining int, ok bool) {
	tw := s.tokenWindows(token)
	if search {
		if tw.searchLimit.inWindow(now) >= s.opts.SearchPerSecond {
			return 0, false
		}
		tw.searchLimit.add(now)
		tw.searchStat.inWindow(now)
		tw.searchStat.add(now)
		if n := len(tw.searchStat.times); n > s.stats.maxSearchSecond {
			s.stats.maxSearchSecond = n
		}
		return 0, true
	}
	n := tw.tenLimit.inWindow(now)
	if n >= s.opts.TenSecondLimit {
		return 0, false
	}
	tw.tenLimit.add(now)
	tw.tenStat.inWindow(now)
	tw.tenStat.add(now)
	if n := len(tw.tenStat.times); n > s.stats.maxTenSeconds {
		s.stats.maxTenSeconds = n
	}
	return s.opts.TenSecondLimit - n - 1, true
}

// Stats counts requests since New or the last ResetStats.
type Stats struct {
	// Requests counts every request routed to an operation (keys are the Op constants),
	// whatever its outcome: answered, 401, 429 or faulted.
	Requests map[string]int
	// CRMCalls counts the requests to the contacts and properties APIs (every operation
	// but publish and get_message), with the same rule.
	CRMCalls int
	// Unauthorized counts 401 answers; RateLimited counts 429 answers of the rate
	// limiter; Faulted counts requests answered by an injected fault (SetFaults).
	Unauthorized int
	RateLimited  int
	Faulted      int
	// FaultsByKind counts the injected faults by kind (keys are FaultKinds).
	FaultsByKind map[string]int
}

type statsState struct {
	requests        map[string]int
	crm             int
	unauthorized    int
	rateLimited     int
	faulted         int
	faultsByKind    map[string]int
	maxSearchSecond int
	maxTenSeconds   int
}

func (st *statsState) reset() {
	*st = statsState{requests: map[string]int{}, faultsByKind: map[string]int{}}
}

func (st *statsState) fault(kind string) {
	st.faulted++
	st.faultsByKind[kind]++
}

func (st *statsState) count(rt route) {
	st.requests[rt.op]++
	if rt.crm {
		st.crm++
	}
}

// Stats returns a copy of the request counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := make(map[string]int, len(s.stats.requests))
	for k, v := range s.stats.requests {
		req[k] = v
	}
	byKind := make(map[string]int, len(s.stats.faultsByKind))
	for k, v := range s.stats.faultsByKind {
		byKind[k] = v
	}
	return Stats{
		Requests:     req,
		CRMCalls:     s.stats.crm,
		Unauthorized: s.stats.unauthorized,
		RateLimited:  s.stats.rateLimited,
		Faulted:      s.stats.faulted,
		FaultsByKind: byKind,
	}
}

// MaxSearchesInAnySecond is the largest number of search requests of one token admitted
// (not answered 429) within any rolling second since the last ResetStats.
func (s *Server) MaxSearchesInAnySecond() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.maxSearchSecond
}

// MaxRequestsInAnyTenSeconds is the largest number of non-search requests of one token
// admitted within any rolling 10 seconds since the last ResetStats.
func (s *Server) MaxRequestsInAnyTenSeconds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.maxTenSeconds
}

// ResetStats zeroes the counts and the admitted-rate maxima. The rate limiter itself
// keeps its windows: resetting statistics does not grant requests.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.reset()
	s.oauth.stats = OAuthStats{}
	for _, tw := range s.windows {
		tw.tenStat.times = nil
		tw.searchStat.times = nil
	}
}

// Fault kinds for Faults.Kinds and Faults.Rates. The first five fail before the handler
// runs, so the request changes nothing; the "apply-" kinds run the handler first, so the
// write is committed (a contact created, a message published) and only its answer is
// lost, which is what a real network does to a client and what a client must survive.
const (
	Fault429   = "429"
	Fault502   = "502"
	Fault503   = "503"
	FaultStall = "stall"
	// FaultReset drops the connection with a TCP reset before the handler runs.
	FaultReset = "reset"
	// FaultApply502 applies the request, then answers 502 (an edge that lost the answer).
	FaultApply502 = "apply-502"
	// FaultApplyReset applies the request, then resets the connection without answering.
	FaultApplyReset = "apply-reset"
	// FaultApplyStall applies the request, then holds it for StallFor before answering
	// 504 or dropping the connection: past a client's timeout, the client gives up on
	// a write that happened.
	FaultApplyStall = "apply-stall"
)

// FaultKinds lists every fault kind, in the order Rates are drawn.
var FaultKinds = []string{Fault429, Fault502, Fault503, FaultStall, FaultReset, FaultApply502, FaultApplyReset, FaultApplyStall}

func knownFault(kind string) bool {
	for _, k := range FaultKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// appliesFirst reports whether kind lets the handler run before failing.
func appliesFirst(kind string) bool {
	return kind == FaultApply502 || kind == FaultApplyReset || kind == FaultApplyStall
}

// Faults make a share of requests fail the way HubSpot and the network between fail
// under load. A request failed by a kind without the "apply-" prefix never reaches its
// handler: it creates, changes and publishes nothing. An "apply-" kind's request does.
type Faults struct {
	// Rate is the share of requests (0..1) that fail with a kind drawn uniformly from Kinds.
	Rate float64
	// Kinds are drawn from uniformly: "429" (HubSpot's TEN_SECONDLY_ROLLING body, or the
	// SECONDLY body on search), "502", "503" (gateway HTML pages), "stall", or any other
	// of FaultKinds. Default: 429, 502, 503.
	Kinds []string
	// Rates gives kinds their own per-request probability, drawn before Rate: with
	// {"429": 0.1, "apply-502": 0.05} a tenth of requests get 429 and a twentieth are
	// applied and answered 502. The probabilities must sum to at most 1.
	Rates map[string]float64
	// StallFor is how long a "stall" or "apply-stall" holds the request before answering
	// 504 or dropping the connection (drawn half and half; default 10 s, the HubSpot
	// client's default timeout). Close ends stalls early.
	StallFor time.Duration
	// Operations limits faults to these operations (Op constants); empty means all.
	Operations []string
}

// Validate says what is wrong with f: an unknown kind, a probability outside 0..1, or
// probabilities that sum above 1.
func (f Faults) Validate() error {
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("%w: fault rate %g is outside 0..1", ErrInvalid, f.Rate)
	}
	for _, k := range f.Kinds {
		if !knownFault(k) {
			return fmt.Errorf("%w: fault kind %q is unknown; use one of %s", ErrInvalid, k, strings.Join(FaultKinds, ", "))
		}
	}
	sum := 0.0
	for k, r := range f.Rates {
		if !knownFault(k) {
			return fmt.Errorf("%w: fault kind %q is unknown; use one of %s", ErrInvalid, k, strings.Join(FaultKinds, ", "))
		}
		if r < 0 || r > 1 {
			return fmt.Errorf("%w: fault %s rate %g is outside 0..1", ErrInvalid, k, r)
		}
		sum += r
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("%w: fault rates sum to %g, more than 1", ErrInvalid, sum)
	}
	return nil
}

// SetFaults replaces the fault configuration; Faults{} turns faults off. The sequence
// of choices is drawn from a generator seeded with Options.Seed, so a run with the same
// requests in the same order fails the same requests. Unknown kinds are never drawn
// (check with Faults.Validate).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(f.Kinds) == 0 {
		f.Kinds = []string{Fault429, Fault502, Fault503}
	}
	if f.StallFor <= 0 {
		f.StallFor = 10 * time.Second
	}
	rates := map[string]float64{}
	for k, r := range f.Rates {
		rates[k] = r
	}
	f.Rates = rates
	s.faults = f
}

// drawFault decides whether this request fails and how ("" for no fault).
func (s *Server) drawFault(op string) string {
	f := s.faults
	if f.Rate <= 0 && len(f.Rates) == 0 {
		return ""
	}
	if len(f.Operations) > 0 {
		found := false
		for _, o := range f.Operations {
			found = found || o == op
		}
		if !found {
			return ""
		}
	}
	if len(f.Rates) > 0 {
		u, cum := s.faultRng.Float64(), 0.0
		for _, k := range FaultKinds {
			cum += f.Rates[k]
			if u < cum {
				return k
			}
		}
	}
	if f.Rate <= 0 || s.faultRng.Float64() >= f.Rate {
		return ""
	}
	k := f.Kinds[s.faultRng.Intn(len(f.Kinds))]
	if !knownFault(k) {
		return ""
	}
	return k
}

// discardWriter takes a handler's answer that an "apply-" fault will not deliver.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// reset closes the client's connection with a TCP RST (SO_LINGER 0), the way a proxy or
// a crashed peer drops it, so the client reads "connection reset by peer", not an EOF
// after a clean close. Without a hijackable connection it answers 502.
func reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	writeGatewayPage(w, http.StatusBadGateway)
}

// stall holds the request, then answers 504 or drops the connection without answer.
func (s *Server) stall(w http.ResponseWriter, r *http.Request, d time.Duration, drop bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	case <-s.closed:
	}
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	writeGatewayPage(w, http.StatusGatewayTimeout)
}
