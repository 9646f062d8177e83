package emulator_test

import (
	"net/http"
	"testing"

	"switchboard/adapters/hubspot/emulator"
)

func egg(account, thread, idem, phone string) map[string]any {
	return map[string]any{
		"messageDirection":         "INCOMING",
		"channelAccountId":         account,
		"integrationThreadId":      thread,
		"integrationIdempotencyId": idem,
		"text":                     "Hi, is my order shipped?",
		"senders":                  []map[string]any{{"name": "Ana Díaz", "deliveryIdentifier": map[string]string{"type": "HS_PHONE_NUMBER", "value": phone}}},
		"recipients":               []map[string]any{{"name": "Acme", "deliveryIdentifier": map[string]string{"type": "HS_PHONE_NUMBER", "value": "+14155550199"}}},
		"timestamp":                "2026-01-15T10:04:05Z",
		"attachments":              []any{},
	}
}

const messagesPath = "/conversations/v3/custom-channels/1234/messages"

func TestPublishIdempotencyAndThreading(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	contact := f.emu.CreateContact(map[string]string{"phone": "(415) 555-0100"})

	first := egg("4567", "wa:14155550100", "wamid.1", "+14155550100")
	first["associateWithContactId"] = contact
	first["preResolvedContacts"] = map[string]any{"contacts": []map[string]any{{"contactVid": contact, "contactPropertiesLeadingToMatch": []string{"phone"}}}}
	r := f.do("POST", messagesPath, first)
	f.expect(r, http.StatusCreated)
	m := r.json(t)
	threadID, msgID := m["conversationsThreadId"].(string), m["id"].(string)
	if m["type"] != "MESSAGE" || m["channelId"] != "1234" || m["channelAccountId"] != "4567" || m["direction"] != "INCOMING" ||
		m["truncationStatus"] != "NOT_TRUNCATED" || m["createdAt"] != "2026-01-15T10:04:05.000Z" || threadID == "" || msgID == "" {
		t.Fatalf("publish answer %s", r.raw)
	}
	if s := m["senders"].([]any)[0].(map[string]any); s["actorId"] != "V-"+contact {
		t.Fatalf("sender %v", s)
	}
	if r.header.Get("Location") == "" {
		t.Fatal("no Location header")
	}

	// A repeat returns the original message with 200 and publishes nothing.
	again := egg("4567", "wa:14155550100", "wamid.1", "+14155550100")
	again["text"] = "changed"
	r = f.do("POST", messagesPath, again)
	f.expect(r, http.StatusOK)
	if m := r.json(t); m["id"] != msgID || m["text"] != "Hi, is my order shipped?" {
		t.Fatalf("repeat answer %s", r.raw)
	}
	// The same idempotency id on another channel account is a new message.
	r = f.do("POST", messagesPath, egg("9999", "wa:14155550100", "wamid.1", "+14155550100"))
	f.expect(r, http.StatusCreated)
	if r.json(t)["conversationsThreadId"] == threadID {
		t.Fatal("another channel account shares the thread")
	}
	// Same thread id, same account: same thread. New thread id: new thread.
	r = f.do("POST", messagesPath, egg("4567", "wa:14155550100", "wamid.2", "+14155550100"))
	f.expect(r, http.StatusCreated)
	if r.json(t)["conversationsThreadId"] != threadID {
		t.Fatal("same integrationThreadId landed in another thread")
	}
	r = f.do("POST", messagesPath, egg("4567", "wa:14155550101", "wamid.3", "+14155550101"))
	f.expect(r, http.StatusCreated)
	if r.json(t)["conversationsThreadId"] == threadID {
		t.Fatal("new integrationThreadId reused a thread")
	}

	pub := f.emu.Published()
	if len(pub) != 4 {
		t.Fatalf("%d published, want 4", len(pub))
	}
	p := pub[0]
	if p.MessageID != msgID || p.ChannelID != "1234" || p.ChannelAccountID != "4567" || p.IntegrationThreadID != "wa:14155550100" ||
		p.IntegrationIdempotencyID != "wamid.1" || p.ConversationsThreadID != threadID || p.AssociateWithContactID != contact ||
		len(p.PreResolvedContacts) != 1 || p.PreResolvedContacts[0].ContactVid != contact || p.PreResolvedContacts[0].ContactPropertiesLeadingToMatch[0] != "phone" ||
		p.Senders[0].DeliveryIdentifier.Value != "+14155550100" || p.Text != "Hi, is my order shipped?" || p.Timestamp.IsZero() {
		t.Fatalf("published %+v", p)
	}
	if pub[1].AssociateWithContactID != "" || pub[1].PreResolvedContacts != nil {
		t.Fatalf("unlinked message recorded a contact: %+v", pub[1])
	}
	threads := f.emu.Threads()
	if len(threads) != 3 || threads[0].ID != threadID || len(threads[0].MessageIDs) != 2 || threads[0].AssociatedContactID != contact {
		t.Fatalf("threads %+v", threads)
	}

	// Read back.
	r = f.do("GET", messagesPath+"/"+msgID, nil)
	f.expect(r, 200)
	if r.json(t)["id"] != msgID {
		t.Fatalf("read back %s", r.raw)
	}
	f.expect(f.do("GET", messagesPath+"/nope", nil), 404)
	f.expect(f.do("GET", "/conversations/v3/custom-channels/other/messages/"+msgID, nil), 404)
	// The dated path publishes too.
	f.expect(f.do("POST", "/conversations/custom-channels/2026-03/1234/messages", egg("4567", "t", "wamid.9", "+14155550100")), http.StatusCreated)
	if s := f.emu.Stats(); s.Requests[emulator.OpPublish] != 6 || s.CRMCalls != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPublishValidation(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	mutate := func(fn func(m map[string]any)) map[string]any {
		m := egg("4567", "wa:1", "", "+14155550100")
		fn(m)
		return m
	}
	opaque := func(v string) []map[string]any {
		return []map[string]any{{"deliveryIdentifier": map[string]string{"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": v}}}
	}
	for name, body := range map[string]map[string]any{
		"no direction":       mutate(func(m map[string]any) { delete(m, "messageDirection") }),
		"no channel account": mutate(func(m map[string]any) { m["channelAccountId"] = " " }),
		"no text":            mutate(func(m map[string]any) { delete(m, "text") }),
		"no senders":         mutate(func(m map[string]any) { m["senders"] = []any{} }),
		"national phone":     egg("4567", "wa:1", "", "4155550100"),
		"invalid phone":      egg("4567", "wa:1", "", "+1415555"),
		"formatted phone":    egg("4567", "wa:1", "", "+1 415 555 0100"),
		"blank opaque id":    mutate(func(m map[string]any) { m["senders"] = opaque("  ") }),
		"unknown contact":    mutate(func(m map[string]any) { m["associateWithContactId"] = 424242 }),
		"unknown identifier": mutate(func(m map[string]any) {
			m["senders"] = []map[string]any{{"deliveryIdentifier": map[string]string{"type": "FAX", "value": "1"}}}
		}),
		"bad timestamp": mutate(func(m map[string]any) { m["timestamp"] = "yesterday" }),
	} {
		r := f.do("POST", messagesPath, body)
		if r.status != 400 || r.json(t)["category"] != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	f.expect(f.do("POST", messagesPath, mutate(func(m map[string]any) { m["senders"] = opaque("tg:12345") })), http.StatusCreated)
	if n := len(f.emu.Published()); n != 1 {
		t.Fatalf("%d published, want 1", n)
	}
}
