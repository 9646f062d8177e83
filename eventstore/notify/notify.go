// Package notify tells the log's followers that new events were appended: within one
// process through channels (Local), between nodes through a watermill pub/sub on a
// broker (Broker, Wake). A notification carries no event: followers read the log itself
// from their checkpoint, so a lost or duplicated notification costs at most one poll
// interval.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"switchboard/domain"
)

// Topic is where append notifications go when a broker carries them and the
// installation names no topic of its own (natsbus.Bus.Topic).
const Topic = "switchboard.events.appended"

// Notifier tells followers that the log reached position.
type Notifier interface {
	Notify(position int64) error
}

// Store notifies after every append that stored new events.
type Store struct {
	domain.EventStore
	n   Notifier
	log *slog.Logger
}

// NewStore wraps inner, notifying n; logger may be nil.
func NewStore(inner domain.EventStore, n Notifier, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{EventStore: inner, n: n, log: logger}
}

// Append appends and then notifies. A failed notification is only logged: the events
// are durable and followers poll.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	res, err := s.EventStore.Append(ctx, stream, expected, events...)
	if err != nil || res.AlreadyStored {
		return res, err
	}
	if nerr := s.n.Notify(res.LastPosition); nerr != nil {
		// Not the stream: its name may carry a sender's identifier.
		s.log.Warn("append notification not sent; followers will poll", "position", res.LastPosition, "error", nerr)
	}
	return res, nil
}

// Local notifies the followers of one process. Each Notify signals every channel Wake
// handed out, each holding at most one pending signal, and allocates nothing and starts
// no goroutine: watermill's in-process Go channel, which this replaces, copied a message
// and started a goroutine per follower for every append, three appends a message, and
// was 7.7 % of what `serve` allocated under the open loop (docs/performance.md, "Where
// the open loop's allocations go").
type Local struct {
	mu     sync.Mutex
	wakes  []chan struct{}
	closed bool
}

// Notify signals every follower's channel; after Close it does nothing.
func (l *Local) Notify(int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return nil
}

// Wake returns a new follower's channel: a signal waits on it after any Notify since
// the follower last took one. It is never closed (a follower ends with its context).
func (l *Local) Wake() <-chan struct{} {
	w := make(chan struct{}, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.wakes = append(l.wakes, w)
	}
	return w
}

// Close stops the notifications; followers go on polling.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed, l.wakes = true, nil
	return nil
}

// Broker notifies through a watermill publisher on a broker, which every node's Wake
// subscribes to.
type Broker struct {
	Publisher message.Publisher
	Topic     string
}

// Notify publishes position on the topic.
func (b Broker) Notify(position int64) error {
	return b.Publisher.Publish(b.Topic, message.NewMessage(watermill.NewUUID(), []byte(strconv.FormatInt(position, 10))))
}

// Wake subscribes to the notifications of topic and coalesces them into a channel that
// holds at most one pending signal: a follower woken once reads everything new anyway.
//
// The subscription lasts until the subscriber is closed, not until ctx ends: a
// subscription ended under traffic closes its channel while a delivery may still be
// sending on it (watermill-nats), and the bus's Close drains deliveries first
// (adapters/natsbus). The goroutine that reads it ends with the subscriber.
func Wake(ctx context.Context, sub message.Subscriber, topic string) (<-chan struct{}, error) {
	msgs, err := sub.Subscribe(context.WithoutCancel(ctx), topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	wake := make(chan struct{}, 1)
	go func() {
		for m := range msgs {
			m.Ack()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return wake, nil
}
