package hubspot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

func TestNewValidatesEveryField(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the error; empty means valid
	}{
		{"valid with defaults", Config{BaseURL: "https://api.hubapi.com", Token: "t"}, nil},
		{"emulator over http", Config{BaseURL: "http://127.0.0.1:9000/", Token: "t"}, nil},
		{"empty", Config{}, []string{"base_url: is empty", "token: is empty"}},
		{"no scheme", Config{BaseURL: "api.hubapi.com", Token: "t"}, []string{"base_url", "https://"}},
		{"token with newline", Config{BaseURL: "https://api.hubapi.com", Token: "abc\n"}, []string{"token: contains whitespace"}},
		{"limits out of range", Config{BaseURL: "https://api.hubapi.com", Token: "t", TenSecondLimit: -1, SearchPerSecond: 6, MaxAttempts: -1, RequestTimeout: -time.Second},
			[]string{"ten_second_limit", "search_per_second", "max_attempts", "request_timeout"}},
		{"bad extra property", Config{BaseURL: "https://api.hubapi.com", Token: "t", ExtraProperties: []string{"ok_prop", "a,b"}},
			[]string{`extra_properties[1]: "a,b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestTenSecondLimitAbovePublishedIsAcceptedWithAWarning: a plan (or a load run against
// the emulator) may allow more than HubSpot's published 250 per 10 s (110 for an OAuth
// install); the client takes the operator's figure, uses it, and says at start that it
// is above the published ones.
func TestTenSecondLimitAbovePublishedIsAcceptedWithAWarning(t *testing.T) {
	for _, tt := range []struct {
		limit    int
		oauth    bool
		wantWarn bool
	}{{110, false, false}, {PublishedTenSecondLimit, false, false}, {PublishedTenSecondLimit + 1, false, true}, {100000, false, true},
		// An OAuth app's published figure is 110 per installing account.
		{110, true, false}, {111, true, true}, {100000, true, true}} {
		t.Run(fmt.Sprintf("%d oauth=%v", tt.limit, tt.oauth), func(t *testing.T) {
			var logs strings.Builder
			cfg := Config{BaseURL: "http://127.0.0.1:9/", Token: "t", Workspace: "acme", TenSecondLimit: tt.limit,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			if tt.oauth {
				tokens, err := NewOAuthTokens(OAuthConfig{BaseURL: "http://127.0.0.1:9/", ClientID: "client-1", ClientSecret: "secret-1",
					Workspace: "acme", RefreshToken: "refresh-1"})
				if err != nil {
					t.Fatal(err)
				}
				cfg.Tokens = tokens
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatalf("New refused ten_second_limit %d: %v", tt.limit, err)
			}
			if c.cfg.TenSecondLimit != tt.limit {
				t.Errorf("client uses ten_second_limit %d, want %d", c.cfg.TenSecondLimit, tt.limit)
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), fmt.Sprintf("ten_second_limit %d is above HubSpot's published figures", tt.limit))
			if tt.oauth && tt.limit <= PublishedTenSecondLimit && warned && !strings.Contains(logs.String(), "OAuth app (110 per 10 s") {
				t.Errorf("the warning does not say the OAuth figure: %s", logs.String())
			}
			if warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v; log:\n%s", warned, tt.wantWarn, logs.String())
			}
			if tt.wantWarn && !strings.Contains(logs.String(), "workspace=acme") {
				t.Errorf("the warning does not name the workspace: %s", logs.String())
			}
		})
	}
}

func TestFindByPhoneSendsOneSearchAndReadsCandidates(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 200, `{"total":2,"results":[`+fmt.Sprintf(contactJSON, "101", "101")+`,
			{"id":"202","properties":{"mobilephone":"415.555.2671","createdate":"2025-02-01T00:00:00Z"},"createdAt":"2025-02-01T00:00:00Z","updatedAt":"2025-02-01T00:00:00Z","archived":false}]}`)
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.ExtraProperties = []string{"whatsapp_bsuid"} })

	res, err := c.FindByPhone(context.Background(), domain.PhoneQuery{E164: "+14155552671", NationalNumbers: []string{"4155552671", " 4155552671", "14155552671"}})
	if err != nil {
		t.Fatalf("FindByPhone: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/crm/v3/objects/contacts/search" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	assertJSON(t, r.Body, `{
		"filterGroups": [
			{"filters": [{"propertyName": "hs_searchable_calculated_phone_number", "operator": "IN", "values": ["14155552671", "4155552671"]}]},
			{"filters": [{"propertyName": "hs_searchable_calculated_mobile_number", "operator": "IN", "values": ["14155552671", "4155552671"]}]}
		],
		"properties": ["firstname", "lastname", "email", "phone", "mobilephone", "createdate", "hs_object_id", "whatsapp_bsuid"],
		"sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
		"limit": 100
	}`)

	if len(res.Candidates) != 2 {
		t.Fatalf("candidates = %d, want 2", len(res.Candidates))
	}
	first := res.Candidates[0]
	if first.ID != "101" || !first.CreatedAt.Equal(time.Date(2024, 1, 17, 19, 55, 4, 281e6, time.UTC)) {
		t.Errorf("first candidate = %+v", first)
	}
	if first.Properties["phone"] != "+1 (415) 555-2671" || first.Properties["firstname"] != "Ana" {
		t.Errorf("properties = %v", first.Properties)
	}
	if _, ok := first.Properties["lastname"]; ok {
		t.Errorf("a null property must be absent, got lastname=%q", first.Properties["lastname"])
	}
	if len(res.Lookups) != 1 || res.Lookups[0].Kind != "search" || res.Lookups[0].Found != 2 ||
		!strings.Contains(res.Lookups[0].Query, "hs_searchable_calculated_mobile_number IN") {
		t.Errorf("lookups = %+v", res.Lookups)
	}
}

func TestFindByPhoneFollowsPagingUpToTheCap(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		// Every page claims there is another one.
		writeJSON(w, 200, fmt.Sprintf(`{"total":100000,"results":[`+contactJSON+`],"paging":{"next":{"after":"%d"}}}`, fmt.Sprint(n), fmt.Sprint(n), n*100))
	})
	c, _ := newTestClient(t, f, nil)
	res, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"4155552671"}})
	if err != nil {
		t.Fatalf("FindByPhone: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != maxSearchPages {
		t.Fatalf("requests = %d, want %d", len(reqs), maxSearchPages)
	}
	if strings.Contains(string(reqs[0].Body), `"after"`) {
		t.Errorf("first page sent an after cursor: %s", reqs[0].Body)
	}
	if !strings.Contains(string(reqs[1].Body), `"after":"100"`) {
		t.Errorf("second page did not send the cursor: %s", reqs[1].Body)
	}
	if len(res.Lookups) != maxSearchPages || len(res.Candidates) != maxSearchPages {
		t.Errorf("lookups = %d, candidates = %d", len(res.Lookups), len(res.Candidates))
	}
	if last := res.Lookups[len(res.Lookups)-1].Query; !strings.Contains(last, "stopped after 5 pages") {
		t.Errorf("last lookup does not say it stopped: %q", last)
	}
}

func TestFindByPhoneRefusesAnEmptyQuery(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {})
	c, _ := newTestClient(t, f, nil)
	_, err := c.FindByPhone(context.Background(), domain.PhoneQuery{E164: "+14155552671"})
	if err == nil || domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("err = %v, want an invalid-argument error", err)
	}
	if f.count() != 0 {
		t.Errorf("an empty query reached HubSpot")
	}
}

func TestFindByPropertyUniqueReadsByIDPropertyAndCachesTheDefinition(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		switch {
		case r.URL.Path == "/crm/v3/properties/contacts/telegram_user_id":
			writeJSON(w, 200, `{"name":"telegram_user_id","label":"Telegram user id","type":"string","fieldType":"text","groupName":"contactinformation","description":"","options":[],"hasUniqueValue":true,"hubspotDefined":false}`)
		case strings.HasPrefix(r.URL.Path, "/crm/v3/objects/contacts/") && r.Method == http.MethodGet:
			if r.URL.EscapedPath() == "/crm/v3/objects/contacts/404" {
				writeJSON(w, 404, `{"status":"error","message":"Object not found.","category":"OBJECT_NOT_FOUND","correlationId":"c1"}`)
				return
			}
			writeJSON(w, 200, fmt.Sprintf(contactJSON, "512", "512"))
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(500)
		}
	})
	c, _ := newTestClient(t, f, nil)
	ctx := context.Background()

	values := []string{"5550123", "@Ana+B/c d", "404", "777", "888"}
	for _, v := range values {
		res, err := c.FindByProperty(ctx, "telegram_user_id", v)
		if err != nil {
			t.Fatalf("FindByProperty(%q): %v", v, err)
		}
		want := 1
		if v == "404" {
			want = 0
		}
		if len(res.Candidates) != want || len(res.Lookups) != 1 || res.Lookups[0].Found != want || res.Lookups[0].Kind != "read_by_property" {
			t.Errorf("FindByProperty(%q) = %+v", v, res)
		}
	}

	var propertyCalls, reads int
	for _, r := range f.requests() {
		if strings.HasPrefix(r.Path, "/crm/v3/properties/") {
			propertyCalls++
			continue
		}
		reads++
		if got := r.Query["idProperty"]; len(got) != 1 || got[0] != "telegram_user_id" {
			t.Errorf("idProperty = %v", got)
		}
		if got := r.Query["properties"]; len(got) != 1 || got[0] != "firstname,lastname,email,phone,mobilephone,createdate,hs_object_id,telegram_user_id" {
			t.Errorf("properties = %v", got)
		}
	}
	if propertyCalls != 1 || reads != len(values) {
		t.Errorf("property calls = %d (want 1), reads = %d (want %d)", propertyCalls, reads, len(values))
	}
	if got := f.requests()[2].Path; got != "/crm/v3/objects/contacts/%40Ana%2BB%2Fc%20d" {
		t.Errorf("escaped path = %q", got)
	}
}

func TestFindByPropertyNotUniqueSearchesWithEQ(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if r.URL.Path == "/crm/v3/properties/contacts/instagram_username" {
			writeJSON(w, 200, `{"name":"instagram_username","type":"string","fieldType":"text","hasUniqueValue":false}`)
			return
		}
		writeJSON(w, 200, `{"total":0,"results":[]}`)
	})
	c, _ := newTestClient(t, f, nil)
	res, err := c.FindByProperty(context.Background(), "instagram_username", "ana_b")
	if err != nil {
		t.Fatalf("FindByProperty: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[1].Path != "/crm/v3/objects/contacts/search" {
		t.Fatalf("requests = %+v", reqs)
	}
	assertJSON(t, reqs[1].Body, `{
		"filterGroups": [{"filters": [{"propertyName": "instagram_username", "operator": "EQ", "value": "ana_b"}]}],
		"properties": ["firstname", "lastname", "email", "phone", "mobilephone", "createdate", "hs_object_id", "instagram_username"],
		"sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
		"limit": 100
	}`)
	if len(res.Lookups) != 1 || res.Lookups[0].Kind != "search" || res.Lookups[0].Found != 0 {
		t.Errorf("lookups = %+v", res.Lookups)
	}
}

func TestPropertyInfoMissingPropertyIsAClearPermanentError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 404, `{"status":"error","message":"Unable to find property telegram_id","category":"OBJECT_NOT_FOUND","correlationId":"c2"}`)
	})
	c, _ := newTestClient(t, f, nil)
	for i := 0; i < 2; i++ { // not cached: creating the property fixes it without a restart
		_, err := c.FindByProperty(context.Background(), "telegram_id", "1")
		if !errors.Is(err, ErrPropertyNotFound) || !errors.Is(err, domain.ErrPermanent) {
			t.Fatalf("err = %v, want ErrPropertyNotFound and ErrPermanent", err)
		}
		if !strings.Contains(err.Error(), `"telegram_id"`) || !strings.Contains(err.Error(), "does not exist in the HubSpot portal") {
			t.Errorf("error does not name the property: %v", err)
		}
	}
	if f.count() != 2 {
		t.Errorf("requests = %d, want 2 (one per call, no retry, no negative cache)", f.count())
	}
}

func TestCreateContact(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeJSON(w, 201, `{"id":"512","properties":{"createdate":"2026-11-26T09:30:00.123Z","firstname":"Ana","hs_object_id":"512"},"createdAt":"2026-11-26T09:30:00.123Z","updatedAt":"2026-11-26T09:30:00.123Z","archived":false}`)
	})
	c, _ := newTestClient(t, f, nil)
	ct, err := c.CreateContact(context.Background(), map[string]string{"phone": "+14155552671", "firstname": "Ana"})
	if err != nil {
		t.Fatalf("CreateContact: %v", err)
	}
	if ct.ID != "512" || ct.CreatedAt.IsZero() {
		t.Errorf("contact = %+v", ct)
	}
	r := f.requests()[0]
	if r.Method != http.MethodPost || r.Path != "/crm/v3/objects/contacts" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"properties": {"phone": "+14155552671", "firstname": "Ana"}, "associations": []}`)
}

func TestCreateContactConflict(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		wantID string
	}{
		{"existing id in the message", `{"status":"error","message":"Contact already exists. Existing ID: 37765128953","correlationId":"2dea5219-07f2-40ce-82ec-9c2e302317a4","category":"CONFLICT"}`, "37765128953"},
		{"with identityProfile", `{"status":"error","message":"Contact already exists. Existing ID:51","correlationId":"x","category":"CONFLICT","identityProfile":{"vid":51,"identity":[{"value":"a@b.c","type":"EMAIL"}]}}`, "51"},
		{"no id", `{"status":"error","message":"A contact with that value already exists","correlationId":"y","category":"CONFLICT"}`, ""},
		{"not JSON", `conflict`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, 409, tt.body) })
			c, clock := newTestClient(t, f, nil)
			_, err := c.CreateContact(context.Background(), map[string]string{"email": "a@b.c"})
			var exists *domain.ContactExistsError
			if !errors.As(err, &exists) || !errors.Is(err, domain.ErrContactExists) {
				t.Fatalf("err = %v, want a *ContactExistsError", err)
			}
			if exists.ExistingID != tt.wantID {
				t.Errorf("ExistingID = %q, want %q", exists.ExistingID, tt.wantID)
			}
			if errors.Is(err, domain.ErrPermanent) {
				t.Errorf("a 409 must not be permanent: the caller follows the existing contact")
			}
			if f.count() != 1 || len(clock.slept()) != 0 {
				t.Errorf("a 409 was retried: %d requests, sleeps %v", f.count(), clock.slept())
			}
		})
	}
}

