package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read the shared schema

	"switchboard/adapters/hubspot/emulator"
	"switchboard/cmd/internal/harness"
	"switchboard/domain"
	"switchboard/eventstore/datakeys"
)

type checkInput struct {
	bin        string
	env        []string
	dir        string
	cfg        Config
	nodes      []*node
	emu        *emulator.Server
	hubspotURL string
	sent       []*message
	acked      map[string]bool
	refused    map[string]string
	people     []*person
}

// readLog is the types of each stream's events, in log order.
func readLog(ctx context.Context, db *sql.DB) (map[string][]string, int64, error) {
	name, err := harness.StreamNames(ctx, db, "")
	if err != nil {
		return nil, 0, fmt.Errorf("read the log: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT position, stream_id, type FROM events ORDER BY position`)
	if err != nil {
		return nil, 0, fmt.Errorf("read the log: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	var last int64
	for rows.Next() {
		var stream, typ string
		if err := rows.Scan(&last, &stream, &typ); err != nil {
			return nil, 0, err
		}
		stream = name(stream)
		out[stream] = append(out[stream], typ)
	}
	return out, last, rows.Err()
}

func count(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

func check(ctx context.Context, rep *Report, in checkInput, progress func(string, ...any)) error {
	violate := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	for key, why := range in.refused {
		violate("refused: %s answered %s (a signed, valid message must be accepted)", key, why)
	}
	for _, m := range in.sent {
		if !in.acked[m.key()] && in.refused[m.key()] == "" {
			violate("never acknowledged: %s", m.key())
		}
	}
	db, err := sql.Open("pgx", in.cfg.DSN)
	if err != nil {
		return err
	}
	defer db.Close()

	// Settle: every acknowledged message published or dead-lettered. A killed node's
	// buckets move when its leases lapse (15 s), and the emulated portal's budget (110
	// calls per 10 s, shared by the three nodes) paces the rest: the run fails when
	// nothing more lands for 45 s, not when a long traffic phase (a slow, loaded
	// machine restarts nodes slowly, and the traffic lasts as long) needs more time.
	var log map[string][]string
	var last int64
	const stall = 45 * time.Second
	deadline := time.Now().Add(stall)
	lastNote := time.Now()
	fewest := -1
	for {
		if log, last, err = readLog(ctx, db); err != nil {
			return err
		}
		pending := 0
		for k := range in.acked {
			ch, id, _ := strings.Cut(k, "/")
			evs := log[domain.MessageStream(ch, id)]
			if count(evs, domain.EventMessagePublished) == 0 && count(evs, domain.EventDeadLettered) == 0 {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if fewest < 0 || pending < fewest {
			fewest, deadline = pending, time.Now().Add(stall)
		}
		if time.Since(lastNote) > 5*time.Second {
			progress("settling: %d acknowledged messages not published yet", pending)
			lastNote = time.Now()
		}
		if time.Now().After(deadline) {
			violate("not settled: %d acknowledged messages neither published nor dead-lettered, none landing for %s", pending, stall)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	progress("settled at log position %d", last)

	// Exactly once: one MessageReceived, one MessagePublished, one inbox message.
	inbox := in.emu.Published()
	contacts := in.emu.Contacts()
	rep.Contacts, rep.InboxMessages = len(contacts), len(inbox)
	byIdem := map[string]int{}
	for _, p := range inbox {
		byIdem[p.ChannelAccountID+"/"+p.IntegrationIdempotencyID]++
	}
	for k, n := range byIdem {
		if n > 1 {
			violate("published twice: the inbox holds %d messages with idempotency id %s", n, k)
		}
	}
	for _, m := range in.sent {
		if !in.acked[m.key()] {
			continue
		}
		evs := log[domain.MessageStream(m.Channel, m.MessageID)]
		if n := count(evs, domain.EventMessageReceived); n != 1 {
			violate("acknowledged %s is in the log %d times, want once", m.key(), n)
		}
		if n := count(evs, domain.EventMessagePublished); n != 1 {
			violate("acknowledged %s has %d MessagePublished events, want 1", m.key(), n)
		}
		if count(evs, domain.EventDeadLettered) > 0 {
			violate("acknowledged %s was dead-lettered", m.key())
		}
		if byIdem[accounts[m.Channel]+"/"+domain.IdempotencyID(m.Channel, m.MessageID)] == 0 {
			violate("acknowledged %s is not in the HubSpot inbox", m.key())
		}
	}

	// One contact per sender.
	byPerson := map[string]int{}
	for _, c := range contacts {
		seen := map[string]bool{}
		for _, p := range []string{"phone", "mobilephone"} {
			if _, intl := emulator.DerivePhone(c.Properties[p], "US"); intl != "" {
				seen["phone:+"+intl] = true
			}
		}
		if v := c.Properties["telegram_user_id"]; v != "" {
			seen["telegram:"+v] = true
		}
		for k := range seen {
			byPerson[k]++
		}
	}
	wrote := map[string]bool{}
	for _, m := range in.sent {
		if in.acked[m.key()] {
			wrote[m.Person.Key] = true
		}
	}
	for _, p := range in.people {
		if n := byPerson[p.Key]; wrote[p.Key] && n != 1 {
			violate("sender %s has %d contacts, want 1", maskKey(p.Key), n)
		}
	}

	// Every node is ready: it reaches the store and the bus, and its followers are
	// caught up.
	client := &http.Client{Timeout: 3 * time.Second}
	for _, n := range in.nodes {
		ok := false
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && !ok; time.Sleep(100 * time.Millisecond) {
			if res, err := client.Get(n.url() + "/readyz"); err == nil {
				res.Body.Close()
				ok = res.StatusCode == http.StatusOK
			}
		}
		if !ok {
			violate("%s is not ready (/readyz) 15 s after the traffic settled", n.name)
		}
	}

	auditOnEveryNode(ctx, in, client, violate)

	for _, n := range in.nodes {
		raw, err := os.ReadFile(n.logPath)
		if err != nil {
			return err
		}
		for _, mark := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if c := strings.Count(string(raw), mark); c > 0 {
				violate("process failure: %s holds %q %d times", filepath.Base(n.logPath), mark, c)
			}
		}
	}
	return checkProjections(ctx, rep, in, db, violate)
}

// checkProjections copies the log, positions included, into a fresh schema, rebuilds the
// projections there with `switchboard rebuild`, and compares every read-side table with
// the live one the three nodes kept, until they agree or 15 s pass (a node may still be
// applying the last events).
func checkProjections(ctx context.Context, rep *Report, in checkInput, live *sql.DB, violate func(string, ...any)) error {
	path := filepath.Join(in.dir, "rebuild.yaml")
	if err := os.WriteFile(path, []byte(nodeConfig("127.0.0.1:0", in.cfg.RebuildDSN, "", "", in.hubspotURL)), 0o600); err != nil {
		return err
	}
	if _, err := runOnce(ctx, in.bin, in.env, "migrate", "--config", path); err != nil {
		return err
	}
	liveSchema, err := schemaOf(in.cfg.DSN)
	if err != nil {
		return err
	}
	rebuiltSchema, err := schemaOf(in.cfg.RebuildDSN)
	if err != nil {
		return err
	}
	if _, err := live.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.events OVERRIDING SYSTEM VALUE SELECT * FROM %s.events`, rebuiltSchema, liveSchema)); err != nil {
		return fmt.Errorf("copy the log into the rebuild schema: %w", err)
	}
	// The log's personal values are sealed: the data keys that open them go along, as
	// copy-store takes them (the rebuild schema's own meta, from migrate, is replaced).
	copyKeys := []string{`DELETE FROM %[1]s.privacy_meta`}
	for _, table := range datakeys.Tables() { // in the order their rows can be inserted
		copyKeys = append(copyKeys, `INSERT INTO %[1]s.`+table+` SELECT * FROM %[2]s.`+table)
	}
	for _, q := range copyKeys {
		if _, err := live.ExecContext(ctx, fmt.Sprintf(q, rebuiltSchema, liveSchema)); err != nil {
			return fmt.Errorf("copy the data keys into the rebuild schema: %w", err)
		}
	}
	if _, err := runOnce(ctx, in.bin, in.env, "rebuild", "--config", path); err != nil {
		violate("rebuild failed: %v", err)
		return nil
	}
	rdb, err := sql.Open("pgx", in.cfg.RebuildDSN)
	if err != nil {
		return err
	}
	defer rdb.Close()
	rebuilt, err := projectionTables(ctx, rdb)
	if err != nil {
		return err
	}
	var diffs []string
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		got, err := projectionTables(ctx, live)
		if err != nil {
			return err
		}
		rep.ProjectionTables = len(rebuilt)
		diffs = diffs[:0]
		for name, rows := range rebuilt {
			if d := harness.DiffRows(got[name], rows); d != "" {
				diffs = append(diffs, fmt.Sprintf("projection %s differs from a rebuild: %s", name, d))
			}
		}
		if len(diffs) == 0 || time.Now().After(end) {
			break
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		violate("%s", d)
	}
	if len(rebuilt) == 0 {
		violate("the rebuild made no projection tables")
	}
	return nil
}

func schemaOf(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("the DSN must be a postgres:// URL: %w", err)
	}
	s := u.Query().Get("search_path")
	if s == "" || strings.ContainsAny(s, ` ,;"'`) {
		return "", fmt.Errorf("the DSN must name one schema in search_path (got %q): the rebuild check copies the log between schemas", s)
	}
	return s, nil
}

// projectionTables reads every read-side table of the schema as sorted rows of text:
// every table but the log, the migrations, the checkpoints and the leases.
func projectionTables(ctx context.Context, db *sql.DB) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		switch {
		case n == "events", n == "schema_migrations", n == "nodes", n == "partition_leases", n == "hubspot_refresh_tokens",
			strings.HasSuffix(n, "checkpoints"):
			continue
		}
		tables = append(tables, n)
	}
	rows.Close()
	return harness.ReadTables(ctx, db, tables)
}

// maskKey keeps the last digits of an identifier: enough to find it in the run's
// files, not a phone number in a report.
func maskKey(k string) string {
	kind, v, _ := strings.Cut(k, ":")
	if len(v) > 4 {
		v = strings.Repeat("•", len(v)-4) + v[len(v)-4:]
	}
	return kind + " " + v
}

// auditOnEveryNode asks every node's audit API (which reads the projections) about every
// acknowledged message: each node must show it received once and published, and the
// three must answer alike. A node still applying the last events gets a few seconds.
func auditOnEveryNode(ctx context.Context, in checkInput, client *http.Client, violate func(string, ...any)) {
	type timeline struct {
		Message struct {
			Published bool `json:"published"`
		} `json:"message"`
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	get := func(n *node, m *message) (string, timeline, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", n.url()+"/v1/messages/"+m.Channel+"/"+url.PathEscape(m.MessageID), nil)
		if err != nil {
			return "", timeline{}, err
		}
		req.Header.Set("Authorization", "Bearer "+nodesEnv["NODES_ADMIN"])
		res, err := client.Do(req)
		if err != nil {
			return "", timeline{}, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return "", timeline{}, err
		}
		if res.StatusCode != http.StatusOK {
			return "", timeline{}, fmt.Errorf("%s answered %d: %.200s", n.name, res.StatusCode, body)
		}
		var tl timeline
		if err := json.Unmarshal(body, &tl); err != nil {
			return "", timeline{}, fmt.Errorf("%s: audit answer: %w", n.name, err)
		}
		return string(body), tl, nil
	}
	for _, m := range in.sent {
		if !in.acked[m.key()] {
			continue
		}
		var problem string
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			problem = ""
			var first string
			for i, n := range in.nodes {
				body, tl, err := get(n, m)
				switch {
				case err != nil:
					problem = err.Error()
				case !tl.Message.Published:
					problem = n.name + " does not show it published"
				default:
					received := 0
					for _, e := range tl.Events {
						if e.Type == domain.EventMessageReceived {
							received++
						}
					}
					if received != 1 {
						problem = fmt.Sprintf("%s shows it received %d times", n.name, received)
					} else if i > 0 && body != first {
						problem = fmt.Sprintf("%s answers otherwise than %s", n.name, in.nodes[0].name)
					}
				}
				if problem != "" {
					break
				}
				if i == 0 {
					first = body
				}
			}
			if problem == "" || time.Now().After(end) {
				break
			}
		}
		if problem != "" {
			violate("audit of %s: %s", m.key(), problem)
		}
	}
}
