// Package command is switchboard's application layer: each command or query is a plain
// value with one handler in a file of its own; NewApp builds every handler once and
// wraps it with the logging and metrics decorators; the routes say which events of the
// log each handler reacts to and in which partition. Handlers turn a command into
// events through the domain's decisions (domain.DecideResolution) and its ports; none
// sees SQL or HTTP, and every stream goes through a Repository.
package command

import "switchboard/domain"

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

// ProfileLookup is kept until the adapters move to domain.ProfileLookup.
type ProfileLookup = domain.ProfileLookup

// Receipt answers a recorded message.
type Receipt struct {
	CorrelationID string `json:"correlation_id"`
	// Duplicate is true when the (channel, message id) was already recorded.
	Duplicate bool `json:"-"`
}
