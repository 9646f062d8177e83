package domain

import (
	"sort"
	"strings"
)

// ConfirmCandidates applies rules 2 and 3 to what a lookup returned: HubSpot's search
// is loose (national digits only, case-insensitive), so each candidate is checked
// client-side and kept only when it really holds the identifier. region reads phone
// numbers typed without a country code. Every candidate gets a verdict for the audit.
func ConfirmCandidates(id Identification, region string, candidates []Contact) (kept []Contact, verdicts []CandidateVerdict) {
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		v := CandidateVerdict{ContactID: c.ID, CreatedAt: c.CreatedAt, Values: map[string]string{}}
		if c.Archived {
			v.Reason = "archived"
			verdicts = append(verdicts, v)
			continue
		}
		var reasons []string
		for _, prop := range id.Searched() {
			stored := c.Properties[prop]
			if stored == "" {
				continue
			}
			v.Values[prop] = stored
			same, why := confirmValue(id, prop, stored, region)
			if same {
				v.Matched = append(v.Matched, prop)
			} else {
				reasons = append(reasons, prop+": "+why)
			}
		}
		if len(v.Matched) > 0 {
			v.Kept = true
			v.Reason = "same identifier in " + strings.Join(v.Matched, " and ")
			kept = append(kept, c)
		} else if len(reasons) == 0 {
			v.Reason = "no value in " + strings.Join(id.Searched(), " or ")
		} else {
			v.Reason = strings.Join(reasons, "; ")
		}
		verdicts = append(verdicts, v)
	}
	sort.SliceStable(verdicts, func(i, j int) bool { return lessNumericID(verdicts[i].ContactID, verdicts[j].ContactID) })
	return kept, verdicts
}

func confirmValue(id Identification, prop, stored, region string) (bool, string) {
	if id.Phone != nil {
		return SamePhone(stored, region, id.Identifier)
	}
	switch id.Source {
	case "username":
		if NormalizeUsername(stored) == id.Identifier {
			return true, "same username"
		}
		return false, "different username"
	default:
		if NormalizeUserID(stored) == id.Identifier {
			return true, "same id"
		}
		return false, "different id"
	}
}

// MatchedPropertiesOf returns the properties that led to the match of contactID.
func MatchedPropertiesOf(verdicts []CandidateVerdict, contactID string) []string {
	for _, v := range verdicts {
		if v.ContactID == contactID {
			return v.Matched
		}
	}
	return nil
}

// NewContactProperties are the properties of a contact created for a sender (rule 4):
// the identifier on its property and the names the channel gives; never anything else
// (rule 5).
func NewContactProperties(ch ChannelSettings, id Identification, s Sender) map[string]string {
	props := map[string]string{}
	if id.Phone != nil {
		props["phone"] = id.Identifier
		if ch.BSUIDProperty != "" && s.BSUID != "" {
			props[ch.BSUIDProperty] = s.BSUID
		}
	} else {
		// The normalized form, so a read by unique property finds it exactly.
		props[id.Property] = id.Identifier
	}
	// CleanName again: names a profile API filled in after the message was recorded
	// (Slack, Instagram, Messenger) never went through InboundMessage.CheckFields.
	first, last := s.Names()
	first, last = CleanName(first), CleanName(last)
	if first != "" {
		props["firstname"] = first
	}
	if last != "" {
		props["lastname"] = last
	}
	if e := strings.TrimSpace(s.Email); e != "" {
		props["email"] = e
	}
	return props
}
