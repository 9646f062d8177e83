package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/adapters/config"
	"switchboard/adapters/inbound"
	"switchboard/domain"
)

// DefaultAPIURL is the Slack Web API base.
const DefaultAPIURL = "https://slack.com/api"

// permanentSlackErrors are users.info errors no retry can fix.
var permanentSlackErrors = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "no_permission": true, "missing_scope": true, "user_not_found": true,
	"user_not_visible": true, "org_login_required": true, "ekm_access_denied": true,
}

// ProfileTTL is how long a users.info answer is reused.
const ProfileTTL = 12 * time.Hour

// User is what users.info tells about one sender.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RealName string `json:"real_name"`
	IsBot    bool   `json:"is_bot"`
	Profile  struct {
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		RealName    string `json:"real_name"`
		DisplayName string `json:"display_name"`
		Email       string `json:"email"`
	} `json:"profile"`
}

// ProfileLookup is the domain.ProfileLookup of Slack channels: users.info with the
// bot token gives the username (name), first and last or real name, and the email
// (with the users:read.email scope). Answers are cached in memory. It runs in the
// resolver, never while Slack waits for the webhook answer (Slack allows 3 s).
type ProfileLookup struct {
	client   *http.Client
	channels map[string]apiChannel
	cache    *inbound.Cache[User]
}

type apiChannel struct {
	baseURL string
	token   string
}

var _ domain.ProfileLookup = (*ProfileLookup)(nil)

// NewProfileLookup prepares lookups for every slack channel of cfg. client may be nil
// (a client with a 10 s timeout).
func NewProfileLookup(cfg *config.Config, client *http.Client) *ProfileLookup {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	p := &ProfileLookup{client: client, channels: map[string]apiChannel{}, cache: inbound.NewCache[User](ProfileTTL, 50000, nil)}
	if cfg == nil {
		return p
	}
	for _, w := range cfg.Workspaces {
		for _, ch := range w.Channels {
			if domain.ChannelKind(ch.Kind) != domain.KindSlack {
				continue
			}
			base := strings.TrimRight(strings.TrimSpace(ch.APIBaseURL), "/")
			if base == "" {
				base = DefaultAPIURL
			}
			p.channels[ch.ID] = apiChannel{baseURL: base, token: ch.Secret("bot_token_env")}
		}
	}
	return p
}

// CompleteSender fills username, names and email the sender lacks, never overwriting
// what it has. Without a bot token it can learn nothing: that is an error only when the
// channel resolves by username, the one field the resolver cannot do without.
func (p *ProfileLookup) CompleteSender(ctx context.Context, ch domain.ChannelSettings, s domain.Sender) (domain.Sender, error) {
	ac, ok := p.channels[ch.ID]
	if !ok || ch.Kind != domain.KindSlack {
		return s, nil
	}
	needUsername := ch.Identifier == domain.IdentifyByUsername && strings.TrimSpace(s.Username) == ""
	needNames := s.FirstName == "" && s.LastName == "" && s.DisplayName == ""
	needEmail := s.Email == ""
	if !needUsername && !needNames && !needEmail {
		return s, nil
	}
	userID := strings.TrimSpace(s.UserID)
	if userID == "" || ac.token == "" {
		if !needUsername {
			return s, nil
		}
		if userID == "" {
			return s, fmt.Errorf("slack profile for channel %s: the sender has no user id to look up the username by", ch.ID)
		}
		return s, fmt.Errorf("slack profile for channel %s: no bot token (set bot_token_env) to look up the username of %s", ch.ID, userID)
	}
	u, err := p.user(ctx, ch.ID, ac, userID)
	if err != nil {
		return s, err
	}
	if s.Username == "" {
		s.Username = strings.TrimSpace(u.Name)
	}
	if needNames {
		s.FirstName, s.LastName = strings.TrimSpace(u.Profile.FirstName), strings.TrimSpace(u.Profile.LastName)
		s.DisplayName = strings.TrimSpace(u.Profile.RealName)
		if s.DisplayName == "" {
			s.DisplayName = strings.TrimSpace(u.RealName)
		}
	}
	if needEmail {
		s.Email = strings.TrimSpace(u.Profile.Email)
	}
	if needUsername && s.Username == "" {
		return s, fmt.Errorf("slack profile for channel %s: users.info answered for %s without a name", ch.ID, userID)
	}
	return s, nil
}

func (p *ProfileLookup) user(ctx context.Context, channelID string, ac apiChannel, userID string) (User, error) {
	key := channelID + "\x00" + userID
	if u, ok := p.cache.Get(key); ok {
		return u, nil
	}
	what := fmt.Sprintf("slack users.info of %s for channel %s", userID, channelID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ac.baseURL+"/users.info?"+url.Values{"user": {userID}}.Encode(), nil)
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+ac.token)
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return User{}, fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			return User{}, fmt.Errorf("%s: Slack answered %s; retry after %s s", what, resp.Status, ra)
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return User{}, fmt.Errorf("%s: Slack answered %s: %w", what, resp.Status, domain.ErrPermanent)
		}
		return User{}, fmt.Errorf("%s: Slack answered %s", what, resp.Status)
	}
	var ans struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  *User  `json:"user"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return User{}, fmt.Errorf("%s: answer is not users.info JSON: %w", what, err)
	}
	if !ans.OK || ans.User == nil {
		reason := ans.Error
		if reason == "" {
			reason = "no user in the answer"
		}
		if permanentSlackErrors[reason] {
			// Retrying cannot fix these: the operator must mend the token or scope (a
			// dead letter says so), or the user is gone.
			return User{}, fmt.Errorf("%s: Slack said %s: %w", what, reason, domain.ErrPermanent)
		}
		return User{}, fmt.Errorf("%s: Slack said %s", what, reason)
	}
	p.cache.Put(key, *ans.User)
	return *ans.User, nil
}
