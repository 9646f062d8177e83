package domain

import (
	"slices"
	"testing"
	"time"
)

func TestChangeOfWebhook(t *testing.T) {
	cause := KeyChangeCause{Source: CauseWebhook}
	for _, tc := range []struct {
		name     string
		in       HubSpotContactChanged
		kind     ContactChangeKind
		ids      []string
		survivor string
	}{
		{"deletion", HubSpotContactChanged{SubscriptionType: HubSpotContactDeletion, ObjectID: "101"}, ContactDeleted, []string{"101"}, ""},
		{"privacy deletion is a deletion", HubSpotContactChanged{SubscriptionType: HubSpotContactPrivacyDeletion, ObjectID: "101"}, ContactDeleted, []string{"101"}, ""},
		{"merge into the primary", HubSpotContactChanged{SubscriptionType: HubSpotContactMerge, ObjectID: "101",
			PrimaryObjectID: "101", MergedObjectIDs: []string{"202"}, NewObjectID: "101"}, ContactMerged, []string{"202"}, "101"},
		{"merge without newObjectId", HubSpotContactChanged{SubscriptionType: HubSpotContactMerge, ObjectID: "101",
			PrimaryObjectID: "101", MergedObjectIDs: []string{"202", "303"}}, ContactMerged, []string{"202", "303"}, "101"},
		{"merge that created a new record moves the primary too", HubSpotContactChanged{SubscriptionType: HubSpotContactMerge, ObjectID: "101",
			PrimaryObjectID: "101", MergedObjectIDs: []string{"202"}, NewObjectID: "909"}, ContactMerged, []string{"202", "101"}, "909"},
		{"property change", HubSpotContactChanged{SubscriptionType: HubSpotContactPropertyChange, ObjectID: "101", PropertyName: "phone"}, ContactEdited, []string{"101"}, ""},
		{"restore", HubSpotContactChanged{SubscriptionType: HubSpotContactRestore, ObjectID: "101"}, ContactRestored, []string{"101"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ChangeOfWebhook(tc.in, cause)
			if got.Kind != tc.kind || !slices.Equal(got.ContactIDs, tc.ids) || got.Survivor != tc.survivor {
				t.Fatalf("got %+v, want kind %s ids %v survivor %q", got, tc.kind, tc.ids, tc.survivor)
			}
		})
	}
}

func TestHubSpotContactChangedValidateAndStream(t *testing.T) {
	ok := HubSpotContactChanged{WorkspaceID: "acme", PortalID: 62515, EventID: 7, SubscriptionType: HubSpotContactDeletion, ObjectID: "123", OccurredAt: 1700000000000}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := ok.Stream(), "hubspot:acme:62515:contact.deletion:123:1700000000000:7"; got != want {
		t.Fatalf("stream %q, want %q", got, want)
	}
	for name, bad := range map[string]HubSpotContactChanged{
		"unknown type":        {WorkspaceID: "acme", SubscriptionType: "contact.creation", ObjectID: "1"},
		"no object id":        {WorkspaceID: "acme", SubscriptionType: HubSpotContactDeletion},
		"merge no primary":    {WorkspaceID: "acme", SubscriptionType: HubSpotContactMerge, ObjectID: "1"},
		"change no property":  {WorkspaceID: "acme", SubscriptionType: HubSpotContactPropertyChange, ObjectID: "1"},
		"no workspace":        {SubscriptionType: HubSpotContactDeletion, ObjectID: "1"},
		"object id not an id": {WorkspaceID: "acme", SubscriptionType: HubSpotContactDeletion, ObjectID: "x1"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, bad)
		}
	}
}

