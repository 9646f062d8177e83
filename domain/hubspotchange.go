package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// What HubSpot says about its contacts (rule 7, SPEC §5 "HubSpot webhooks"): each
// webhook event is recorded on a stream of its own, which makes a redelivery a no-op;
// a reactor then turns it into changes of the match keys bound to that contact. The
// reconciliation pass and a publication HubSpot refuses for a missing contact tell the
// same facts and go through the same decision, DecideKeyChange.

// HubSpot contact webhook subscription types switchboard records.
const (
	HubSpotContactDeletion        = "contact.deletion"
	HubSpotContactPrivacyDeletion = "contact.privacyDeletion"
	HubSpotContactMerge           = "contact.merge"
	HubSpotContactPropertyChange  = "contact.propertyChange"
	HubSpotContactRestore         = "contact.restore"
)

// RecordsHubSpotEvent reports whether switchboard records a webhook event of that
// subscription type; the others (creations, associations, conversations) are
// acknowledged and ignored, never refused: HubSpot would retry a refusal for a day.
func RecordsHubSpotEvent(subscriptionType string) bool {
	switch subscriptionType {
	case HubSpotContactDeletion, HubSpotContactPrivacyDeletion, HubSpotContactMerge,
		HubSpotContactPropertyChange, HubSpotContactRestore:
		return true
	}
	return false
}

// Event types of HubSpot's contact changes and of the self-healing publication.
const (
	// EventHubSpotContactChanged is one HubSpot webhook event, on its own stream
	// (HubSpotContactChanged.Stream).
	EventHubSpotContactChanged = "HubSpotContactChanged"
	// EventPublicationContactMissing (message stream): HubSpot refused the publication
	// because the contact it links does not exist; the contact reactor checks and
	// forgets or follows the key, then revokes the message's resolution.
	EventPublicationContactMissing = "PublicationContactMissing"
	// EventResolutionRevoked (message stream): the message's resolution named a contact
	// HubSpot no longer has; the resolver resolves it again.
	EventResolutionRevoked = "ResolutionRevoked"
)

// HubSpotContactChanged is one event of a HubSpot contact webhook, as HubSpot sent
// it, without the property's new value: the value is personal data, and the decision
// reads the contact instead (the value says nothing about the other phone property).
type HubSpotContactChanged struct {
	WorkspaceID      string `json:"workspace_id"`
	PortalID         int64  `json:"portal_id"`
	AppID            int64  `json:"app_id,omitempty"`
	EventID          int64  `json:"event_id"`
	SubscriptionID   int64  `json:"subscription_id,omitempty"`
	SubscriptionType string `json:"subscription_type"`
	ObjectID         string `json:"object_id"`
	// OccurredAt is HubSpot's occurredAt, epoch milliseconds.
	OccurredAt    int64  `json:"occurred_at"`
	AttemptNumber int    `json:"attempt_number"`
	ChangeSource  string `json:"change_source,omitempty"`
	PropertyName  string `json:"property_name,omitempty"`
	// Merges: the winner, the ids merged into it, and the record a merge created.
	PrimaryObjectID string   `json:"primary_object_id,omitempty"`
	MergedObjectIDs []string `json:"merged_object_ids,omitempty"`
	NewObjectID     string   `json:"new_object_id,omitempty"`
}

// Stream is where the event is recorded: one stream per HubSpot event, named by what
// makes it unique (HubSpot's eventId alone is not), so that a redelivery finds its
// stream taken. Contact ids and HubSpot's ids are not personal data.
func (c HubSpotContactChanged) Stream() string {
	return fmt.Sprintf("hubspot:%s:%d:%s:%s:%d:%d", c.WorkspaceID, c.PortalID, c.SubscriptionType, c.ObjectID, c.OccurredAt, c.EventID)
}

