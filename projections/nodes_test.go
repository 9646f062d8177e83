package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/projections"
)

// Several nodes apply the log to one read side in PostgreSQL, each from where it last
// got. Their transactions must neither deadlock (a node starting up died of one in
// cmd/nodes: "catch up projections: projection audit: ... deadlock detected") nor leave
// rows other than a rebuild's. Three runners on their own connections catch up over
// and over while messages keep arriving, their events interleaved so that batches of
// different ranges touch the same rows in different orders.
func TestRunnersOfSeveralNodesShareTheReadSide(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	writer := open()
	rng := rand.New(rand.NewSource(1))
	appendSome := func(messages int) {
		var flows []*flow
		for range messages {
			id := uuid.NewString()
			f := &flow{stream: domain.MessageStream("sms", id), corr: id}
			payload, _ := json.Marshal(domain.MessageReceived{WorkspaceID: "ws", ChannelID: "sms", MessageID: id, Text: "hi"})
			mustAppend(t, writer, f, domain.EventMessageReceived, payload)
			flows = append(flows, f)
		}
		// The follow-ups of the messages, shuffled: each touches its message's rows.
		var steps []*flow
		for _, f := range flows {
			for range 4 {
				steps = append(steps, f)
			}
		}
		rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
		for _, f := range steps {
			mustAppend(t, writer, f, "ResolutionNoted", []byte(`{}`))
		}
	}
	var runners []*projections.Runner
	for range 3 {
		st := open()
		r, err := projections.NewRunner(st, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
	}
	stop := make(chan struct{})
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.CatchUp(ctx); err != nil {
					errs <- fmt.Errorf("runner %d: %w", i, err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(errs) == 0 {
		appendSome(15)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for _, r := range runners {
		if _, err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	live := dump(t, writer)
	if err := runners[0].Rebuild(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, writer); !reflect.DeepEqual(live, rebuilt) {
		for table := range rebuilt {
			if !reflect.DeepEqual(live[table], rebuilt[table]) {
				t.Errorf("%s: %d rows live, %d rebuilt", table, len(live[table]), len(rebuilt[table]))
			}
		}
	}
}

// flow is one message's stream as the test appends to it.
type flow struct {
	stream, corr string
	version      int64
}

func mustAppend(t *testing.T, s domain.EventStore, f *flow, typ string, payload []byte) {
	t.Helper()
	_, err := s.Append(context.Background(), f.stream, domain.ExpectedVersion(f.version), domain.EventData{
		ID: uuid.NewString(), Type: typ, SchemaVersion: 1, OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
		CorrelationID: f.corr, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	f.version++
}

func dump(t *testing.T, s *postgres.Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"audit_messages", "audit_events", "audit_links", "audit_entries", "audit_sender_keys", "contact_keys"} {
		rows, err := s.DB().Query(`SELECT row_to_json(x)::text FROM ` + table + ` x ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], line)
		}
		rows.Close()
	}
	return out
}
