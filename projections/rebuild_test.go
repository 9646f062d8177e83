package projections_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
	"switchboard/projections"
)

// readCounter is the SQLite store, counting the events ReadAll hands out.
type readCounter struct {
	*sqlite.Store
	read atomic.Int64
}

func (c *readCounter) ReadAll(ctx context.Context, after int64, limit int) ([]domain.RecordedEvent, error) {
	evs, err := c.Store.ReadAll(ctx, after, limit)
	c.read.Add(int64(len(evs)))
	return evs, err
}

// TestRebuildIsOnePassOverTheLog: a rebuild of every projection reads each event of
// the log once (it read the whole log once per projection, issue 14), across several of
// its batches, reports its progress as one count of events up to the end of the log,
// and leaves exactly the rows and checkpoints live processing built.
func TestRebuildIsOnePassOverTheLog(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const batch = 500
	messages := batch/2 + 7 // 4 events each: two batches and a bit
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < messages; i += 16 {
				if err := appendMessage(ctx, st, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last, err := st.LastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}

	live, err := projections.NewRunner(st, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	want := dumpSQLite(t, st)

	counted := &readCounter{Store: st}
	r, err := projections.NewRunner(st, counted, nil)
	if err != nil {
		t.Fatal(err)
	}
	projections.SetRebuildBatch(r, batch)
	var reports [][3]int64
	if err := r.Rebuild(ctx, nil, func(events, position, total int64) {
		reports = append(reports, [3]int64{events, position, total})
	}); err != nil {
		t.Fatal(err)
	}
	if n := counted.read.Load(); n != last {
		t.Errorf("the rebuild read %d events of a log of %d; want each once", n, last)
	}
	if len(reports) < 2 || reports[len(reports)-1] != [3]int64{last, last, last} {
		t.Errorf("progress %v; want one report per batch, the last at %d events, position %d of %d", reports, last, last, last)
	}
	for name, pos := range r.Positions() {
		if pos != last {
			t.Errorf("projection %s stands at %d after the rebuild, want %d", name, pos, last)
		}
	}
	got := dumpSQLite(t, st)
	for table, rows := range want {
		if strings.Join(rows, "\n") != strings.Join(got[table], "\n") {
			t.Errorf("%s: %d rows live, %d rebuilt, or they differ", table, len(rows), len(got[table]))
		}
	}
	if len(want["audit_links"]) == 0 || len(want["contact_keys"]) == 0 {
		t.Fatalf("live processing built no audit entries or contact keys: %v", want)
	}
}

// appendMessage records message i of one of 40 senders: received, identified, matched
// (or, for the sender's first, created with the key resolved), published.
func appendMessage(ctx context.Context, s domain.EventStore, i int) error {
	sender := i % 40
	corr := uuid.NewString()
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	key := domain.MatchKey{Workspace: "w", Lookup: "telegram_user_id", Identifier: fmt.Sprint(9000 + sender)}
	contact := fmt.Sprint(100 + sender)
	var evs []domain.EventData
	add := func(typ string, payload any) {
		e, err := domain.NewEvent(uuid.NewString(), typ, payload, at, corr)
		if err != nil {
			panic(err)
		}
		evs = append(evs, e)
	}
	add(domain.EventMessageReceived, domain.MessageReceived{WorkspaceID: "w", ChannelID: "tg", ChannelKind: domain.KindTelegram,
		MessageID: fmt.Sprint("m", i), Sender: domain.Sender{UserID: key.Identifier}, Text: "hi"})
	add(domain.EventSenderIdentified, domain.SenderIdentified{ChannelID: "tg", Source: "user_id", Raw: key.Identifier,
		Identifier: key.Identifier, MatchKey: key, Searched: []string{"telegram_user_id"}})
	if i < 40 {
		add(domain.EventContactCreated, domain.ContactCreated{MatchKey: key, ContactID: contact})
	} else {
		add(domain.EventContactMatched, domain.ContactMatched{MatchKey: key, ContactID: contact, Via: "match_key", Ambiguous: i%50 == 0})
	}
	add(domain.EventMessagePublished, domain.MessagePublished{HubSpotMessageID: "hs-" + corr, ContactID: contact, Attempts: 1})
	if _, err := s.Append(ctx, domain.MessageStream("tg", fmt.Sprint("m", i)), domain.NoStream, evs...); err != nil {
		return err
	}
	if i < 40 {
		e, err := domain.NewEvent(uuid.NewString(), domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: key, ContactID: contact, How: "created"}, at, corr)
		if err != nil {
			return err
		}
		_, err = s.Append(ctx, key.Stream(), domain.AnyVersion, e)
		return err
	}
	return nil
}

// dumpSQLite reads every projection's table, and the projections' checkpoints, as
// sorted rows.
func dumpSQLite(t *testing.T, st *sqlite.Store) map[string][]string {
	t.Helper()
	queries := map[string]string{"checkpoints": `SELECT name, position FROM checkpoints WHERE name LIKE 'projection:%'`}
	for _, p := range projections.All() {
		for _, table := range p.Tables() {
			queries[table] = `SELECT * FROM ` + table
		}
	}
	out := map[string][]string{}
	for table, q := range queries {
		_, rows := queryRows(t, st.DB(), q)
		for _, vals := range rows {
			out[table] = append(out[table], fmt.Sprintf("%q", vals))
		}
		sort.Strings(out[table])
	}
	return out
}
