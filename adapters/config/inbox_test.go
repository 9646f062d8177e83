package config

import (
	"errors"
	"strings"
	"testing"
)

// TestInboxIDsOptionalButPaired: a channel may leave its inbox ids to `hubspot setup`
// (none given), but half a pair, or a workspace inbox_id that is not a number, is a
// configuration error that says the fix.
func TestInboxIDsOptionalButPaired(t *testing.T) {
	none := strings.Replace(valid, `, inbox: {channel_id: "1", channel_account_id: "2"}`, "", 1)
	none = strings.Replace(none, "hubspot: {token_env: HS}", `hubspot: {token_env: HS, inbox_id: "123"}`, 1)
	c, err := Parse("s.yaml", []byte(none), secrets)
	if err != nil {
		t.Fatalf("a channel without inbox ids: %v", err)
	}
	if ch, _ := c.Catalog().Channel("acme-sms"); ch.Inbox.Complete() {
		t.Fatalf("inbox from nowhere: %+v", ch.Inbox)
	}
	if c.Workspaces[0].HubSpot.InboxID != "123" {
		t.Fatalf("inbox_id %q", c.Workspaces[0].HubSpot.InboxID)
	}
	for name, tc := range map[string]struct{ from, to, want string }{
		"half a pair": {`inbox: {channel_id: "1", channel_account_id: "2"}`, `inbox: {channel_id: "1"}`,
			"s.yaml: workspaces[0].channels[0].inbox: needs both channel_id and channel_account_id"},
		"inbox_id not a number": {"hubspot: {token_env: HS}", `hubspot: {token_env: HS, inbox_id: "main"}`,
			`s.yaml: workspaces[0].hubspot.inbox_id: "main" is not a HubSpot inbox id`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(strings.Replace(valid, tc.from, tc.to, 1)), secrets)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
