package main

import (
	"fmt"
	"strings"
	"testing"

	"switchboard/adapters/hubspot/emulator"
)

// Contacts are grouped by the person they stand for however the number was typed, so
// that a duplicate stored in another format is still found.
func TestPersonKeys(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"phone": "+14155552010"}, "phone:+14155552010"},
		{map[string]string{"mobilephone": "(415) 555-2010"}, "phone:+14155552010"},
		{map[string]string{"phone": "415.555.2010", "mobilephone": "+1 415 555 2010"}, "phone:+14155552010"},
		{map[string]string{"telegram_user_id": "880000011"}, "telegram:880000011"},
		{map[string]string{"firstname": "Nobody"}, ""},
	} {
		got := strings.Join(personKeys(emulator.Contact{Properties: tc.props}), ",")
		if got != tc.want {
			t.Errorf("%v: keys %q, want %q", tc.props, got, tc.want)
		}
	}
}

func TestFaultArgsSplitTheRate(t *testing.T) {
	c := Config{FaultRate: 0.2, ApplyShare: 0.25, StallShare: 0.1}
	c.defaults()
	total, apply := 0.0, 0.0
	args := c.faultArgs()
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] != "--fault" {
			continue
		}
		var kind string
		var r float64
		k, v, _ := strings.Cut(args[i+1], "=")
		kind = k
		if _, err := fmt.Sscan(v, &r); err != nil {
			t.Fatal(err)
		}
		total += r
		if strings.HasPrefix(kind, "apply-") {
			apply += r
		}
	}
	if total < 0.1999 || total > 0.2001 || apply < 0.0499 || apply > 0.0501 {
		t.Fatalf("args %v: total %g, apply %g; want 0.2 and 0.05", args, total, apply)
	}
}
