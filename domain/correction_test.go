package domain

import (
	"strings"
	"testing"
	"time"
)

// Rule 13: a correction is refused, naming the field, for an unknown channel, a
// blocked identifier, an identifier the channel cannot read, a missing contact or
// reason; an accepted one pins the identifier as the channel normalizes senders.
func TestCheckCorrection(t *testing.T) {
	blocked := NewBlockList([]string{"+15550100000", "front_desk"})
	chans := map[string]ChannelSettings{"sms": smsCh, "wa": {ID: "wa", WorkspaceID: "w", Kind: KindWhatsApp, Provider: "cloud", DefaultRegion: "US"},
		"tg": tgAuto, "ig": igAuto, "noregion": {ID: "noregion", WorkspaceID: "w", Kind: KindSMS}}
	cases := []struct {
		name                 string
		kind                 CorrectionKind
		channel, ident, cont string
		reason               string
		wantField            string // "" = accepted
		wantMsg              string
		wantKey              string
	}{
		{name: "E.164 with punctuation", kind: CorrectLink, channel: "sms", ident: "+1 (415) 555-2671", cont: "501", reason: "owner", wantKey: "w:phone:+14155552671"},
		{name: "national number, same pin", kind: CorrectLink, channel: "sms", ident: "4155552671", cont: "501", reason: "owner", wantKey: "w:phone:+14155552671"},
		{name: "whatsapp: digits are a typed national number, one pin with sms", kind: CorrectNeverLink, channel: "wa", ident: "4155552671", cont: "7", reason: "namesake", wantKey: "w:phone:+14155552671"},
		{name: "username without @ and case", kind: CorrectLink, channel: "ig", ident: "@Ana_B", cont: "9", reason: "r", wantKey: "w:property:instagram_username:ana_b"},
		{name: "telegram user id", kind: CorrectLink, channel: "tg", ident: " 5550123 ", cont: "9", reason: "r", wantKey: "w:property:telegram_user_id:5550123"},
		{name: "unpin needs neither contact nor reason", kind: CorrectUnpin, channel: "tg", ident: "5550123", wantKey: "w:property:telegram_user_id:5550123"},
		{name: "unknown channel", kind: CorrectLink, channel: "nope", ident: "1", cont: "9", reason: "r", wantField: "channel_id", wantMsg: "not configured"},
		{name: "no channel", kind: CorrectLink, ident: "1", cont: "9", reason: "r", wantField: "channel_id", wantMsg: "missing"},
		{name: "unknown kind", kind: "pin", channel: "tg", ident: "1", cont: "9", reason: "r", wantField: "kind"},
		{name: "blocked number typed another way", kind: CorrectLink, channel: "sms", ident: "(555) 010-0000", cont: "9", reason: "r", wantField: "identifier", wantMsg: "blocked"},
		{name: "all zeros is always blocked", kind: CorrectNeverLink, channel: "tg", ident: "000", cont: "9", reason: "r", wantField: "identifier", wantMsg: "blocked"},
		{name: "blocked username, any case", kind: CorrectUnpin, channel: "ig", ident: "@Front_Desk", wantField: "identifier", wantMsg: "blocked"},
		{name: "not a phone number", kind: CorrectLink, channel: "sms", ident: "ACME", cont: "9", reason: "r", wantField: "identifier", wantMsg: "expected a phone number"},
		{name: "national number without a region", kind: CorrectLink, channel: "noregion", ident: "4155552671", cont: "9", reason: "r", wantField: "identifier", wantMsg: "country code"},
		{name: "empty identifier", kind: CorrectLink, channel: "tg", ident: "  ", cont: "9", reason: "r", wantField: "identifier", wantMsg: "missing"},
		{name: "link without contact", kind: CorrectLink, channel: "tg", ident: "1", reason: "r", wantField: "contact_id", wantMsg: "missing"},
		{name: "contact id not digits", kind: CorrectNeverLink, channel: "tg", ident: "1", cont: "ana", reason: "r", wantField: "contact_id", wantMsg: "digits"},
		{name: "link without reason", kind: CorrectLink, channel: "tg", ident: "1", cont: "9", reason: "  ", wantField: "reason", wantMsg: "missing"},
		{name: "never-link without reason", kind: CorrectNeverLink, channel: "tg", ident: "1", cont: "9", wantField: "reason"},
		{name: "overlong reason", kind: CorrectLink, channel: "tg", ident: "1", cont: "9", reason: strings.Repeat("x", MaxCorrectionReason+1), wantField: "reason"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, known := chans[tc.channel]
			c, err := CheckCorrection(CorrectionRequest{Kind: tc.kind, ChannelID: tc.channel, Identifier: tc.ident, ContactID: tc.cont,
				Reason: tc.reason, RequestedBy: "cli:test"}, ch, known, blocked)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Key.String() != tc.wantKey {
					t.Errorf("key %s, want %s", c.Key, tc.wantKey)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted (key %s), want refused on %s", c.Key, tc.wantField)
			}
			e, ok := err.(*Error)
			if !ok || e.Code != CodeInvalid || e.Field != tc.wantField {
				t.Fatalf("error %#v, want invalid on %s", err, tc.wantField)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("message %q does not say %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func correctionEvent(t *testing.T, typ string, payload any) RecordedEvent {
	t.Helper()
	return keyEvent(t, typ, payload, t0, "op")
}

// The key's fold: a link re-points the binding at once, a never-link removes a binding
// to its contact, an unpin forgets the binding; corrections outlive forgetting.
func TestKeyStateFoldsCorrections(t *testing.T) {
	resolved := func(id string) RecordedEvent {
		return keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{ContactID: id, How: "matched"}, t0, "m1")
	}
	link := func(id string) RecordedEvent {
		return correctionEvent(t, EventMatchKeyLinked, MatchKeyLinked{ContactID: id, Reason: "owner", RequestedBy: "cli:ana"})
	}
	never := func(id string) RecordedEvent {
		return correctionEvent(t, EventMatchKeyNeverLinked, MatchKeyNeverLinked{ContactID: id, Reason: "namesake"})
	}
	unpin := func(id string) RecordedEvent {
		return correctionEvent(t, EventMatchKeyUnpinned, MatchKeyUnpinned{ContactID: id})
	}
	cases := []struct {
		name    string
		events  []RecordedEvent
		contact string
		link    string
		never   []string
	}{
		{name: "link re-points a bound key", events: []RecordedEvent{resolved("11"), link("5")}, contact: "5", link: "5"},
		{name: "never-link of the bound contact unbinds", events: []RecordedEvent{resolved("11"), never("11")}, never: []string{"11"}},
		{name: "never-link of another contact keeps the binding", events: []RecordedEvent{resolved("11"), never("12")}, contact: "11", never: []string{"12"}},
		{name: "never-link of the linked contact removes the link", events: []RecordedEvent{link("5"), never("5")}, never: []string{"5"}},
		{name: "link lifts a never-link of its contact", events: []RecordedEvent{never("5"), never("6"), link("5")}, contact: "5", link: "5", never: []string{"6"}},
		{name: "unpin removes everything and unbinds", events: []RecordedEvent{never("6"), link("5"), unpin("")}},
		{name: "unpin of one pairing", events: []RecordedEvent{never("6"), never("7"), resolved("8"), unpin("6")}, never: []string{"7"}},
		{name: "forgetting keeps never-links", events: []RecordedEvent{never("6"), resolved("8"),
			keyEvent(t, EventMatchKeyForgotten, MatchKeyForgotten{ContactID: "8", Reason: "deleted"}, t0, "hs")}, never: []string{"6"}},
		{name: "a deleted linked contact takes its link along", events: []RecordedEvent{link("5"),
			keyEvent(t, EventMatchKeyForgotten, MatchKeyForgotten{ContactID: "5", Reason: "deleted"}, t0, "hs")}},
		{name: "a merge into a never-linked contact unbinds the key", events: []RecordedEvent{never("9"), resolved("5"),
			keyEvent(t, EventMatchKeyFollowed, MatchKeyFollowedMerge{From: "5", To: "9"}, t0, "hs")}, never: []string{"9"}},
		{name: "a merge moves the link to the survivor", events: []RecordedEvent{link("5"),
			keyEvent(t, EventMatchKeyFollowed, MatchKeyFollowedMerge{From: "5", To: "9"}, t0, "hs")}, contact: "9", link: "9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks := keyOf(t, tc.events...)
			if ks.ContactID != tc.contact {
				t.Errorf("bound to %q, want %q", ks.ContactID, tc.contact)
			}
			got := ""
			if ks.Corrections.Link != nil {
				got = ks.Corrections.Link.ContactID
			}
			if got != tc.link {
				t.Errorf("link %q, want %q", got, tc.link)
			}
			var nl []string
			for _, n := range ks.Corrections.NeverLink {
				nl = append(nl, n.ContactID)
			}
			if strings.Join(nl, ",") != strings.Join(tc.never, ",") {
				t.Errorf("never-links %v, want %v", nl, tc.never)
			}
		})
	}
}

// The resolver's half of rule 13: corrections folded from the key's stream feed the
// decision; a never-link excludes its contact from the candidates and the rules decide
// among the rest (create on phone channels, unlinked or create on social ones by
// auto_create); a link wins without a search; an unpin searches again.
func TestDecisionWithFoldedCorrections(t *testing.T) {
	older := t0.Add(-48 * time.Hour)
	bound := func(evs ...func(*testing.T) RecordedEvent) func(*testing.T) *KeyState {
		return func(t *testing.T) *KeyState {
			all := []RecordedEvent{keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{ContactID: "9", How: "matched"}, t0, "m1")}
			for _, e := range evs {
				all = append(all, e(t))
			}
			return keyOf(t, all...)
		}
	}
	never9 := func(t *testing.T) RecordedEvent {
		return correctionEvent(t, EventMatchKeyNeverLinked, MatchKeyNeverLinked{ContactID: "9", Reason: "a namesake"})
	}
	link5 := func(t *testing.T) RecordedEvent {
		return correctionEvent(t, EventMatchKeyLinked, MatchKeyLinked{ContactID: "5", Reason: "the owner"})
	}
	unpin := func(t *testing.T) RecordedEvent {
		return correctionEvent(t, EventMatchKeyUnpinned, MatchKeyUnpinned{})
	}
	tgHit := found(Contact{ID: "9", CreatedAt: older, Properties: map[string]string{"telegram_user_id": "42"}})
	phoneHit := found(phoneContact("9", older, "+14155552671"))
	cases := []struct {
		name     string
		ch       ChannelSettings
		sender   Sender
		key      func(*testing.T) *KeyState
		lookup   *LookupResult
		want     DecisionKind
		contact  string
		reason   string
		citeKind []CorrectionKind
	}{
		{name: "never-link unbinds: search", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: bound(never9), want: DecideSearch},
		{name: "never-link: phone channel creates", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: bound(never9), lookup: phoneHit,
			want: DecideClaim, citeKind: []CorrectionKind{CorrectNeverLink}},
		{name: "never-link: telegram without auto_create is unlinked", ch: tgOff, sender: Sender{UserID: "42"}, key: bound(never9), lookup: tgHit,
			want: DecideUnlinked, reason: UnlinkedNoMatch, citeKind: []CorrectionKind{CorrectNeverLink}},
		{name: "never-link: telegram with auto_create creates", ch: tgAuto, sender: Sender{UserID: "42"}, key: bound(never9), lookup: tgHit,
			want: DecideClaim, citeKind: []CorrectionKind{CorrectNeverLink}},
		{name: "never-link of a contact search did not find is not cited", ch: tgAuto, sender: Sender{UserID: "42"}, key: bound(never9), lookup: found(),
			want: DecideClaim},
		{name: "link re-points at once, no search", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: bound(link5), want: DecideLink,
			contact: "5", citeKind: []CorrectionKind{CorrectLink}},
		{name: "link wins over what a search says", ch: tgOff, sender: Sender{UserID: "42"}, key: bound(link5), lookup: tgHit, want: DecideLink,
			contact: "5", citeKind: []CorrectionKind{CorrectLink}},
		{name: "unpin: rules again", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: bound(link5, unpin), want: DecideSearch},
		{name: "unpin: search finds the old contact", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: bound(never9, unpin), lookup: phoneHit,
			want: DecideMatch, contact: "9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, unlinked := Identify(tc.ch, NewBlockList(nil), tc.sender)
			ks := tc.key(t)
			in := ResolutionInput{Channel: tc.ch, Identification: id, Unlinked: unlinked, Attempt: me, Now: t0, Region: "US",
				Corrections: ks.Corrections, Key: ks, Lookup: tc.lookup}
			d := DecideResolution(in)
			if d.Kind != tc.want {
				t.Fatalf("decision %q (%+v), want %q", d.Kind, d, tc.want)
			}
			if tc.contact != "" && d.ContactID != tc.contact {
				t.Errorf("contact %q, want %q", d.ContactID, tc.contact)
			}
			if tc.reason != "" && d.Reason != tc.reason {
				t.Errorf("reason %q, want %q", d.Reason, tc.reason)
			}
			cited := ks.Corrections.Cited(d)
			var kinds []string
			for _, c := range cited {
				kinds = append(kinds, string(c.Kind))
				if c.Reason == "" || c.EventID == "" {
					t.Errorf("citation %+v lacks its reason or event id", c)
				}
			}
			var want []string
			for _, k := range tc.citeKind {
				want = append(want, string(k))
			}
			if strings.Join(kinds, ",") != strings.Join(want, ",") {
				t.Errorf("cited %v, want %v", kinds, want)
			}
		})
	}
}

// An unpin that finds nothing in force records nothing; one that does lists what it
// removed.
func TestDecideCorrection(t *testing.T) {
	c, err := CheckCorrection(CorrectionRequest{Kind: CorrectUnpin, ChannelID: "tg", Identifier: "42", ContactID: "6", RequestedBy: "cli:x"},
		tgAuto, true, NewBlockList(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecideCorrection(c, KeyState{}); ErrorCode(err) != CodeNotFound {
		t.Errorf("unpin with nothing in force: %v, want not found", err)
	}
	ks := keyOf(t, correctionEvent(t, EventMatchKeyNeverLinked, MatchKeyNeverLinked{ContactID: "6", Reason: "r"}),
		correctionEvent(t, EventMatchKeyNeverLinked, MatchKeyNeverLinked{ContactID: "7", Reason: "r"}))
	typ, p, err := DecideCorrection(c, *ks)
	if err != nil || typ != EventMatchKeyUnpinned {
		t.Fatalf("unpin: %s %v", typ, err)
	}
	if u := p.(MatchKeyUnpinned); len(u.Removed) != 1 || u.Removed[0].ContactID != "6" {
		t.Errorf("removed %+v, want the never-link of 6 only", u.Removed)
	}
}
