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

// ClaimLease is how long a MatchKeyClaimed holds off other resolvers. It outlasts a
// creation with retries; a holder that crashed is taken over after it.
const ClaimLease = 45 * time.Second

// KeyState is a match key stream folded: whom it resolves to, or who holds a claim.
type KeyState struct {
	Version           int64
	ContactID         string
	How               string
	MatchedProperties []string
	CreatedWith       map[string]string
	// ResolvedBy is the correlation id of the message whose handling resolved the key.
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
}

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
	case EventMatchKeyResolved:
		var p MatchKeyResolved
		if err := Decode(e, &p); err != nil {
			return err
		}
		s.ContactID, s.How, s.MatchedProperties, s.CreatedWith = p.ContactID, p.How, p.MatchedProperties, p.Properties
		s.ResolvedBy, s.ThreadRef = e.CorrelationID, p.ThreadRef
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
