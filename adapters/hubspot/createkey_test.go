package hubspot

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"switchboard/domain"
)

// EnsureCreateKeyProperty creates the unique property once; a repeated create with the
// same value is then refused by HubSpot (the emulator) with the existing id, and a read
// by the value finds the contact at once.
func TestEnsureCreateKeyPropertyMakesRepeatedCreatesConflict(t *testing.T) {
	emu := newEmulator(t)
	emu.DefineProperty("plain_prop", false)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if created, err := c.EnsureCreateKeyProperty(ctx, "switchboard_key"); err != nil || !created {
		t.Fatalf("first ensure: created %v, %v; want created", created, err)
	}
	if created, err := c.EnsureCreateKeyProperty(ctx, "switchboard_key"); err != nil || created {
		t.Fatalf("second ensure: created %v, %v; want nothing to do", created, err)
	}
	if _, err := c.EnsureCreateKeyProperty(ctx, "plain_prop"); !errors.Is(err, ErrCreateKeyNotUnique) {
		t.Errorf("a property without unique values: %v, want ErrCreateKeyNotUnique", err)
	}
	first, err := c.CreateContact(ctx, map[string]string{"phone": "+16285550400", "switchboard_key": "sb-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateContact(ctx, map[string]string{"phone": "+16285550400", "switchboard_key": "sb-1"})
	var exists *domain.ContactExistsError
	if !errors.As(err, &exists) || exists.ExistingID != first.ID {
		t.Errorf("repeated create: %v, want a conflict naming %s", err, first.ID)
	}
	found, err := c.FindByProperty(ctx, "switchboard_key", "sb-1")
	if err != nil || len(found.Candidates) != 1 || found.Candidates[0].ID != first.ID || found.Lookups[0].Kind != "read_by_property" {
		t.Errorf("read by the create key: %+v, %v; want contact %s by read_by_property", found, err, first.ID)
	}
}
