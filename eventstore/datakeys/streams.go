package datakeys

import (
	"context"

	"switchboard/domain"
)

// Streams names the streams that would otherwise hold an identifier in the clear
// (SPEC §3 rule 17: streams never carry personal data): a match key's stream is named
// by its subject's random id, a message's by a random name its sender's subject owns.
// Both are found again through the index while the subject lives, and by nothing once
// it is erased. It implements command.StreamNames.
type Streams struct{ Keys *Keeper }

// KeyStream is the stream of match key mk: "matchkey:" + its subject id. Without
// create, ok is false for a key never seen or erased.
func (s Streams) KeyStream(ctx context.Context, mk domain.MatchKey, create bool) (string, bool, error) {
	ref := domain.KeySubject(mk)
	if !create {
		id, ok, err := s.Keys.Find(ctx, ref)
		if err != nil || !ok {
			return "", false, err
		}
		return "matchkey:" + id, true, nil
	}
	id, err := s.Keys.SubjectID(ctx, ref, true)
	if err != nil {
		return "", false, err
	}
	return "matchkey:" + id, true, nil
}

// MessageStream is the stream of one inbound message: "message:" + a random name.
// With create, a message seen for the first time gets a name owned by owner (its
// sender's subject, domain.MessageSubject), so that erasing the sender takes the name
// along; a redelivery finds the same name, which keeps deduplication working.
func (s Streams) MessageStream(ctx context.Context, channelID, messageID string, owner domain.Subject, create bool) (string, bool, error) {
	ownerID := ""
	if create {
		var err error
		if ownerID, err = s.Keys.SubjectID(ctx, owner, true); err != nil {
			return "", false, err
		}
	}
	name, ok, err := s.Keys.Name(ctx, domain.MessageRef(channelID, messageID), ownerID, create)
	if err != nil || !ok {
		return "", false, err
	}
	return "message:" + name, true, nil
}
