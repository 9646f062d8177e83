package domain

import (
	"strings"
	"testing"
	"time"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	me      = NewAttempt("corr-me", "attempt-me")
	smsCh   = ChannelSettings{ID: "sms", WorkspaceID: "w", Kind: KindSMS, DefaultRegion: "US"}
	waCh    = ChannelSettings{ID: "wa", WorkspaceID: "w", Kind: KindWhatsApp, Provider: "cloud"}
	tgAuto  = ChannelSettings{ID: "tg", WorkspaceID: "w", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id", AutoCreate: boolPtr(true)}
	tgOff   = ChannelSettings{ID: "tg-off", WorkspaceID: "w", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id", AutoCreate: boolPtr(false)}
	igAuto  = ChannelSettings{ID: "ig", WorkspaceID: "w", Kind: KindInstagram, Identifier: IdentifyByUsername, Property: "instagram_username", AutoCreate: boolPtr(true)}
	fbUnset = ChannelSettings{ID: "fb", WorkspaceID: "w", Kind: KindMessenger, Identifier: IdentifyByUserID, Property: "messenger_psid"}
	slackCh = ChannelSettings{ID: "sl", WorkspaceID: "w", Kind: KindSlack, Identifier: IdentifyByUserID, Property: "slack_user_id"}
)

// keyOf folds a key stream written by hand: the key's state as the resolver reads it.
func keyOf(t *testing.T, evs ...RecordedEvent) *KeyState {
	t.Helper()
	for i := range evs {
		evs[i].Version = int64(i + 1)
	}
	ks, err := FoldKey(evs)
	if err != nil {
		t.Fatal(err)
	}
	return &ks
}

func keyEvent(t *testing.T, typ string, payload any, at time.Time, corr string) RecordedEvent {
	t.Helper()
	e, err := NewEvent("e", typ, payload, at, corr)
	if err != nil {
		t.Fatal(err)
	}
	return RecordedEvent{EventData: e}
}

func phoneContact(id string, created time.Time, phone string) Contact {
	return Contact{ID: id, CreatedAt: created, Properties: map[string]string{"phone": phone}}
}

func found(cs ...Contact) *LookupResult {
	return &LookupResult{Lookups: []Lookup{{Kind: "search", Found: len(cs)}}, Candidates: cs}
}

type decisionCase struct {
	name    string
	ch      ChannelSettings
	sender  Sender
	blocked []string
	key     func(t *testing.T) *KeyState
	lookup  *LookupResult
	fixes   Corrections
	now     time.Time
	// policy, confirm and lookedUpAt are the create policy, the read by create key and
	// when the lookup ran (zero: now).
	policy     CreatePolicy
	confirm    *LookupResult
	lookedUpAt time.Time

	want      DecisionKind
	contact   string
	reason    string
	ambiguous bool
	restored  bool
	// verdicts lists the candidates' verdicts as "id:kept" or "id:dropped".
	verdicts []string
	// reasonHas is said by a dropped candidate's verdict.
	reasonHas string
	// createKey is the decision's CreateKey; createdBy its CreatedBy.
	createKey string
	createdBy string
}

func free(*testing.T) *KeyState { return &KeyState{} }

func runDecisions(t *testing.T, cases []decisionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, unlinked := Identify(tc.ch, NewBlockList(tc.blocked), tc.sender)
			in := ResolutionInput{Channel: tc.ch, Identification: id, Unlinked: unlinked, Attempt: me, Now: tc.now,
				Region: "US", Corrections: tc.fixes, Lookup: tc.lookup, Policy: tc.policy, Confirm: tc.confirm, LookedUpAt: tc.lookedUpAt}
			if in.Now.IsZero() {
				in.Now = t0.Add(time.Second)
			}
			if in.LookedUpAt.IsZero() {
				in.LookedUpAt = in.Now
			}
			if tc.key != nil {
				in.Key = tc.key(t)
			}
			d := DecideResolution(in)
			if d.Kind != tc.want {
				t.Fatalf("decision %q (%+v), want %q", d.Kind, d, tc.want)
			}
			if tc.contact != "" && d.ContactID != tc.contact {
				t.Errorf("contact %q, want %q", d.ContactID, tc.contact)
			}
			if tc.reason != "" && d.Reason != tc.reason {
				t.Errorf("reason %q (%s), want %q", d.Reason, d.Detail, tc.reason)
			}
			if d.Ambiguous != tc.ambiguous {
				t.Errorf("ambiguous = %v, want %v", d.Ambiguous, tc.ambiguous)
			}
			if d.CreateKey != tc.createKey {
				t.Errorf("create key %q, want %q", d.CreateKey, tc.createKey)
			}
			if d.CreatedBy != tc.createdBy {
				t.Errorf("created by %q, want %q", d.CreatedBy, tc.createdBy)
			}
			if d.Restored != tc.restored {
				t.Errorf("restored = %v, want %v", d.Restored, tc.restored)
			}
			var got []string
			said := tc.reasonHas == ""
			for _, v := range d.Candidates {
				got = append(got, v.ContactID+map[bool]string{true: ":kept", false: ":dropped"}[v.Kept])
				said = said || !v.Kept && strings.Contains(v.Reason, tc.reasonHas)
			}
			if !said {
				t.Errorf("no dropped candidate's verdict says %q: %+v", tc.reasonHas, d.Candidates)
			}
			if strings.Join(got, " ") != strings.Join(tc.verdicts, " ") {
				t.Errorf("verdicts %v, want %v", got, tc.verdicts)
			}
		})
	}
}

