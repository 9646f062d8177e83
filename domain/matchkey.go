package domain

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// MatchKey is (workspace, lookup, normalized identifier): the unit of sticky resolution
// and of serialization — every first message of one sender, on any channel of a
// workspace that shares the lookup, contends for the same key stream.
type MatchKey struct {
	Workspace  string `json:"workspace"`
	Lookup     string `json:"lookup"`
	Identifier string `json:"identifier"`
}

func (k MatchKey) String() string { return k.Workspace + ":" + k.Lookup + ":" + k.Identifier }

// Stream is the event stream that serializes resolution of the key.
func (k MatchKey) Stream() string { return "matchkey:" + k.String() }

// ClaimLease is how long a MatchKeyClaimed (or the MatchKeyCreateAttempted that renews
// it) holds off other resolvers. It outlasts a create (bounded to CreateTimeout); a
// holder that crashed is taken over after it, and the taker-over confirms before it
// creates again. It is kept short because every message of a sender whose holder
// crashed waits it out: safety does not rest on it (a taker-over confirms the create
// attempted), only the margin of the search-lag confirmation does (docs/exactly-once.md).
const ClaimLease = 20 * time.Second

// CreateTimeout bounds one create sent to HubSpot, measured from the
// MatchKeyCreateAttempted that renewed the claim just before: long enough for one
// HubSpot attempt (the client's 10 s request timeout), well inside the lease.
const CreateTimeout = 12 * time.Second

// DefaultSearchLagAllowance is how long after a create attempt whose outcome is unknown
// a resolver waits before it trusts a search that finds nothing, when the workspace has
// no create key property. HubSpot gives no bound on its search lag; integrators report
// "a few moments", up to about 30 s at worst.
const DefaultSearchLagAllowance = 10 * time.Second

// KeyState is a match key stream folded: whom it resolves to, or who holds a claim.
type KeyState struct {
	Version           int64
	ContactID         string
	How               string
	MatchedProperties []string
	CreatedWith       map[string]string
	// ResolvedBy is the correlation id of the message whose handling resolved the key
	// (the creator's, when another attempt found its contact).
	ResolvedBy string
	ClaimedBy  string
	ClaimedAt  time.Time
	// ThreadRef is MatchKeyResolved.ThreadRef: whose thread the key's messages go on.
	ThreadRef string
	// BSUID is the WhatsApp BSUID last recorded on a phone key (MatchKeyBSUIDRecorded).
	BSUID string
	// Corrections are the operators' corrections in force for the key (rule 13); they
	// outlive the key's bindings.
	Corrections Corrections

	// CreateAttempts counts the creates sent for the key (MatchKeyCreateAttempted) since
	// it was last unbound; LastCreateAt is when the latest was sent, LastCreateBy the
	// correlation id of its message.
	CreateAttempts int
	LastCreateAt   time.Time
	LastCreateBy   string
	// CreateKeyProperty and CreateKey are the first attempt's unique value, reused by
	// every later attempt; CreateAttemptedBy and CreateAttemptedWith are that attempt's
	// correlation id and properties.
	CreateKeyProperty   string
	CreateKey           string
	CreateAttemptedBy   string
	CreateAttemptedWith map[string]string
}

// CreatePending reports whether a create was sent for the unresolved key: a contact
// may exist that no search shows yet.
func (s KeyState) CreatePending() bool { return !s.Resolved() && s.CreateAttempts > 0 }

// Resolved reports whether the key is bound to a contact.
func (s KeyState) Resolved() bool { return s.ContactID != "" }

// ClaimLive reports whether another resolver's claim still holds at now.
func (s KeyState) ClaimLive(now time.Time) bool {
	return !s.Resolved() && s.ClaimedBy != "" && now.Sub(s.ClaimedAt) < ClaimLease
}