// Validate refuses an event no decision can act on, naming the field.
func (c HubSpotContactChanged) Validate() error {
	switch {
	case c.WorkspaceID == "":
		return Invalid("workspace_id", "is missing")
	case !RecordsHubSpotEvent(c.SubscriptionType):
		return Invalid("subscriptionType", "%q is not a contact event switchboard records", c.SubscriptionType)
	case !isDigits(c.ObjectID):
		return Invalid("objectId", "%q is not a HubSpot contact id", c.ObjectID)
	case c.SubscriptionType == HubSpotContactMerge && !isDigits(c.PrimaryObjectID):
		return Invalid("primaryObjectId", "%q is not a HubSpot contact id; a merge names its primary contact", c.PrimaryObjectID)
	case c.SubscriptionType == HubSpotContactPropertyChange && c.PropertyName == "":
		return Invalid("propertyName", "is missing; a property change names its property")
	}
	return nil
}

// Sources of a key change.
const (
	CauseWebhook     = "hubspot_webhook"
	CauseReconcile   = "reconcile"
	CausePublication = "publication_refused"
)

// KeyChangeCause names what made switchboard forget or move a key, for the audit: the
// HubSpot webhook event (its stream in the log and HubSpot's ids), the reconciliation
// pass, or a publication HubSpot refused.
type KeyChangeCause struct {
	Source           string `json:"source"`
	SubscriptionType string `json:"subscription_type,omitempty"`
	HubSpotEventID   int64  `json:"hubspot_event_id,omitempty"`
	// OccurredAt is when HubSpot says the change happened (epoch ms), 0 when unknown.
	OccurredAt int64  `json:"occurred_at,omitempty"`
	Stream     string `json:"stream,omitempty"`
	Position   int64  `json:"position,omitempty"`
	Property   string `json:"property,omitempty"`
}

// Cause is the key-change cause of the webhook event recorded at stream and position.
func (c HubSpotContactChanged) Cause(stream string, position int64) KeyChangeCause {
	return KeyChangeCause{Source: CauseWebhook, SubscriptionType: c.SubscriptionType, HubSpotEventID: c.EventID,
		OccurredAt: c.OccurredAt, Stream: stream, Position: position, Property: c.PropertyName}
}

// ContactChangeKind is what happened to a contact in HubSpot.
type ContactChangeKind string

const (
	ContactDeleted  ContactChangeKind = "deleted"
	ContactMerged   ContactChangeKind = "merged"
	ContactEdited   ContactChangeKind = "edited"
	ContactRestored ContactChangeKind = "restored"
)

// ContactChange is one fact about HubSpot's contacts that may change match keys.
type ContactChange struct {
	Kind ContactChangeKind
	// ContactIDs are the contacts concerned: the deleted one, the ids merged away (and a
	// primary replaced by a new record), the edited one.
	ContactIDs []string
	// Survivor is the contact a merge kept (ContactMerged).
	Survivor string
	// Property is the edited property (ContactEdited); "" means any identifier property
	// may have changed (the reconciliation pass compares them all).
	Property string
	// Current is the edited contact as HubSpot holds it now (ContactEdited); without it
	// an edit decides nothing.
	Current *Contact
	Cause   KeyChangeCause
}

