package domain

import "sort"

// eventPayloads registers every event type the log holds with its payload type at
// EventSchemaVersion. A new event type is added here and gets a golden file,
// domain/testdata/events/TYPE.vN.json, which TestEventGoldenFiles checks: the stored
// shape of an event is a contract with every event already in the log, and the golden
// file is how a change to it is seen in review.
var eventPayloads = map[string]func() any{
	EventMessageReceived:         func() any { return new(MessageReceived) },
	EventSenderIdentified:        func() any { return new(SenderIdentified) },
	EventContactMatched:          func() any { return new(ContactMatched) },
	EventContactCreated:          func() any { return new(ContactCreated) },
	EventConversationUnlinked:    func() any { return new(ConversationUnlinked) },
	EventMessagePublished:        func() any { return new(MessagePublished) },
	EventDeadLettered:            func() any { return new(DeadLettered) },
	EventRetryRequested:          func() any { return new(RetryRequested) },
	EventMatchKeyClaimed:         func() any { return new(MatchKeyClaimed) },
	EventMatchKeyCreateAttempted: func() any { return new(MatchKeyCreateAttempted) },
	EventMatchKeyClaimReleased:   func() any { return new(MatchKeyClaimReleased) },
	EventMatchKeyResolved:        func() any { return new(MatchKeyResolved) },
	EventMatchKeyForgotten:       func() any { return new(MatchKeyForgotten) },
	EventMatchKeyFollowed:        func() any { return new(MatchKeyFollowedMerge) },
	EventMatchKeyBSUIDRecorded:   func() any { return new(MatchKeyBSUIDRecorded) },
	EventMatchKeyLinked:          func() any { return new(MatchKeyLinked) },
	EventMatchKeyNeverLinked:     func() any { return new(MatchKeyNeverLinked) },
	EventMatchKeyUnpinned:        func() any { return new(MatchKeyUnpinned) },

	EventHubSpotChannelRegistered:       func() any { return new(HubSpotChannelRegistered) },
	EventHubSpotChannelAccountConnected: func() any { return new(HubSpotChannelAccountConnected) },
	EventHubSpotPropertyCreated:         func() any { return new(HubSpotPropertyCreated) },

	EventHubSpotContactChanged:     func() any { return new(HubSpotContactChanged) },
	EventPublicationContactMissing: func() any { return new(PublicationContactMissing) },
	EventResolutionRevoked:         func() any { return new(ResolutionRevoked) },

	EventSubjectErased:        func() any { return new(SubjectErased) },
	EventPublicationCancelled: func() any { return new(PublicationCancelled) },
}

// EventTypes lists every registered event type, sorted.
func EventTypes() []string {
	out := make([]string, 0, len(eventPayloads))
	for t := range eventPayloads {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// NewPayload returns a pointer to a zero payload of event type typ, ready for Decode;
// ok is false for a type that is not registered.
func NewPayload(typ string) (payload any, ok bool) {
	f, ok := eventPayloads[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}
