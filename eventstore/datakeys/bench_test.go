package datakeys

import (
	"context"
	"database/sql"
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
	begin := func() *sql.Tx {
		tx, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		return tx
	}
	commit := func(tx *sql.Tx) {
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	name := func(tx *sql.Tx) {
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
	for range 50 {
		tx := begin()
		for range 1000 {
			name(tx)
		}
		commit(tx)
	}
	// b.Loop runs the set-up above once, however many rounds the benchmark takes.
	tx := begin()
	for i := 0; b.Loop(); i++ {
		name(tx)
		if i%10 == 9 {
			commit(tx)
			tx = begin()
		}
	}
	commit(tx)
}
