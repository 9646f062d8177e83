// Package rebuildbench is what the rebuild's measurements share (`make bench`'s rebuild
// row in cmd/bench, BenchmarkRebuild in cmd/switchboard): a log of realistic traffic
// written through the sealing log as serve writes it, and the raw scan of the events
// table a rebuild is measured against.
package rebuildbench

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
)

// Channels are the channels the traffic arrives on, as the configuration has them.
type Channels interface {
	Channel(id string) (domain.ChannelSettings, bool)
}

// Traffic describes the log Fill writes.
type Traffic struct {
	// Events is how many events to write at least (the last message completes).
	Events int
	// Channels are the ids of the phone channels messages arrive on, in turn.
	Channels []string
	// Workspace is the channels' workspace.
	Workspace string
	// Senders is the pool of people writing; each one's first message creates their
	// contact, every later one is a known sender's (sticky match key, no HubSpot call).
	Senders int
	// Writers is how many messages are appended at once (the store group-commits them).
	Writers int
}

// Fill appends messages as serve's handlers record them: a known sender's message is
// MessageReceived, SenderIdentified, ContactMatched (via the match key) and
// MessagePublished; a sender's first message claims the key, creates the contact and
// resolves the key on the key's stream (6 events in all). Payloads are the real types,
// sealed by store when it is the sealing log. It returns how many events it wrote.
func Fill(ctx context.Context, store domain.EventStore, channels Channels, t Traffic) (int64, error) {
	if t.Senders <= 0 || t.Writers <= 0 || len(t.Channels) == 0 {
		return 0, fmt.Errorf("fill the log: want senders, writers and channels, got %+v", t)
	}
	settings := make([]domain.ChannelSettings, len(t.Channels))
	for i, id := range t.Channels {
		ch, ok := channels.Channel(id)
		if !ok {
			return 0, fmt.Errorf("fill the log: no channel %q in the configuration", id)
		}
		settings[i] = ch
	}
	var (
		written atomic.Int64
		next    atomic.Int64
		// created marks the senders whose first message was taken: it creates their
		// contact, every later one finds it.
		created = make([]sync.Once, t.Senders)
	)
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	run := func(writers int, until func(i int64) bool) error {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
		)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := next.Add(1) - 1
					if !until(i) {
						return
					}
					n, err := writeMessage(ctx, store, settings[i%int64(len(settings))], t.Workspace, int(i%int64(t.Senders)), i, base, created)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
					written.Add(int64(n))
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		return ctx.Err()
	}
	// The senders' first messages go a few at a time: each creates the sender's data
	// key in a transaction of its own, and many at once starve on SQLite's busy handler
	// beside the appends' group commits.
	if err := run(min(t.Writers, 4), func(i int64) bool { return i < int64(t.Senders) && written.Load() < int64(t.Events) }); err != nil {
		return written.Load(), err
	}
	next.Store(int64(t.Senders))
	err := run(t.Writers, func(int64) bool { return written.Load() < int64(t.Events) })
	return written.Load(), err
}

