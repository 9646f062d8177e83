package command_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/command"
	"switchboard/eventstore/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func keyRepo(t *testing.T, st domain.EventStore) *command.Repository[domain.KeyState] {
	t.Helper()
	r, err := command.KeyRepository(st, newID, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func claim(holder string) command.Change {
	return command.Change{Type: domain.EventMatchKeyClaimed, Payload: domain.MatchKeyClaimed{Holder: holder}}
}

func TestRepositoryUpdateAppendsAtTheVersionItLoaded(t *testing.T) {
	st := openStore(t)
	r := keyRepo(t, st)
	ctx := context.Background()
	if _, v, err := r.Load(ctx, "matchkey:k"); err != nil || v != 0 {
		t.Fatalf("empty stream: version %d, %v; want 0 and no error", v, err)
	}
	for i, holder := range []string{"a", "b"} {
		res, err := r.Update(ctx, "matchkey:k", func(ks domain.KeyState, version int64) ([]command.Change, error) {
			if version != int64(i) {
				t.Errorf("closure saw version %d, want %d", version, i)
			}
			return []command.Change{claim(holder)}, nil
		}, command.CorrelatedWith("corr-"+holder))
		if err != nil || res.NextVersion != int64(i+1) {
			t.Fatalf("update %d: %+v, %v", i, res, err)
		}
	}
	ks, v, err := r.Load(ctx, "matchkey:k")
	if err != nil || v != 2 || ks.ClaimedBy != "b" {
		t.Fatalf("loaded %+v at version %d (%v), want claimed by b at 2", ks, v, err)
	}
	evs, _ := st.ReadStream(ctx, "matchkey:k", 0)
	if evs[1].CorrelationID != "corr-b" {
		t.Errorf("correlation id %q, want corr-b", evs[1].CorrelationID)
	}
	// A closure that decides nothing appends nothing; its error comes back as is.
	boom := errors.New("boom")
	if _, err := r.Update(ctx, "matchkey:k", func(domain.KeyState, int64) ([]command.Change, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the closure's", err)
	}
	if _, v, _ := r.Load(ctx, "matchkey:k"); v != 2 {
		t.Errorf("version %d after closures that decided nothing, want 2", v)
	}
}

// A writer that moves the stream between the load and the append makes the update
// fail with ErrWrongExpectedVersion; RetryOnConflict loads and decides again.
func TestRepositoryUpdateOnConflict(t *testing.T) {
	for _, retries := range []int{0, 1} {
		st := openStore(t)
		r := keyRepo(t, st)
		ctx := context.Background()
		calls := 0
		_, err := r.Update(ctx, "matchkey:k", func(_ domain.KeyState, version int64) ([]command.Change, error) {
			calls++
			if calls == 1 {
				// Another writer, between this load and this append.
				e, _ := domain.NewEvent(newID(), domain.EventMatchKeyClaimed, domain.MatchKeyClaimed{Holder: "other"}, time.Now(), "other")
				if _, err := st.Append(ctx, "matchkey:k", domain.NoStream, e); err != nil {
					t.Fatal(err)
				}
			}
			return []command.Change{claim("me")}, nil
		}, command.RetryOnConflict(retries))
		switch retries {
		case 0:
			if !errors.Is(err, domain.ErrWrongExpectedVersion) || calls != 1 {
				t.Errorf("without retry: err = %v after %d calls, want ErrWrongExpectedVersion after 1", err, calls)
			}
		case 1:
			ks, v, _ := r.Load(ctx, "matchkey:k")
			if err != nil || calls != 2 || v != 2 || ks.ClaimedBy != "me" {
				t.Errorf("with retry: err = %v after %d calls, state %+v at %d; want the second try appended", err, calls, ks, v)
			}
		}
	}
}

// Create is a claim: of concurrent creators of one stream exactly one wins.
func TestRepositoryCreateIsAClaim(t *testing.T) {
	st := openStore(t)
	r := keyRepo(t, st)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Create(context.Background(), "matchkey:k", "corr", claim(string(rune('a'+i))))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, domain.ErrWrongExpectedVersion):
				lost++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || lost != 7 {
		t.Errorf("%d won and %d lost, want 1 and 7", won, lost)
	}
}
