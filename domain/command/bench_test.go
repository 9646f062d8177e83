package command_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/sqlite"
)

// instantDirectory answers at once: the benchmarks below measure switchboard's own cost
// per command (rules, event appends, fsyncs), apart from HubSpot's latency and limits.
type instantDirectory struct {
	mu       sync.Mutex
	contacts map[string]domain.Contact
	next     atomic.Int64
}

func (d *instantDirectory) FindByPhone(_ context.Context, q domain.PhoneQuery) (domain.LookupResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := domain.LookupResult{Lookups: []domain.Lookup{{Kind: "search", Query: q.E164}}}
	if c, ok := d.contacts[q.E164]; ok {
		res.Candidates = append(res.Candidates, c)
		res.Lookups[0].Found = 1
	}
	return res, nil
}

func (d *instantDirectory) FindByProperty(context.Context, string, ...string) (domain.LookupResult, error) {
	return domain.LookupResult{}, nil
}

func (d *instantDirectory) CreateContact(_ context.Context, p map[string]string) (domain.Contact, error) {
	c := domain.Contact{ID: strconv.FormatInt(d.next.Add(1), 10), CreatedAt: time.Now(), Properties: p}
	d.mu.Lock()
	d.contacts[p["phone"]] = c
	d.mu.Unlock()
	return c, nil
}

func (d *instantDirectory) GetContact(context.Context, string, []string) (domain.Contact, error) {
	return domain.Contact{}, domain.ErrContactNotFound
}
func (d *instantDirectory) UpdateContact(context.Context, string, map[string]string) error {
	return nil
}

type instantDirs struct{ d *instantDirectory }

func (i instantDirs) Directory(string) (domain.ContactDirectory, error) { return i.d, nil }

func benchHandlers(b *testing.B) (*command.RecordMessageHandler, *command.ResolveMessageHandler, *instantDirectory) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dir := &instantDirectory{contacts: map[string]domain.Contact{}}
	rec, err := command.NewRecordMessageHandler(st, catalog{}, newID, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	res, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: st, Catalog: catalog{}, Directories: instantDirs{dir}, NewID: newID, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	return rec, res, dir
}

// runCommand records one SMS and resolves it: the whole command path of one message.
func runCommand(b *testing.B, rec *command.RecordMessageHandler, res *command.ResolveMessageHandler, id, phone string) {
	if _, err := rec.Handle(context.Background(), command.RecordMessage{Message: domain.InboundMessage{ChannelID: "sms", MessageID: id,
		Sender: domain.Sender{Phone: phone}, Text: "benchmark message of a typical length, about sixty bytes", Source: "api"}}); err != nil {
		b.Fatal(err)
	}
	if err := res.Handle(context.Background(), command.ResolveMessage{Stream: domain.MessageStream("sms", id)}); err != nil {
		b.Fatal(err)
	}
}

// twilioSID is the i-th message id in Twilio's form, "SM" and 32 hex digits that follow
// no order: a store's indexes see platform message ids as scattered, not as a counter.
func twilioSID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return "SM" + hex.EncodeToString(sum[:16])
}

// BenchmarkCommandKnownSender: a message from a sender whose match key is resolved
// (sticky: no HubSpot call): one append for the message, one read of the key stream,
// one append of the outcome.
func BenchmarkCommandKnownSender(b *testing.B) {
	rec, res, _ := benchHandlers(b)
	runCommand(b, rec, res, "warm", "+14155550100")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runCommand(b, rec, res, twilioSID(i), "+14155550100")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkCommandNewSender: a message from a sender never seen: a lookup, a claim of
// the key, a create, the key's resolution and the outcome.
func BenchmarkCommandNewSender(b *testing.B) {
	rec, res, _ := benchHandlers(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runCommand(b, rec, res, fmt.Sprint("n", i), fmt.Sprintf("+1%03d555%04d", 628+i/10000, i%10000))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
