package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func boolPtr(b bool) *bool { return &b }

func TestChannelSettingsValidate(t *testing.T) {
	cases := []struct {
		name string
		ch   ChannelSettings
		key  string // "" = valid
		fix  string
	}{
		{"sms", ChannelSettings{ID: "s", Kind: KindSMS, DefaultRegion: "US"}, "", ""},
		{"sms auto_create", ChannelSettings{ID: "s", Kind: KindSMS, AutoCreate: boolPtr(true)}, "c.auto_create", "always create a contact"},
		{"whatsapp auto_create false", ChannelSettings{ID: "w", Kind: KindWhatsApp, Provider: "cloud", AutoCreate: boolPtr(false)}, "c.auto_create", "remove the key"},
		{"whatsapp bad provider", ChannelSettings{ID: "w", Kind: KindWhatsApp, Provider: "360"}, "c.provider", "cloud"},
		{"bad region", ChannelSettings{ID: "s", Kind: KindSMS, DefaultRegion: "usa"}, "c.default_region", "two-letter"},
		{"messenger username", ChannelSettings{ID: "m", Kind: KindMessenger, Identifier: IdentifyByUsername, Property: "fb"}, "c.identifier", "use identifier: user_id"},
		{"messenger user id", ChannelSettings{ID: "m", Kind: KindMessenger, Identifier: IdentifyByUserID, Property: "fb_psid"}, "", ""},
		{"slack auto_create", ChannelSettings{ID: "sl", Kind: KindSlack, Identifier: IdentifyByUserID, Property: "slack_id", AutoCreate: boolPtr(true)}, "c.auto_create", "never create"},
		{"no property", ChannelSettings{ID: "t", Kind: KindTelegram, Identifier: IdentifyByUserID}, "c.property", "name the HubSpot contact property"},
		{"reserved property", ChannelSettings{ID: "t", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "phone"}, "c.property", "built-in"},
		{"no identifier", ChannelSettings{ID: "t", Kind: KindTelegram, Property: "tg"}, "c.identifier", "user_id or identifier: username"},
		{"unknown kind", ChannelSettings{ID: "x", Kind: "fax"}, "c.kind", "one of sms"},
		{"bad id", ChannelSettings{ID: "a/b", Kind: KindSMS}, "c.id", "letters, digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.ch.Validate("c")
			if tc.key == "" {
				if len(ps) != 0 {
					t.Fatalf("want valid, got %v", ps)
				}
				return
			}
			for _, p := range ps {
				if p.Key == tc.key && strings.Contains(p.Msg, tc.fix) {
					return
				}
			}
			t.Fatalf("want a problem at %s mentioning %q, got %v", tc.key, tc.fix, ps)
		})
	}
}

func TestCreatesContacts(t *testing.T) {
	cases := []struct {
		ch   ChannelSettings
		want bool
	}{
		{ChannelSettings{Kind: KindSMS}, true},
		{ChannelSettings{Kind: KindWhatsApp}, true},
		{ChannelSettings{Kind: KindTelegram, AutoCreate: boolPtr(true)}, true},
		{ChannelSettings{Kind: KindTelegram, AutoCreate: boolPtr(false)}, false},
		{ChannelSettings{Kind: KindInstagram}, false},
		{ChannelSettings{Kind: KindSlack}, false},
	}
	for _, tc := range cases {
		if got := tc.ch.CreatesContacts(); got != tc.want {
			t.Errorf("%s auto_create=%v: CreatesContacts = %t, want %t", tc.ch.Kind, tc.ch.AutoCreate, got, tc.want)
		}
	}
}

