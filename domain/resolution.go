package domain

import (
	"fmt"
	"strings"
	"time"
)

// Attempt is one attempt at resolving a message (one run of the resolver on it). The
// two names differ in what they own: events carry the message's correlation id, while a
// claim on a match key belongs to the attempt that made it. Two processes resolving the
// same message, or a retry of the message after a failure, a crash or a restart, are
// different attempts: none takes another's claim for its own.
type Attempt struct {
	// CorrelationID is the message's; a key resolved under it is this message's own
	// earlier work (restored after a crash, rule 8).
	CorrelationID string
	// Holder is the name the attempt's claims are made under: a token of its own,
	// never the correlation id.
	Holder string
}

// NewAttempt is an attempt of the message with correlation id corr, holding its claims
// under holder, a fresh random token the caller draws for each attempt.
func NewAttempt(corr, holder string) Attempt { return Attempt{CorrelationID: corr, Holder: holder} }

// CreatePolicy is how a workspace keeps a create whose answer was lost from becoming a
// second contact (rule 8).
type CreatePolicy struct {
	// KeyProperty is hubspot.create_key_property: a unique contact property every
	// create carries a value of switchboard's own in. A later attempt reads the contact
	// by that value (a read, not the lagging search index), and HubSpot answers a
	// repeated create with 409 and the existing id. Empty: not configured.
	KeyProperty string
	// SearchLagAllowance is, without KeyProperty, how long after the last create
	// attempt a search must run before its finding nothing is believed (zero:
	// DefaultSearchLagAllowance).
	SearchLagAllowance time.Duration
}

func (p CreatePolicy) allowance() time.Duration {
	if p.SearchLagAllowance <= 0 {
		return DefaultSearchLagAllowance
	}
	return p.SearchLagAllowance
}

// Correction is one operator's correction of a match key (rule 13).
type Correction struct {
	ContactID   string `json:"contact_id"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requested_by,omitempty"`
	// EventID and Position name the correction's event, which the audit cites.
	EventID  string `json:"event_id,omitempty"`
	Position int64  `json:"position,omitempty"`
}

// Corrections are the operators' corrections in force for one match key (rule 13). A
// link pins the key to a contact, whatever the key's stream or HubSpot's search say; a
// never-link removes one contact from the candidates a search returns. They are the
// key's stream folded (KeyState.Corrections). A never-link of the contact a key resolves to
// is expected to forget the key in the same step (the key's stream says so), so the
// decision does not second-guess a sticky answer.
type Corrections struct {
	Link      *Correction
	NeverLink []Correction
}

// Forbids reports whether a never-link forbids contactID, and which.
func (c Corrections) Forbids(contactID string) (Correction, bool) {
	for _, n := range c.NeverLink {
		if n.ContactID == contactID {
			return n, true
		}
	}
	return Correction{}, false
}

// ResolutionInput is everything the resolution decision reads: what is known of one
// message at one moment. Key and Lookup are nil until the resolver read the key's
// stream and ran the search; the decision asks for them when it needs them.
type ResolutionInput struct {
	Channel ChannelSettings
	// Identification and Unlinked are Identify's answer for the message's sender.
	Identification Identification
	Unlinked       *Unlinked
	Attempt        Attempt
	// Now decides whether another attempt's claim is still live (ClaimLease).
	Now time.Time
	// Region reads phone numbers typed into HubSpot without a country code.
	Region      string
	Corrections Corrections
	Policy      CreatePolicy
	Key         *KeyState
	Lookup      *LookupResult
	// Gone are contacts HubSpot no longer has that this message was already resolved
	// to (MessageState.Revoked): a lagging search index may still return them.
	Gone []string
	// LookedUpAt is when Lookup ran: after a create attempt, only a search run once the
	// search-lag allowance has passed counts.
	LookedUpAt time.Time
	// Confirm is the read by create key that DecideConfirmCreate asked for.
	Confirm *LookupResult
}

// DecisionKind is what the resolver must do next.
type DecisionKind string