// ChangeOfWebhook is the change a webhook event tells before any read. An edit of an
// identifier property needs the contact read (NeedsRead) before DecideKeyChange can
// tell whether a key still matches; ChangeOfRead then says what the read found.
func ChangeOfWebhook(c HubSpotContactChanged, cause KeyChangeCause) ContactChange {
	switch c.SubscriptionType {
	case HubSpotContactDeletion, HubSpotContactPrivacyDeletion:
		return ContactChange{Kind: ContactDeleted, ContactIDs: []string{c.ObjectID}, Cause: cause}
	case HubSpotContactMerge:
		survivor := c.PrimaryObjectID
		if c.NewObjectID != "" && c.NewObjectID != "0" {
			survivor = c.NewObjectID
		}
		var ids []string
		for _, id := range c.MergedObjectIDs {
			if id != survivor && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if survivor != c.PrimaryObjectID && !slices.Contains(ids, c.PrimaryObjectID) {
			ids = append(ids, c.PrimaryObjectID)
		}
		return ContactChange{Kind: ContactMerged, ContactIDs: ids, Survivor: survivor, Cause: cause}
	case HubSpotContactPropertyChange:
		return ContactChange{Kind: ContactEdited, ContactIDs: []string{c.ObjectID}, Property: c.PropertyName, Cause: cause}
	}
	return ContactChange{Kind: ContactRestored, ContactIDs: []string{c.ObjectID}, Cause: cause}
}

// NeedsRead reports whether the change decides nothing until the contact is read.
func (c ContactChange) NeedsRead() bool { return c.Kind == ContactEdited && c.Current == nil }

// ChangeOfRead is what reading contact id found: found is false for a 404 (the contact
// is deleted), a different id is the survivor of a merge, the same id is the contact
// as it is now (an edit, of property, or of any identifier property when "").
func ChangeOfRead(id string, got Contact, found bool, property string, cause KeyChangeCause) ContactChange {
	switch {
	case !found:
		return ContactChange{Kind: ContactDeleted, ContactIDs: []string{id}, Cause: cause}
	case got.ID != "" && got.ID != id:
		return ContactChange{Kind: ContactMerged, ContactIDs: []string{id}, Survivor: got.ID, Cause: cause}
	}
	return ContactChange{Kind: ContactEdited, ContactIDs: []string{id}, Property: property, Current: &got, Cause: cause}
}

// KeyWatches reports whether a change of property can make a contact stop matching
// key: phone keys watch phone and mobilephone, a social key its identifier property.
func KeyWatches(key MatchKey, property string) bool {
	if key.Lookup == LookupPhone {
		return strings.EqualFold(property, "phone") || strings.EqualFold(property, "mobilephone")
	}
	p, ok := strings.CutPrefix(key.Lookup, "property:")
	return ok && strings.EqualFold(p, property)
}

// KeyProperties are the contact properties that decide whether a contact matches key.
func KeyProperties(key MatchKey) []string {
	if key.Lookup == LookupPhone {
		return []string{"phone", "mobilephone"}
	}
	if p, ok := strings.CutPrefix(key.Lookup, "property:"); ok {
		return []string{p}
	}
	return nil
}

// KeyMatchesContact reports whether contact c still holds key's identifier (rules 2
// and 3): a phone key while phone or mobilephone is the same number, in whatever
// format it was typed, read with the portal's region; a social key while its property
// holds the identifier (usernames compare case-insensitively without '@').
func KeyMatchesContact(key MatchKey, c Contact, region string) bool {
	for _, prop := range KeyProperties(key) {
		stored := lookupProperty(c.Properties, prop)
		if stored == "" {
			continue
		}
		if key.Lookup == LookupPhone {
			if same, _ := SamePhone(stored, region, key.Identifier); same {
				return true
			}
			continue
		}
		if NormalizeUsername(stored) == key.Identifier || NormalizeUserID(stored) == key.Identifier {
			return true
		}
	}
	return false
}

func lookupProperty(props map[string]string, name string) string {
	if v, ok := props[name]; ok {
		return v
	}
	for k, v := range props {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// DecideKeyChange is what change does to the key in state ks (rule 7), as the event to
// append to the key's stream, or ok false for nothing: a key bound to a deleted
// contact is forgotten, so the next message searches again; a key bound to a merged-away
// contact follows to the survivor, so the next message lands there with no CRM call; a
// key whose contact no longer holds the identifier is forgotten. A key bound elsewhere
// (it moved since, or never was bound to the contact) is left alone, which makes the
// decision safe to repeat and safe against HubSpot's unordered deliveries. A restore
// changes no key: the forgotten keys find the restored contact by search again.
func DecideKeyChange(key MatchKey, ks KeyState, change ContactChange, region string) (typ string, payload any, ok bool) {
	bound := ks.ContactID
	if bound == "" || !slices.Contains(change.ContactIDs, bound) {
		return "", nil, false
	}
	cause := change.Cause
	switch change.Kind {
	case ContactDeleted:
		why := "contact " + bound + " deleted in HubSpot"
		switch cause.Source {
		case CauseReconcile:
			why += " (found by the reconciliation pass)"
		case CausePublication:
			why += " (HubSpot refused a publication linked to it)"
		}
		if cause.SubscriptionType == HubSpotContactPrivacyDeletion {
			why = "contact " + bound + " deleted in HubSpot for privacy (GDPR)"
		}
		return EventMatchKeyForgotten, MatchKeyForgotten{MatchKey: key, ContactID: bound, Reason: why, Cause: &cause}, true
	case ContactMerged:
		if change.Survivor == "" || change.Survivor == bound {
			return "", nil, false
		}
		return EventMatchKeyFollowed, MatchKeyFollowedMerge{MatchKey: key, From: bound, To: change.Survivor, Cause: &cause}, true
	case ContactEdited:
		if change.Current == nil || (change.Property != "" && !KeyWatches(key, change.Property)) {
			return "", nil, false
		}
		if KeyMatchesContact(key, *change.Current, region) {
			return "", nil, false
		}
		props := KeyProperties(key)
		why := fmt.Sprintf("contact %s no longer holds the identifier in %s", bound, strings.Join(props, " or "))
		if change.Property != "" {
			why = fmt.Sprintf("contact %s's %s changed in HubSpot and the contact no longer holds the identifier in %s",
				bound, change.Property, strings.Join(props, " or "))
		}
		return EventMatchKeyForgotten, MatchKeyForgotten{MatchKey: key, ContactID: bound, Reason: why, Cause: &cause}, true
	}
	return "", nil, false
}

// MaxResolutionRevocations bounds how often one message's resolution is revoked for
// a missing contact before it waits as a dead letter: a search index that still
// shows a deleted contact would otherwise send the message round in a loop.
const MaxResolutionRevocations = 3

// PublicationContactMissing says HubSpot refused to publish the message because its
// linked contact does not exist (Reason and Status are HubSpot's answer).
type PublicationContactMissing struct {
	ContactID string `json:"contact_id"`
	Reason    string `json:"reason"`
	Status    int    `json:"status,omitempty"`
	Attempts  int    `json:"attempts"`
}

// ResolutionRevoked withdraws the message's resolution to ContactID, which HubSpot no
// longer has (deleted, or merged into Survivor): the resolver resolves the message
// again, by the key as it is now.
type ResolutionRevoked struct {
	ContactID string `json:"contact_id"`
	Survivor  string `json:"survivor,omitempty"`
	Reason    string `json:"reason"`
}

// FormatContactID reads a JSON number id of a HubSpot webhook as the string form the
// CRM API uses ("" for 0, which HubSpot sends for "none").
func FormatContactID(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// dropGone drops the candidates HubSpot no longer has (ResolutionInput.Gone), which its
// search index may still show for a while after a deletion; their verdicts say why.
func dropGone(kept []Contact, verdicts []CandidateVerdict, gone []string) ([]Contact, []CandidateVerdict) {
	if len(gone) == 0 {
		return kept, verdicts
	}
	var out []Contact
	for _, k := range kept {
		if !slices.Contains(gone, k.ID) {
			out = append(out, k)
		}
	}
	vs := append([]CandidateVerdict(nil), verdicts...)
	for i, v := range vs {
		if v.Kept && slices.Contains(gone, v.ContactID) {
			vs[i].Kept, vs[i].Reason = false, "HubSpot no longer has this contact (it refused a publication linked to it); its search index still shows it"
		}
	}
	return out, vs
}
