// Package notify tells the log's followers that new events were appended, through a
// watermill pub/sub (the in-process Go channel by default, a broker across nodes). A
// notification carries no event: followers read the log itself from their checkpoint,
// so a lost or duplicated notification costs at most one poll interval.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"switchboard/domain"
)

// Topic is where append notifications go on the in-process bus; a broker shared by
// installations names its own (natsbus.Bus.Topic).
const Topic = "switchboard.events.appended"

// Store publishes a notification after every append that stored new events.
type Store struct {
	domain.EventStore
	pub   message.Publisher
	topic string
	log   *slog.Logger
}

// NewStore wraps inner, notifying on topic; logger may be nil.
func NewStore(inner domain.EventStore, pub message.Publisher, topic string, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{EventStore: inner, pub: pub, topic: topic, log: logger}
}

// Append appends and then notifies. A failed notification is only logged: the events
// are durable and followers poll.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedVersion, events ...domain.EventData) (domain.AppendResult, error) {
	res, err := s.EventStore.Append(ctx, stream, expected, events...)
	if err != nil || res.AlreadyStored {
		return res, err
	}
	msg := message.NewMessage(watermill.NewUUID(), []byte(strconv.FormatInt(res.LastPosition, 10)))
	if perr := s.pub.Publish(s.topic, msg); perr != nil {
		// Not the stream: its name may carry a sender's identifier.
		s.log.Warn("append notification not sent; followers will poll", "position", res.LastPosition, "error", perr)
	}
	return res, nil
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
