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
	opens := readSides()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			want := eventAtATimeRows(t, opens[name](t), log)
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

// readSides opens an empty read side on each database.
func readSides() map[string]func(t *testing.T) projections.Database {
	return map[string]func(t *testing.T) projections.Database{
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
}

// eventAtATimeRows is the reference: every projection rebuilt over log, the audit an
// event at a time.
func eventAtATimeRows(t *testing.T, db projections.Database, log domain.EventStore) []string {
	t.Helper()
	var reference []projections.Projection
	for _, p := range projections.All() {
		if _, ok := p.(projections.Audit); ok {
			p = oneAtATime{p}
		}
		reference = append(reference, p)
	}
	want := rebuiltRows(t, db, log, 1<<20, reference...)
	if !strings.Contains(strings.Join(want, "\n"), "audit_links: subject=sender") {
		t.Fatal("the reference holds no sender timeline: the fixture adopts nothing")
	}
	return want
}

// TestAuditRemembersItsMessagesAcrossLiveBatches: a live runner reads the log in small
// batches, so a message's later events (its sender identified, its contact matched)
// come in batches after the one that recorded it, and the audit takes what it knows of
// the message from its memory of the batches before. However the log is cut, the rows
// are those of applying each event on its own, and the memory holds the messages of the
// batches that committed.
func TestAuditRemembersItsMessagesAcrossLiveBatches(t *testing.T) {
	log := &fixtureLog{events: batchFixture(t)}
	opens := readSides()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			want := eventAtATimeRows(t, opens[name](t), log)
			for _, batch := range []int{1, 2, 3, 5, 8} {
				db := opens[name](t)
				audit := projections.NewAudit()
				var ps []projections.Projection
				for _, p := range projections.All() {
					if _, ok := p.(projections.Audit); ok {
						p = audit
					}
					ps = append(ps, p)
				}
				live, err := projections.NewRunner(db, log, nil, ps...)
				if err != nil {
					t.Fatal(err)
				}
				projections.SetBatch(live, batch)
				if _, err := live.CatchUp(context.Background()); err != nil {
					t.Fatal(err)
				}
				diffRows(t, "an event at a time", fmt.Sprintf("live batches of %d", batch), want, tableRows(t, db.DB()))
				last := log.events[len(log.events)-1].Position
				if through, n := projections.Remembered(audit); through != last || n == 0 {
					t.Errorf("live batches of %d: the audit remembers %d messages through %d, want some through %d (the last batch committed)", batch, n, through, last)
				}
			}
		})
	}
}

// TestAuditForgetsWhatItsBatchesDidNotLeave: the audit's memory of its messages holds only
// while the rows are what its batches left. A batch whose transaction was undone and is
// applied again, and batches another process (a node) applied in between, must not be
// taken from memory: the batch applied again would find messages recorded that their
// rows lack, and the one after the other process's would copy a timeline that lacks what
// that process put on it.
func TestAuditForgetsWhatItsBatchesDidNotLeave(t *testing.T) {
	log := &fixtureLog{events: batchFixture(t)}
	opens := readSides()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			want := eventAtATimeRows(t, opens[name](t), log)
			db := opens[name](t)
			if _, err := projections.NewRunner(db, log, nil); err != nil { // the read side's tables
				t.Fatal(err)
			}
			mine, other := projections.NewAudit(), projections.NewAudit()
			apply := func(a projections.Audit, from int64, evs []domain.RecordedEvent, commit bool) int64 {
				t.Helper()
				tx, err := db.DB().BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.ApplyBatchAfter(ctx, tx, from, evs); err != nil {
					_ = tx.Rollback()
					t.Fatal(err)
				}
				through := evs[len(evs)-1].Position
				if !commit {
					if err := tx.Rollback(); err != nil {
						t.Fatal(err)
					}
					return from
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				a.Committed(through)
				return through
			}
			evs := log.events
			var at int64
			for start := 0; start < len(evs); start += 4 {
				batch := evs[start:min(start+4, len(evs))]
				switch (start / 4) % 3 {
				case 0: // undone once, then applied again
					apply(mine, at, batch, false)
					at = apply(mine, at, batch, true)
				case 1: // applied by another process
					at = apply(other, at, batch, true)
				default:
					at = apply(mine, at, batch, true)
				}
			}
			diffRows(t, "an event at a time", "batches undone and applied elsewhere", auditRows(want), auditRows(tableRows(t, db.DB())))
		})
	}
}

// auditRows are the rows of the audit's tables among rows (tableRows).
func auditRows(rows []string) []string {
	var out []string
	for _, r := range rows {
		for _, table := range (projections.Audit{}).Tables() {
			if strings.HasPrefix(r, table+": ") {
				out = append(out, r)
			}
		}
	}
	return out
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