// Apply folds one event of the key stream into the state.
func (s *KeyState) Apply(e RecordedEvent) error {
	s.Version = e.Version
	switch e.Type {
	case EventMatchKeyClaimed:
		var p MatchKeyClaimed
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.ClaimedBy, s.ClaimedAt = p.Holder, e.OccurredAt
	case EventMatchKeyCreateAttempted:
		var p MatchKeyCreateAttempted
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.ClaimedBy, s.ClaimedAt = p.Holder, e.OccurredAt
		s.CreateAttempts++
		s.LastCreateAt, s.LastCreateBy = e.OccurredAt, e.CorrelationID
		if s.CreateAttemptedBy == "" {
			s.CreateAttemptedBy, s.CreateAttemptedWith = e.CorrelationID, p.Properties
		}
		if s.CreateKey == "" && p.CreateKey != "" {
			s.CreateKeyProperty, s.CreateKey = p.KeyProperty, p.CreateKey
		}
	case EventMatchKeyClaimReleased:
		var p MatchKeyClaimReleased
		if err := Decode(e, &p); err != nil {
			return err
		}
		if s.ClaimedBy == p.Holder {
			s.ClaimedBy, s.ClaimedAt = "", time.Time{}
		}
	case EventMatchKeyResolved:
		var p MatchKeyResolved
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.ContactID, s.How, s.MatchedProperties, s.CreatedWith = p.ContactID, p.How, p.MatchedProperties, p.Properties
		s.ResolvedBy, s.ThreadRef = e.CorrelationID, p.ThreadRef
		if p.CreatedBy != "" {
			s.ResolvedBy = p.CreatedBy
		}
		s.ClaimedBy = ""
	case EventMatchKeyBSUIDRecorded:
		var p MatchKeyBSUIDRecorded
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.BSUID = p.BSUIDKey.Identifier
	case EventMatchKeyForgotten:
		// A forgotten contact (deleted, or no longer matching) takes a link to it
		// along: a key is never left pinned to a contact HubSpot has deleted.
		var p MatchKeyForgotten
		if err := Decode(e, &p); err != nil {
			return err
		}
		fixes := s.Corrections
		if fixes.Link != nil && (p.ContactID == "" || fixes.Link.ContactID == p.ContactID) {
			fixes.Link = nil
		}
		*s = KeyState{Version: e.Version, Corrections: fixes}
	case EventMatchKeyFollowed:
		var p MatchKeyFollowedMerge
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.ContactID = p.To
		if l := s.Corrections.Link; l != nil && l.ContactID == p.From {
			moved := *l
			moved.ContactID = p.To
			s.Corrections.Link = &moved
		} else if _, forbidden := s.Corrections.Forbids(p.To); forbidden && s.ContactID == p.To {
			// A merge into a never-linked contact does not carry the key there.
			s.unbind()
		}
	case EventMatchKeyLinked, EventMatchKeyNeverLinked, EventMatchKeyUnpinned:
		return s.applyCorrection(e)
	}
	return nil
}

// FoldKey folds a whole key stream.
func FoldKey(events []RecordedEvent) (KeyState, error) {
	var s KeyState
	for _, e := range events {
		if err := s.Apply(e); err != nil {
			return s, err
		}
	}
	return s, nil
}

// ChooseCandidate picks among several confirmed matches deterministically (rule 6): the
// oldest contact, then the lowest numeric id. ambiguous is true when there was a choice.
func ChooseCandidate(kept []Contact) (chosen Contact, ambiguous bool, err error) {
	if len(kept) == 0 {
		return Contact{}, false, errors.New("choose candidate: no candidates")
	}
	sorted := append([]Contact(nil), kept...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return lessNumericID(a.ID, b.ID)
	})
	return sorted[0], len(sorted) > 1, nil
}

// lessNumericID compares HubSpot ids (strings of digits) as numbers without parsing, so
// ids longer than int64 still order correctly.
func lessNumericID(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// KeyStreamWinner explains a lost claim race in logs and errors.
func KeyStreamWinner(s KeyState) string {
	if s.Resolved() {
		return fmt.Sprintf("resolved to contact %s", s.ContactID)
	}
	if s.ClaimedBy != "" {
		return fmt.Sprintf("claimed by %s at %s", s.ClaimedBy, s.ClaimedAt.Format(time.RFC3339))
	}
	return "unresolved"
}