func TestDecideKeyChange(t *testing.T) {
	phone := MatchKey{Workspace: "acme", Lookup: LookupPhone, Identifier: "+14155552671"}
	tg := MatchKey{Workspace: "acme", Lookup: "property:telegram_user_id", Identifier: "5550123"}
	ig := MatchKey{Workspace: "acme", Lookup: "property:instagram_username", Identifier: "ana_b"}
	bound := func(id string) KeyState { return KeyState{Version: 2, ContactID: id, How: "matched"} }
	contact := func(id string, props map[string]string) *Contact { return &Contact{ID: id, Properties: props} }
	cause := KeyChangeCause{Source: CauseWebhook, SubscriptionType: HubSpotContactPropertyChange, HubSpotEventID: 9}
	for _, tc := range []struct {
		name   string
		key    MatchKey
		ks     KeyState
		change ContactChange
		want   string // event type, "" for none
		to     string // MatchKeyFollowedMerge.To
	}{
		{"deleted contact forgets its key", phone, bound("101"), ContactChange{Kind: ContactDeleted, ContactIDs: []string{"101"}}, EventMatchKeyForgotten, ""},
		{"deletion of another contact", phone, bound("101"), ContactChange{Kind: ContactDeleted, ContactIDs: []string{"202"}}, "", ""},
		{"unbound key", phone, KeyState{Version: 3}, ContactChange{Kind: ContactDeleted, ContactIDs: []string{"101"}}, "", ""},
		{"merged-away contact follows to the survivor", phone, bound("202"),
			ContactChange{Kind: ContactMerged, ContactIDs: []string{"202"}, Survivor: "101"}, EventMatchKeyFollowed, "101"},
		{"key on the survivor stays", phone, bound("101"),
			ContactChange{Kind: ContactMerged, ContactIDs: []string{"202"}, Survivor: "101"}, "", ""},
		{"phone edited away", phone, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "phone",
			Current: contact("101", map[string]string{"phone": "+1 415 555 9999"})}, EventMatchKeyForgotten, ""},
		{"phone edited but mobilephone still holds it", phone, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "phone",
			Current: contact("101", map[string]string{"phone": "", "mobilephone": "(415) 555-2671"})}, "", ""},
		{"phone reformatted, same number", phone, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "phone",
			Current: contact("101", map[string]string{"phone": "415.555.2671"})}, "", ""},
		{"a social property does not concern a phone key", phone, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"},
			Property: "telegram_user_id", Current: contact("101", map[string]string{})}, "", ""},
		{"social id cleared", tg, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "telegram_user_id",
			Current: contact("101", map[string]string{"telegram_user_id": ""})}, EventMatchKeyForgotten, ""},
		{"username recased still matches", ig, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "instagram_username",
			Current: contact("101", map[string]string{"instagram_username": "@Ana_B"})}, "", ""},
		{"edit without a read decides nothing", tg, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"}, Property: "telegram_user_id"}, "", ""},
		{"reconcile compares every identifier property", phone, bound("101"), ContactChange{Kind: ContactEdited, ContactIDs: []string{"101"},
			Current: contact("101", map[string]string{"phone": "+44 7911 123456"})}, EventMatchKeyForgotten, ""},
		{"restore changes nothing", phone, bound("101"), ContactChange{Kind: ContactRestored, ContactIDs: []string{"101"}}, "", ""},
		{"linked key of a deleted contact is forgotten", phone, KeyState{Version: 4, ContactID: "101", How: "linked",
			Corrections: Corrections{Link: &Correction{ContactID: "101", Reason: "r"}}}, ContactChange{Kind: ContactDeleted, ContactIDs: []string{"101"}}, EventMatchKeyForgotten, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change.Cause = cause
			typ, payload, ok := DecideKeyChange(tc.key, tc.ks, tc.change, "US")
			if typ != tc.want || ok != (tc.want != "") {
				t.Fatalf("decided %q (ok %v) %+v, want %q", typ, ok, payload, tc.want)
			}
			switch p := payload.(type) {
			case MatchKeyForgotten:
				if p.MatchKey != tc.key || p.ContactID != tc.ks.ContactID || p.Reason == "" || p.Cause == nil || p.Cause.HubSpotEventID != 9 {
					t.Fatalf("forgotten payload %+v", p)
				}
			case MatchKeyFollowedMerge:
				if p.To != tc.to || p.From != tc.ks.ContactID || p.Cause == nil {
					t.Fatalf("followed payload %+v", p)
				}
			}
		})
	}
}

func TestChangeOfRead(t *testing.T) {
	cause := KeyChangeCause{Source: CauseReconcile}
	if c := ChangeOfRead("101", Contact{}, false, "", cause); c.Kind != ContactDeleted || c.ContactIDs[0] != "101" {
		t.Fatalf("404: %+v", c)
	}
	if c := ChangeOfRead("202", Contact{ID: "101"}, true, "", cause); c.Kind != ContactMerged || c.Survivor != "101" || c.ContactIDs[0] != "202" {
		t.Fatalf("merged: %+v", c)
	}
	if c := ChangeOfRead("101", Contact{ID: "101"}, true, "phone", cause); c.Kind != ContactEdited || c.Current == nil || c.Property != "phone" {
		t.Fatalf("same: %+v", c)
	}
}

