package domain

import (
	"fmt"
	"time"
)

// MessageState is a message stream folded: what happened to one inbound message so far.
type MessageState struct {
	Version       int64
	CorrelationID string
	Received      MessageReceived
	// ReceivedAt is when the log recorded the MessageReceived: where a message's wait
	// for its publication starts.
	ReceivedAt time.Time
	Identified *SenderIdentified
	// Outcome is the type of the resolution event (ContactMatched, ContactCreated,
	// ConversationUnlinked), "" while unresolved.
	Outcome   string
	ContactID string
	Matched   []string
	// ThreadRef is ContactMatched.ThreadRef: who the sender is in the thread id.
	ThreadRef string
	Published *MessagePublished
	// DeadLetter is the last failure for good that no retry has answered yet.
	DeadLetter *DeadLettered
	// RetryStage is the stage an operator asked to run again, "" when none.
	RetryStage string
	// ContactMissing is HubSpot's refusal of the publication for a missing contact,
	// until the contact reactor revokes the resolution (or dead-letters it).
	ContactMissing *PublicationContactMissing
	// Revoked are the contacts whose resolution of this message was revoked since the
	// last operator's retry (MaxResolutionRevocations).
	Revoked []string
	// Cancelled: the sender was erased while the message waited; it is never resolved
	// or published.
	Cancelled *PublicationCancelled
}

// FoldMessage folds a message stream.
func FoldMessage(events []RecordedEvent) (MessageState, error) {
	var s MessageState
	if len(events) == 0 {
		return s, fmt.Errorf("fold message: empty stream")
	}
	for _, e := range events {
		s.Version = e.Version
		switch e.Type {
		case EventMessageReceived:
			s.CorrelationID, s.ReceivedAt = e.CorrelationID, e.RecordedAt
			if err := Decode(e, &s.Received); err != nil {
				return s, err
			}
		case EventSenderIdentified:
			var p SenderIdentified
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Identified = &p
		case EventContactMatched:
			var p ContactMatched
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Outcome, s.ContactID, s.Matched, s.ThreadRef = e.Type, p.ContactID, p.MatchedProperties, p.ThreadRef
			s.DeadLetter, s.RetryStage = nil, ""
		case EventContactCreated:
			var p ContactCreated
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Outcome, s.ContactID, s.Matched, s.ThreadRef = e.Type, p.ContactID, p.MatchedProperties, ""
			s.DeadLetter, s.RetryStage = nil, ""
		case EventConversationUnlinked:
			s.Outcome, s.ContactID, s.Matched, s.ThreadRef = e.Type, "", nil, ""
			s.DeadLetter, s.RetryStage = nil, ""
		case EventMessagePublished:
			var p MessagePublished
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Published = &p
			s.DeadLetter, s.RetryStage = nil, ""
		case EventDeadLettered:
			var p DeadLettered
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.DeadLetter, s.RetryStage, s.ContactMissing = &p, "", nil
		case EventRetryRequested:
			var p RetryRequested
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.DeadLetter, s.RetryStage = nil, p.Stage
			s.ContactMissing, s.Revoked = nil, nil
		case EventPublicationContactMissing:
			var p PublicationContactMissing
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.ContactMissing = &p
		case EventPublicationCancelled:
			var p PublicationCancelled
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Cancelled = &p
		case EventResolutionRevoked:
			var p ResolutionRevoked
			if err := Decode(e, &p); err != nil {
				return s, err
			}
			s.Outcome, s.ContactID, s.Matched = "", "", nil
			s.ContactMissing, s.DeadLetter, s.RetryStage = nil, nil, ""
			s.Revoked = append(s.Revoked, p.ContactID)
		}
	}
	return s, nil
}

// NeedsResolution reports whether the resolver has work on this message.
func (s MessageState) NeedsResolution() bool {
	return s.Outcome == "" && s.DeadLetter == nil && s.Cancelled == nil && !s.Erased()
}

// NeedsPublication reports whether the publisher has work on this message.
func (s MessageState) NeedsPublication() bool {
	return s.Outcome != "" && s.Published == nil && s.DeadLetter == nil && s.ContactMissing == nil && s.Cancelled == nil && !s.Erased()
}
