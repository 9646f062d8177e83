package domain

import "context"

// ProfileLookup is the port to a platform's profile API: it completes what a webhook
// does not carry (Instagram usernames, Slack names and email, Messenger names). Fields
// it cannot learn stay as they were. An error wrapping ErrPermanent means the API
// refused for good (bad token, unknown user); any other error is transient and the
// caller retries.
type ProfileLookup interface {
	CompleteSender(ctx context.Context, ch ChannelSettings, s Sender) (Sender, error)
}
