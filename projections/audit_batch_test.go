package projections_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// oneAtATime is a projection without its ApplyBatch: the runner applies it an event at a
// time, as the audit applied every event before it kept a batch's messages.
type oneAtATime struct{ projections.Projection }

// TestAuditAppliesABatchAsItAppliesEachEvent: the audit carries what a batch wrote of
// its messages to their next events instead of reading it back, and must leave exactly
// the rows it leaves applying each event on its own, however the log is cut into
// batches: messages begun in an earlier batch, adoptions of a sender and a contact,
// key events naming contacts, an erasure in the middle of a batch (which rewrites rows
// the batch already holds) and a late event of an erased message after it.
func TestAuditAppliesABatchAsItAppliesEachEvent(t *testing.T) {
	log := &fixtureLog{events: batchFixture(t)}
	opens := map[string]func(t *testing.T) projections.Database{
		"sqlite": func(t *testing.T) projections.Database {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "read.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
		"postgres": func(t *testing.T) projections.Database {
			st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var reference []projections.Projection
			for _, p := range projections.All() {
				if _, ok := p.(projections.Audit); ok {
					p = oneAtATime{p}
				}
				reference = append(reference, p)
			}
			want := rebuiltRows(t, opens[name](t), log, len(log.events), reference...)
			if !strings.Contains(strings.Join(want, "\n"), "audit_entries: subject=sender") {
				t.Fatal("the reference holds no sender timeline: the fixture adopts nothing")
			}
			for _, batch := range []int{1, 2, 3, 5, 8, 13, len(log.events)} {
				got := rebuiltRows(t, opens[name](t), log, batch)
				diffRows(t, "an event at a time", fmt.Sprintf("batches of %d", batch), want, got)
			}
			// Live processing cuts the log where the follower's reads end.
			db := opens[name](t)
			live, err := projections.NewRunner(db, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := live.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			diffRows(t, "an event at a time", "live processing", want, tableRows(t, db.DB()))
		})
	}
}

// rebuiltRows rebuilds the projections ps (all when none) over log in batches of batch
// events, and returns their tables' rows.
func rebuiltRows(t *testing.T, db projections.Database, log domain.EventStore, batch int, ps ...projections.Projection) []string {
	t.Helper()
	r, err := projections.NewRunner(db, log, nil, ps...)
	if err != nil {
		t.Fatal(err)
	}
	projections.SetRebuildBatch(r, batch)
	if err := r.Rebuild(context.Background(), nil, nil); err != nil {
		t.Fatalf("rebuild in batches of %d: %v", batch, err)
	}
	return tableRows(t, db.DB())
}

// batchFixture is the erasure fixture's two people and keyless sender as a live runner
// reads them when X is erased midway: X's and the keyless sender's events as they were
// appended, then the erasures, then a late event of one of X's messages (erased) and
// one of Y's, both on messages the audit recorded long before.
func batchFixture(t *testing.T) []domain.RecordedEvent {
	b := &logBuilder{t: t, versions: map[string]int64{}, clock: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)}
	xs, ys := scrubX.steps(b, 1), scrubY.steps(b, 2)
	for i := range xs {
		xs[i]()
		ys[i]()
		if i == 2 {
			keylessSteps(b)
		}
	}
	for _, subject := range []string{scrubX.subject, keyless.subject} {
		b.add(domain.ErasureStream(subject), domain.ErasureStream(subject), strings.Repeat("e3", 16), "corr-erase-"+subject,
			domain.EventSubjectErased, domain.SubjectErased{SubjectID: subject, Trigger: domain.ErasedByOperator,
				Reason: "GDPR request of 2026-11-30", RequestedBy: "cli"})
	}
	b.add(domain.MessageStream("sms", scrubX.messageID(0)), opaque("message", 101), scrubX.subject, "corr-x-0",
		domain.EventDeadLettered, domain.DeadLettered{Stage: domain.StagePublication, Reason: "thread gone", Attempts: 1})
	b.events[len(b.events)-1] = eraseEvent(t, b.events[len(b.events)-1])
	b.add(domain.MessageStream("sms", scrubY.messageID(1)), opaque("message", 202), scrubY.subject, "corr-y-1",
		domain.EventRetryRequested, domain.RetryRequested{Stage: domain.StagePublication, RequestedBy: "cli"})
	return b.events
}
