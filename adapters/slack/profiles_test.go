package slack

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

// slackAPI answers users.info as Slack does: 200 with ok true/false.
func slackAPI(t *testing.T, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/users.info" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer xoxb-test" {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		switch r.URL.Query().Get("user") {
		case "U2147483697":
			_, _ = w.Write([]byte(`{"ok":true,"user":{"id":"U2147483697","team_id":"T123ABC456","name":"spengler","deleted":false,"real_name":"Egon Spengler","is_bot":false,
				"profile":{"first_name":"Egon","last_name":"Spengler","real_name":"Egon Spengler","display_name":"spengler","email":"spengler@ghostbusters.example.com","image_24":"https://example.com/x.jpg"}}}`))
		case "URATE":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			_, _ = w.Write([]byte(`{"ok":false,"error":"user_not_found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProfileLookup(t *testing.T) {
	var calls atomic.Int32
	srv := slackAPI(t, &calls)
	cfg := &config.Config{Workspaces: []config.Workspace{{ID: "acme", Channels: []config.Channel{
		{ID: "acme-slack", Kind: "slack", APIBaseURL: srv.URL + "/", Secrets: map[string]string{"bot_token_env": "xoxb-test"}},
		{ID: "acme-slack-notoken", Kind: "slack", APIBaseURL: srv.URL},
	}}}}
	p := NewProfileLookup(cfg, srv.Client())
	ctx := context.Background()
	ch := domain.ChannelSettings{ID: "acme-slack", Kind: domain.KindSlack, Identifier: domain.IdentifyByUsername, Property: "slack_username"}
	for i := 0; i < 2; i++ {
		s, err := p.CompleteSender(ctx, ch, domain.Sender{UserID: "U2147483697"})
		if err != nil {
			t.Fatal(err)
		}
		want := domain.Sender{UserID: "U2147483697", Username: "spengler", FirstName: "Egon", LastName: "Spengler",
			DisplayName: "Egon Spengler", Email: "spengler@ghostbusters.example.com"}
		if s != want {
			t.Fatalf("got %+v\nwant %+v", s, want)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("users.info called %d times, want 1 (cached)", calls.Load())
	}
	for user, wantErr := range map[string]string{"UNKNOWN": "user_not_found", "URATE": "retry after 30"} {
		in := domain.Sender{UserID: user}
		s, err := p.CompleteSender(ctx, ch, in)
		if err == nil || !strings.Contains(err.Error(), wantErr) || s != in {
			t.Errorf("%s: %+v, %v; want error containing %q", user, s, err, wantErr)
		}
	}
	noTok := domain.ChannelSettings{ID: "acme-slack-notoken", Kind: domain.KindSlack, Identifier: domain.IdentifyByUsername}
	if _, err := p.CompleteSender(ctx, noTok, domain.Sender{UserID: "U1"}); err == nil || !strings.Contains(err.Error(), "bot_token_env") {
		t.Errorf("no token, username needed: %v", err)
	}
	noTok.Identifier = domain.IdentifyByUserID
	if _, err := p.CompleteSender(ctx, noTok, domain.Sender{UserID: "U1"}); err != nil {
		t.Errorf("no token, names only: %v", err)
	}
}

// TestProfileErrorsThatNoRetryFixesArePermanent: a revoked token or an unknown user
// must reach the dead-letter list, not be retried forever; a rate limit is retried.
func TestProfileErrorsThatNoRetryFixesArePermanent(t *testing.T) {
	var calls atomic.Int32
	srv := slackAPI(t, &calls)
	cfg := &config.Config{Workspaces: []config.Workspace{{ID: "acme", Channels: []config.Channel{
		{ID: "good", Kind: "slack", APIBaseURL: srv.URL, Secrets: map[string]string{"bot_token_env": "xoxb-test"}},
		{ID: "revoked", Kind: "slack", APIBaseURL: srv.URL, Secrets: map[string]string{"bot_token_env": "xoxb-revoked"}},
	}}}}
	p := NewProfileLookup(cfg, srv.Client())
	byName := func(id string) domain.ChannelSettings {
		return domain.ChannelSettings{ID: id, Kind: domain.KindSlack, Identifier: domain.IdentifyByUsername, Property: "slack_username"}
	}
	cases := []struct {
		channel, user string
		permanent     bool
	}{
		{"revoked", "U2147483697", true},
		{"good", "UNKNOWN", true},
		{"good", "URATE", false},
	}
	for _, tc := range cases {
		_, err := p.CompleteSender(context.Background(), byName(tc.channel), domain.Sender{UserID: tc.user})
		if err == nil || errors.Is(err, domain.ErrPermanent) != tc.permanent {
			t.Errorf("%s/%s: err = %v, permanent want %t", tc.channel, tc.user, err, tc.permanent)
		}
	}
}