func TestFoldMessageRevokedResolution(t *testing.T) {
	evs := []RecordedEvent{
		rec(t, 1, EventMessageReceived, MessageReceived{ChannelID: "acme-sms", MessageID: "m1"}),
		rec(t, 2, EventContactMatched, ContactMatched{ContactID: "101"}),
		rec(t, 3, EventPublicationContactMissing, PublicationContactMissing{ContactID: "101", Reason: "gone", Status: 400}),
	}
	st, err := FoldMessage(evs)
	if err != nil {
		t.Fatal(err)
	}
	if st.NeedsPublication() || st.NeedsResolution() || st.ContactMissing == nil {
		t.Fatalf("after the refusal: needs publication %v, resolution %v, missing %v", st.NeedsPublication(), st.NeedsResolution(), st.ContactMissing)
	}
	evs = append(evs, rec(t, 4, EventResolutionRevoked, ResolutionRevoked{ContactID: "101", Reason: "deleted"}))
	if st, err = FoldMessage(evs); err != nil {
		t.Fatal(err)
	}
	if !st.NeedsResolution() || st.ContactID != "" || !slices.Equal(st.Revoked, []string{"101"}) {
		t.Fatalf("after the revocation: %+v", st)
	}
	evs = append(evs, rec(t, 5, EventContactCreated, ContactCreated{ContactID: "303"}))
	if st, err = FoldMessage(evs); err != nil {
		t.Fatal(err)
	}
	if !st.NeedsPublication() || st.ContactID != "303" {
		t.Fatalf("after the new resolution: %+v", st)
	}
}

func rec(t *testing.T, version int64, typ string, payload any) RecordedEvent {
	t.Helper()
	d, err := NewEvent("id", typ, payload, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), "corr")
	if err != nil {
		t.Fatal(err)
	}
	return RecordedEvent{EventData: d, StreamID: "message:acme-sms:m1", Version: version, Position: version}
}

func TestDecideResolutionDropsGoneContacts(t *testing.T) {
	ch := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	id, unlinked := Identify(ch, BlockList{}, Sender{Phone: "+14155552671"})
	if unlinked != nil {
		t.Fatal(unlinked)
	}
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := ResolutionInput{Channel: ch, Identification: id, Attempt: NewAttempt("c1", "attempt-c1"), Key: &KeyState{}, Region: "US",
		Lookup: &LookupResult{Candidates: []Contact{
			{ID: "101", CreatedAt: old, Properties: map[string]string{"phone": "+1 415 555 2671"}},
			{ID: "202", CreatedAt: old.Add(time.Hour), Properties: map[string]string{"mobilephone": "(415) 555-2671"}},
		}}}
	if d := DecideResolution(in); d.Kind != DecideMatch || d.ContactID != "101" {
		t.Fatalf("without gone contacts: %s %s", d.Kind, d.ContactID)
	}
	in.Gone = []string{"101"}
	d := DecideResolution(in)
	if d.Kind != DecideMatch || d.ContactID != "202" || d.Ambiguous {
		t.Fatalf("with 101 gone: %s %s (ambiguous %v)", d.Kind, d.ContactID, d.Ambiguous)
	}
	if v := d.Candidates[0]; v.ContactID != "101" || v.Kept {
		t.Fatalf("the gone contact's verdict: %+v", v)
	}
	in.Gone = []string{"101", "202"}
	if d := DecideResolution(in); d.Kind != DecideClaim {
		t.Fatalf("with both gone an SMS sender claims to create: %s", d.Kind)
	}
}

// A message read erased is cancelled at the stage it waits for, by whoever reads it
// there, once; a message not erased, or with nothing left to do, is not.
func TestCancelledByErasure(t *testing.T) {
	erased := MessageState{Received: MessageReceived{MessageID: Erased}}
	resolved := erased
	resolved.Outcome, resolved.ContactID = "matched", "101"
	published := resolved
	published.Published = &MessagePublished{}
	dead := erased
	dead.DeadLetter = &DeadLettered{Stage: StageResolution}
	missing := resolved
	missing.ContactMissing = &PublicationContactMissing{ContactID: "101"}
	cancelled := resolved
	cancelled.Cancelled = &PublicationCancelled{Stage: StagePublication}
	living := MessageState{Received: MessageReceived{MessageID: "SM1"}}
	for _, c := range []struct {
		name  string
		st    MessageState
		stage string
		want  bool
	}{
		{"erased, waiting for its resolution: the resolver cancels", erased, StageResolution, true},
		{"erased, waiting for its resolution: not the publisher's", erased, StagePublication, false},
		{"erased, resolved, waiting for HubSpot: the publisher cancels", resolved, StagePublication, true},
		{"erased, resolved: not the resolver's", resolved, StageResolution, false},
		{"erased after its publication", published, StagePublication, false},
		{"erased in the dead letters", dead, StageResolution, false},
		{"erased, refused for a missing contact", missing, StagePublication, false},
		{"cancelled already", cancelled, StagePublication, false},
		{"not erased", living, StageResolution, false},
	} {
		got, ok := c.st.CancelledByErasure(c.stage)
		if ok != c.want || (ok && (got.Stage != c.stage || got.Reason != ReasonSenderErased)) {
			t.Errorf("%s: %+v, %v; want %v", c.name, got, ok, c.want)
		}
		if ok && (c.st.NeedsResolution() || c.st.NeedsPublication()) {
			t.Errorf("%s: an erased message still needs work", c.name)
		}
	}
	if cancelled.NeedsPublication() || cancelled.NeedsResolution() {
		t.Error("a cancelled message still needs work")
	}
}
