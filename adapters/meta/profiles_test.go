package meta

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/adapters/config"
	"switchboard/domain"
)

// graphAPI answers the User Profile API shapes of Messenger (first_name, last_name)
// and Instagram (name, username), and Graph errors for unknown ids.
func graphAPI(t *testing.T, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodGet || r.URL.Query().Get("access_token") != "PAGE_TOKEN" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`))
			return
		}
		fields := r.URL.Query().Get("fields")
		switch r.URL.Path {
		case "/v23.0/24012345678901234":
			if fields != "first_name,last_name" {
				t.Errorf("messenger fields = %q", fields)
			}
			_, _ = w.Write([]byte(`{"first_name":"Peter","last_name":"Chang","id":"24012345678901234"}`))
		case "/v21.0/1234567890123456", "/v23.0/1234567890123456":
			if fields != "name,username" {
				t.Errorf("instagram fields = %q", fields)
			}
			_, _ = w.Write([]byte(`{"name":"Peter Chang","username":"peter_chang_live","id":"1234567890123456"}`))
		case "/v23.0/7777":
			_, _ = w.Write([]byte(`{"name":"No Handle","id":"7777"}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"Unsupported get request. Object with ID does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func lookupFor(srv *httptest.Server, igBase string) *ProfileLookup {
	cfg := &config.Config{Workspaces: []config.Workspace{{ID: "acme", Channels: []config.Channel{
		{ID: "acme-fb", Kind: "messenger", APIBaseURL: srv.URL, Secrets: map[string]string{"access_token_env": "PAGE_TOKEN"}},
		{ID: "acme-ig", Kind: "instagram", APIBaseURL: igBase, Secrets: map[string]string{"access_token_env": "PAGE_TOKEN"}},
		{ID: "acme-ig-notoken", Kind: "instagram", APIBaseURL: srv.URL},
	}}}}
	return NewProfileLookup(cfg, srv.Client())
}

func TestProfileLookupMessenger(t *testing.T) {
	var calls atomic.Int32
	srv := graphAPI(t, &calls)
	p := lookupFor(srv, srv.URL)
	ch := domain.ChannelSettings{ID: "acme-fb", Kind: domain.KindMessenger, Identifier: domain.IdentifyByUserID}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		s, err := p.CompleteSender(ctx, ch, domain.Sender{UserID: "24012345678901234"})
		if err != nil {
			t.Fatal(err)
		}
		if s.FirstName != "Peter" || s.LastName != "Chang" || s.UserID != "24012345678901234" {
			t.Fatalf("sender %+v", s)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("Graph API called %d times, want 1 (cached)", calls.Load())
	}
	// A failed lookup is an error, is not cached, and leaves the sender as it was.
	in := domain.Sender{UserID: "999"}
	s, err := p.CompleteSender(ctx, ch, in)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || s != in {
		t.Errorf("unknown id: %+v, %v", s, err)
	}
	if strings.Contains(err.Error(), "PAGE_TOKEN") {
		t.Errorf("error leaks the access token: %v", err)
	}
	before := calls.Load()
	_, _ = p.CompleteSender(ctx, ch, in)
	if calls.Load() != before+1 {
		t.Errorf("a failed lookup was cached")
	}
	// Names already known: no call.
	before = calls.Load()
	if _, err := p.CompleteSender(ctx, ch, domain.Sender{UserID: "24012345678901234", FirstName: "Pete"}); err != nil || calls.Load() != before {
		t.Errorf("lookup made although names were known")
	}
}

