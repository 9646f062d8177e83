package config

import (
	"strings"
	"testing"
	"time"
)

// hubspot.create_key_property and hubspot.search_lag_allowance reach the resolver
// through the catalog; a workspace without them gets the default policy.
func TestCreatePolicyReachesTheCatalog(t *testing.T) {
	yaml := strings.Replace(valid, "hubspot: {token_env: HS}", "hubspot: {token_env: HS, create_key_property: switchboard_key, search_lag_allowance: 20s}", 1)
	c, err := Parse("s.yaml", []byte(yaml), secrets)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Catalog().CreatePolicy("acme")
	if p.KeyProperty != "switchboard_key" || p.SearchLagAllowance != 20*time.Second {
		t.Errorf("policy %+v, want switchboard_key and 20s", p)
	}
	c, err = Parse("s.yaml", []byte(valid), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Catalog().CreatePolicy("acme"); p.KeyProperty != "" || p.SearchLagAllowance != 0 {
		t.Errorf("policy %+v without the keys, want the zero policy", p)
	}
}

func TestCreatePolicyProblemsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ hubspot, want string }{
		{"create_key_property: Switchboard-Key", `workspaces[0].hubspot.create_key_property: "Switchboard-Key" is not a HubSpot property name`},
		{"create_key_property: email", `workspaces[0].hubspot.create_key_property: "email" is a property switchboard writes a person's data to`},
		{"create_key_property: telegram_user_id", `workspaces[0].hubspot.create_key_property: "telegram_user_id" is also a channel's identifier property`},
		{"search_lag_allowance: 1h", "workspaces[0].hubspot.search_lag_allowance: 1h0m0s is outside 0..5m0s"},
	} {
		yaml := strings.Replace(valid, "hubspot: {token_env: HS}", "hubspot: {token_env: HS, "+tc.hubspot+"}", 1)
		_, err := Parse("s.yaml", []byte(yaml), secrets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.hubspot, err, tc.want)
		}
	}
}
