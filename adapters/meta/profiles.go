package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// DefaultGraphURL is the Graph API host for Messenger and for Instagram through the
// Messenger Platform. Instagram accounts connected with Instagram Login set the
// channel's api_base_url to https://graph.instagram.com instead.
const DefaultGraphURL = "https://graph.facebook.com"

// DefaultGraphVersion is the Graph API version profile requests use unless the
// channel's api_base_url already ends in a version ("…/v21.0").
const DefaultGraphVersion = "v23.0"

// ProfileTTL is how long a profile answer is reused. Names and usernames change
// rarely, and Instagram allows only about 2 profile calls per second per account.
const ProfileTTL = 24 * time.Hour

// Profile is what the Graph API tells about one sender.
type Profile struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Name      string `json:"name"`
	Username  string `json:"username"`
}

// ProfileLookup is the domain.ProfileLookup of Messenger and Instagram channels: it
// asks the Graph User Profile API for what their webhooks do not carry (Messenger first
// and last names; Instagram username and name) and caches the answers in memory.
//
// It is called by the resolver after the message is recorded, never while a webhook
// waits. A failed lookup returns an error and caches nothing, so the caller retries
// later; it never guesses an identifier.
type ProfileLookup struct {
	client   *http.Client
	channels map[string]graphChannel
	cache    *inbound.Cache[Profile]
}

type graphChannel struct {
	kind    domain.ChannelKind
	baseURL string
	version string
	token   string
}

var _ domain.ProfileLookup = (*ProfileLookup)(nil)

// NewProfileLookup prepares lookups for every messenger and instagram channel of cfg.
// client may be nil (a client with a 10 s timeout).
func NewProfileLookup(cfg *config.Config, client *http.Client) *ProfileLookup {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	p := &ProfileLookup{client: client, channels: map[string]graphChannel{}, cache: inbound.NewCache[Profile](ProfileTTL, 50000, nil)}
	if cfg == nil {
		return p
	}
	for _, w := range cfg.Workspaces {
		for _, ch := range w.Channels {
			kind := domain.ChannelKind(ch.Kind)
			if kind != domain.KindMessenger && kind != domain.KindInstagram {
				continue
			}
			base, version := splitGraphBase(ch.APIBaseURL)
			p.channels[ch.ID] = graphChannel{kind: kind, baseURL: base, version: version, token: ch.Secret("access_token_env")}
		}
	}
	return p
}

var graphVersion = regexp.MustCompile(`^v\d+\.\d+$`)

func splitGraphBase(apiBase string) (base, version string) {
	base = strings.TrimRight(strings.TrimSpace(apiBase), "/")
	if base == "" {
		return DefaultGraphURL, DefaultGraphVersion
	}
	if i := strings.LastIndex(base, "/"); i >= 0 && graphVersion.MatchString(base[i+1:]) {
		return base[:i], base[i+1:]
	}
	return base, DefaultGraphVersion
}

// CompleteSender fills the names (and, on Instagram, the username) that the sender
// lacks. It leaves fields the webhook gave untouched. With nothing to learn it makes no
// call. A channel without an access token cannot be asked: that is an error only when
// the identifier the channel resolves by (an Instagram username) is missing, since
// names are merely nice to have.
func (p *ProfileLookup) CompleteSender(ctx context.Context, ch domain.ChannelSettings, s domain.Sender) (domain.Sender, error) {
	gc, ok := p.channels[ch.ID]
	if !ok || (ch.Kind != domain.KindMessenger && ch.Kind != domain.KindInstagram) {
		return s, nil
	}
	needUsername := ch.Kind == domain.KindInstagram && ch.Identifier == domain.IdentifyByUsername && strings.TrimSpace(s.Username) == ""
	needNames := s.FirstName == "" && s.LastName == "" && s.DisplayName == ""
	if !needUsername && !needNames {
		return s, nil
	}
	userID := strings.TrimSpace(s.UserID)
	if userID == "" || gc.token == "" {
		if !needUsername {
			return s, nil
		}
		if userID == "" {
			return s, fmt.Errorf("instagram profile for channel %s: the sender has no user id to look up the username by", ch.ID)
		}
		return s, fmt.Errorf("instagram profile for channel %s: no access token (set access_token_env) to look up the username of %s", ch.ID, userID)
	}
	prof, err := p.profile(ctx, ch.ID, gc, userID)
	if err != nil {
		return s, err
	}
	if s.Username == "" {
		s.Username = strings.TrimSpace(prof.Username)
	}
	if needNames {
		s.FirstName, s.LastName = strings.TrimSpace(prof.FirstName), strings.TrimSpace(prof.LastName)
		s.DisplayName = strings.TrimSpace(prof.Name)
	}
	if needUsername && s.Username == "" {
		return s, fmt.Errorf("instagram profile for channel %s: the profile API answered for %s without a username", ch.ID, userID)
	}
	return s, nil
}

func (p *ProfileLookup) profile(ctx context.Context, channelID string, gc graphChannel, userID string) (Profile, error) {
	key := channelID + "\x00" + userID
	if prof, ok := p.cache.Get(key); ok {
		return prof, nil
	}
	fields := "first_name,last_name"
	if gc.kind == domain.KindInstagram {
		fields = "name,username"
	}
	q := url.Values{"fields": {fields}, "access_token": {gc.token}}
	u := gc.baseURL + "/" + gc.version + "/" + url.PathEscape(userID) + "?" + q.Encode()
	what := fmt.Sprintf("%s profile of %s for channel %s", gc.kind, userID, channelID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Profile{}, fmt.Errorf("%s: %w", what, redact(err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return Profile{}, fmt.Errorf("%s: %w", what, redact(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Profile{}, fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ge struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &ge)
		msg := ge.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(raw))
			if len(msg) > 200 {
				msg = msg[:200]
			}
		}
		err := fmt.Errorf("%s: Graph API answered %s (code %d): %s", what, resp.Status, ge.Error.Code, msg)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			// A bad token, a missing permission or an unknown user: retrying cannot
			// fix it, the operator must (a dead letter says so).
			return Profile{}, fmt.Errorf("%w: %w", err, domain.ErrPermanent)
		}
		return Profile{}, err
	}
	var prof Profile
	if err := json.Unmarshal(raw, &prof); err != nil {
		return Profile{}, fmt.Errorf("%s: Graph API answer is not a profile: %w", what, err)
	}
	p.cache.Put(key, prof)
	return prof, nil
}

// redact drops the request URL from transport errors: it carries the access token.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s graph request: %w", ue.Op, ue.Err)
	}
	return err
}