func TestProfileLookupInstagram(t *testing.T) {
	var calls atomic.Int32
	srv := graphAPI(t, &calls)
	// api_base_url may carry the version (Instagram Login: https://graph.instagram.com/v21.0).
	p := lookupFor(srv, srv.URL+"/v21.0/")
	ch := domain.ChannelSettings{ID: "acme-ig", Kind: domain.KindInstagram, Identifier: domain.IdentifyByUsername, Property: "instagram_username"}
	s, err := p.CompleteSender(context.Background(), ch, domain.Sender{UserID: "1234567890123456"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Username != "peter_chang_live" || s.DisplayName != "Peter Chang" {
		t.Fatalf("sender %+v", s)
	}
	if _, err := p.CompleteSender(context.Background(), ch, domain.Sender{UserID: "1234567890123456"}); err != nil || calls.Load() != 1 {
		t.Errorf("second lookup: %v, %d calls", err, calls.Load())
	}
	// No access token: the username cannot be learned, and that is an error...
	noTok := domain.ChannelSettings{ID: "acme-ig-notoken", Kind: domain.KindInstagram, Identifier: domain.IdentifyByUsername}
	if _, err := p.CompleteSender(context.Background(), noTok, domain.Sender{UserID: "1"}); err == nil || !strings.Contains(err.Error(), "access_token_env") {
		t.Errorf("no token, username needed: %v", err)
	}
	// ...but on a user_id channel names are only nice to have.
	noTok.Identifier = domain.IdentifyByUserID
	if s, err := p.CompleteSender(context.Background(), noTok, domain.Sender{UserID: "1"}); err != nil || s.UserID != "1" {
		t.Errorf("no token, names only: %+v, %v", s, err)
	}
}

// A profile without a username never yields a guessed identifier.
func TestProfileLookupNoUsername(t *testing.T) {
	var calls atomic.Int32
	srv := graphAPI(t, &calls)
	p := lookupFor(srv, srv.URL)
	ch := domain.ChannelSettings{ID: "acme-ig", Kind: domain.KindInstagram, Identifier: domain.IdentifyByUsername}
	s, err := p.CompleteSender(context.Background(), ch, domain.Sender{UserID: "7777"})
	if err == nil || s.Username != "" {
		t.Fatalf("got %+v, %v; want an error and no username", s, err)
	}
}

func TestSplitGraphBase(t *testing.T) {
	for in, want := range map[string][2]string{
		"":                                  {DefaultGraphURL, DefaultGraphVersion},
		"https://graph.instagram.com":       {"https://graph.instagram.com", DefaultGraphVersion},
		"https://graph.instagram.com/v21.0": {"https://graph.instagram.com", "v21.0"},
		"http://127.0.0.1:9000/graph/":      {"http://127.0.0.1:9000/graph", DefaultGraphVersion},
	} {
		b, v := splitGraphBase(in)
		if b != want[0] || v != want[1] {
			t.Errorf("splitGraphBase(%q) = %q, %q", in, b, v)
		}
	}
}

// TestProfileErrorsThatNoRetryFixesArePermanent: an invalid token or an unknown id must
// reach the dead-letter list instead of being retried forever.
func TestProfileErrorsThatNoRetryFixesArePermanent(t *testing.T) {
	var calls atomic.Int32
	srv := graphAPI(t, &calls)
	cfg := &config.Config{Workspaces: []config.Workspace{{ID: "acme", Channels: []config.Channel{
		{ID: "acme-ig", Kind: "instagram", APIBaseURL: srv.URL, Secrets: map[string]string{"access_token_env": "PAGE_TOKEN"}},
		{ID: "acme-ig-revoked", Kind: "instagram", APIBaseURL: srv.URL, Secrets: map[string]string{"access_token_env": "OLD"}},
	}}}}
	p := NewProfileLookup(cfg, srv.Client())
	for _, tc := range []struct{ channel, user string }{{"acme-ig-revoked", "1234567890123456"}, {"acme-ig", "404404"}} {
		ch := domain.ChannelSettings{ID: tc.channel, Kind: domain.KindInstagram, Identifier: domain.IdentifyByUsername, Property: "ig"}
		if _, err := p.CompleteSender(context.Background(), ch, domain.Sender{UserID: tc.user}); !errors.Is(err, domain.ErrPermanent) {
			t.Errorf("%s/%s: err = %v, want a permanent error", tc.channel, tc.user, err)
		}
	}
}
