package command

import "switchboard/domain"

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
