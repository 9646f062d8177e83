package webhooks

import (
	"context"
	"net/http"

	"switchboard/adapters/config"
	"switchboard/adapters/meta"
	"switchboard/adapters/slack"
	"switchboard/domain"
)

// profiles dispatches profile lookups by channel kind to the platform that has a
// profile API; kinds whose webhooks already carry what the resolver needs (sms,
// whatsapp, telegram) pass the sender through unchanged. It lives here because this is
// the one adapter that knows every platform package, as it does for receivers; it is
// the only set of profile lookups, used by the resolver (webhook requests never call
// it).
type profiles struct {
	meta  *meta.ProfileLookup
	slack *slack.ProfileLookup
}

// NewProfiles returns the domain.ProfileLookup of every channel in cfg: the Graph
// User Profile API for messenger and instagram, users.info for slack, none for the
// others. Each platform caches answers in memory. client may be nil.
func NewProfiles(cfg *config.Config, client *http.Client) domain.ProfileLookup {
	return &profiles{meta: meta.NewProfileLookup(cfg, client), slack: slack.NewProfileLookup(cfg, client)}
}

func (p *profiles) CompleteSender(ctx context.Context, ch domain.ChannelSettings, s domain.Sender) (domain.Sender, error) {
	switch ch.Kind {
	case domain.KindMessenger, domain.KindInstagram:
		return p.meta.CompleteSender(ctx, ch, s)
	case domain.KindSlack:
		return p.slack.CompleteSender(ctx, ch, s)
	}
	return s, nil
}
