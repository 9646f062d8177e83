package emulator

import (
	"math/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value is usable: every field has a default.
type Options struct {
	// SearchLag is how long a write takes to reach the search index. A contact created,
	// updated, merged or archived less than SearchLag ago is searched in its previous
	// indexed state: a new contact is invisible, an update shows the old values, an
	// archived or merged-away contact is still found. Reads by id or unique property
	// (GET, batch/read, batch/upsert) always see the current state. Zero means no lag.
	SearchLag time.Duration
	// TenSecondLimit is the number of requests a token may make in any rolling
	// 10-second window, search excluded (HubSpot's OAuth app limit; default 110).
	TenSecondLimit int
	// SearchPerSecond is the number of search requests a token may make in any rolling
	// second (default 5).
	SearchPerSecond int
	// Region is the portal's default region (ISO 3166 code, default "US"), used to read
	// nationally formatted phone numbers when deriving the searchable phone properties.
	Region string
	// Now is the clock for record timestamps, the search lag and the rate-limit windows
	// (default time.Now). With a clock that does not advance, the rate-limit windows
	// never roll: advance it in tests that make more requests than the limits allow.
	Now func() time.Time
	// Seed makes fault injection and generated message ids reproducible.
	Seed int64

	// AccessTokenLifetime is the expires_in of the access tokens POST /oauth/v1/token
	// issues (default 30 minutes, HubSpot's); a call with an issued token past it
	// answers 401 EXPIRED_AUTHENTICATION. Tokens given to AddToken never expire.
	AccessTokenLifetime time.Duration
	// RotateRefreshTokens makes every refresh_token grant answer a new refresh token
	// and refuse the old one from then on (HubSpot usually keeps the same one; a client
	// must still keep a rotated one).
	RotateRefreshTokens bool
	// ClientID and ClientSecret, when set, are the only app credentials the token
	// endpoint and the consent page accept (default: any).
	ClientID     string
	ClientSecret string
	// PortalID is the hub_id of the token answers (default DefaultPortalID).
	PortalID int64
	// Scopes are the scopes the token answers and GET /oauth/v1/access-tokens/{token}
	// list (default: none listed).
	Scopes []string

	// DeveloperAPIKey and AppID, when set, are the only developer API key (hapikey) and
	// app id the custom-channel registration endpoints accept (default: any non-empty
	// key and numeric app id).
	DeveloperAPIKey string
	AppID           string
	// Inboxes are the portal's conversations inboxes (default: one, DefaultInboxID).
	Inboxes []Inbox
}

func (o *Options) setDefaults() {
	if o.TenSecondLimit <= 0 {
		o.TenSecondLimit = 110
	}
	if o.SearchPerSecond <= 0 {
		o.SearchPerSecond = 5
	}
	if o.Region == "" {
		o.Region = defaultRegion
	}
	o.Region = strings.ToUpper(o.Region)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AccessTokenLifetime <= 0 {
		o.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if o.PortalID == 0 {
		o.PortalID = DefaultPortalID
	}
	if len(o.Inboxes) == 0 {
		o.Inboxes = []Inbox{{ID: DefaultInboxID, Name: "Inbox"}}
	}
}

// Operation names used as keys of Stats.Requests and in Faults.Operations.
const (
	OpCreate      = "create"
	OpRead        = "read"
	OpList        = "list"
	OpUpdate      = "update"
	OpArchive     = "archive"
	OpBatchRead   = "batch_read"
	OpBatchUpsert = "batch_upsert"
	OpSearch      = "search"
	OpMerge       = "merge"
	OpProperties  = "properties"
	OpPublish     = "publish"
	OpGetMessage  = "get_message"
)

// Server is an in-process HubSpot: CRM v3 contacts, the contact properties API and the
// Conversations custom-channel messages API, speaking HubSpot's wire format. It is safe
// for concurrent use. Mount it with httptest.NewServer(s) or http.ListenAndServe.
type Server struct {
	opts Options

	mu sync.Mutex

	tokens  map[string]bool
	revoked map[string]bool
	oauth   oauthState

	records  map[string]*record
	order    []*record // creation order
	nextID   int64
	props    map[string]*propertyDef
	propList []*propertyDef

	messages    map[string]*message
	idempotency map[[2]string]*message
	threads     map[[2]string]*Thread
	threadList  []*Thread
	nextThread  int64
	published   []PublishedMessage
	visitors    map[DeliveryIdentifier]string
	nextVisitor int64
	chans       channelState

	windows map[string]*tokenWindows
	stats   statsState

	faults   Faults
	faultRng *rand.Rand
	hooks    webhookState
	idRng    *rand.Rand

	closed    chan struct{}
	closeOnce sync.Once
}

// New returns a Server with the standard contact properties defined and no contacts.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:        opts,
		tokens:      map[string]bool{},
		revoked:     map[string]bool{},
		oauth:       newOAuthState(),
		records:     map[string]*record{},
		nextID:      100,
		props:       map[string]*propertyDef{},
		messages:    map[string]*message{},
		idempotency: map[[2]string]*message{},
		threads:     map[[2]string]*Thread{},
		nextThread:  7000000000,
		visitors:    map[DeliveryIdentifier]string{},
		nextVisitor: 900000000,
		chans:       newChannelState(),
		windows:     map[string]*tokenWindows{},
		faultRng:    rand.New(rand.NewSource(opts.Seed)),
		idRng:       rand.New(rand.NewSource(opts.Seed ^ 0x5eed)),
		closed:      make(chan struct{}),
	}
	s.stats.reset()
	s.defineStandardProperties()
	return s
}