func writeMessage(ctx context.Context, store domain.EventStore, ch domain.ChannelSettings, workspace string, sender int, i int64,
	base time.Time, created []sync.Once) (int, error) {
	at := base.Add(time.Duration(i) * 50 * time.Millisecond)
	corr := uuid.NewString()
	phone := fmt.Sprintf("+1415%07d", 5550000+sender)
	msgID := fmt.Sprintf("SM%032x", i)
	contact := fmt.Sprint(700000 + sender)
	ev := func(typ string, payload any, at time.Time) (domain.EventData, error) {
		return domain.NewEvent(uuid.NewString(), typ, payload, at, corr)
	}
	id, unlinked := domain.Identify(ch, domain.BlockList{}, domain.Sender{Phone: phone})
	if unlinked != nil {
		return 0, fmt.Errorf("fill the log: sender %d on %s is unlinked: %s", sender, ch.ID, unlinked.Reason)
	}
	received, err := ev(domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: workspace, ChannelID: ch.ID, ChannelKind: ch.Kind,
		MessageID: msgID, SentAt: at.Add(-300 * time.Millisecond), Sender: domain.Sender{Phone: phone, DisplayName: fmt.Sprintf("Customer %d", sender)},
		Text: fmt.Sprintf("Hello, this is message %d: could you tell me where my order is?", i), Source: "webhook",
		PlatformEventID: fmt.Sprintf("evt-%d", i)}, at)
	if err != nil {
		return 0, err
	}
	stream := domain.MessageStream(ch.ID, msgID)
	if _, err := store.Append(ctx, stream, domain.NoStream, received); err != nil {
		return 0, fmt.Errorf("fill the log: record message %d: %w", i, err)
	}
	n := 1
	identified, err := ev(domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: ch.ID, Settings: ch, Source: id.Source, Raw: id.Raw,
		Identifier: id.Identifier, Steps: id.Steps, MatchKey: id.Key, Searched: id.Searched(), ValidNumber: id.ValidNumber()}, at.Add(2*time.Millisecond))
	if err != nil {
		return 0, err
	}
	var outcome domain.EventData
	first := false
	created[sender].Do(func() { first = true })
	if first {
		claimed, err := ev(domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{MatchKey: id.Key, Holder: corr}, at.Add(3*time.Millisecond))
		if err != nil {
			return 0, err
		}
		if _, err := store.Append(ctx, id.Key.Stream(), domain.AnyVersion, claimed); err != nil {
			return 0, fmt.Errorf("fill the log: claim the key of sender %d: %w", sender, err)
		}
		props := map[string]string{"phone": id.Identifier}
		outcome, err = ev(domain.EventContactCreated, domain.ContactCreated{MatchKey: id.Key, ContactID: contact, Properties: props,
			Lookups: []domain.Lookup{{Kind: "search", Query: "phone = " + id.Identifier, Found: 0}}}, at.Add(40*time.Millisecond))
		if err != nil {
			return 0, err
		}
		resolved, err := ev(domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: id.Key, ContactID: contact, How: "created",
			Properties: props}, at.Add(40*time.Millisecond))
		if err != nil {
			return 0, err
		}
		if _, err := store.Append(ctx, id.Key.Stream(), domain.AnyVersion, resolved); err != nil {
			return 0, fmt.Errorf("fill the log: resolve the key of sender %d: %w", sender, err)
		}
		n += 2
	} else {
		outcome, err = ev(domain.EventContactMatched, domain.ContactMatched{MatchKey: id.Key, ContactID: contact, Via: "match_key"}, at.Add(3*time.Millisecond))
		if err != nil {
			return 0, err
		}
	}
	if _, err := store.Append(ctx, stream, 1, identified, outcome); err != nil {
		return 0, fmt.Errorf("fill the log: resolve message %d: %w", i, err)
	}
	n += 2
	published, err := ev(domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: fmt.Sprintf("hs-%d", i),
		ConversationID: fmt.Sprintf("th-%d", sender), IdempotencyID: corr, ThreadID: ch.ID + ":" + id.Identifier, ContactID: contact, Attempts: 1},
		at.Add(120*time.Millisecond))
	if err != nil {
		return 0, err
	}
	if _, err := store.Append(ctx, stream, 3, published); err != nil {
		return 0, fmt.Errorf("fill the log: publish message %d: %w", i, err)
	}
	return n + 1, nil
}

// ScanColumns are the events table's columns as the store's ReadAll selects them.
const scanColumns = `SELECT position, event_id, stream_id, version, type, schema_version,
	occurred_at, recorded_at, COALESCE(correlation_id, ''), COALESCE(causation_id, ''), payload
	FROM events WHERE position > $1 ORDER BY position LIMIT $2`

// RawScan reads every row of the events table in pages of page rows, as ReadAll pages
// it, scanning each column and decoding nothing: the ceiling a rebuild's reading is
// measured against. It returns the rows read.
func RawScan(ctx context.Context, db *sql.DB, page int) (int64, error) {
	var (
		read, after                                      int64
		position, version, schema                        int64
		id, stream, typ, occurred, recorded, corr, cause string
		payload                                          []byte
	)
	for {
		rows, err := db.QueryContext(ctx, scanColumns, after, page)
		if err != nil {
			return read, fmt.Errorf("raw scan after %d: %w", after, err)
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(&position, &id, &stream, &version, &typ, &schema, &occurred, &recorded, &corr, &cause, &payload); err != nil {
				rows.Close()
				return read, fmt.Errorf("raw scan after %d: %w", after, err)
			}
			after = position
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return read, fmt.Errorf("raw scan after %d: %w", after, err)
		}
		read += int64(n)
		if n < page {
			return read, nil
		}
	}
}
