package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// A service's SQLite log, copied into an empty PostgreSQL schema, arrives event for
// event — ids, streams, versions, types, times, payloads, in order — and the target's
// projections are rebuilt from it and answer as the source's do. A second copy into the
// now non-empty target is refused and writes nothing.
func TestCopyStoreMovesASQLiteLogToPostgres(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	s := startStack(t, stackOptions{})
	for i := range 4 {
		s.post(msg("acme-sms", fmt.Sprintf("SM-copy-%d", i), map[string]any{"phone": fmt.Sprintf("+1 415 555 03%02d", i%2)}, fmt.Sprintf("copy %d", i)), http.StatusAccepted)
	}
	// The log, not the source's HubSpot, must hold every publication before the service
	// stops: the node on the copy below has a new, empty HubSpot, and it would take a
	// publication the log lacks (HubSpot applied it, its answer not yet recorded) as
	// one to make.
	for i := range 4 {
		if st := s.waitSettled("acme-sms", fmt.Sprintf("SM-copy-%d", i)); st.Published == nil {
			t.Fatalf("message %d: %+v, want it published", i, st.DeadLetter)
		}
	}
	// The source's projections are compared with the target's below: they must have
	// applied what was published before the service stops.
	s.waitProjections()
	s.stop()
	target := migrateConfig(t, dsn)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"copy-store", "--from", s.configPath, "--to", target}, &stdout, &stderr); code != 0 {
		t.Fatalf("copy-store: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rebuilt its projections") || !strings.Contains(stderr.String(), "copied ") {
		t.Errorf("copy-store said %q on stdout and %q on stderr; want the count copied and the rebuild", stdout.String(), stderr.String())
	}

	ctx := context.Background()
	src, err := sqlite.Open(filepath.Join(filepath.Dir(s.configPath), "switchboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	want, got := readEverything(t, src), readEverything(t, dst)
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("copied %d events, the source has %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.StreamID != w.StreamID || g.Version != w.Version || g.Type != w.Type || g.SchemaVersion != w.SchemaVersion ||
			g.CorrelationID != w.CorrelationID || g.CausationID != w.CausationID ||
			!g.OccurredAt.Equal(w.OccurredAt.Truncate(time.Microsecond)) || !g.RecordedAt.Equal(w.RecordedAt.Truncate(time.Microsecond)) || !sameJSON(t, g.Payload, w.Payload) {
			t.Fatalf("event %d differs:\n source %+v\n target %+v", i, w, g)
		}
		if g.Position <= 0 || (i > 0 && g.Position <= got[i-1].Position) {
			t.Fatalf("target positions out of order at %d: %d after %d", i, g.Position, got[i-1].Position)
		}
	}

	// The rebuilt read side answers as the source's: the same contact for each key.
	if a, b := contactKeys(t, src), contactKeys(t, dst); len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Errorf("contact_keys: source %v, target %v", a, b)
	}

	// Nodes started on the copy handle the log from its beginning (copy-store carries no
	// checkpoints) and find every message already handled: nothing is published again
	// and no contact is made, though their HubSpot is a new, empty one.
	p := startStack(t, stackOptions{postgresDSN: dsn})
	last := got[len(got)-1].Position
	waitFor(t, "the reactors on the copy to reach the log's end", 20*time.Second, func() bool {
		for name, pos := range p.svc.positions() {
			if strings.HasPrefix(name, "reactor:") && pos < last {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	if n, c := len(p.emu.Published()), len(p.emu.Contacts()); n != 0 || c != 0 {
		t.Errorf("a node on the copy published %d messages and made %d contacts again, want none", n, c)
	}
	p.stop()

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"copy-store", "--from", s.configPath, "--to", target}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "already holds events") {
		t.Fatalf("a second copy into the filled target: exit %d, stderr %q; want exit 1 refusing a non-empty target", code, stderr.String())
	}
	if again := readEverything(t, dst); len(again) != len(got) {
		t.Fatalf("the refused copy changed the target: %d events, was %d", len(again), len(got))
	}
}

func readEverything(t *testing.T, s domain.EventStore) []domain.RecordedEvent {
	t.Helper()
	var out []domain.RecordedEvent
	var after int64
	for {
		evs, err := s.ReadAll(context.Background(), after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Position
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func contactKeys(t *testing.T, d projections.Database) map[string]string {
	t.Helper()
	rows, err := d.DB().Query(`SELECT match_key, contact_id FROM contact_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatal(err)
		}
		out[k] = c
	}
	return out
}
