package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// indexes are the file's indexes as their statements, by name (SQLite's own for
// primary keys have none, and are left out).
func indexes(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			t.Fatal(err)
		}
		out[name] = stmt
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func deferredIndexes(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM rebuild_deferred_indexes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameIndexes(t *testing.T, when string, want, got map[string]string) {
	t.Helper()
	for name, stmt := range want {
		if got[name] != stmt {
			t.Errorf("%s: index %s is %q, want %q", when, name, got[name], stmt)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: index %s, which the migrations do not make", when, name)
		}
	}
}

// failingLog fails its reads after the first page, as a log whose disk fails would.
type failingLog struct {
	domain.EventStore
	reads int
}

func (l *failingLog) ReadAll(ctx context.Context, after int64, limit int) ([]domain.RecordedEvent, error) {
	if l.reads++; l.reads > 1 {
		return nil, errors.New("disk I/O error")
	}
	return l.EventStore.ReadAll(ctx, after, limit)
}

// TestRebuildCreatesTheAuditsReadIndexesAtItsEnd: a rebuild drops the indexes only the
// audit's readers and erasures use while it writes (measured: a rebuild 1.4 times as
// fast without them), and leaves every index as the migrations made it: after it ends,
// after it fails, and after a process that died in one (the next runner creates them).
func TestRebuildCreatesTheAuditsReadIndexesAtItsEnd(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 60 {
		if err := appendMessage(ctx, st, i); err != nil {
			t.Fatal(err)
		}
	}
	live, err := projections.NewRunner(st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	want, wantIndexes := dumpSQLite(t, st), indexes(t, st.DB())
	for _, name := range (projections.Audit{}).ReadIndexes() {
		if wantIndexes[name] == "" {
			t.Fatalf("the audit names %s among its read indexes; the migrations make no such index", name)
		}
	}

	r, err := projections.NewRunner(st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	projections.SetRebuildBatch(r, 50)
	var during []map[string]string
	if err := r.Rebuild(ctx, nil, func(int64, int64, int64) { during = append(during, indexes(t, st.DB())) }); err != nil {
		t.Fatal(err)
	}
	if len(during) < 2 {
		t.Fatalf("the rebuild reported %d batches, want several", len(during))
	}
	for _, name := range (projections.Audit{}).ReadIndexes() {
		if stmt, ok := during[0][name]; ok {
			t.Errorf("index %s was there while the rebuild wrote: %s", name, stmt)
		}
	}
	sameIndexes(t, "after the rebuild", wantIndexes, indexes(t, st.DB()))
	if n := deferredIndexes(t, st.DB()); n != 0 {
		t.Errorf("%d indexes still listed as dropped after the rebuild", n)
	}
	got := dumpSQLite(t, st)
	for table, rows := range want {
		if strings.Join(rows, "\n") != strings.Join(got[table], "\n") {
			t.Errorf("%s: %d rows live, %d rebuilt, or they differ", table, len(rows), len(got[table]))
		}
	}

	// A rebuild that fails puts them back before it returns.
	failing, err := projections.NewRunner(st, &failingLog{EventStore: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	projections.SetRebuildBatch(failing, 50)
	if err := failing.Rebuild(ctx, nil, nil); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("a rebuild over a failing log: %v, want its read error", err)
	}
	sameIndexes(t, "after a failed rebuild", wantIndexes, indexes(t, st.DB()))

	// What a rebuild that died while it wrote leaves: an index dropped, and listed.
	name := (projections.Audit{}).ReadIndexes()[0]
	if _, err := st.DB().Exec(`INSERT INTO rebuild_deferred_indexes (name, statement) VALUES (?, ?)`, name, wantIndexes[name]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`DROP INDEX ` + name); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.NewRunner(st, st, nil); err != nil {
		t.Fatal(err)
	}
	sameIndexes(t, "after a rebuild died and a runner started", wantIndexes, indexes(t, st.DB()))
	if n := deferredIndexes(t, st.DB()); n != 0 {
		t.Errorf("%d indexes still listed as dropped once a runner started", n)
	}
}

// indexProbe notes, for each event it is applied to, whether the audit's read indexes
// exist in the transaction applying it.
type indexProbe struct {
	present map[string]bool // by event type: every such event saw them
	absent  map[string]bool
}

func (indexProbe) Name() string     { return "index_probe" }
func (indexProbe) Tables() []string { return nil }
func (p indexProbe) Apply(ctx context.Context, tx *sql.Tx, e domain.RecordedEvent) error {
	for _, name := range (projections.Audit{}).ReadIndexes() {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			p.absent[e.Type] = true
			return nil
		}
	}
	p.present[e.Type] = true
	return nil
}

// TestRebuildScrubsWithTheAuditsIndexes: an erasure's scrub finds the subject's rows
// through the indexes a rebuild drops, so the rebuild creates them before the first
// erasure it applies, and not before.
func TestRebuildScrubsWithTheAuditsIndexes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := &fixtureLog{events: batchFixture(t)}
	probe := indexProbe{present: map[string]bool{}, absent: map[string]bool{}}
	r, err := projections.NewRunner(st, log, nil, append([]projections.Projection{probe}, projections.All()...)...)
	if err != nil {
		t.Fatal(err)
	}
	projections.SetRebuildBatch(r, 4)
	if err := r.Rebuild(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !probe.absent[domain.EventMessageReceived] {
		t.Error("the first messages were applied with the read indexes in place: the rebuild did not drop them")
	}
	if probe.absent[domain.EventSubjectErased] || !probe.present[domain.EventSubjectErased] {
		t.Errorf("an erasure was applied without the read indexes (present %v, absent %v)", probe.present, probe.absent)
	}
}
