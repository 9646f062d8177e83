package command_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
	"switchboard/eventstore/sqlite"
)

// BenchmarkCommandKnownSenderSealed is BenchmarkCommandKnownSender with every personal
// value sealed on append and opened on read (eventstore/sealed, issue 12): the cost of
// crypto-shredding on the hot path, which must stay within 10 % of the plain one.
func BenchmarkCommandKnownSenderSealed(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	keys, err := datakeys.Open(context.Background(), st, "a master secret for the benchmark")
	if err != nil {
		b.Fatal(err)
	}
	store, err := sealed.NewStore(st, keys, catalog{})
	if err != nil {
		b.Fatal(err)
	}
	dir := &instantDirectory{contacts: map[string]domain.Contact{}}
	rec, err := command.NewRecordMessageHandler(store, catalog{}, newID, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	res, err := command.NewResolveMessageHandler(command.ResolveDeps{Store: store, Catalog: catalog{}, Directories: instantDirs{dir}, NewID: newID, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	runCommand(b, rec, res, "warm", "+14155550100")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runCommand(b, rec, res, twilioSID(i), "+14155550100")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
