package domain

import (
	"testing"
	"time"
)

// Rule 8, the create attempt: a claim belongs to one attempt and must be live to
// create; a key on which a create was sent and never recorded is confirmed before a
// second create — by the create key when the attempt carried one, else by a search run
// after the search-lag allowance (issue 10, items 1 and 2).
func TestDecisionRule8CreateAttempts(t *testing.T) {
	sender := Sender{Phone: "+14155552671"}
	claimed := func(holder string, at time.Time) RecordedEvent {
		return keyEvent(t, EventMatchKeyClaimed, MatchKeyClaimed{Holder: holder}, at, "corr-"+holder)
	}
	attempted := func(holder, corr, keyProp, createKey string, at time.Time) RecordedEvent {
		return keyEvent(t, EventMatchKeyCreateAttempted, MatchKeyCreateAttempted{Holder: holder, KeyProperty: keyProp, CreateKey: createKey,
			Properties: map[string]string{"phone": "+14155552671", keyProp: createKey}}, at, corr)
	}
	released := func(holder string, at time.Time) RecordedEvent {
		return keyEvent(t, EventMatchKeyClaimReleased, MatchKeyClaimReleased{Holder: holder, Reason: "create outcome unknown"}, at, "corr-"+holder)
	}
	keyed := CreatePolicy{KeyProperty: "switchboard_key"}
	ours := Contact{ID: "21", CreatedAt: t0, Properties: map[string]string{"phone": "+14155552671", "switchboard_key": "tok-1"}}
	read := func(cs ...Contact) *LookupResult {
		return &LookupResult{Lookups: []Lookup{{Kind: "read_by_property", Found: len(cs)}}, Candidates: cs}
	}
	// A message's first attempt claimed, sent the create, lost the answer and released.
	lostByOther := func(t *testing.T) *KeyState {
		return keyOf(t, claimed("a1", t0), attempted("a1", "corr-other", "switchboard_key", "tok-1", t0), released("a1", t0.Add(time.Second)))
	}
	lostByMe := func(t *testing.T) *KeyState {
		return keyOf(t, claimed("a1", t0), attempted("a1", me.CorrelationID, "switchboard_key", "tok-1", t0), released("a1", t0.Add(time.Second)))
	}
	lostNoKey := func(t *testing.T) *KeyState {
		return keyOf(t, claimed("a1", t0), attempted("a1", me.CorrelationID, "", "", t0), released("a1", t0.Add(time.Second)))
	}
	runDecisions(t, []decisionCase{
		{name: "the same message's earlier attempt holds a live claim: wait, it is not ours", ch: smsCh, sender: sender, lookup: found(),
			key: func(t *testing.T) *KeyState { return keyOf(t, claimed("a1", t0)) }, want: DecideWait},
		{name: "a claim of ours that lapsed: claim again, never create", ch: smsCh, sender: sender, lookup: found(), now: t0.Add(ClaimLease),
			key: func(t *testing.T) *KeyState { return keyOf(t, claimed(me.Holder, t0)) }, want: DecideClaim},
		{name: "a claim of ours renewed by our create attempt is live", ch: smsCh, sender: sender, lookup: found(), now: t0.Add(ClaimLease + time.Second),
			key: func(t *testing.T) *KeyState {
				return keyOf(t, claimed(me.Holder, t0), attempted(me.Holder, me.CorrelationID, "", "", t0.Add(2*time.Second)))
			}, policy: CreatePolicy{SearchLagAllowance: time.Second}, want: DecideCreate},
		{name: "a released claim is free at once", ch: smsCh, sender: sender, lookup: found(), now: t0.Add(2 * time.Second),
			key: func(t *testing.T) *KeyState { return keyOf(t, claimed("a1", t0), released("a1", t0.Add(time.Second))) }, want: DecideClaim},
		{name: "a release by another holder leaves the claim", ch: smsCh, sender: sender, lookup: found(), now: t0.Add(2 * time.Second),
			key: func(t *testing.T) *KeyState { return keyOf(t, claimed("a1", t0), released("a0", t0.Add(time.Second))) }, want: DecideWait},
		{name: "another message's unconfirmed create: wait for that message's retry", ch: smsCh, sender: sender, policy: keyed, key: lostByOther,
			lookup: found(), now: t0.Add(2 * time.Second), want: DecideWait},
		{name: "create key: a lost create is read back before anything else", ch: smsCh, sender: sender, policy: keyed, key: lostByMe,
			lookup: found(), want: DecideConfirmCreate, createKey: "tok-1"},
		{name: "create key: another message's lost create is read back after its lease", ch: smsCh, sender: sender, policy: keyed, key: lostByOther,
			lookup: found(), now: t0.Add(ClaimLease), want: DecideConfirmCreate, createKey: "tok-1"},
		{name: "create key: found, another message's create is adopted", ch: smsCh, sender: sender, policy: keyed, key: lostByOther,
			confirm: read(ours), now: t0.Add(ClaimLease), want: DecideAdoptCreated, contact: "21", createdBy: "corr-other"},
		{name: "create key: found, this message's own create is restored", ch: smsCh, sender: sender, policy: keyed, key: lostByMe,
			confirm: read(ours), want: DecideAdoptCreated, contact: "21", createdBy: me.CorrelationID, restored: true},
		{name: "create key: not found, search", ch: smsCh, sender: sender, policy: keyed, key: lostByMe, confirm: read(), want: DecideSearch},
		{name: "create key: not found and no match: claim", ch: smsCh, sender: sender, policy: keyed, key: lostByMe, confirm: read(),
			lookup: found(), want: DecideClaim},
		{name: "create key: the retry's create reuses the first attempt's value", ch: smsCh, sender: sender, policy: keyed, confirm: read(), lookup: found(),
			key: func(t *testing.T) *KeyState {
				ks := lostByOther(t)
				e := claimed(me.Holder, t0.Add(ClaimLease))
				e.Version = ks.Version + 1
				if err := ks.Apply(e); err != nil {
					t.Fatal(err)
				}
				return ks
			}, now: t0.Add(ClaimLease + time.Second), want: DecideCreate, createKey: "tok-1"},
		{name: "create key: a first create draws a new value", ch: smsCh, sender: sender, policy: keyed, lookup: found(),
			key: func(t *testing.T) *KeyState { return keyOf(t, claimed(me.Holder, t0)) }, want: DecideCreate},
		{name: "create key: an archived holder of the value is not adopted", ch: smsCh, sender: sender, policy: keyed, key: lostByMe,
			confirm: read(Contact{ID: "21", Archived: true, Properties: ours.Properties}), want: DecideSearch},
		{name: "no create key: wait out the search lag after a lost create", ch: smsCh, sender: sender, key: lostNoKey, lookup: found(),
			now: t0.Add(2 * time.Second), want: DecideWaitSearchLag},
		{name: "no create key: a search from before the allowance does not count", ch: smsCh, sender: sender, key: lostNoKey, lookup: found(),
			now: t0.Add(DefaultSearchLagAllowance), lookedUpAt: t0.Add(3 * time.Second), want: DecideSearch},
		{name: "no create key: a search after the allowance that finds nothing: claim", ch: smsCh, sender: sender, key: lostNoKey, lookup: found(),
			now: t0.Add(DefaultSearchLagAllowance), want: DecideClaim},
		{name: "no create key: a search after the allowance finds the lost create", ch: smsCh, sender: sender, key: lostNoKey,
			lookup: found(phoneContact("21", t0, "+14155552671")), now: t0.Add(DefaultSearchLagAllowance), want: DecideMatch, contact: "21",
			verdicts: []string{"21:kept"}},
		{name: "no create key: the allowance is configurable", ch: smsCh, sender: sender, key: lostNoKey, lookup: found(),
			policy: CreatePolicy{SearchLagAllowance: 30 * time.Second}, now: t0.Add(DefaultSearchLagAllowance), want: DecideWaitSearchLag},
		{name: "a create recorded without a key is confirmed by the lag even once a key is configured", ch: smsCh, sender: sender, key: lostNoKey,
			policy: keyed, lookup: found(), now: t0.Add(2 * time.Second), want: DecideWaitSearchLag},
	})
}
