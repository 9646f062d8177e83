package natsbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"switchboard/adapters/natsbus"
)

// testURL is the NATS server the suite runs against (.ci/run exports it when NATS is
// up); without it the suite is skipped, saying so.
func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("SWITCHBOARD_TEST_NATS")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS is not set: the NATS bus suite needs a server with JetStream (e.g. nats://127.0.0.1:4222)")
	}
	return url
}

// uniqueStream names a stream for one test and deletes it when the test ends.
func uniqueStream(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "sbtest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(name)
		}
	})
	return name
}

func open(t *testing.T, url, stream string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.Open(url, stream, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Every node hears every notification, whichever node published it: no queue group
// splits them.
func TestEveryNodeHearsEveryNotification(t *testing.T) {
	url := testURL(t)
	stream := uniqueStream(t, url)
	a, b := open(t, url, stream), open(t, url, stream)
	if err := a.Ping(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	subs := map[string]<-chan *message.Message{}
	for name, bus := range map[string]*natsbus.Bus{"a": a, "b": b} {
		msgs, err := bus.Subscribe(ctx, bus.Topic())
		if err != nil {
			t.Fatal(err)
		}
		subs[name] = msgs
	}
	if err := a.Publish(a.Topic(), message.NewMessage(watermill.NewUUID(), []byte("42"))); err != nil {
		t.Fatal(err)
	}
	for name, msgs := range subs {
		select {
		case m := <-msgs:
			m.Ack()
			if string(m.Payload) != "42" {
				t.Errorf("node %s heard %q, want 42", name, m.Payload)
			}
		case <-ctx.Done():
			t.Fatalf("node %s heard nothing", name)
		}
	}
}

// Two installations with different stream names on one server do not hear each other.
func TestStreamsKeepInstallationsApart(t *testing.T) {
	url := testURL(t)
	mine, theirs := open(t, url, uniqueStream(t, url)), open(t, url, uniqueStream(t, url))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := mine.Subscribe(ctx, mine.Topic())
	if err != nil {
		t.Fatal(err)
	}
	if err := theirs.Publish(theirs.Topic(), message.NewMessage(watermill.NewUUID(), []byte("1"))); err != nil {
		t.Fatal(err)
	}
	if err := mine.Publish(mine.Topic(), message.NewMessage(watermill.NewUUID(), []byte("2"))); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		m.Ack()
		if string(m.Payload) != "2" {
			t.Fatalf("heard %q from another installation", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("heard nothing")
	}
}

func TestOpenRefusesAnEmptyStreamName(t *testing.T) {
	if _, err := natsbus.Open("nats://127.0.0.1:1", "", nil); err == nil {
		t.Fatal("Open with no stream name succeeded")
	}
}
