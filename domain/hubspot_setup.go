package domain

// What `switchboard hubspot setup` obtained from HubSpot (SPEC §5 "Command line") is
// recorded on the workspace's HubSpot stream, so that a channel needs no inbox ids in
// the configuration: the publisher reads the ids from here. The stream's name holds the
// workspace id only; its events hold HubSpot's ids and the configuration's channel ids,
// no personal data.
const (
	EventHubSpotChannelRegistered       = "HubSpotChannelRegistered"
	EventHubSpotChannelAccountConnected = "HubSpotChannelAccountConnected"
	EventHubSpotPropertyCreated         = "HubSpotPropertyCreated"
)

// HubSpotStream is the stream of a workspace's HubSpot setup ("hubspot:{workspace}").
func HubSpotStream(workspaceID string) string { return "hubspot:" + workspaceID }

// HubSpotChannelRegistered: the app's custom channel this workspace publishes into.
// Found is true when setup found it registered already (by name) rather than
// registering it.
type HubSpotChannelRegistered struct {
	AppID      string `json:"app_id"`
	ChannelID  string `json:"channel_id"`
	Name       string `json:"name"`
	WebhookURL string `json:"webhook_url"`
	Found      bool   `json:"found,omitempty"`
}

// HubSpotChannelAccountConnected: the channel account of one configured channel
// (Channel, the configuration's id) in the workspace's inbox.
type HubSpotChannelAccountConnected struct {
	Channel          string `json:"channel"`
	ChannelID        string `json:"channel_id"`
	ChannelAccountID string `json:"channel_account_id"`
	InboxID          string `json:"inbox_id"`
	Name             string `json:"name"`
	Found            bool   `json:"found,omitempty"`
}

// HubSpotPropertyCreated: setup created an identifier property of the contacts.
type HubSpotPropertyCreated struct {
	Property string `json:"property"`
	Unique   bool   `json:"unique"`
}

// HubSpotSetup is a workspace's HubSpot stream folded: the last channel registered and
// the channel account of each configured channel on it.
type HubSpotSetup struct {
	Channel    HubSpotChannelRegistered
	Accounts   map[string]HubSpotChannelAccountConnected
	Properties map[string]bool
}

// FoldHubSpotSetup folds a workspace's HubSpot stream; unknown event types are skipped
// so that later kinds of facts on the stream do not break older readers.
func FoldHubSpotSetup(evs []RecordedEvent) (HubSpotSetup, error) {
	s := HubSpotSetup{Accounts: map[string]HubSpotChannelAccountConnected{}, Properties: map[string]bool{}}
	for _, e := range evs {
		switch e.Type {
		case EventHubSpotChannelRegistered:
			var p HubSpotChannelRegistered
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Channel = p
		case EventHubSpotChannelAccountConnected:
			var p HubSpotChannelAccountConnected
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Accounts[p.Channel] = p
		case EventHubSpotPropertyCreated:
			var p HubSpotPropertyCreated
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Properties[p.Property] = true
		}
	}
	return s, nil
}

// Inbox is where channel publishes according to setup: its account on the channel
// registered last (an account on an older channel no longer counts). ok is false when
// setup has not connected the channel.
func (s HubSpotSetup) Inbox(channel string) (Inbox, bool) {
	a, ok := s.Accounts[channel]
	if !ok || a.ChannelID == "" || a.ChannelAccountID == "" || (s.Channel.ChannelID != "" && a.ChannelID != s.Channel.ChannelID) {
		return Inbox{}, false
	}
	return Inbox{ChannelID: a.ChannelID, ChannelAccountID: a.ChannelAccountID}, true
}

// Complete reports whether both ids are set.
func (i Inbox) Complete() bool { return i.ChannelID != "" && i.ChannelAccountID != "" }
