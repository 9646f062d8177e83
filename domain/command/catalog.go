// Package command holds switchboard's command handlers: each turns one command into
// events through the domain rules and the ports, and none sees SQL or HTTP.
package command

import (
	"switchboard/domain"
)

// Catalog answers what the configuration says about channels and workspaces.
type Catalog interface {
	Channel(id string) (domain.ChannelSettings, bool)
	BlockList(workspaceID string) domain.BlockList
	// Region reads phone numbers typed into the workspace's HubSpot without a country code.
	Region(workspaceID string) string
}

// Directories gives the HubSpot CRM of a workspace.
type Directories interface {
	Directory(workspaceID string) (domain.ContactDirectory, error)
}

// ProfileLookup is the domain's port to the platforms' profile APIs, named here for
// the handlers that take it.
type ProfileLookup = domain.ProfileLookup

// Receipt answers a recorded message.
type Receipt struct {
	CorrelationID string `json:"correlation_id"`
	// Duplicate is true when the (channel, message id) was already recorded.
	Duplicate bool `json:"-"`
}
