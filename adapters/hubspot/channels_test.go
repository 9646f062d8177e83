package hubspot_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/adapters/hubspot"
	"switchboard/adapters/hubspot/emulator"
)

// TestDeveloperRegistersAndListsChannels: the developer-key client registers and lists
// the app's channels on the emulator, and no error it returns holds the key, which
// travels in the query string (a refused key, an unreachable HubSpot).
func TestDeveloperRegistersAndListsChannels(t *testing.T) {
	emu := emulator.New(emulator.Options{DeveloperAPIKey: "secret-dev-key", AppID: "77"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	ctx := context.Background()

	dev, err := hubspot.NewDeveloper(srv.URL, "secret-dev-key", "77", nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := dev.RegisterChannel(ctx, hubspot.ChannelRegistration{Name: "switchboard", WebhookURL: "https://sb.example.com/hubspot/channel",
		Capabilities: hubspot.SwitchboardCapabilities()})
	if err != nil || ch.ID == "" || ch.Name != "switchboard" {
		t.Fatalf("register: %+v, %v", ch, err)
	}
	list, err := dev.Channels(ctx)
	if err != nil || len(list) != 1 || list[0].ID != ch.ID || len(list[0].Capabilities.DeliveryIdentifierTypes) != 2 {
		t.Fatalf("list: %+v, %v", list, err)
	}

	if _, err := hubspot.NewDeveloper(srv.URL, "", "77", nil); err == nil {
		t.Error("an empty developer key was accepted")
	}
	wrong, _ := hubspot.NewDeveloper(srv.URL, "wrong-secret-key", "77", nil)
	if _, err := wrong.Channels(ctx); err == nil || strings.Contains(err.Error(), "wrong-secret-key") || !strings.Contains(err.Error(), "401") {
		t.Errorf("refused key: %v", err)
	}
	srv.Close()
	if _, err := dev.Channels(ctx); err == nil || strings.Contains(err.Error(), "secret-dev-key") {
		t.Errorf("unreachable HubSpot: %v", err)
	}
}