const (
	// DecideUnlinked: record ConversationUnlinked with Reason and Detail.
	DecideUnlinked DecisionKind = "unlinked"
	// DecideLink: an operator's link pins the message to ContactID (rule 13).
	DecideLink DecisionKind = "link"
	// DecideReadKey: read the match key's stream and decide again.
	DecideReadKey DecisionKind = "read_key"
	// DecideSticky: the key resolves to ContactID; no HubSpot call (rule 7).
	DecideSticky DecisionKind = "sticky"
	// DecideWait: another attempt's claim is live; wait, read the key again.
	DecideWait DecisionKind = "wait"
	// DecideSearch: look the identifier up in HubSpot and decide again.
	DecideSearch DecisionKind = "search"
	// DecideMatch: bind the key to Contact, the chosen candidate (rules 2, 3, 6).
	DecideMatch DecisionKind = "match"
	// DecideClaim: claim the key before creating (rule 8), then decide again.
	DecideClaim DecisionKind = "claim"
	// DecideCreate: the attempt holds a live claim; record MatchKeyCreateAttempted,
	// then create the contact (rule 4) with CreateKey in CreateKeyProperty when set
	// (a new value when CreateKey is empty).
	DecideCreate DecisionKind = "create"
	// DecideConfirmCreate: a create was attempted for the key and never recorded;
	// read the contact whose CreateKeyProperty is CreateKey and decide again.
	DecideConfirmCreate DecisionKind = "confirm_create"
	// DecideWaitSearchLag: a create was attempted for the key and never recorded, and
	// there is no create key: wait until Until, when HubSpot's search shows the
	// contact if it exists, then search and decide again.
	DecideWaitSearchLag DecisionKind = "wait_search_lag"
	// DecideAdoptCreated: the read by create key found the contact an earlier attempt
	// created (CreatedBy is that attempt's message): bind the key to it as created.
	DecideAdoptCreated DecisionKind = "adopt_created"
)

// Decision is the resolution decision's answer; which fields are set depends on Kind.
type Decision struct {
	Kind DecisionKind
	// ContactID is the contact of DecideSticky, DecideLink and DecideMatch.
	ContactID string
	// Contact is the chosen candidate of DecideMatch, as HubSpot returned it.
	Contact           Contact
	MatchedProperties []string
	// Ambiguous is set when several candidates were kept (rule 6).
	Ambiguous bool
	// Candidates are the verdicts on every contact the search returned (DecideMatch,
	// DecideClaim, DecideCreate, DecideUnlinked after a search).
	Candidates []CandidateVerdict
	// Restored is set on DecideSticky when this very message resolved the key by
	// creating the contact (and crashed before recording it): Properties are what it
	// created the contact with.
	Restored   bool
	Properties map[string]string
	// Reason and Detail say why DecideUnlinked; Searched is set when a search ran.
	Reason   string
	Detail   string
	Searched bool
	// Correction is the operator's link of DecideLink.
	Correction *Correction
	// Holder is the attempt holding the claim DecideWait waits for.
	Holder string
	// ThreadRef is the key's KeyState.ThreadRef on DecideSticky (ContactMatched.ThreadRef).
	ThreadRef string
	// CreateKeyProperty and CreateKey are the create key of DecideCreate (CreateKey
	// empty: draw a new value) and DecideConfirmCreate.
	CreateKeyProperty string
	CreateKey         string
	// Until is when DecideWaitSearchLag's wait ends.
	Until time.Time
	// CreatedBy is the correlation id of the message whose attempt created the contact
	// of DecideAdoptCreated.
	CreatedBy string
}

