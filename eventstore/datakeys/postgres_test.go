package datakeys

import (
	"context"
	"errors"
	"testing"

	"switchboard/eventstore/postgres"
	"switchboard/eventstore/postgres/pgtest"
)

// The keeper on PostgreSQL (serve with store.driver postgres): the same SQL, and two
// nodes meeting a sender at once agree on one subject. Erasure there leaves the deleted
// row in the heap until VACUUM (docs/privacy.md §9): not measured here.
func TestKeeperOnPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := Open(ctx, st, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, st, "another secret of some length"); !errors.Is(err, ErrMasterKey) {
		t.Errorf("wrong secret on PostgreSQL: %v", err)
	}
	b, err := Open(ctx, st, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	ids, errs := make(chan string, n), make(chan error, n)
	for i := range n {
		k := a
		if i%2 == 1 {
			k = b
		}
		go func() {
			id, err := k.SubjectID(ctx, refX, true)
			ids <- id
			errs <- err
		}()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[<-ids] = true
	}
	var keys int
	if err := st.DB().QueryRow(`SELECT count(*) FROM privacy_keys`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || keys != 1 {
		t.Fatalf("%d subject ids and %d keys for one sender on PostgreSQL; want 1 and 1", len(seen), keys)
	}
	var x string
	for id := range seen {
		x = id
	}
	sealed, err := a.Seal(ctx, x, "text", "X on PostgreSQL")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open(ctx, "text", sealed); err != nil || got != "X on PostgreSQL" {
		t.Fatalf("Open on the other node: %q, %v", got, err)
	}
	idX, err := a.SubjectID(ctx, refX, true)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := NewStreamName("message:")
	name, err := a.NameStream(ctx, "message:acme-wa:wamid.X", fresh, idX)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewStreamName("message:")
	if again, err := b.NameStream(ctx, "message:acme-wa:wamid.X", other, idX); err != nil || again != name {
		t.Errorf("message name on the other node: %q, %v; want %q", again, err, name)
	}
	if logical, _, ok, err := b.LogicalStream(ctx, name); err != nil || !ok || logical != "message:acme-wa:wamid.X" {
		t.Errorf("logical name on the other node: %q, %v, %v", logical, ok, err)
	}
	if err := a.Destroy(ctx, x); err != nil {
		t.Fatal(err)
	}
	b.Forget(x)
	if _, err := b.Open(ctx, "text", sealed); !errors.Is(err, ErrErased) {
		t.Errorf("Open after erasure on PostgreSQL: %v; want ErrErased", err)
	}
}
