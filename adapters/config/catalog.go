package config

import "switchboard/domain"

// Catalog answers the resolution rules' questions about channels and workspaces from a
// loaded configuration. It is immutable: a configuration change means a restart.
type Catalog struct {
	channels map[string]domain.ChannelSettings
	blocks   map[string]domain.BlockList
	regions  map[string]string
	policies map[string]domain.CreatePolicy
}

// Catalog indexes the configuration.
func (c *Config) Catalog() *Catalog {
	cat := &Catalog{channels: map[string]domain.ChannelSettings{}, blocks: map[string]domain.BlockList{}, regions: map[string]string{},
		policies: map[string]domain.CreatePolicy{}}
	for _, w := range c.Workspaces {
		cat.blocks[w.ID] = domain.NewBlockList(w.BlockedIdentifiers)
		cat.regions[w.ID] = w.HubSpot.Region
		cat.policies[w.ID] = w.CreatePolicy()
		for _, ch := range w.Channels {
			cat.channels[ch.ID] = ch.Settings(w.ID)
		}
	}
	return cat
}

// Channel returns the settings of a channel.
func (c *Catalog) Channel(id string) (domain.ChannelSettings, bool) {
	s, ok := c.channels[id]
	return s, ok
}

// BlockList returns a workspace's blocked identifiers.
func (c *Catalog) BlockList(workspaceID string) domain.BlockList { return c.blocks[workspaceID] }

// Region returns the region phone numbers typed into the workspace's HubSpot are read in.
func (c *Catalog) Region(workspaceID string) string { return c.regions[workspaceID] }

// IdentifierProperties lists the contact properties a workspace's channels resolve by
// (social identifiers and WhatsApp BSUIDs), which lookups must read back.
func (w Workspace) IdentifierProperties() []string {
	seen := map[string]bool{}
	var out []string
	for _, ch := range w.Channels {
		for _, p := range []string{ch.Property, ch.BSUIDProperty} {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
