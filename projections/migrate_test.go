package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	_ "github.com/mattn/go-sqlite3"

	"switchboard/eventstore/follow"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// TestDatabaseFromBeforeMigrationsUpgrades builds a file the way switchboard did before
// every table had versioned migrations — the event log's first migration, the read side
// executed from schema.sql, reactor_checkpoints created by the follower — and opens it
// with today's code: the checkpoints move into the one checkpoints table, the read
// side's rows stay, and opening again changes nothing.
func TestDatabaseFromBeforeMigrationsUpgrades(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	oldDB(t, path)

	want := map[string]int64{"resolver": 7, "publisher": 5, "projection:contact_keys": 7, "projection:audit": 6}
	for round := 1; round <= 2; round++ {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", round, err)
		}
		runner, err := projections.NewRunner(st, st, nil)
		if err != nil {
			t.Fatalf("runner %d: %v", round, err)
		}
		cps, err := follow.NewSQLCheckpoints(st.DB())
		if err != nil {
			t.Fatal(err)
		}
		got, err := cps.All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("open %d: checkpoints %v, want %v", round, got, want)
		}
		if pos := runner.Positions(); pos["contact_keys"] != 7 || pos["audit"] != 6 || pos["unlinked"] != 0 {
			t.Errorf("open %d: projection positions %v, want contact_keys 7, audit 6, the rest 0", round, pos)
		}
		var contact string
		if err := st.DB().QueryRow(`SELECT contact_id FROM contact_keys WHERE match_key = 'k'`).Scan(&contact); err != nil || contact != "c1" {
			t.Errorf("open %d: contact_keys row = %q, %v; want c1 kept", round, contact, err)
		}
		if tables := tableNames(t, st.DB()); strings.Contains(tables, "reactor_checkpoints") || strings.Contains(tables, "projection_checkpoints") {
			t.Errorf("open %d: old checkpoint tables remain: %s", round, tables)
		}
		if got := migrations(t, st.DB()); got != "checkpoints:1 checkpoints:2 events:1 projections:1 projections:2 projections:3 projections:4 projections:5 projections:6 projections:7 projections:8" {
			t.Errorf("open %d: schema_migrations %q, want each set once at each of its versions", round, got)
		}
		st.Close()
	}
}

