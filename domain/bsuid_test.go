package domain

import (
	"testing"
)

var waBSUID = ChannelSettings{ID: "wa", WorkspaceID: "w", Kind: KindWhatsApp, Provider: "cloud", BSUIDProperty: "WhatsApp_BSUID"}

// TestDecideBSUID: rule 14 once the phone's key resolved, whichever way — the BSUID is
// written only to an empty property (rule 5), its key is bound to the phone's contact on
// the phone's thread (rule 9) unless it resolves elsewhere, and all of it once per
// phone and BSUID.
func TestDecideBSUID(t *testing.T) {
	const bsuid = "US.1349"
	phone := Sender{Phone: "14155552671", BSUID: bsuid}
	resolvedTo := func(c string, mp ...string) *KeyState {
		return &KeyState{Version: 1, ContactID: c, How: "matched", MatchedProperties: mp}
	}
	withBSUID := func(v string) *Contact {
		return &Contact{ID: "101", Properties: map[string]string{"WhatsApp_BSUID": v}}
	}
	bound := &KeyState{Version: 1, ContactID: "101", How: HowBSUIDWithPhone, ThreadRef: "+14155552671"}
	claimed := &KeyState{Version: 1, ClaimedBy: "other", ClaimedAt: t0}

	cases := []struct {
		name     string
		ch       ChannelSettings
		sender   Sender
		blocked  []string
		contact  string
		phoneKey *KeyState
		bsuidKey *KeyState
		hs       *Contact

		want      BSUIDStep
		write     bool
		bind      bool
		record    bool
		keptOther bool
		elsewhere string
	}{
		{name: "not whatsapp", ch: smsCh, sender: phone, contact: "101", want: BSUIDNothing},
		{name: "no bsuid_property", ch: waCh, sender: phone, contact: "101", want: BSUIDNothing},
		{name: "no BSUID", ch: waBSUID, sender: Sender{Phone: "14155552671"}, contact: "101", want: BSUIDNothing},
		{name: "BSUID only: its own key resolved it", ch: waBSUID, sender: Sender{BSUID: bsuid}, contact: "101", want: BSUIDNothing},
		{name: "unlinked", ch: waBSUID, sender: phone, want: BSUIDNothing},
		{name: "blocked BSUID", ch: waBSUID, sender: phone, blocked: []string{bsuid}, contact: "101", want: BSUIDNothing},
		{name: "reads the phone key first", ch: waBSUID, sender: phone, contact: "101", want: BSUIDReadPhoneKey},
		{name: "phone key elsewhere (operator's link)", ch: waBSUID, sender: phone, contact: "101", phoneKey: resolvedTo("555"), want: BSUIDNothing},
		{name: "phone key unresolved", ch: waBSUID, sender: phone, contact: "101", phoneKey: &KeyState{}, want: BSUIDNothing},
		{name: "already recorded: sticky without HubSpot", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: &KeyState{ContactID: "101", BSUID: NormalizeUserID(bsuid)}, want: BSUIDNothing},
		{name: "then the BSUID key", ch: waBSUID, sender: phone, contact: "101", phoneKey: resolvedTo("101"), want: BSUIDReadKey},
		{name: "then the contact", ch: waBSUID, sender: phone, contact: "101", phoneKey: resolvedTo("101"), bsuidKey: &KeyState{}, want: BSUIDReadContact},
		{name: "empty property, free key: write, bind, record", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101", "mobilephone"), bsuidKey: &KeyState{}, hs: withBSUID(""), want: BSUIDRecord, write: true, bind: true, record: true},
		{name: "a blank property is empty", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: &KeyState{}, hs: withBSUID("  "), want: BSUIDRecord, write: true, bind: true, record: true},
		{name: "property holds the BSUID (created with it)", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: &KeyState{}, hs: withBSUID(bsuid), want: BSUIDRecord, bind: true, record: true},
		{name: "property holds another value: never overwritten, key still bound", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: &KeyState{}, hs: withBSUID("US.OLD"), want: BSUIDRecord, bind: true, record: true, keptOther: true},
		{name: "BSUID key matched by search without a thread: bound again on the phone's thread", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: resolvedTo("101"), hs: withBSUID(bsuid), want: BSUIDRecord, bind: true, record: true},
		{name: "BSUID key already bound with the phone", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: bound, hs: withBSUID(bsuid), want: BSUIDRecord, record: true},
		{name: "BSUID key resolves to another contact: left alone, said", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: resolvedTo("202"), hs: withBSUID(""), want: BSUIDRecord, write: true, record: true, elsewhere: "202"},
		{name: "BSUID key claimed live: write only, record later", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: claimed, hs: withBSUID(""), want: BSUIDRecord, write: true},
		{name: "BSUID key claim lapsed: bind", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: resolvedTo("101"), bsuidKey: &KeyState{Version: 1, ClaimedBy: "other", ClaimedAt: t0.Add(-2 * ClaimLease)}, hs: withBSUID(""),
			want: BSUIDRecord, write: true, bind: true, record: true},
		{name: "a recorded BSUID that changed is recorded again", ch: waBSUID, sender: phone, contact: "101",
			phoneKey: &KeyState{ContactID: "101", BSUID: "US.OLD"}, bsuidKey: &KeyState{}, hs: withBSUID("US.OLD"),
			want: BSUIDRecord, bind: true, record: true, keptOther: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, _ := Identify(tc.ch, NewBlockList(tc.blocked), tc.sender)
			d := DecideBSUID(BSUIDInput{Channel: tc.ch, Identification: id, BSUID: tc.sender.BSUID, Blocked: NewBlockList(tc.blocked),
				ContactID: tc.contact, PhoneKey: tc.phoneKey, BSUIDKey: tc.bsuidKey, Contact: tc.hs, Now: t0})
			if d.Step != tc.want {
				t.Fatalf("step %s (%s), want %s", d.Step, d.Reason, tc.want)
			}
			if d.Step == BSUIDNothing && d.Reason == "" {
				t.Error("nothing to do without a reason")
			}
			if d.Step != BSUIDRecord {
				return
			}
			wantKey := MatchKey{Workspace: "w", Lookup: "property:whatsapp_bsuid", Identifier: bsuid}
			if d.Key != wantKey {
				t.Errorf("BSUID key %v, want %v", d.Key, wantKey)
			}
			if d.Write != tc.write || (d.Write && (d.Property != "WhatsApp_BSUID" || d.Value != bsuid)) {
				t.Errorf("write %v %s=%s, want write %v", d.Write, d.Property, d.Value, tc.write)
			}
			if (d.Bind != nil) != tc.bind {
				t.Fatalf("bind %+v, want %v", d.Bind, tc.bind)
			}
			if d.Bind != nil {
				if d.Bind.MatchKey != wantKey || d.Bind.ContactID != "101" || d.Bind.How != HowBSUIDWithPhone || d.Bind.ThreadRef != "+14155552671" {
					t.Errorf("bind %+v: want the BSUID key on contact 101, on the phone's thread", *d.Bind)
				}
				if len(tc.phoneKey.MatchedProperties) > 0 && (len(d.Bind.MatchedProperties) != 1 || d.Bind.MatchedProperties[0] != "mobilephone") {
					t.Errorf("bind matched properties %v, want the phone key's", d.Bind.MatchedProperties)
				}
			}
			if (d.Record != nil) != tc.record {
				t.Fatalf("record %+v, want %v", d.Record, tc.record)
			}
			if r := d.Record; r != nil {
				if r.MatchKey != id.Key || r.ContactID != "101" || r.BSUIDKey != wantKey || r.Written != tc.write || r.Bound != tc.bind ||
					r.KeptOther != tc.keptOther || r.BSUIDKeyContactID != tc.elsewhere {
					t.Errorf("record %+v: want written %v, bound %v, kept other %v, elsewhere %q", *r, tc.write, tc.bind, tc.keptOther, tc.elsewhere)
				}
			}
		})
	}
}