// Close releases requests stalled by a "stall" fault. The Server keeps no goroutines of
// its own; Close is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// AddToken makes token valid. Once any token was added, only added (and not revoked)
// tokens are accepted; before that, any non-empty bearer token is.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
	delete(s.revoked, token)
}

// RevokeToken makes token invalid: its requests get HubSpot's 401 from then on.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[token] = true
	delete(s.tokens, token)
}

func (s *Server) tokenValid(token string) bool {
	if token == "" || s.revoked[token] {
		return false
	}
	return len(s.tokens) == 0 || s.tokens[token]
}

func (s *Server) now() time.Time { return s.opts.Now() }

// route is one endpoint: its operation name and handler. params are the decoded path
// segments after the fixed prefix (the contact id, property name, channel id, ...).
type route struct {
	op     string
	crm    bool
	search bool
	// developer routes authenticate with the developer API key and app id (query
	// hapikey and appId) instead of a bearer token, and count toward no portal limit.
	developer bool
	handler   func(w http.ResponseWriter, r *http.Request, params []string)
}

// ServeHTTP routes, authenticates, applies the rate limits and faults, then handles.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The OAuth endpoints authenticate the app by its client credentials, not by a
	// bearer token, and count toward no API limit.
	switch {
	case r.URL.Path == "/oauth/v1/token" && r.Method == http.MethodPost:
		s.handleToken(w, r)
		return
	case r.URL.Path == "/oauth/authorize" && r.Method == http.MethodGet:
		s.handleAuthorize(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/oauth/v1/access-tokens/") && r.Method == http.MethodGet:
		s.handleTokenInfo(w, strings.TrimPrefix(r.URL.Path, "/oauth/v1/access-tokens/"))
		return
	}
	rt, params, status := s.match(r)
	if status != 0 {
		if status == http.StatusMethodNotAllowed {
			writeError(w, apiErr(http.StatusMethodNotAllowed, "VALIDATION_ERROR", "HTTP "+strconv.Itoa(status)+" Method Not Allowed"))
		} else {
			writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Unable to route "+r.Method+" "+r.URL.Path+": no such endpoint"))
		}
		return
	}
	if rt.developer {
		s.mu.Lock()
		s.stats.count(rt)
		e := s.developerAuth(r)
		if e != nil && e.status == http.StatusUnauthorized {
			s.stats.unauthorized++
		}
		s.mu.Unlock()
		if e != nil {
			writeError(w, e)
			return
		}
		rt.handler(w, r, params)
		return
	}
	token := bearer(r)

	s.mu.Lock()
	s.stats.count(rt)
	issued, expiredFor := s.accessTokenState(token, s.now())
	if issued && expiredFor > 0 && !s.revoked[token] {
		s.stats.unauthorized++
		s.oauth.stats.Expired++
		s.mu.Unlock()
		writeError(w, expiredErr(expiredFor))
		return
	}
	if s.revoked[token] || (!issued && !s.tokenValid(token)) {
		s.stats.unauthorized++
		s.mu.Unlock()
		writeError(w, apiErr(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"))
		return
	}
	fault := s.drawFault(rt.op)
	if fault == Fault429 {
		s.stats.fault(fault)
		s.mu.Unlock()
		if rt.search {
			writeSecondlyLimit(w)
		} else {
			setRateHeaders(w, s.opts.TenSecondLimit, 0)
			writeTenSecondlyLimit(w)
		}
		return
	}
	now := s.now()
	// HubSpot counts an OAuth app's calls per portal, not per access token: every
	// token the endpoint issued shares one window, so a refresh grants no requests.
	limitKey := token
	if issued {
		limitKey = "oauth-app"
	}
	remaining, ok := s.admit(limitKey, rt.search, now)
	if !ok {
		s.stats.rateLimited++
		s.mu.Unlock()
		if rt.search {
			writeSecondlyLimit(w)
		} else {
			setRateHeaders(w, s.opts.TenSecondLimit, 0)
			writeTenSecondlyLimit(w)
		}
		return
	}
	if fault != "" {
		s.stats.fault(fault)
	}
	stallFor := s.faults.StallFor
	dropOnStall := (fault == FaultStall || fault == FaultApplyStall) && s.faultRng.Intn(2) == 0
	s.mu.Unlock()

	if !rt.search {
		setRateHeaders(w, s.opts.TenSecondLimit, remaining)
	}
	switch fault {
	case Fault502:
		writeGatewayPage(w, http.StatusBadGateway)
		return
	case Fault503:
		writeGatewayPage(w, http.StatusServiceUnavailable)
		return
	case FaultStall:
		s.stall(w, r, stallFor, dropOnStall)
		return
	case FaultReset:
		reset(w)
		return
	}
	if !appliesFirst(fault) {
		rt.handler(w, r, params)
		return
	}
	rt.handler(&discardWriter{h: http.Header{}}, r, params)
	switch fault {
	case FaultApply502:
		writeGatewayPage(w, http.StatusBadGateway)
	case FaultApplyReset:
		reset(w)
	case FaultApplyStall:
		s.stall(w, r, stallFor, dropOnStall)
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) < len(p) || !strings.EqualFold(h[:len(p)], p) {
		return ""
	}
	return strings.TrimSpace(h[len(p):])
}

func setRateHeaders(w http.ResponseWriter, max, remaining int) {
	h := w.Header()
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(max))
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(remaining))
}

