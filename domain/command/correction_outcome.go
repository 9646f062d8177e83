package command

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"switchboard/domain"
)

// linkOutcome lands the message on the contact an operator's link pins its key to
// (rule 13): no HubSpot call, and the audit cites the link.
func linkOutcome(key domain.MatchKey, d domain.Decision) Change {
	m := domain.ContactMatched{MatchKey: key, ContactID: d.ContactID, Via: "correction"}
	if d.Correction != nil {
		m.Corrections = []domain.CitedCorrection{d.Correction.Cite(domain.CorrectLink)}
	}
	return Change{domain.EventContactMatched, m}
}

// cite adds to an outcome the corrections that decided it (domain.Corrections.Cited),
// so the audit of the message names them.
func cite(c Change, fixes domain.Corrections, d domain.Decision) Change {
	cited := fixes.Cited(d)
	if len(cited) == 0 {
		return c
	}
	switch p := c.Payload.(type) {
	case domain.ContactMatched:
		p.Corrections = cited
		c.Payload = p
	case domain.ContactCreated:
		p.Corrections = cited
		c.Payload = p
	case domain.ConversationUnlinked:
		p.Corrections = cited
		c.Payload = p
	}
	return c
}

func forbids(c domain.Corrections, contactID string) bool {
	_, ok := c.Forbids(contactID)
	return ok
}

// refuseForbiddenExisting answers HubSpot's 409 naming a contact an operator
// never-linked: that contact holds the identifier in a unique property, so no other
// contact can be created with it, and the never-link forbids this one. The message
// lands unlinked, citing the never-link, and the attempt's claim is released (a
// MatchKeyForgotten that says so), so the sender's next message need not wait out
// its lease before it finds the same answer.
func (h *ResolveMessageHandler) refuseForbiddenExisting(ctx context.Context, in domain.ResolutionInput, d domain.Decision,
	claimVersion int64, existing string) (Change, error) {
	key, corr := in.Identification.Key, in.Attempt.CorrelationID
	n, _ := in.Corrections.Forbids(existing)
	_, err := h.keys.Update(ctx, key.Stream(), func(_ domain.KeyState, version int64) ([]Change, error) {
		if version != claimVersion {
			return nil, nil // the key moved: the claim is no longer this attempt's to release
		}
		return []Change{{domain.EventMatchKeyForgotten, domain.MatchKeyForgotten{MatchKey: key, ContactID: existing,
			Reason: "claim released: HubSpot names never-linked contact " + existing + " as the holder of the identifier"}}}, nil
	}, CorrelatedWith(corr))
	if err != nil && !errors.Is(err, domain.ErrWrongExpectedVersion) {
		return Change{}, fmt.Errorf("release claim on %s: %w", key, err)
	}
	id := in.Identification
	u := domain.ConversationUnlinked{Reason: domain.UnlinkedNeverLinkedHolder, MatchKey: &key, Candidates: d.Candidates,
		Detail: fmt.Sprintf("contact %s holds %s %s (HubSpot refused to create another) and an operator's never-link forbids it: %s",
			existing, strings.Join(id.Searched(), " or "), id.Identifier, n.Reason)}
	if in.Lookup != nil {
		u.Lookups = in.Lookup.Lookups
	}
	c := cite(Change{domain.EventConversationUnlinked, u}, in.Corrections, d)
	p := c.Payload.(domain.ConversationUnlinked)
	if !citesContact(p.Corrections, existing) {
		p.Corrections = append(p.Corrections, n.Cite(domain.CorrectNeverLink))
	}
	c.Payload = p
	return c, nil
}

func citesContact(cs []domain.CitedCorrection, contactID string) bool {
	for _, c := range cs {
		if c.ContactID == contactID {
			return true
		}
	}
	return false
}
