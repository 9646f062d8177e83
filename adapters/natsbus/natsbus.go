// Package natsbus carries the event log's append notifications between switchboard nodes
// on NATS JetStream, through watermill (github.com/ThreeDotsLabs/watermill-nats/v2).
//
// A notification is a hint: it carries a position, never an event, and a follower that
// misses one reads the log at its next poll. So the stream is small and forgetful — in
// memory, one minute of notifications — and every node reads it with a consumer of its
// own that starts at new messages: each node learns of every append at once, whichever
// node made it. Sharing the work itself stays with the log (the key claims and the
// idempotent publications that make any node's handling safe).
package natsbus

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Bus is a watermill publisher and subscriber on one NATS connection.
type Bus struct {
	*wmnats.Publisher
	*wmnats.Subscriber
	conn   *nats.Conn
	stream string
}

var (
	_ message.Publisher  = (*Bus)(nil)
	_ message.Subscriber = (*Bus)(nil)
)

// notificationAge is how long the stream keeps a notification: past it nobody needs it.
const notificationAge = time.Minute

// Open connects to url and makes sure the JetStream stream named stream exists (its
// subjects are stream.>, so installations with different stream names share a server).
func Open(url, stream string, logger watermill.LoggerAdapter) (*Bus, error) {
	if stream == "" {
		return nil, errors.New("nats bus: stream name is empty; want bus.stream, e.g. switchboard")
	}
	conn, err := nats.Connect(url, nats.Name("switchboard"), nats.Timeout(5*time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("nats bus: connect to %s: %w", url, err)
	}
	b, err := open(conn, stream, logger)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

func open(conn *nats.Conn, stream string, logger watermill.LoggerAdapter) (*Bus, error) {
	js, err := conn.JetStream()
	if err != nil {
		return nil, fmt.Errorf("nats bus: JetStream: %w", err)
	}
	if _, err := js.StreamInfo(stream); errors.Is(err, nats.ErrStreamNotFound) {
		_, err = js.AddStream(&nats.StreamConfig{Name: stream, Subjects: []string{stream + ".>"},
			Storage: nats.MemoryStorage, MaxAge: notificationAge, Discard: nats.DiscardOld})
		if err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("nats bus: create stream %s: %w", stream, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("nats bus: stream %s: %w", stream, err)
	}
	subjects := func(_, topic string) *wmnats.SubjectDetail { return &wmnats.SubjectDetail{Primary: topic} }
	marshaler := &wmnats.NATSMarshaler{}
	pub, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler: marshaler, SubjectCalculator: subjects,
		// A hint need not wait for the server's ack: the append it announces is durable.
		JetStream: wmnats.JetStreamConfig{AckAsync: true},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("nats bus: publisher: %w", err)
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler: marshaler, SubjectCalculator: subjects, SubscribersCount: 1,
		AckWaitTimeout: 30 * time.Second, CloseTimeout: 5 * time.Second, SubscribeTimeout: 10 * time.Second,
		// No durable name and no queue group: an ephemeral consumer per subscription, so
		// every node (and every follower in it) gets every notification from now on.
		JetStream: wmnats.JetStreamConfig{SubscribeOptions: []nats.SubOpt{nats.DeliverNew()}},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("nats bus: subscriber: %w", err)
	}
	return &Bus{Publisher: pub, Subscriber: sub, conn: conn, stream: stream}, nil
}

// Topic is the subject append notifications go to for this installation.
func (b *Bus) Topic() string { return b.stream + ".appended" }

// Ping reports whether the connection is up, for readiness checks.
func (b *Bus) Ping() error {
	if st := b.conn.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats bus: connection is %s", st)
	}
	return nil
}

// drainWait bounds how long Close waits for the connection to drain.
const drainWait = 5 * time.Second

// Close drains the connection, then closes the subscriber, the publisher and the
// connection. watermill-nats closes a subscription's output channel once it has
// unsubscribed, without waiting for a delivery still under way, whose send on that
// channel then races the close (the race detector saw it when a node stopped under
// traffic) and may panic. Draining first lets every delivery finish: no callback runs
// by the time the subscriber closes its channels.
func (b *Bus) Close() error {
	if err := b.conn.Drain(); err == nil {
		deadline := time.Now().Add(drainWait)
		for !b.conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	err := errors.Join(b.Subscriber.Close(), b.Publisher.Close())
	b.conn.Close()
	return err
}