func TestIdentify(t *testing.T) {
	sms := ChannelSettings{ID: "sms", WorkspaceID: "w", Kind: KindSMS, DefaultRegion: "US"}
	wa := ChannelSettings{ID: "wa", WorkspaceID: "w", Kind: KindWhatsApp, Provider: "cloud", DefaultRegion: "US"}
	waBSUID := wa
	waBSUID.BSUIDProperty = "whatsapp_bsuid"
	ig := ChannelSettings{ID: "ig", WorkspaceID: "w", Kind: KindInstagram, Identifier: IdentifyByUsername, Property: "instagram_username"}
	tg := ChannelSettings{ID: "tg", WorkspaceID: "w", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id"}
	blocked := NewBlockList([]string{"+15550100000", "test_user"})
	cases := []struct {
		name     string
		ch       ChannelSettings
		s        Sender
		key      string
		unlinked string
	}{
		{"sms national", sms, Sender{Phone: "(415) 555-2671"}, "w:phone:+14155552671", ""},
		{"sms and whatsapp share the key", wa, Sender{Phone: "14155552671"}, "w:phone:+14155552671", ""},
		{"wa_id never read with the region", wa, Sender{Phone: "447911123456"}, "w:phone:+447911123456", ""},
		{"mexico legacy 1", wa, Sender{Phone: "5215512345678"}, "w:phone:+525512345678", ""},
		{"alphanumeric sender", sms, Sender{Phone: "ACME"}, "", UnlinkedNoPhone},
		{"blocked number", sms, Sender{Phone: "+1 555 010 0000"}, "", UnlinkedBlocked},
		{"all zeros", sms, Sender{Phone: "0000"}, "", UnlinkedBlocked},
		{"bsuid without property", wa, Sender{BSUID: "US.1349"}, "", UnlinkedBSUIDOnly},
		{"bsuid with property", waBSUID, Sender{BSUID: "US.1349"}, "w:property:whatsapp_bsuid:US.1349", ""},
		{"username folded", ig, Sender{Username: "@Ana_B", UserID: "1"}, "w:property:instagram_username:ana_b", ""},
		{"blocked username", ig, Sender{Username: "Test_User"}, "", UnlinkedBlocked},
		{"user id", tg, Sender{UserID: "5550123", Username: "x"}, "w:property:telegram_user_id:5550123", ""},
		{"no user id", tg, Sender{Username: "x"}, "", UnlinkedNoIdentifier},
		{"zero user id", tg, Sender{UserID: "0"}, "", UnlinkedBlocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, unl := Identify(tc.ch, blocked, tc.s)
			if tc.unlinked != "" {
				if unl == nil || unl.Reason != tc.unlinked {
					t.Fatalf("want unlinked %s, got %+v (%+v)", tc.unlinked, unl, id)
				}
				return
			}
			if unl != nil {
				t.Fatalf("unexpectedly unlinked: %+v", unl)
			}
			if id.Key.String() != tc.key {
				t.Errorf("key %s, want %s", id.Key, tc.key)
			}
		})
	}
}

func TestConfirmCandidates(t *testing.T) {
	id, unl := Identify(ChannelSettings{ID: "sms", WorkspaceID: "w", Kind: KindSMS, DefaultRegion: "US"}, BlockList{}, Sender{Phone: "+14155552671"})
	if unl != nil {
		t.Fatal(unl)
	}
	cands := []Contact{
		{ID: "1", Properties: map[string]string{"mobilephone": "(415) 555-2671"}},
		{ID: "2", Properties: map[string]string{"phone": "+44 4155552671"}},
		{ID: "3", Properties: map[string]string{"phone": "415.555.2671", "mobilephone": "+1 415 555 2671"}},
		{ID: "4", Properties: map[string]string{"email": "x@example.com"}},
		{ID: "5", Archived: true, Properties: map[string]string{"phone": "4155552671"}},
	}
	kept, verdicts := ConfirmCandidates(id, "US", cands)
	if len(kept) != 2 || kept[0].ID != "1" || kept[1].ID != "3" {
		t.Fatalf("kept %+v, want contacts 1 and 3", kept)
	}
	want := map[string]string{"1": "mobilephone", "3": "phone,mobilephone"}
	for _, v := range verdicts {
		if got := strings.Join(v.Matched, ","); got != want[v.ContactID] {
			t.Errorf("contact %s matched %q, want %q (%s)", v.ContactID, got, want[v.ContactID], v.Reason)
		}
		if v.Reason == "" {
			t.Errorf("contact %s has no reason", v.ContactID)
		}
	}
	ig := ChannelSettings{ID: "ig", WorkspaceID: "w", Kind: KindInstagram, Identifier: IdentifyByUsername, Property: "ig"}
	id, _ = Identify(ig, BlockList{}, Sender{Username: "ana_b"})
	kept, _ = ConfirmCandidates(id, "", []Contact{{ID: "9", Properties: map[string]string{"ig": "@Ana_B"}}, {ID: "8", Properties: map[string]string{"ig": "ana_bb"}}})
	if len(kept) != 1 || kept[0].ID != "9" {
		t.Errorf("username @Ana_B should match ana_b and ana_bb should not: kept %+v", kept)
	}
}

