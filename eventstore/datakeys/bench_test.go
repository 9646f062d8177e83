package datakeys

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"switchboard/domain"
)

// BenchmarkNameStreamTx names new message streams, ten to a transaction as a busy
// writer's commit holds them, in a store that has named 50,000 already: the row every
// new message writes in the writer's transaction (issue 12's name row).
func BenchmarkNameStreamTx(b *testing.B) {
	ctx := context.Background()
	st := openStore(b, filepath.Join(b.TempDir(), "bench.db"))
	k := mustOpen(b, st, testSecret)
	owners := make([]string, 1000)
	for i := range owners {
		id, err := k.SubjectID(ctx, domain.Subject(fmt.Sprintf("bench-owner-%d", i)), true)
		if err != nil {
			b.Fatal(err)
		}
		owners[i] = id
	}
	n := 0
	name := func(count int) {
		tx, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range count {
			fresh, err := NewStreamName("message:")
			if err != nil {
				b.Fatal(err)
			}
			ref := k.StreamRef(fmt.Sprintf("message:bench-wa:wamid.%d", n))
			if _, err := k.NameStreamTx(ctx, tx, ref, fresh, owners[n%len(owners)]); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	for range 50 {
		name(1000)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 10 {
		name(10)
	}
}