func TestGetContact(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		switch r.URL.Path {
		case "/crm/v3/objects/contacts/101":
			// A merged-away id reads as the survivor.
			writeJSON(w, 200, fmt.Sprintf(contactJSON, "303", "303"))
		default:
			writeJSON(w, 404, `{"status":"error","message":"Object not found","category":"OBJECT_NOT_FOUND","correlationId":"c"}`)
		}
	})
	c, _ := newTestClient(t, f, nil)
	ct, err := c.GetContact(context.Background(), "101", []string{"phone", "mobilephone"})
	if err != nil {
		t.Fatalf("GetContact: %v", err)
	}
	if ct.ID != "303" {
		t.Errorf("ID = %q, want the survivor 303", ct.ID)
	}
	if got := f.requests()[0].Query["properties"]; len(got) != 1 || got[0] != "phone,mobilephone" {
		t.Errorf("properties = %v", got)
	}
	_, err = c.GetContact(context.Background(), "999", nil)
	if !errors.Is(err, domain.ErrContactNotFound) || errors.Is(err, domain.ErrPermanent) {
		t.Errorf("err = %v, want ErrContactNotFound (not permanent)", err)
	}
	if f.count() != 2 {
		t.Errorf("a 404 was retried")
	}
}

func TestUpdateContact(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if r.URL.Path == "/crm/v3/objects/contacts/404" {
			writeJSON(w, 404, `{"status":"error","message":"not found","category":"OBJECT_NOT_FOUND"}`)
			return
		}
		writeJSON(w, 200, fmt.Sprintf(contactJSON, "512", "512"))
	})
	c, _ := newTestClient(t, f, nil)
	if err := c.UpdateContact(context.Background(), "512", map[string]string{"mobilephone": "+14155552671"}); err != nil {
		t.Fatalf("UpdateContact: %v", err)
	}
	r := f.requests()[0]
	if r.Method != http.MethodPatch || r.Path != "/crm/v3/objects/contacts/512" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertJSON(t, r.Body, `{"properties": {"mobilephone": "+14155552671"}}`)
	if err := c.UpdateContact(context.Background(), "404", map[string]string{"phone": "1"}); !errors.Is(err, domain.ErrContactNotFound) {
		t.Errorf("err = %v, want ErrContactNotFound", err)
	}
}