func TestChooseCandidate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		in        []Contact
		want      string
		ambiguous bool
	}{
		{"one", []Contact{{ID: "5", CreatedAt: t0}}, "5", false},
		{"oldest wins", []Contact{{ID: "1", CreatedAt: t0.Add(time.Hour)}, {ID: "9", CreatedAt: t0}}, "9", true},
		{"tie goes to the lowest numeric id", []Contact{{ID: "100", CreatedAt: t0}, {ID: "99", CreatedAt: t0}, {ID: "1000", CreatedAt: t0}}, "99", true},
	}
	for _, tc := range cases {
		got, amb, err := ChooseCandidate(tc.in)
		if err != nil || got.ID != tc.want || amb != tc.ambiguous {
			t.Errorf("%s: got %s ambiguous=%t err=%v, want %s ambiguous=%t", tc.name, got.ID, amb, err, tc.want, tc.ambiguous)
		}
	}
	if _, _, err := ChooseCandidate(nil); err == nil {
		t.Error("choosing among none must fail")
	}
}

func TestKeyStateFold(t *testing.T) {
	key := MatchKey{Workspace: "w", Lookup: "phone", Identifier: "+1"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(v int64, typ string, p any, corr string, at time.Time) RecordedEvent {
		b, _ := json.Marshal(p)
		return RecordedEvent{EventData: EventData{Type: typ, Payload: b, CorrelationID: corr, OccurredAt: at}, Version: v}
	}
	s, err := FoldKey([]RecordedEvent{ev(1, EventMatchKeyClaimed, MatchKeyClaimed{MatchKey: key, Holder: "c1"}, "c1", t0)})
	if err != nil || s.Resolved() || !s.ClaimLive(t0.Add(time.Second)) || s.ClaimLive(t0.Add(ClaimLease)) {
		t.Fatalf("claimed state wrong: %+v %v", s, err)
	}
	s, _ = FoldKey([]RecordedEvent{
		ev(1, EventMatchKeyClaimed, MatchKeyClaimed{MatchKey: key, Holder: "c1"}, "c1", t0),
		ev(2, EventMatchKeyResolved, MatchKeyResolved{MatchKey: key, ContactID: "7", How: "created"}, "c1", t0),
	})
	if !s.Resolved() || s.ContactID != "7" || s.ResolvedBy != "c1" || s.ClaimLive(t0) {
		t.Fatalf("resolved state wrong: %+v", s)
	}
	s, _ = FoldKey([]RecordedEvent{
		ev(1, EventMatchKeyResolved, MatchKeyResolved{MatchKey: key, ContactID: "7", How: "matched"}, "c1", t0),
		ev(2, EventMatchKeyFollowed, MatchKeyFollowedMerge{MatchKey: key, From: "7", To: "8"}, "h", t0),
	})
	if s.ContactID != "8" {
		t.Fatalf("merge not followed: %+v", s)
	}
	s, _ = FoldKey([]RecordedEvent{
		ev(1, EventMatchKeyResolved, MatchKeyResolved{MatchKey: key, ContactID: "7", How: "matched"}, "c1", t0),
		ev(2, EventMatchKeyForgotten, MatchKeyForgotten{MatchKey: key, ContactID: "7", Reason: "deleted"}, "h", t0),
	})
	if s.Resolved() || s.Version != 2 {
		t.Fatalf("forgotten key still resolved: %+v", s)
	}
}

func TestNewContactProperties(t *testing.T) {
	tg := ChannelSettings{ID: "tg", WorkspaceID: "w", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id", AutoCreate: boolPtr(true)}
	id, _ := Identify(tg, BlockList{}, Sender{UserID: "42"})
	got := NewContactProperties(tg, id, Sender{UserID: "42", DisplayName: "Ana Maria Bento"})
	want := map[string]string{"telegram_user_id": "42", "firstname": "Ana", "lastname": "Maria Bento"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	sms := ChannelSettings{ID: "s", WorkspaceID: "w", Kind: KindSMS, DefaultRegion: "GB"}
	id, _ = Identify(sms, BlockList{}, Sender{Phone: "07911 123456"})
	if p := NewContactProperties(sms, id, Sender{}); p["phone"] != "+447911123456" || len(p) != 1 {
		t.Errorf("phone contact properties %v, want only phone in E.164", p)
	}
}

func TestBuildInboxMessage(t *testing.T) {
	sms := ChannelSettings{ID: "acme-sms", Kind: KindSMS, Inbox: Inbox{ChannelID: "1", ChannelAccountID: "2"}}
	st := MessageState{
		Received:   MessageReceived{ChannelID: "acme-sms", ChannelKind: KindSMS, MessageID: "SM1", Sender: Sender{Phone: "+1 415 555 2671", FirstName: "Ana"}},
		Identified: &SenderIdentified{Source: "phone", Identifier: "+14155552671"},
		Outcome:    EventContactMatched, ContactID: "512", Matched: []string{"mobilephone"},
	}
	m := BuildInboxMessage(sms, st)
	if m.IdempotencyID != "sb:acme-sms:SM1" || m.ThreadID != "sb:acme-sms:+14155552671" || m.ContactID != "512" ||
		m.Sender != (DeliveryIdentifier{Type: DeliveryPhone, Value: "+14155552671"}) || m.Text == "" {
		t.Errorf("linked publication wrong: %+v", m)
	}
	st.Outcome, st.ContactID = EventConversationUnlinked, ""
	if m := BuildInboxMessage(sms, st); m.ContactID != "" || len(m.MatchedProperties) != 0 {
		t.Errorf("unlinked publication carries a contact: %+v", m)
	}
	tg := ChannelSettings{ID: "acme-tg", Kind: KindTelegram}
	st = MessageState{Received: MessageReceived{ChannelKind: KindTelegram, MessageID: "1:2", Sender: Sender{UserID: "99", Username: "ana"}}}
	if m := BuildInboxMessage(tg, st); m.Sender != (DeliveryIdentifier{Type: DeliveryOpaqueID, Value: "99"}) || m.ThreadID != "sb:acme-tg:99" {
		t.Errorf("social publication wrong: %+v", m)
	}
}

// TestSenderDeliveryReadsTheRecordedValidity: the publisher sends a phone sender as
// HS_PHONE_NUMBER by what the resolver found when it normalized the number
// (SenderIdentified.ValidNumber), and parses the identifier again only for an event
// recorded before that was kept.
func TestSenderDeliveryReadsTheRecordedValidity(t *testing.T) {
	sms := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	valid, _ := Identify(sms, BlockList{}, Sender{Phone: "+1 415 555 2671"})
	possible, _ := Identify(sms, BlockList{}, Sender{Phone: "+1 415 055 2671"}) // no US area code starts with 0
	if v := valid.ValidNumber(); v == nil || !*v {
		t.Fatalf("Identify(+1 415 555 2671).ValidNumber() = %v, want true", v)
	}
	if v := possible.ValidNumber(); v == nil || *v {
		t.Fatalf("Identify(+1 415 055 2671).ValidNumber() = %v, want false", v)
	}
	tg, _ := Identify(ChannelSettings{ID: "acme-tg", WorkspaceID: "acme", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id"}, BlockList{}, Sender{UserID: "99"})
	if v := tg.ValidNumber(); v != nil {
		t.Fatalf("a Telegram user id's ValidNumber() = %v, want nil", *v)
	}
	cases := []struct {
		name       string
		identifier string
		recorded   *bool
		want       string
	}{
		{"valid, recorded", valid.Identifier, valid.ValidNumber(), DeliveryPhone},
		{"only possible, recorded", possible.Identifier, possible.ValidNumber(), DeliveryOpaqueID},
		// The record decides, not a parse: a number recorded as not valid stays so.
		{"recorded not valid", valid.Identifier, boolPtr(false), DeliveryOpaqueID},
		{"valid, recorded before validity was kept", valid.Identifier, nil, DeliveryPhone},
		{"only possible, recorded before validity was kept", possible.Identifier, nil, DeliveryOpaqueID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := MessageState{
				Received:   MessageReceived{ChannelID: sms.ID, ChannelKind: KindSMS, MessageID: "SM1", Sender: Sender{Phone: c.identifier}},
				Identified: &SenderIdentified{Source: "phone", Identifier: c.identifier, ValidNumber: c.recorded},
			}
			if got := SenderDelivery(st); got.Type != c.want || got.Value != c.identifier {
				t.Errorf("SenderDelivery = %+v, want %s %s", got, c.want, c.identifier)
			}
		})
	}
}