// TestEveryTableComesFromMigrations: a new file gets every table from the versioned
// migrations, each recorded once, and no table besides them.
func TestEveryTableComesFromMigrations(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "new.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 {
		if _, err := projections.NewRunner(st, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := "ambiguous_resolutions audit_entries audit_events audit_links audit_messages audit_sender_keys checkpoints contact_keys corrections dead_letters events nodes partition_leases rebuild_deferred_indexes schema_migrations unlinked_conversations"
	if got := tableNames(t, st.DB()); got != want {
		t.Errorf("tables %q, want %q", got, want)
	}
	if got := migrations(t, st.DB()); got != "checkpoints:1 checkpoints:2 events:1 projections:1 projections:2 projections:3 projections:4 projections:5 projections:6 projections:7 projections:8" {
		t.Errorf("schema_migrations %q", got)
	}
}

func oldDB(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events, err := os.ReadFile("../eventstore/sqlite/migrations/0001_events.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.ApplyMigrations(db, sqlite.EventsMigrationSet, fstest.MapFS{"0001_events.sql": {Data: events}}); err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("testdata/schema_before_migrations.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{string(schema),
		`CREATE TABLE IF NOT EXISTS reactor_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL)`,
		`INSERT INTO reactor_checkpoints VALUES ('resolver', 7), ('publisher', 5)`,
		`INSERT INTO projection_checkpoints VALUES ('contact_keys', 7), ('audit', 6)`,
		`INSERT INTO contact_keys VALUES ('k', 'ws', 'phone', '+14155552671', 'c1', 'matched', '2026-01-01T00:00:00Z', 3)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func tableNames(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func migrations(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT set_name, version FROM schema_migrations ORDER BY set_name, version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var set string
		var v int
		if err := rows.Scan(&set, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", set, v))
	}
	return strings.Join(out, " ")
}

// TestAuditEntriesFromBeforeAuditEventsUpgrade: a read side at migration 5 kept each
// event's payload in every timeline row. Opened with today's code, each event is stored
// once, a message is on its timelines by one link each, every timeline reads as it did,
// and a sender's timeline still goes with its subject's erasure.
func TestAuditEntriesFromBeforeAuditEventsUpgrade(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before := fstest.MapFS{}
	for _, name := range []string{"0001_read_side.sql", "0002_corrections.sql", "0003_audit_sender_keys.sql",
		"0004_erasure_subjects.sql", "0005_audit_messages_contact.sql"} {
		data, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: data}
	}
	if err := sqlite.ApplyMigrations(st.DB(), projections.MigrationSet, before); err != nil {
		t.Fatal(err)
	}
	// Two events of one message, each under the message, the sender and the contact.
	for _, row := range []struct {
		subject, key, keySubject string
		position                 int64
		typ, data                string
	}{
		{"message", "sms/SM1", "s1", 1, "MessageReceived", `{"text":"hello"}`},
		{"sender", "sms/+14155552671", "s1", 1, "MessageReceived", `{"text":"hello"}`},
		{"contact", "acme/c1", "", 1, "MessageReceived", `{"text":"hello"}`},
		{"message", "sms/SM1", "s1", 2, "ContactMatched", `{"contact_id":"c1"}`},
		{"sender", "sms/+14155552671", "s1", 2, "ContactMatched", `{"contact_id":"c1"}`},
		{"contact", "acme/c1", "", 2, "ContactMatched", `{"contact_id":"c1"}`},
		// A key event the message caused, naming another contact as well.
		{"message", "sms/SM1", "s1", 3, "MatchKeyResolved", `{"contact_id":"c2"}`},
		{"sender", "sms/+14155552671", "s1", 3, "MatchKeyResolved", `{"contact_id":"c2"}`},
		{"contact", "acme/c1", "", 3, "MatchKeyResolved", `{"contact_id":"c2"}`},
		{"contact", "acme/c2", "", 3, "MatchKeyResolved", `{"contact_id":"c2"}`},
	} {
		if _, err := st.DB().Exec(`INSERT INTO audit_entries (subject, subject_key, position, stream_id, version, type, occurred_at,
				correlation_id, data, subject_id, stored_stream, key_subject)
			VALUES (?, ?, ?, 'message:sms:SM1', ?, ?, '2026-01-01T00:00:00Z', 'corr1', ?, 's1', 'message:9f', ?)`,
			row.subject, row.key, row.position, row.position, row.typ, row.data, row.keySubject); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := projections.NewRunner(st, st, nil); err != nil {
		t.Fatal(err)
	}
	reader := projections.NewReader(st.DB())
	message := `1 message:sms:SM1 1 MessageReceived 2026-01-01T00:00:00Z corr1 {"text":"hello"}
2 message:sms:SM1 2 ContactMatched 2026-01-01T00:00:00Z corr1 {"contact_id":"c1"}
3 message:sms:SM1 3 MatchKeyResolved 2026-01-01T00:00:00Z corr1 {"contact_id":"c2"}
`
	for _, subject := range []struct{ subject, key, want string }{{"message", "sms/SM1", message}, {"sender", "sms/+14155552671", message},
		{"contact", "acme/c1", message},
		{"contact", "acme/c2", "3 message:sms:SM1 3 MatchKeyResolved 2026-01-01T00:00:00Z corr1 {\"contact_id\":\"c2\"}\n"}} {
		got, err := reader.Timeline(ctx, subject.subject, subject.key)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range got {
			lines = append(lines, fmt.Sprintln(e.Position, e.Stream, e.Version, e.Type, e.OccurredAt, e.CorrelationID, string(e.Data)))
		}
		if s := strings.Join(lines, ""); s != subject.want {
			t.Errorf("%s %s timeline after the upgrade:\n got %s\nwant %s", subject.subject, subject.key, s, subject.want)
		}
	}
	var events int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil || events != 3 {
		t.Errorf("audit_events holds %d rows (%v), want each of the 3 events once", events, err)
	}
	// The message's three timelines hold it by link; only the other contact's entry is
	// left.
	var links, entries int
	if err := st.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM audit_links), (SELECT COUNT(*) FROM audit_entries)`).Scan(&links, &entries); err != nil ||
		links != 3 || entries != 1 {
		t.Errorf("after the upgrade: %d links and %d entries (%v), want 3 and 1", links, entries, err)
	}
	for table, index := range map[string]string{"audit_entries": "audit_entries_key_subject", "audit_links": "audit_links_key_subject"} {
		var plan string
		rows, err := st.DB().Query(`EXPLAIN QUERY PLAN DELETE FROM ` + table + ` WHERE subject = 'sender' AND key_subject = 's1'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail
		}
		rows.Close()
		if !strings.Contains(plan, index) {
			t.Errorf("an erasure's delete of sender timelines from %s plans %q, want the partial index %s", table, plan, index)
		}
	}
}
