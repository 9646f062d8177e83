package domain

import (
	"strings"
	"time"
)

// BSUIDKey is the match key a WhatsApp sender known only by a business-scoped user id
// contends for on ch (rule 14): the BSUID as a value of the channel's bsuid_property.
func BSUIDKey(ch ChannelSettings, bsuid string) MatchKey {
	return MatchKey{Workspace: ch.WorkspaceID, Lookup: "property:" + strings.ToLower(ch.BSUIDProperty), Identifier: NormalizeUserID(bsuid)}
}

// HowBSUIDWithPhone is the How of a BSUID key bound because a message carried that
// BSUID together with a phone number whose key resolved to the contact.
const HowBSUIDWithPhone = "bsuid_with_phone"

// BSUIDInput is what the BSUID decision reads for one resolved message (rule 14). The
// resolver fills PhoneKey, BSUIDKey and Contact as the decision asks for them.
type BSUIDInput struct {
	Channel ChannelSettings
	// Identification is Identify's answer for the message's sender.
	Identification Identification
	// BSUID is the sender's business-scoped user id as it came in ("" when none).
	BSUID   string
	Blocked BlockList
	// ContactID is the contact the message resolved to.
	ContactID string
	// PhoneKey is the phone match key's state after the resolution; nil until read.
	PhoneKey *KeyState
	// BSUIDKey is the state of BSUIDKey(Channel, BSUID); nil until read.
	BSUIDKey *KeyState
	// Contact is ContactID with the channel's bsuid_property as HubSpot holds it; nil
	// until read.
	Contact *Contact
	// Now decides whether another attempt's claim on the BSUID key is still live.
	Now time.Time
}

// BSUIDStep is what the resolver must do next for a message's BSUID.
type BSUIDStep string

const (
	// BSUIDNothing: nothing to record (Reason says why).
	BSUIDNothing BSUIDStep = "nothing"
	// BSUIDReadPhoneKey, BSUIDReadKey, BSUIDReadContact: read the phone key's stream,
	// the BSUID key's stream or the contact, and decide again.
	BSUIDReadPhoneKey BSUIDStep = "read_phone_key"
	BSUIDReadKey      BSUIDStep = "read_bsuid_key"
	BSUIDReadContact  BSUIDStep = "read_contact"
	// BSUIDRecord: do what the decision's Write, Bind and Record say, in that order.
	BSUIDRecord BSUIDStep = "record"
)

// BSUIDDecision is DecideBSUID's answer.
type BSUIDDecision struct {
	Step BSUIDStep
	// Key is the BSUID's match key.
	Key MatchKey
	// Write asks to set Property to Value on the contact, whose property is empty.
	Write           bool
	Property, Value string
	// Bind, when set, is appended to the BSUID key's stream at the version read: the key
	// then resolves to the contact, in the thread of the phone's messages (rule 9).
	Bind *MatchKeyResolved
	// Record, when set, is appended to the phone key's stream at the version read, so
	// later messages of the phone take the sticky path without asking HubSpot (rule 7).
	Record *MatchKeyBSUIDRecorded
	// Reason says, without personal data, why nothing (or not everything) is done.
	Reason string
}

// DecideBSUID is rule 14 for a message that came with both a phone number and a BSUID
// on a WhatsApp channel with a bsuid_property, once the phone's key resolved to the
// message's contact — whichever way it did (sticky, matched or created): the BSUID is
// written to the contact's property when it is empty, never over a value (rule 5), and
// the BSUID's own key is bound to the same contact, so that a later message carrying
// the BSUID alone is the same person, on the same thread (rule 9), without a search.
// The phone key records the BSUID so that this is done once per phone and BSUID.
func DecideBSUID(in BSUIDInput) BSUIDDecision {
	ch, id := in.Channel, in.Identification
	bsuid := strings.TrimSpace(in.BSUID)
	switch {
	case ch.Kind != KindWhatsApp || ch.BSUIDProperty == "":
		return BSUIDDecision{Step: BSUIDNothing, Reason: "not a whatsapp channel with a bsuid_property"}
	case bsuid == "":
		return BSUIDDecision{Step: BSUIDNothing, Reason: "the message carries no BSUID"}
	case id.Phone == nil || id.Key.Identifier == "":
		return BSUIDDecision{Step: BSUIDNothing, Reason: "the message was not resolved by a phone number"}
	case in.ContactID == "":
		return BSUIDDecision{Step: BSUIDNothing, Reason: "the message resolved to no contact"}
	}
	key := BSUIDKey(ch, bsuid)
	if in.Blocked.Blocked(key.Identifier) || in.Blocked.Blocked(bsuid) {
		return BSUIDDecision{Step: BSUIDNothing, Key: key, Reason: "the BSUID is a blocked identifier"}
	}
	if in.PhoneKey == nil {
		return BSUIDDecision{Step: BSUIDReadPhoneKey, Key: key}
	}
	pk := *in.PhoneKey
	if !pk.Resolved() || pk.ContactID != in.ContactID {
		// The message went elsewhere than the key (an operator's link, a claim lost):
		// the key's contact is not known to be this BSUID's person.
		return BSUIDDecision{Step: BSUIDNothing, Key: key, Reason: "the phone key does not resolve to the message's contact"}
	}
	if pk.BSUID == key.Identifier {
		return BSUIDDecision{Step: BSUIDNothing, Key: key, Reason: "already recorded"}
	}
	if in.BSUIDKey == nil {
		return BSUIDDecision{Step: BSUIDReadKey, Key: key}
	}
	if in.Contact == nil {
		return BSUIDDecision{Step: BSUIDReadContact, Key: key}
	}
	d := BSUIDDecision{Step: BSUIDRecord, Key: key, Property: ch.BSUIDProperty, Value: bsuid}
	held := strings.TrimSpace(in.Contact.Properties[ch.BSUIDProperty])
	d.Write = held == ""
	rec := &MatchKeyBSUIDRecorded{MatchKey: id.Key, ContactID: in.ContactID, BSUID: bsuid, BSUIDKey: key,
		Property: ch.BSUIDProperty, Written: d.Write, KeptOther: held != "" && held != bsuid}
	bk := *in.BSUIDKey
	switch {
	case !bk.Resolved() && bk.ClaimLive(in.Now):
		// A BSUID-only message of this person is being resolved right now: binding
		// under it would race its creation. Write the property (its search may still
		// find it) and leave the record for the next message, which tries again.
		d.Reason = "the BSUID key is claimed by another attempt; bind it on a later message"
		return d
	case !bk.Resolved(), bk.ContactID == in.ContactID && bk.How == "matched" && bk.ThreadRef == "":
		// Unbound, or bound by a search on the property without the phone's thread.
		d.Bind = &MatchKeyResolved{MatchKey: key, ContactID: in.ContactID, How: HowBSUIDWithPhone,
			MatchedProperties: pk.MatchedProperties, ThreadRef: id.Identifier}
		rec.Bound = true
	case bk.ContactID != in.ContactID:
		// The BSUID's key resolves to another contact: it stands until HubSpot says
		// otherwise (rule 7); the record says so, for the audit.
		rec.BSUIDKeyContactID = bk.ContactID
		d.Reason = "the BSUID key resolves to another contact"
	}
	d.Record = rec
	return d
}
