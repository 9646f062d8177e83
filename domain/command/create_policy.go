package command

import "switchboard/domain"

// CreatePolicies is what a Catalog may also answer: each workspace's create policy
// (hubspot.create_key_property and the search-lag allowance, rule 8). A Catalog
// without it gives every workspace domain.CreatePolicy{}: no create key, the default
// allowance.
type CreatePolicies interface {
	CreatePolicy(workspaceID string) domain.CreatePolicy
}

func createPolicy(c Catalog, workspaceID string) domain.CreatePolicy {
	if p, ok := c.(CreatePolicies); ok {
		return p.CreatePolicy(workspaceID)
	}
	return domain.CreatePolicy{}
}
