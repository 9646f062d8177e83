package notify_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"switchboard/domain"
	"switchboard/eventstore/notify"
	"switchboard/eventstore/sqlite"
)

func signalled(w <-chan struct{}) bool {
	select {
	case <-w:
		return true
	default:
		return false
	}
}

// TestLocalWakesEveryFollowerOnce: each follower's channel holds one signal however
// many appends came since it last looked, and one that looked gets the next.
func TestLocalWakesEveryFollowerOnce(t *testing.T) {
	var l notify.Local
	a, b := l.Wake(), l.Wake()
	if signalled(a) || signalled(b) {
		t.Fatal("a follower was woken before any append")
	}
	for p := int64(1); p <= 3; p++ {
		if err := l.Notify(p); err != nil {
			t.Fatal(err)
		}
	}
	for name, w := range map[string]<-chan struct{}{"a": a, "b": b} {
		if !signalled(w) {
			t.Errorf("follower %s was not woken", name)
		}
		if signalled(w) {
			t.Errorf("follower %s holds more than one signal for three appends", name)
		}
	}
	_ = l.Notify(4)
	if !signalled(a) {
		t.Error("a follower that took its signal was not woken by the next append")
	}
	if n := testing.AllocsPerRun(100, func() { _ = l.Notify(5) }); n != 0 {
		t.Errorf("Notify allocates %v times per append, want 0", n)
	}
	_ = l.Close()
	signalled(b)
	_ = l.Notify(6)
	if signalled(b) || signalled(l.Wake()) {
		t.Error("a closed Local still wakes followers")
	}
}

// TestStoreNotifiesNewEventsOnly: a follower is woken by an append that stored events,
// not by a redelivery the store already held.
func TestStoreNotifiesNewEventsOnly(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var l notify.Local
	w := l.Wake()
	s := notify.NewStore(st, &l, nil)
	ev := domain.EventData{ID: "e1", Type: "Noted", SchemaVersion: 1, OccurredAt: time.Now(), Payload: []byte(`{}`)}
	ctx := context.Background()
	if _, err := s.Append(ctx, "note:1", domain.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("an append that stored an event woke no follower")
	}
	res, err := s.Append(ctx, "note:1", domain.NoStream, ev)
	if err != nil || !res.AlreadyStored {
		t.Fatalf("the same event again: %+v, %v; want it already stored", res, err)
	}
	if signalled(w) {
		t.Error("an append that stored nothing woke a follower")
	}
}

// BenchmarkNotify is one append's notification to the seven followers serve runs
// (the projections and six reactors), each woken and taking its signal: through
// notify.Local, and through watermill's in-process Go channel, which it replaced.
func BenchmarkNotify(b *testing.B) {
	const followers = 7
	b.Run("Local", func(b *testing.B) {
		var l notify.Local
		var wakes []<-chan struct{}
		for range followers {
			wakes = append(wakes, l.Wake())
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = l.Notify(int64(i))
			for _, w := range wakes {
				<-w
			}
		}
	})
	b.Run("watermill_gochannel", func(b *testing.B) {
		ch := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64}, watermill.NopLogger{})
		defer ch.Close()
		var wakes []<-chan struct{}
		for range followers {
			w, err := notify.Wake(context.Background(), ch, notify.Topic)
			if err != nil {
				b.Fatal(err)
			}
			wakes = append(wakes, w)
		}
		n := notify.Broker{Publisher: ch, Topic: notify.Topic}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = n.Notify(int64(i))
			for _, w := range wakes {
				<-w
			}
		}
	})
}
