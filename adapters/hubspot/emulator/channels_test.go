package emulator_test

import (
	"bytes"
	"net/http"
	"testing"

	"switchboard/adapters/hubspot/emulator"
)

var channelBody = map[string]any{
	"name":       "switchboard",
	"webhookUrl": "https://sb.example.com/hubspot/channel",
	"capabilities": map[string]any{
		"deliveryIdentifierTypes": []string{"HS_PHONE_NUMBER", "CHANNEL_SPECIFIC_OPAQUE_ID"},
		"threadingModel":          "INTEGRATION_THREAD_ID",
	},
}

// TestCustomChannelSetup walks hubspot.md §8 steps 1 and 2: the developer API key
// registers and lists channels, the portal's token lists inboxes and connects channel
// accounts, and from then on a publication into an account nobody connected is refused
// while one into a connected account lands.
func TestCustomChannelSetup(t *testing.T) {
	f := newFixture(t, emulator.Options{DeveloperAPIKey: "dev-key", AppID: "1160452", Scopes: []string{"conversations.read"}})
	dev := "/conversations/v3/custom-channels?hapikey=dev-key&appId=1160452"

	// Before any account exists any ids are accepted (tests that write inbox ids by hand).
	f.expect(f.do("POST", "/conversations/v3/custom-channels/1/messages", egg("2", "t", "i-0", "+14155550100")), http.StatusCreated)

	// The developer key, not a bearer token, authenticates registration.
	f.expect(f.doAs("", "POST", "/conversations/v3/custom-channels?hapikey=wrong&appId=1160452", channelBody), http.StatusUnauthorized)
	f.expect(f.doAs("", "POST", "/conversations/v3/custom-channels?hapikey=dev-key&appId=99", channelBody), http.StatusForbidden)
	f.expect(f.doAs("", "POST", dev, map[string]any{"name": "x"}), http.StatusBadRequest)
	bad := map[string]any{"name": "x", "capabilities": map[string]any{"deliveryIdentifierTypes": []any{map[string]string{"type": "HS_PHONE_NUMBER"}}}}
	if r := f.doAs("", "POST", dev, bad); r.status != http.StatusBadRequest || !bytes.Contains(r.raw, []byte("INVALID_CHANNEL_CAPABILITY_VALUES")) {
		t.Fatalf("capabilities as objects: %d %s", r.status, r.raw)
	}
	r := f.doAs("", "POST", dev, channelBody)
	f.expect(r, http.StatusCreated)
	ch := r.json(t)
	channelID, _ := ch["id"].(string)
	if channelID == "" || ch["name"] != "switchboard" || ch["webhookUrl"] != "https://sb.example.com/hubspot/channel" || r.header.Get("Location") == "" {
		t.Fatalf("register answer %s", r.raw)
	}
	r = f.doAs("", "GET", dev, nil)
	f.expect(r, http.StatusOK)
	if res := r.json(t)["results"].([]any); len(res) != 1 || res[0].(map[string]any)["id"] != channelID {
		t.Fatalf("list channels %s", r.raw)
	}

	r = f.do("GET", "/conversations/v3/conversations/inboxes", nil)
	f.expect(r, http.StatusOK)
	inboxes := r.json(t)["results"].([]any)
	if len(inboxes) != 1 || inboxes[0].(map[string]any)["id"] != emulator.DefaultInboxID {
		t.Fatalf("inboxes %s", r.raw)
	}

	accounts := "/conversations/v3/custom-channels/" + channelID + "/channel-accounts"
	f.expect(f.do("POST", "/conversations/v3/custom-channels/424242/channel-accounts",
		map[string]any{"inboxId": emulator.DefaultInboxID, "name": "acme-sms", "authorized": true}), http.StatusNotFound)
	f.expect(f.do("POST", accounts, map[string]any{"inboxId": "1", "name": "acme-sms", "authorized": true}), http.StatusBadRequest)
	f.expect(f.do("POST", accounts, map[string]any{"inboxId": emulator.DefaultInboxID, "name": "acme-sms"}), http.StatusBadRequest)
	r = f.do("POST", accounts, map[string]any{"inboxId": emulator.DefaultInboxID, "name": "acme-sms", "authorized": true})
	f.expect(r, http.StatusCreated)
	acc := r.json(t)
	accountID, _ := acc["id"].(string)
	if accountID == "" || acc["channelId"] != channelID || acc["inboxId"] != emulator.DefaultInboxID || acc["authorized"] != true {
		t.Fatalf("connect answer %s", r.raw)
	}
	r = f.do("GET", accounts, nil)
	f.expect(r, http.StatusOK)
	if res := r.json(t)["results"].([]any); len(res) != 1 || res[0].(map[string]any)["id"] != accountID {
		t.Fatalf("list accounts %s", r.raw)
	}
	f.expect(f.do("GET", accounts+"/"+accountID, nil), http.StatusOK)

	messages := "/conversations/v3/custom-channels/" + channelID + "/messages"
	f.expect(f.do("POST", messages, egg(accountID, "t", "i-1", "+14155550100")), http.StatusCreated)
	f.expect(f.do("POST", messages, egg("2", "t", "i-2", "+14155550100")), http.StatusNotFound)
	f.expect(f.do("POST", "/conversations/v3/custom-channels/1/messages", egg(accountID, "t", "i-3", "+14155550100")), http.StatusNotFound)

	// The token's metadata lists the scopes it was granted.
	r = f.doAs("", "GET", "/oauth/v1/access-tokens/"+f.token, nil)
	f.expect(r, http.StatusOK)
	if sc := r.json(t)["scopes"].([]any); len(sc) != 1 || sc[0] != "conversations.read" {
		t.Fatalf("token info %s", r.raw)
	}

	st := f.emu.Stats().Requests
	if st[emulator.OpRegisterChannel] != 5 || st[emulator.OpListChannels] != 1 || st[emulator.OpConnectAccount] != 4 || st[emulator.OpListInboxes] != 1 {
		t.Fatalf("request counts %v", st)
	}
	if n, m := len(f.emu.Channels()), len(f.emu.ChannelAccounts()); n != 1 || m != 1 {
		t.Fatalf("%d channels and %d accounts, want 1 and 1", n, m)
	}

	// A restarted emulator keeps the channel and the account.
	var buf bytes.Buffer
	if err := f.emu.Save(&buf); err != nil {
		t.Fatal(err)
	}
	again := emulator.New(emulator.Options{})
	if err := again.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if n, m := len(again.Channels()), len(again.ChannelAccounts()); n != 1 || m != 1 {
		t.Fatalf("after load: %d channels and %d accounts, want 1 and 1", n, m)
	}
}
