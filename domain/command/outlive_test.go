package command

import (
	"context"
	"testing"
	"time"
)

// TestOutliveEndsOnlyAGraceAfterItsParent: the context that records a publication
// lives as long as its parent however long that is (a publication waits minutes for
// HubSpot's budget under a backlog), and ends a grace after the parent ends.
func TestOutliveEndsOnlyAGraceAfterItsParent(t *testing.T) {
	const grace = 50 * time.Millisecond
	parent, stop := context.WithCancel(context.Background())
	out, cancel := outlive(parent, grace)
	defer cancel()
	time.Sleep(3 * grace)
	if out.Err() != nil {
		t.Fatalf("ended while its parent lives: %v", out.Err())
	}
	stop()
	if out.Err() != nil {
		t.Fatalf("ended with its parent, want a grace after: %v", out.Err())
	}
	select {
	case <-out.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("still alive long after its parent's end and the grace")
	}

	// Its own cancel ends it at once, parent alive or not.
	out, cancel = outlive(context.Background(), time.Hour)
	cancel()
	if out.Err() == nil {
		t.Error("alive after its cancel")
	}
}
