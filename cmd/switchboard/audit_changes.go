package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"switchboard/domain"
	"switchboard/projections"
)

// explainContactChange tells what HubSpot said about a contact and what switchboard
// did about it (rule 7): the recorded webhook event, a key forgotten or followed and
// what caused it, a publication refused for a missing contact and the resolution it
// revoked.
func explainContactChange(e projections.Entry) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch e.Type {
	case domain.EventHubSpotContactChanged:
		var p domain.HubSpotContactChanged
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("HubSpot webhook %s (event %d, portal %d, attempt %d, source %s, at %s): %s", p.SubscriptionType, p.EventID, p.PortalID,
			p.AttemptNumber, orDash(p.ChangeSource), time.UnixMilli(p.OccurredAt).UTC().Format(time.RFC3339), describeHubSpotEvent(p))
	case domain.EventMatchKeyForgotten:
		var p domain.MatchKeyForgotten
		if json.Unmarshal(e.Data, &p) != nil || p.Cause == nil {
			break
		}
		add("the next message of this sender searches HubSpot again (and creates a contact where the rules say so)")
		add("because: %s", describeCause(*p.Cause))
	case domain.EventMatchKeyFollowed:
		var p domain.MatchKeyFollowedMerge
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("match key %s followed a merge in HubSpot: contact %s → surviving contact %s; later messages land there without asking HubSpot", p.MatchKey, p.From, p.To)
		if p.Cause != nil {
			add("because: %s", describeCause(*p.Cause))
		}
	case domain.EventPublicationContactMissing:
		var p domain.PublicationContactMissing
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("HubSpot refused the publication (HTTP %d, attempt %d) because linked contact %s does not exist: %s", p.Status, p.Attempts, p.ContactID, p.Reason)
		add("not a dead letter: switchboard reads the contact and resolves the sender again")
	case domain.EventResolutionRevoked:
		var p domain.ResolutionRevoked
		if json.Unmarshal(e.Data, &p) != nil {
			break
		}
		add("resolution to contact %s withdrawn: %s", p.ContactID, p.Reason)
	}
	return out
}

func describeHubSpotEvent(p domain.HubSpotContactChanged) string {
	switch p.SubscriptionType {
	case domain.HubSpotContactDeletion:
		return "contact " + p.ObjectID + " was deleted; every match key resolved to it is forgotten"
	case domain.HubSpotContactPrivacyDeletion:
		return "contact " + p.ObjectID + " was deleted for privacy (GDPR); every match key resolved to it is forgotten"
	case domain.HubSpotContactMerge:
		survivor := p.PrimaryObjectID
		if p.NewObjectID != "" {
			survivor = p.NewObjectID
		}
		return fmt.Sprintf("contacts %s were merged into contact %s; their match keys follow to %s",
			strings.Join(p.MergedObjectIDs, ", "), p.PrimaryObjectID, survivor)
	case domain.HubSpotContactPropertyChange:
		return fmt.Sprintf("property %s of contact %s changed; a match key the contact no longer matches is forgotten", p.PropertyName, p.ObjectID)
	case domain.HubSpotContactRestore:
		return "contact " + p.ObjectID + " was restored; keys forgotten at its deletion find it by search again"
	}
	return "contact " + p.ObjectID
}

func describeCause(c domain.KeyChangeCause) string {
	switch c.Source {
	case domain.CauseWebhook:
		s := fmt.Sprintf("HubSpot's %s webhook (event %d", c.SubscriptionType, c.HubSpotEventID)
		if c.Property != "" {
			s += ", property " + c.Property
		}
		if c.Position > 0 {
			s += fmt.Sprintf(", recorded at position %d", c.Position)
		}
		return s + ")"
	case domain.CauseReconcile:
		return "the reconciliation pass (switchboard reconcile) read the contact from HubSpot"
	case domain.CausePublication:
		return fmt.Sprintf("HubSpot refused to publish a message linked to the contact (%s, position %d) and a read confirmed it", c.Stream, c.Position)
	}
	return c.Source
}