// Rule 4: with no match, phone channels always create, social channels only with
// auto_create, Slack never; the message still lands unlinked, with the reason.
func TestDecisionRule4NoMatch(t *testing.T) {
	runDecisions(t, []decisionCase{
		{name: "sms creates: claim first", ch: smsCh, sender: Sender{Phone: "(415) 555-2671"}, key: free, lookup: found(), want: DecideClaim},
		{name: "whatsapp creates", ch: waCh, sender: Sender{Phone: "14155552671"}, key: free, lookup: found(), want: DecideClaim},
		{name: "telegram auto_create: true creates", ch: tgAuto, sender: Sender{UserID: "42"}, key: free, lookup: found(), want: DecideClaim},
		{name: "instagram auto_create: true creates", ch: igAuto, sender: Sender{Username: "@Ana"}, key: free, lookup: found(), want: DecideClaim},
		{name: "holding the claim: create", ch: smsCh, sender: Sender{Phone: "+14155552671"}, lookup: found(),
			key: func(t *testing.T) *KeyState {
				return keyOf(t, keyEvent(t, EventMatchKeyClaimed, MatchKeyClaimed{Holder: me.Holder}, t0, me.CorrelationID))
			}, want: DecideCreate},
		{name: "telegram auto_create: false stays unlinked", ch: tgOff, sender: Sender{UserID: "42"}, key: free, lookup: found(),
			want: DecideUnlinked, reason: UnlinkedNoMatch},
		{name: "messenger without auto_create stays unlinked", ch: fbUnset, sender: Sender{UserID: "psid-1"}, key: free, lookup: found(),
			want: DecideUnlinked, reason: UnlinkedNoMatch},
		{name: "slack never creates", ch: slackCh, sender: Sender{UserID: "U1"}, key: free, lookup: found(),
			want: DecideUnlinked, reason: UnlinkedSlackNoMatch},
		{name: "a candidate with another id is no match", ch: tgOff, sender: Sender{UserID: "42"}, key: free,
			lookup: found(Contact{ID: "7", CreatedAt: t0, Properties: map[string]string{"telegram_user_id": "420"}}),
			want:   DecideUnlinked, reason: UnlinkedNoMatch, verdicts: []string{"7:dropped"}},
		{name: "a loose phone hit on another number is no match: create", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("7", t0, "+1 415 555 2672")), want: DecideClaim, verdicts: []string{"7:dropped"}},
		{name: "no search yet: search", ch: tgOff, sender: Sender{UserID: "42"}, key: free, want: DecideSearch},
		{name: "no key read yet: read it", ch: smsCh, sender: Sender{Phone: "+14155552671"}, want: DecideReadKey},
		{name: "no phone number stays unlinked without any I/O", ch: smsCh, sender: Sender{Phone: "ACME"},
			want: DecideUnlinked, reason: UnlinkedNoPhone},
	})
}

