package command

import (
	"context"

	"switchboard/domain"
)

// StreamNames gives the streams of match keys and messages names that hold no
// identifier (SPEC §3 rule 17, docs/privacy.md §4): a random id per key or message,
// found again through an index that erasure deletes. eventstore/datakeys.Streams
// implements it.
//
// Not used by the handlers yet (issue 12): domain.MatchKey.Stream and
// domain.MessageStream still name streams by the identifier. Moving each caller here is
// the next step; a lookup without create answers ok=false for a key or message never
// seen (or erased), which a reader treats as "no events".
type StreamNames interface {
	KeyStream(ctx context.Context, k domain.MatchKey, create bool) (stream string, ok bool, err error)
	MessageStream(ctx context.Context, channelID, messageID string, owner domain.Subject, create bool) (stream string, ok bool, err error)
}