// datedPrefixes maps HubSpot's date-versioned paths onto the classic v3 ones; the
// bodies are near-identical (hubspot.md §1), so both families share the handlers.
var datedPrefixes = [][2]string{
	{"/crm/objects/2026-03/", "/crm/v3/objects/"},
	{"/crm/properties/2026-03/", "/crm/v3/properties/"},
	{"/conversations/custom-channels/2026-03/", "/conversations/v3/custom-channels/"},
}

// match finds the route for r. status is 404 or 405 when there is none.
func (s *Server) match(r *http.Request) (route, []string, int) {
	path := r.URL.EscapedPath()
	for _, p := range datedPrefixes {
		if strings.HasPrefix(path, p[0]) {
			path = p[1] + strings.TrimPrefix(path, p[0])
			break
		}
	}
	path = strings.TrimSuffix(path, "/")
	raw := strings.Split(strings.TrimPrefix(path, "/"), "/")
	seg := make([]string, len(raw))
	for i, x := range raw {
		d, err := url.PathUnescape(x)
		if err != nil {
			return route{}, nil, http.StatusNotFound
		}
		seg[i] = d
	}
	m := r.Method
	is := func(prefix ...string) bool {
		if len(seg) < len(prefix) {
			return false
		}
		for i, p := range prefix {
			if seg[i] != p {
				return false
			}
		}
		return true
	}
	crm := func(op string, h func(http.ResponseWriter, *http.Request, []string), params ...string) (route, []string, int) {
		return route{op: op, crm: true, search: op == OpSearch, handler: h}, params, 0
	}
	switch {
	case is("crm", "v3", "objects") && len(seg) >= 4 && (seg[3] == "contacts" || seg[3] == "0-1"):
		rest := seg[4:]
		switch {
		case len(rest) == 0 && m == http.MethodPost:
			return crm(OpCreate, s.handleCreate)
		case len(rest) == 0 && m == http.MethodGet:
			return crm(OpList, s.handleList)
		case len(rest) == 0:
			return route{}, nil, http.StatusMethodNotAllowed
		case len(rest) == 1 && rest[0] == "search":
			if m != http.MethodPost {
				return route{}, nil, http.StatusMethodNotAllowed
			}
			return crm(OpSearch, s.handleSearch)
		case len(rest) == 1 && rest[0] == "merge":
			if m != http.MethodPost {
				return route{}, nil, http.StatusMethodNotAllowed
			}
			return crm(OpMerge, s.handleMerge)
		case len(rest) == 2 && rest[0] == "batch":
			if m != http.MethodPost {
				return route{}, nil, http.StatusMethodNotAllowed
			}
			switch rest[1] {
			case "read":
				return crm(OpBatchRead, s.handleBatchRead)
			case "upsert":
				return crm(OpBatchUpsert, s.handleBatchUpsert)
			}
		case len(rest) == 1:
			switch m {
			case http.MethodGet:
				return crm(OpRead, s.handleRead, rest[0])
			case http.MethodPatch:
				return crm(OpUpdate, s.handleUpdate, rest[0])
			case http.MethodDelete:
				return crm(OpArchive, s.handleArchive, rest[0])
			}
			return route{}, nil, http.StatusMethodNotAllowed
		}
	case is("crm", "v3", "properties") && len(seg) >= 4 && (seg[3] == "contacts" || seg[3] == "0-1"):
		rest := seg[4:]
		switch {
		case len(rest) == 0 && m == http.MethodGet:
			return crm(OpProperties, s.handleListProperties)
		case len(rest) == 0 && m == http.MethodPost:
			return crm(OpProperties, s.handleCreateProperty)
		case len(rest) == 1 && m == http.MethodGet:
			return crm(OpProperties, s.handleGetProperty, rest[0])
		case len(rest) <= 1:
			return route{}, nil, http.StatusMethodNotAllowed
		}
	case is("conversations", "v3", "conversations", "inboxes") && len(seg) == 4:
		if m != http.MethodGet {
			return route{}, nil, http.StatusMethodNotAllowed
		}
		return route{op: OpListInboxes, handler: s.handleListInboxes}, nil, 0
	case is("conversations", "v3", "custom-channels") && len(seg) <= 4:
		dev := func(op string, h func(http.ResponseWriter, *http.Request, []string), params ...string) (route, []string, int) {
			return route{op: op, developer: true, handler: h}, params, 0
		}
		switch {
		case len(seg) == 3 && m == http.MethodPost:
			return dev(OpRegisterChannel, s.handleRegisterChannel)
		case len(seg) == 3 && m == http.MethodGet:
			return dev(OpListChannels, s.handleListChannels)
		case len(seg) == 4 && m == http.MethodGet:
			return dev(OpGetChannel, s.handleGetChannel, seg[3])
		}
		return route{}, nil, http.StatusMethodNotAllowed
	case is("conversations", "v3", "custom-channels") && len(seg) >= 5 && seg[4] == "channel-accounts":
		switch {
		case len(seg) == 5 && m == http.MethodPost:
			return route{op: OpConnectAccount, handler: s.handleConnectAccount}, []string{seg[3]}, 0
		case len(seg) == 5 && m == http.MethodGet:
			return route{op: OpListAccounts, handler: s.handleListAccounts}, []string{seg[3]}, 0
		case len(seg) == 6 && m == http.MethodGet:
			return route{op: OpGetAccount, handler: s.handleGetAccount}, []string{seg[3], seg[5]}, 0
		case len(seg) <= 6:
			return route{}, nil, http.StatusMethodNotAllowed
		}
	case is("conversations", "v3", "custom-channels") && len(seg) >= 5 && seg[4] == "messages":
		switch {
		case len(seg) == 5 && m == http.MethodPost:
			return route{op: OpPublish, handler: s.handlePublish}, []string{seg[3]}, 0
		case len(seg) == 6 && m == http.MethodGet:
			return route{op: OpGetMessage, handler: s.handleGetMessage}, []string{seg[3], seg[5]}, 0
		case len(seg) <= 6:
			return route{}, nil, http.StatusMethodNotAllowed
		}
	}
	return route{}, nil, http.StatusNotFound
}