// Rule 6: of several confirmed matches the oldest wins, then the lowest id; the
// resolution is ambiguous and every candidate has its verdict.
func TestDecisionRule6SeveralMatches(t *testing.T) {
	older, newer := t0.Add(-48*time.Hour), t0.Add(-time.Hour)
	runDecisions(t, []decisionCase{
		{name: "oldest wins", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("5", newer, "(415) 555-2671"), phoneContact("9", older, "+1 415.555.2671")),
			want:   DecideMatch, contact: "9", ambiguous: true, verdicts: []string{"5:kept", "9:kept"}},
		{name: "same age: lowest id, compared as a number", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("10", older, "4155552671"), phoneContact("9", older, "+14155552671")),
			want:   DecideMatch, contact: "9", ambiguous: true, verdicts: []string{"9:kept", "10:kept"}},
		{name: "one confirmed among loose hits is not ambiguous", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("3", older, "+44 7911 123456"), phoneContact("4", newer, "415-555-2671")),
			want:   DecideMatch, contact: "4", verdicts: []string{"3:dropped", "4:kept"}},
		{name: "archived contacts never match", ch: tgAuto, sender: Sender{UserID: "42"}, key: free,
			lookup: found(Contact{ID: "1", CreatedAt: older, Archived: true, Properties: map[string]string{"telegram_user_id": "42"}},
				Contact{ID: "2", CreatedAt: newer, Properties: map[string]string{"telegram_user_id": "42"}}),
			want: DecideMatch, contact: "2", verdicts: []string{"1:dropped", "2:kept"}},
		{name: "usernames compare without @ and case", ch: igAuto, sender: Sender{Username: "Ana.Bento"}, key: free,
			lookup: found(Contact{ID: "8", CreatedAt: older, Properties: map[string]string{"instagram_username": "@ana.bento"}}),
			want:   DecideMatch, contact: "8", verdicts: []string{"8:kept"}},
	})
}

// Rule 7: a resolved key is reused without asking HubSpot, until HubSpot says
// otherwise (a forgotten key searches again, a merge is followed).
func TestDecisionRule7Sticky(t *testing.T) {
	resolved := func(how, corr string) func(t *testing.T) *KeyState {
		return func(t *testing.T) *KeyState {
			return keyOf(t,
				keyEvent(t, EventMatchKeyClaimed, MatchKeyClaimed{Holder: corr}, t0, corr),
				keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{ContactID: "11", How: how, Properties: map[string]string{"phone": "+14155552671"}}, t0, corr))
		}
	}
	runDecisions(t, []decisionCase{
		{name: "resolved key: sticky, no search", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: resolved("matched", "other"),
			want: DecideSticky, contact: "11"},
		{name: "sticky wins over what a search would say", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: resolved("matched", "other"),
			lookup: found(phoneContact("2", t0.Add(-time.Hour), "+14155552671")), want: DecideSticky, contact: "11"},
		{name: "another message's creation is a match", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: resolved("created", "other"),
			want: DecideSticky, contact: "11"},
		{name: "this message's own creation is restored", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: resolved("created", me.CorrelationID),
			want: DecideSticky, contact: "11", restored: true},
		{name: "forgotten key searches again", ch: smsCh, sender: Sender{Phone: "+14155552671"},
			key: func(t *testing.T) *KeyState {
				ks := resolved("matched", "other")(t)
				next, err := NewEvent("e", EventMatchKeyForgotten, MatchKeyForgotten{ContactID: "11", Reason: "deleted"}, t0, "hs")
				if err != nil {
					t.Fatal(err)
				}
				if err := ks.Apply(RecordedEvent{EventData: next, Version: ks.Version + 1}); err != nil {
					t.Fatal(err)
				}
				return ks
			}, want: DecideSearch},
		{name: "merge is followed", ch: smsCh, sender: Sender{Phone: "+14155552671"},
			key: func(t *testing.T) *KeyState {
				ks := resolved("matched", "other")(t)
				next, err := NewEvent("e", EventMatchKeyFollowed, MatchKeyFollowedMerge{From: "11", To: "12"}, t0, "hs")
				if err != nil {
					t.Fatal(err)
				}
				if err := ks.Apply(RecordedEvent{EventData: next, Version: ks.Version + 1}); err != nil {
					t.Fatal(err)
				}
				return ks
			}, want: DecideSticky, contact: "12"},
		// Rule 8's half of the key: another attempt's live claim is waited for; an
		// expired one (its holder crashed) is taken over after a fresh search.
		{name: "another attempt's live claim: wait", ch: smsCh, sender: Sender{Phone: "+14155552671"},
			key: func(t *testing.T) *KeyState {
				return keyOf(t, keyEvent(t, EventMatchKeyClaimed, MatchKeyClaimed{Holder: "other"}, t0, "other"))
			}, want: DecideWait},
		{name: "an expired claim: search, then take over", ch: smsCh, sender: Sender{Phone: "+14155552671"}, now: t0.Add(ClaimLease),
			key: func(t *testing.T) *KeyState {
				return keyOf(t, keyEvent(t, EventMatchKeyClaimed, MatchKeyClaimed{Holder: "other"}, t0, "other"))
			}, want: DecideSearch},
	})
}

