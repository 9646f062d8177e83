package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/postgres/pgtest"
	"switchboard/projections"
)

// relationsHolding lists the relations (tables, indexes, TOAST) of the schema dsn's
// search_path names whose files, as the server keeps them, contain v. It reads the files
// through pg_read_binary_file, which needs a superuser (or pg_read_server_files); it
// reads each relation's first 1 GB segment, which holds the whole of a test's tables.
func relationsHolding(t *testing.T, dsn, v string) []string {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		t.Skipf("the server's files cannot be read here (CHECKPOINT refused: %v)", err)
	}
	rows, err := conn.Query(ctx, `
		SELECT c.relname, pg_read_binary_file(pg_relation_filepath(c.oid))
		FROM pg_class c
		WHERE pg_relation_filepath(c.oid) IS NOT NULL
		  AND (c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
		   OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))
		   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))))`)
	if err != nil {
		t.Skipf("the server's files cannot be read here: %v", err)
	}
	defer rows.Close()
	var in []string
	for rows.Next() {
		var name string
		var b []byte
		if err := rows.Scan(&name, &b); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(v)) {
			in = append(in, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Skipf("the server's files cannot be read here: %v", err)
	}
	return in
}

// SPEC §3 rule 17 on PostgreSQL: an erasure leaves nothing of the person in the
// server's files of the store's tables and indexes, whether serve applies it (HubSpot's
// contact.privacyDeletion) or `switchboard erase` does; the others are all there, so the
// search finds what is there. PostgreSQL keeps a deleted or overwritten row's old
// version in the file: before the tables were compacted after an erasure, every value
// searched for here was still found (postgres.Store.Compact).
//
// The server's write-ahead log is not searched: it is the server's, shared by every
// database on it, and keeps the rows' inserts until its segments are reused
// (docs/privacy.md, §4).
func TestErasureOnPostgresLeavesNothingInTheTableFiles(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	relationsHolding(t, dsn, "probe") // skips where the server's files cannot be read
	opts := withAppSecret
	opts.postgresDSN = dsn
	s := startStack(t, opts)
	w := erasurePerson{phone: "+14155550142", first: "Wilhelmina", email: "wilhelmina.r@example.com", smsID: "SMw0pg",
		texts: [3]string{"W by SMS: ticket WZ-4471"}}
	contact := map[string]string{}
	for _, p := range []erasurePerson{erasureX, erasureY, w} {
		contact[p.first] = s.emu.CreateContact(map[string]string{"phone": p.phone, "firstname": p.first, "email": p.email})
		s.post(msg("acme-sms", p.smsID, map[string]any{"phone": p.phone, "first_name": p.first, "email": p.email}, p.texts[0]), http.StatusAccepted)
	}
	for _, p := range []erasurePerson{erasureX, erasureY, w} {
		if st := s.waitSettled("acme-sms", p.smsID); st.ContactID != contact[p.first] {
			t.Fatalf("%s's message resolved to %q, want %s", p.first, st.ContactID, contact[p.first])
		}
	}
	s.waitProjections()
	values := func(p erasurePerson) []string { return []string{p.phone, p.first, p.email, p.texts[0], p.smsID} }
	for _, v := range values(erasureX) {
		if len(relationsHolding(t, dsn, v)) == 0 {
			t.Fatalf("X's %q is in no table before the erasure: the search proves nothing", v)
		}
	}

	// The rows that lead to a person's values: the data keys, and the MACs that map
	// identifiers and message ids to them. Those the erasures delete must leave the
	// files as well, or the surviving master and index keys would find them there.
	secretsBefore := privacySecrets(t, dsn)

	// X: HubSpot's privacy deletion, applied by serve.
	xID, _ := strconv.ParseInt(contact[erasureX.first], 10, 64)
	if code := s.hubspotWebhook([]map[string]any{hubspotEvent(81, "contact.privacyDeletion", xID, nil)}, time.Now(), testHubSpotAppSecret); code != http.StatusOK {
		t.Fatalf("HubSpot webhook: %d", code)
	}
	waitFor(t, "serve to leave nothing of X in the table files", 20*time.Second, func() bool {
		for _, v := range values(erasureX) {
			if len(relationsHolding(t, dsn, v)) > 0 {
				return false
			}
		}
		return true
	})

	// W: `switchboard erase`, beside serve.
	var out, errOut bytes.Buffer
	if code := run([]string{"erase", "--config", s.configPath, "acme-sms", w.phone, "--reason", "asked at the desk"}, &out, &errOut); code != 0 {
		t.Fatalf("erase: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, v := range values(w) {
		if in := relationsHolding(t, dsn, v); len(in) > 0 {
			t.Errorf("W's %q is still in %v after switchboard erase", v, in)
		}
	}
	checkCompactionShown(t, "erase", errOut.String())
	s.stop()
	out.Reset()
	errOut.Reset()
	if code := run([]string{"rebuild", "--config", s.configPath}, &out, &errOut); code != 0 {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	checkCompactionShown(t, "rebuild", errOut.String())
	for _, v := range values(erasureX) {
		if in := relationsHolding(t, dsn, v); len(in) > 0 {
			t.Errorf("X's %q is back in %v", v, in)
		}
	}
	for _, v := range values(erasureY) {
		if len(relationsHolding(t, dsn, v)) == 0 {
			t.Errorf("Y's %q is in no table: the compaction lost the living", v)
		}
	}
	after := privacySecrets(t, dsn)
	deleted := 0
	for v := range secretsBefore {
		if after[v] {
			continue
		}
		deleted++
		if in := relationsHolding(t, dsn, v); len(in) > 0 {
			t.Errorf("a deleted data key or MAC is still in %v", in)
		}
	}
	if deleted < 4 {
		t.Errorf("the erasures deleted %d key and MAC rows, want at least X's and W's key and index rows", deleted)
	}
}

// checkCompactionShown: a command that ends with the PostgreSQL rewrite shows it, a
// line per table, every table rewritten.
func checkCompactionShown(t *testing.T, command, stderr string) {
	t.Helper()
	tables := append(datakeys.Tables(), projections.Tables()...)
	if want := fmt.Sprintf("rewriting %d tables so that erased row versions leave PostgreSQL's files", len(tables)); !strings.Contains(stderr, want) {
		t.Errorf("%s's stderr lacks %q:\n%s", command, want, stderr)
	}
	for i, table := range tables {
		if want := fmt.Sprintf("%2d/%d %s rewritten in ", i+1, len(tables), table); !strings.Contains(stderr, want) {
			t.Errorf("%s's stderr lacks %q:\n%s", command, want, stderr)
		}
	}
}

// privacySecrets is the set of data keys (as stored) and MACs in the key tables.
func privacySecrets(t *testing.T, dsn string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	rows, err := conn.Query(ctx, `SELECT wrapped_key FROM privacy_keys UNION ALL SELECT ref_mac FROM privacy_index UNION ALL SELECT ref_mac FROM privacy_names`)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, v := range vs {
		out[v] = true
	}
	return out
}
