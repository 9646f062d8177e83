package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// Reads answered from the remembered tail of the log (tail.go) return what a query of
// the file returns, whoever appended: followers reading after what they last saw, at any
// page size, while this store and a second process's store on the same file append.
func TestReadsFromTheRememberedTailAreWhatTheFileHolds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	open := func() *sqlite.Store {
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	serve, other := open(), open()
	rng := rand.New(rand.NewPCG(1, 2))
	followers := make([]int64, 5) // each follower's last position seen
	appended := 0
	for step := 0; step < 3000; step++ {
		switch r := rng.IntN(10); {
		case r < 3:
			st := serve
			if r == 0 {
				st = other // another process: its appends reach serve's reads only through the file
			}
			n := 1 + rng.IntN(4)
			events := make([]domain.EventData, n)
			for i := range events {
				appended++
				events[i] = newEvent(t, "MessageReceived", fmt.Sprintf(`{"n":%d}`, appended))
			}
			if _, err := st.Append(ctx, fmt.Sprintf("s-%d", rng.IntN(50)), domain.AnyVersion, events...); err != nil {
				t.Fatal(err)
			}
		default:
			f := rng.IntN(len(followers))
			after := followers[f]
			switch rng.IntN(20) {
			case 0:
				after = int64(rng.IntN(appended + 1)) // a rebuild, or a follower far behind
			case 1, 2:
				after = int64(max(0, appended-rng.IntN(8))) // a reader ahead of every follower
			}
			limit := 1 + rng.IntN(40)
			got, err := serve.ReadAll(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := queryAll(t, serve, after, limit)
			if len(got) != len(want) {
				t.Fatalf("step %d: ReadAll(%d, %d) returned %d events, the file holds %d", step, after, limit, len(got), len(want))
			}
			for i := range got {
				if got[i].Position != want[i].Position || got[i].ID != want[i].ID || string(got[i].Payload) != string(want[i].Payload) ||
					got[i].StreamID != want[i].StreamID || got[i].Version != want[i].Version {
					t.Fatalf("step %d: ReadAll(%d, %d)[%d] = %+v, the file holds %+v", step, after, limit, i, got[i], want[i])
				}
			}
			if len(got) > 0 {
				followers[f] = got[len(got)-1].Position
			}
		}
	}
}

// queryAll reads the file itself, past any memory of the store.
func queryAll(t *testing.T, s *sqlite.Store, after int64, limit int) []domain.RecordedEvent {
	t.Helper()
	rows, err := s.DB().Query(`SELECT position, event_id, stream_id, version, payload FROM events WHERE position > ? ORDER BY position LIMIT ?`, after, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []domain.RecordedEvent
	for rows.Next() {
		var e domain.RecordedEvent
		var payload []byte
		if err := rows.Scan(&e.Position, &e.ID, &e.StreamID, &e.Version, &payload); err != nil {
			t.Fatal(err)
		}
		e.Payload = payload
		out = append(out, e)
	}
	return out
}