// Rule 12: a blocked identifier never drives a match or a creation, whatever the key
// or a search says; empty and all-zero identifiers always are blocked.
func TestDecisionRule12Blocked(t *testing.T) {
	resolved := func(t *testing.T) *KeyState {
		return keyOf(t, keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{ContactID: "11", How: "matched"}, t0, "other"))
	}
	hit := found(phoneContact("3", t0, "+14155550100"))
	runDecisions(t, []decisionCase{
		{name: "configured front-desk number, typed another way", ch: smsCh, sender: Sender{Phone: "(415) 555-0100"}, blocked: []string{"+1 415 555 0100"},
			key: resolved, lookup: hit, want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "the same number on whatsapp", ch: waCh, sender: Sender{Phone: "14155550100"}, blocked: []string{"+14155550100"},
			lookup: hit, want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "all-zero national number", ch: smsCh, sender: Sender{Phone: "+10000000000"}, want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "zero user id", ch: tgAuto, sender: Sender{UserID: "0"}, key: free, lookup: found(), want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "placeholder username, any case and @", ch: igAuto, sender: Sender{Username: "@FrontDesk"}, blocked: []string{"frontdesk"},
			want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "a blocked identifier beats an operator's link", ch: tgAuto, sender: Sender{UserID: "000"},
			fixes: Corrections{Link: &Correction{ContactID: "5", Reason: "test"}}, want: DecideUnlinked, reason: UnlinkedBlocked},
		{name: "not blocked: an ordinary number resolves", ch: smsCh, sender: Sender{Phone: "(415) 555-0101"}, blocked: []string{"+14155550100"},
			key: resolved, want: DecideSticky, contact: "11"},
	})
}

// Rule 13's decision side: a link wins over the key and the search, a never-link drops
// its contact from the candidates (and the verdict says so).
func TestDecisionCorrections(t *testing.T) {
	older, newer := t0.Add(-48*time.Hour), t0.Add(-time.Hour)
	resolved := func(t *testing.T) *KeyState {
		return keyOf(t, keyEvent(t, EventMatchKeyResolved, MatchKeyResolved{ContactID: "11", How: "matched"}, t0, "other"))
	}
	runDecisions(t, []decisionCase{
		{name: "link wins over a resolved key", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: resolved,
			fixes: Corrections{Link: &Correction{ContactID: "5", Reason: "the shop's owner"}}, want: DecideLink, contact: "5"},
		{name: "never-link drops the oldest candidate", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("9", older, "+14155552671"), phoneContact("12", newer, "+14155552671")),
			fixes:  Corrections{NeverLink: []Correction{{ContactID: "9", Reason: "a namesake"}}},
			want:   DecideMatch, contact: "12", verdicts: []string{"9:dropped", "12:kept"}, reasonHas: "never link"},
		{name: "never-link of the only candidate: create", ch: smsCh, sender: Sender{Phone: "+14155552671"}, key: free,
			lookup: found(phoneContact("9", older, "+14155552671")),
			fixes:  Corrections{NeverLink: []Correction{{ContactID: "9", Reason: "a namesake"}}},
			want:   DecideClaim, verdicts: []string{"9:dropped"}, reasonHas: "never link"},
	})
}
