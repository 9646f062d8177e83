package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"switchboard/adapters/hubspot/emulator"
	"switchboard/cmd/internal/harness"
	"switchboard/domain"
)

// defineProperty creates a contact property through HubSpot's properties API, retrying
// what the emulator's faults fail (it starts without faults, but be safe).
func defineProperty(base, token, name string) error {
	body := fmt.Sprintf(`{"name":%q,"label":%q,"type":"string","fieldType":"text","groupName":"contactinformation"}`, name, name)
	for i := 0; i < 20; i++ {
		req, err := http.NewRequest("POST", base+"/crm/v3/properties/contacts", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusCreated || res.StatusCode == http.StatusConflict {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("define property %s on the emulator: no success in 20 attempts", name)
}

// logEvent is one row of the event log.
type logEvent struct {
	Position int64
	Stream   string
	Type     string
	Payload  []byte
}

// openLog opens the service's SQLite file read-only: the harness reads what was written,
// it never writes.
func openLog(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	return db, nil
}

func readLog(ctx context.Context, path string) (map[string][]logEvent, error) {
	db, err := openLog(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	name, err := harness.StreamNames(ctx, db, "")
	if err != nil {
		return nil, fmt.Errorf("read events from %s: %w", path, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT position, stream_id, type, payload FROM events ORDER BY position`)
	if err != nil {
		return nil, fmt.Errorf("read events from %s: %w", path, err)
	}
	defer rows.Close()
	out := map[string][]logEvent{}
	for rows.Next() {
		var e logEvent
		var payload string
		if err := rows.Scan(&e.Position, &e.Stream, &e.Type, &payload); err != nil {
			return nil, err
		}
		e.Payload = []byte(payload)
		e.Stream = name(e.Stream)
		out[e.Stream] = append(out[e.Stream], e)
	}
	return out, rows.Err()
}

func has(evs []logEvent, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// waitSettled waits until every acknowledged message is published or dead-lettered in
// the log, or timeout passes (settled false).
func waitSettled(ctx context.Context, dbPath string, plan []*plannedMessage, acked map[string]bool, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		log, err := readLog(ctx, dbPath)
		if err != nil {
			return false, err
		}
		pending := 0
		for _, m := range plan {
			if !acked[m.key()] {
				continue
			}
			evs := log[domain.MessageStream(m.Channel, m.MessageID)]
			if has(evs, domain.EventMessagePublished) == 0 && has(evs, domain.EventDeadLettered) == 0 {
				pending++
			}
		}
		if pending == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type checkInput struct {
	bin      string
	env      []string
	dir      string
	cfgPath  string
	dbPath   string
	emulator string
	plan     []*plannedMessage
	people   []*person
	attempts []attempt
	acked    map[string]bool
	refused  map[string]string
}

// check compares what the traffic was told with the log, the projections and HubSpot,
// and fills rep: SPEC rule 8 (exactly once: one log entry, one inbox message, one
// contact per person) and rule 10 (nothing acknowledged lost).
func check(ctx context.Context, rep *Report, in checkInput) error {
	violate := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}

	for _, a := range in.attempts {
		rep.Requests++
		switch {
		case a.Status >= 200 && a.Status < 300:
			rep.Answered2xx++
		case a.Status >= 500:
			rep.Answered5xx++
		case a.Status == 0:
			rep.NoAnswer++
		}
	}
	rep.Acknowledged = len(in.acked)
	for key, answer := range in.refused {
		if !in.acked[key] {
			violate("refused: %s answered %s (a signed, valid message must be accepted)", key, truncate(answer, 200))
		}
	}
	for _, m := range in.plan {
		if !in.acked[m.key()] && in.refused[m.key()] == "" {
			rep.NeverAcknowledged++
		}
	}

	log, err := readLog(ctx, in.dbPath)
	if err != nil {
		return err
	}
	var inbox []emulator.PublishedMessage
	if err := getJSON(in.emulator+"/_emulator/inbox", &inbox); err != nil {
		return fmt.Errorf("read the emulator's inbox: %w", err)
	}
	var contacts []emulator.Contact
	if err := getJSON(in.emulator+"/_emulator/contacts", &contacts); err != nil {
		return fmt.Errorf("read the emulator's contacts: %w", err)
	}
	rep.Contacts, rep.InboxMessages = len(contacts), len(inbox)
	byIdem := map[string]int{}
	for _, p := range inbox {
		byIdem[p.ChannelAccountID+"/"+p.IntegrationIdempotencyID]++
	}
	for k, n := range byIdem {
		if n > 1 {
			rep.DuplicatePublications++
			violate("duplicate publication: inbox holds %d messages with idempotency id %s", n, k)
		}
	}
	accounts := map[string]string{chSMS: "3001", chWhatsApp: "3002", chTelegram: "3003"}

	// Rules 8 and 10 per acknowledged message.
	seen := map[string]bool{}
	for _, m := range in.plan {
		if seen[m.key()] || !in.acked[m.key()] {
			continue
		}
		seen[m.key()] = true
		evs := log[domain.MessageStream(m.Channel, m.MessageID)]
		switch n := has(evs, domain.EventMessageReceived); {
		case n == 0:
			rep.Lost++
			violate("lost: %s was acknowledged but is not in the log", m.key())
			continue
		case n > 1:
			rep.DuplicateLogEntries++
			violate("duplicate: %s is in the log %d times", m.key(), n)
		}
		if n := has(evs, domain.EventMessagePublished); n > 1 {
			rep.DuplicateLogEntries++
			violate("duplicate: %s has %d MessagePublished events", m.key(), n)
		}
		if has(evs, domain.EventDeadLettered) > 0 {
			rep.DeadLettered++
			violate("dead-lettered under transient faults: %s (%s)", m.key(), lastPayload(evs, domain.EventDeadLettered))
		}
		switch n := byIdem[accounts[m.Channel]+"/"+domain.IdempotencyID(m.Channel, m.MessageID)]; {
		case n == 0:
			rep.Lost++
			violate("lost: %s was acknowledged but is not in the HubSpot inbox", m.key())
		}
	}

	// Every unlinked conversation has its reason, in the log and in the projection.
	for stream, evs := range log {
		for _, e := range evs {
			switch e.Type {
			case domain.EventConversationUnlinked:
				rep.Unlinked++
				var u domain.ConversationUnlinked
				if json.Unmarshal(e.Payload, &u) != nil || strings.TrimSpace(u.Reason) == "" {
					violate("unlinked without a reason: %s at position %d", stream, e.Position)
				}
			case domain.EventMessagePublished:
				var p domain.MessagePublished
				if json.Unmarshal(e.Payload, &p) == nil && p.ContactID == "" && has(evs, domain.EventConversationUnlinked) == 0 {
					violate("published without a contact and without a ConversationUnlinked event: %s", stream)
				}
			}
		}
	}

	// At most one contact per person.
	byPerson := map[string][]string{}
	for _, c := range contacts {
		for _, k := range personKeys(c) {
			byPerson[k] = append(byPerson[k], c.ID)
		}
	}
	keys := make([]string, 0, len(byPerson))
	for k := range byPerson {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if ids := byPerson[k]; len(ids) > 1 {
			rep.DuplicateContacts += len(ids) - 1
			violate("duplicate contacts: %d contacts for %s: %s", len(ids), maskKey(k), strings.Join(ids, ", "))
		}
	}

	// A race or a panic in a child is a failure even when the data came out right.
	for _, name := range []string{"service.log", "emulator.log"} {
		raw, err := os.ReadFile(filepath.Join(in.dir, name))
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		for _, mark := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if n := strings.Count(string(raw), mark); n > 0 {
				violate("process failure: %s holds %q %d times", name, mark, n)
			}
		}
	}

	return checkProjections(ctx, rep, in, violate)
}

// personKeys are the persons a contact stands for: its phone numbers read as E.164 and
// its Telegram user id.
func personKeys(c emulator.Contact) []string {
	set := map[string]bool{}
	for _, p := range []string{"phone", "mobilephone"} {
		if v := c.Properties[p]; v != "" {
			if _, intl := emulator.DerivePhone(v, "US"); intl != "" {
				set["phone:+"+intl] = true
			}
		}
	}
	if v := c.Properties["telegram_user_id"]; v != "" {
		set["telegram:"+v] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

// maskKey keeps the last digits of an identifier: enough to find it in the run's files,
// not a phone number in a report.
func maskKey(k string) string {
	kind, v, _ := strings.Cut(k, ":")
	if len(v) > 4 {
		v = strings.Repeat("•", len(v)-4) + v[len(v)-4:]
	}
	return kind + " " + v
}

func lastPayload(evs []logEvent, typ string) string {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ {
			return truncate(string(evs[i].Payload), 200)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkProjections compares the projections the service kept up through its crashes
// with a rebuild from the log: `switchboard audit` catches the original up (and shows a
// few messages the way an operator reads them), `switchboard rebuild` runs on a copy.
func checkProjections(ctx context.Context, rep *Report, in checkInput, violate func(string, ...any)) error {
	checked := 0
	for _, m := range in.plan {
		if checked >= 5 || !in.acked[m.key()] {
			continue
		}
		checked++
		out, err := runOnce(ctx, in.bin, in.env, "audit", "--config", in.cfgPath, "--json", "message", m.Channel, m.MessageID)
		if err != nil {
			violate("audit of acknowledged message %s failed: %v", m.key(), err)
			continue
		}
		var a struct {
			Events []struct{ Type string } `json:"events"`
		}
		if err := json.Unmarshal(out, &a); err != nil {
			return fmt.Errorf("audit --json: %w: %s", err, truncate(string(out), 300))
		}
		n := 0
		for _, e := range a.Events {
			if e.Type == domain.EventMessageReceived {
				n++
			}
		}
		if n != 1 {
			violate("audit of %s shows %d MessageReceived events, want 1", m.key(), n)
		}
	}
	if checked == 0 {
		// Without an audit the live projections were not caught up, and comparing them
		// with a rebuild would report the lag, not a fault.
		violate("no message was acknowledged: nothing to audit, projections not compared")
		return nil
	}

	copyDir := filepath.Join(in.dir, "rebuild")
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		return err
	}
	copyDB := filepath.Join(copyDir, "switchboard.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := copyFile(in.dbPath+suffix, copyDB+suffix); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	raw, err := os.ReadFile(in.cfgPath)
	if err != nil {
		return err
	}
	copyCfg := filepath.Join(copyDir, "switchboard.yaml")
	if err := os.WriteFile(copyCfg, []byte(strings.Replace(string(raw), in.dbPath, copyDB, 1)), 0o600); err != nil {
		return err
	}
	if _, err := runOnce(ctx, in.bin, in.env, "rebuild", "--config", copyCfg); err != nil {
		violate("rebuild failed: %v", err)
		return nil
	}
	live, err := projectionTables(ctx, in.dbPath)
	if err != nil {
		return err
	}
	rebuilt, err := projectionTables(ctx, copyDB)
	if err != nil {
		return err
	}
	rep.ProjectionTables = len(live)
	names := map[string]bool{}
	for n := range live {
		names[n] = true
	}
	for n := range rebuilt {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		if d := harness.DiffRows(live[n], rebuilt[n]); d != "" {
			rep.ProjectionDiffs++
			violate("projection %s differs from a rebuild: %s", n, d)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// projectionTables reads every read-side table (all tables but the log, migrations and
// checkpoints) as sorted rows of text.
func projectionTables(ctx context.Context, path string) (map[string][]string, error) {
	db, err := openLog(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", path, err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		if n == "events" || n == "schema_migrations" || strings.HasPrefix(n, "sqlite_") || strings.HasSuffix(n, "checkpoints") {
			continue
		}
		tables = append(tables, n)
	}
	rows.Close()
	return harness.ReadTables(ctx, db, tables)
}