// TestBSUIDFoldsAndThreads: the record and the bind fold into the keys' states, a sticky
// BSUID key carries the phone's thread to ContactMatched, and the message's thread id
// is the phone's (rule 9).
func TestBSUIDFoldsAndThreads(t *testing.T) {
	id, _ := Identify(waBSUID, BlockList{}, Sender{Phone: "14155552671", BSUID: "US.1349"})
	bk := BSUIDKey(waBSUID, "US.1349")
	phoneKey := keyOf(t,
		keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{MatchKey: id.Key, ContactID: "101", How: "created"}, t0, "c1"),
		keyEvent(t, EventMatchKeyBSUIDRecorded, MatchKeyBSUIDRecorded{MatchKey: id.Key, ContactID: "101", BSUID: "US.1349", BSUIDKey: bk, Bound: true}, t0, "c2"))
	if phoneKey.BSUID != "US.1349" || phoneKey.ContactID != "101" || phoneKey.How != "created" {
		t.Errorf("phone key %+v: want the BSUID recorded, the resolution kept", *phoneKey)
	}
	bsuidKey := keyOf(t, keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{MatchKey: bk, ContactID: "101", How: HowBSUIDWithPhone, ThreadRef: "+14155552671"}, t0, "c2"))
	only, _ := Identify(waBSUID, BlockList{}, Sender{BSUID: "US.1349"})
	if only.Key != bk {
		t.Fatalf("BSUID-only key %v, want %v", only.Key, bk)
	}
	d := DecideResolution(ResolutionInput{Channel: waBSUID, Identification: only, Attempt: me, Now: t0, Key: bsuidKey})
	if d.Kind != DecideSticky || d.ContactID != "101" || d.ThreadRef != "+14155552671" {
		t.Fatalf("decision %+v: want sticky on 101 with the phone's thread", d)
	}
	onPhone := MessageState{Received: MessageReceived{ChannelKind: KindWhatsApp, Sender: Sender{Phone: "14155552671"}},
		Identified: &SenderIdentified{Source: "wa_id", Identifier: "+14155552671"}}
	onBSUID := MessageState{Received: MessageReceived{ChannelKind: KindWhatsApp, Sender: Sender{BSUID: "US.1349"}},
		Identified: &SenderIdentified{Source: "bsuid", Identifier: "US.1349"}, ThreadRef: d.ThreadRef}
	if a, b := ThreadID("wa", onPhone), ThreadID("wa", onBSUID); a != b {
		t.Errorf("thread ids %s and %s: one person, one channel, one thread", a, b)
	}
	if got := SenderDelivery(onBSUID); got.Type != DeliveryOpaqueID || got.Value != "US.1349" {
		t.Errorf("delivery %+v: the BSUID-only sender is still named by the BSUID", got)
	}
	onBSUID.ThreadRef = ""
	if ThreadID("wa", onBSUID) != "sb:wa:US.1349" {
		t.Errorf("a BSUID no phone brought in keeps its own thread: %s", ThreadID("wa", onBSUID))
	}
	// Forgetting the key forgets its BSUID and thread.
	forgot := keyOf(t,
		keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{MatchKey: bk, ContactID: "101", How: HowBSUIDWithPhone, ThreadRef: "+14155552671"}, t0, "c2"),
		keyEvent(t, EventMatchKeyForgotten, MatchKeyForgotten{MatchKey: bk, ContactID: "101", Reason: "deleted"}, t0, "c3"))
	if forgot.ThreadRef != "" || forgot.Resolved() {
		t.Errorf("forgotten key %+v", *forgot)
	}
}
