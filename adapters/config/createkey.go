package config

import (
	"fmt"
	"time"

	"switchboard/domain"
)

// maxSearchLagAllowance bounds hubspot.search_lag_allowance: every first message of a
// sender whose create lost its answer waits this long, so minutes are a typo.
const maxSearchLagAllowance = 5 * time.Minute

// CreatePolicy is the workspace's create policy (rule 8): hubspot.create_key_property,
// the unique property every create carries a value of switchboard's own in, and
// hubspot.search_lag_allowance, how long after a create whose answer was lost a search
// must wait to be believed when there is no create key (default
// domain.DefaultSearchLagAllowance).
func (w Workspace) CreatePolicy() domain.CreatePolicy {
	return domain.CreatePolicy{KeyProperty: w.HubSpot.CreateKeyProperty, SearchLagAllowance: w.HubSpot.SearchLagAllowance}
}

// CreatePolicy answers the resolver's question (command.CreatePolicies).
func (c *Catalog) CreatePolicy(workspaceID string) domain.CreatePolicy {
	return c.policies[workspaceID]
}

// createPolicyProblems checks the create policy keys of workspace w (at key prefix wk).
func createPolicyProblems(wk string, w Workspace) []domain.Problem {
	var ps []domain.Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, domain.Problem{Key: wk + ".hubspot." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if p := w.HubSpot.CreateKeyProperty; p != "" {
		switch {
		case !createKeyName(p):
			add("create_key_property", "%q is not a HubSpot property name; use lowercase letters, digits and underscores, starting with a letter (for example switchboard_key)", p)
		case p == "firstname" || p == "lastname" || p == "phone" || p == "mobilephone" || p == "email":
			add("create_key_property", "%q is a property switchboard writes a person's data to; name a property of switchboard's own (for example switchboard_key)", p)
		default:
			for _, ip := range w.IdentifierProperties() {
				if ip == p {
					add("create_key_property", "%q is also a channel's identifier property; the create key needs a property of its own (for example switchboard_key)", p)
				}
			}
		}
	}
	if a := w.HubSpot.SearchLagAllowance; a < 0 || a > maxSearchLagAllowance {
		add("search_lag_allowance", "%s is outside 0..%s; it is how long a lost create waits for HubSpot's search index (0: the default %s)", a, maxSearchLagAllowance, domain.DefaultSearchLagAllowance)
	}
	return ps
}

func createKeyName(s string) bool {
	if s == "" || len(s) > 100 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}