// DecideResolution is the resolution of one message as a pure function of what is
// known (SPEC §3): it performs no I/O. The resolver calls it, does what it asks (read
// the key, search, claim, create), feeds the answer back and calls it again until the
// decision is an outcome.
//
// The order is the rules' priority: a sender that cannot be identified or is blocked
// never drives a match (rules 1, 12, 14); an operator's link wins over everything else
// (13); a resolved key is reused without asking HubSpot (7); another attempt's live
// claim is waited for (8); the search's candidates are confirmed client-side (2, 3),
// stripped of never-linked contacts (13) and the oldest is chosen (6); with none left,
// the channel's settings decide between creating and leaving unlinked (4).
//
// A create is sent only by an attempt whose claim is live, and a key on which a create
// was attempted and never recorded is confirmed first (8): by a read of the create key
// when the attempt carried one, else by a search run after the search-lag allowance.
func DecideResolution(in ResolutionInput) Decision {
	if in.Unlinked != nil {
		return Decision{Kind: DecideUnlinked, Reason: in.Unlinked.Reason, Detail: in.Unlinked.Detail}
	}
	if l := in.Corrections.Link; l != nil {
		return Decision{Kind: DecideLink, ContactID: l.ContactID, Correction: l}
	}
	if in.Key == nil {
		return Decision{Kind: DecideReadKey}
	}
	ks := *in.Key
	if ks.Resolved() {
		d := Decision{Kind: DecideSticky, ContactID: ks.ContactID, MatchedProperties: ks.MatchedProperties, ThreadRef: ks.ThreadRef}
		if ks.ResolvedBy == in.Attempt.CorrelationID && ks.How == "created" {
			d.Restored, d.Properties = true, ks.CreatedWith
		}
		return d
	}
	if ks.ClaimLive(in.Now) && ks.ClaimedBy != in.Attempt.Holder {
		return Decision{Kind: DecideWait, Holder: ks.ClaimedBy}
	}
	if ks.CreatePending() && ks.LastCreateBy != in.Attempt.CorrelationID && in.Now.Sub(ks.LastCreateAt) < ClaimLease &&
		!(ks.ClaimedBy == in.Attempt.Holder && ks.ClaimLive(in.Now)) {
		// The create of another message is unconfirmed: that message's retry confirms
		// it (and creates if it must) first; other messages wait as for a claim, until
		// the lease after the create runs out.
		return Decision{Kind: DecideWait, Holder: ks.ClaimedBy}
	}
	lookup := in.Lookup
	if ks.CreatePending() {
		if ks.CreateKey != "" {
			if in.Confirm == nil {
				return Decision{Kind: DecideConfirmCreate, CreateKeyProperty: ks.CreateKeyProperty, CreateKey: ks.CreateKey}
			}
			if c, ok := holdingCreateKey(in.Confirm.Candidates, ks.CreateKeyProperty, ks.CreateKey); ok {
				d := Decision{Kind: DecideAdoptCreated, ContactID: c.ID, Contact: c, CreatedBy: ks.CreateAttemptedBy,
					Properties: ks.CreateAttemptedWith, MatchedProperties: in.Identification.Searched()[:1]}
				d.Restored = ks.CreateAttemptedBy == in.Attempt.CorrelationID
				return d
			}
		} else {
			ready := ks.LastCreateAt.Add(in.Policy.allowance())
			if in.Now.Before(ready) {
				return Decision{Kind: DecideWaitSearchLag, Until: ready}
			}
			if lookup != nil && in.LookedUpAt.Before(ready) {
				lookup = nil
			}
		}
	}
	if lookup == nil {
		return Decision{Kind: DecideSearch}
	}
	kept, verdicts := ConfirmCandidates(in.Identification, in.Region, lookup.Candidates)
	kept, verdicts = in.Corrections.strip(kept, verdicts)
	kept, verdicts = dropGone(kept, verdicts, in.Gone)
	if len(kept) > 0 {
		chosen, ambiguous, _ := ChooseCandidate(kept)
		return Decision{Kind: DecideMatch, ContactID: chosen.ID, Contact: chosen, Ambiguous: ambiguous,
			MatchedProperties: MatchedPropertiesOf(verdicts, chosen.ID), Candidates: verdicts}
	}
	id, ch := in.Identification, in.Channel
	if !ch.CreatesContacts() {
		d := Decision{Kind: DecideUnlinked, Searched: true, Candidates: verdicts, Reason: UnlinkedNoMatch,
			Detail: fmt.Sprintf("no contact has %s %s and channel %s does not create contacts (auto_create is off)", id.Property, id.Raw, ch.ID)}
		if ch.Kind == KindSlack {
			d.Reason, d.Detail = UnlinkedSlackNoMatch, fmt.Sprintf("no contact has %s %s and Slack channels never create contacts", id.Property, id.Raw)
		}
		return d
	}
	if ks.ClaimedBy != in.Attempt.Holder || !ks.ClaimLive(in.Now) {
		// A claim that lapsed is claimed again (an expected-version append, refused if
		// anyone moved the key meanwhile): a holder never creates on a lapsed claim.
		return Decision{Kind: DecideClaim, Candidates: verdicts}
	}
	d := Decision{Kind: DecideCreate, Candidates: verdicts, CreateKeyProperty: in.Policy.KeyProperty}
	if d.CreateKeyProperty != "" && ks.CreateKeyProperty == d.CreateKeyProperty {
		d.CreateKey = ks.CreateKey
	}
	return d
}

// holdingCreateKey finds the live contact whose property holds the create key.
func holdingCreateKey(cs []Contact, property, key string) (Contact, bool) {
	for _, c := range cs {
		if !c.Archived && strings.EqualFold(strings.TrimSpace(c.Properties[property]), key) {
			return c, true
		}
	}
	return Contact{}, false
}

// strip drops the never-linked contacts from the kept candidates; their verdicts say
// why, so the audit shows the correction at work.
func (c Corrections) strip(kept []Contact, verdicts []CandidateVerdict) ([]Contact, []CandidateVerdict) {
	if len(c.NeverLink) == 0 {
		return kept, verdicts
	}
	var out []Contact
	for _, k := range kept {
		if _, ok := c.Forbids(k.ID); !ok {
			out = append(out, k)
		}
	}
	vs := append([]CandidateVerdict(nil), verdicts...)
	for i, v := range vs {
		if n, ok := c.Forbids(v.ContactID); ok && v.Kept {
			vs[i].Kept, vs[i].Reason = false, "never link (operator's correction): "+n.Reason
		}
	}
	return out, vs
}
