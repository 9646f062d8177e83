package datakeys

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

func TestStreamNamesHoldNoIdentifierAndDieWithTheirOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sb.db")
	st := openStore(t, path)
	k := mustOpen(t, st, testSecret)
	keyX := domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155552671"}
	keyY := domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155550199"}
	msgX, msgY := "message:acme-wa:wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdGQ0", "message:acme-wa:wamid.HBgLMTQxNTU1NTAxOTkVAgASGBQzQUNCRE"
	xID, err := k.SubjectID(ctx, domain.KeySubject(keyX), true)
	if err != nil {
		t.Fatal(err)
	}
	yID, err := k.SubjectID(ctx, domain.KeySubject(keyY), true)
	if err != nil {
		t.Fatal(err)
	}
	name := func(k *Keeper, logical, prefix, owner string) string {
		t.Helper()
		fresh, err := NewStreamName(prefix)
		if err != nil {
			t.Fatal(err)
		}
		n, err := k.NameStream(ctx, logical, fresh, owner)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ksX := name(k, keyX.Stream(), "matchkey:", xID)
	mX := name(k, msgX, "message:", xID)
	mY := name(k, msgY, "message:", yID)
	for _, s := range []string{ksX, mX, mY} {
		if strings.Contains(s, "4155") || strings.Contains(s, "wamid") || strings.Contains(s, "acme") {
			t.Errorf("stream name %q holds an identifier", s)
		}
	}
	if !IsStreamName("matchkey:", ksX) || !IsStreamName("message:", mX) || IsStreamName("message:", msgX) {
		t.Errorf("IsStreamName tells stored names from logical ones wrongly: %q %q %q", ksX, mX, msgX)
	}
	// A redelivery (or another process) finds the same names: deduplication holds.
	other := mustOpen(t, st, testSecret)
	if again := name(other, msgX, "message:", xID); again != mX {
		t.Errorf("redelivered message named %q; want %q", again, mX)
	}
	if again, owner, ok, err := other.FindStream(ctx, keyX.Stream()); err != nil || !ok || again != ksX || owner != xID {
		t.Errorf("key stream found again: %q %q, %v, %v; want %q", again, owner, ok, err, ksX)
	}
	if logical, _, ok, err := other.LogicalStream(ctx, mX); err != nil || !ok || logical != msgX {
		t.Errorf("logical name of X's message in another process: %q, %v, %v", logical, ok, err)
	}
	if _, _, ok, _ := other.FindStream(ctx, "message:acme-wa:wamid.never-seen"); ok {
		t.Error("a message never seen has a stream")
	}

	macX := k.StreamRef(msgX).mac
	if err := k.Destroy(ctx, xID); err != nil {
		t.Fatal(err)
	}
	// Gone for every process: nothing leads from X's message id to its stream, or back.
	for label, kk := range map[string]*Keeper{"destroying": k, "other, after Forget": other} {
		if label != "destroying" {
			kk.Forget(xID)
		}
		for _, logical := range []string{msgX, keyX.Stream()} {
			if _, _, ok, err := kk.FindStream(ctx, logical); ok || err != nil {
				t.Errorf("%s: an erased stream is still found (%v)", label, err)
			}
		}
		for _, stored := range []string{mX, ksX} {
			if logical, _, ok, err := kk.LogicalStream(ctx, stored); ok || err != nil {
				t.Errorf("%s: an erased stream still reads as %q (%v)", label, logical, err)
			}
		}
		if got, _, ok, err := kk.FindStream(ctx, msgY); !ok || err != nil || got != mY {
			t.Errorf("%s: Y's message stream: %q, %v, %v", label, got, ok, err)
		}
	}
	for f, b := range storeFiles(t, path) {
		if strings.Contains(string(b), macX) {
			t.Errorf("the index row of X's message name is still in %s", f)
		}
	}
}

// Names made one after another sort in the order they were made, so that the indexes
// keyed by them take new entries at their right edge; names of one instant still differ.
func TestStreamNamesSortByWhenTheyWereMade(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	var prev string
	for i := range 200 {
		now := t0.Add(time.Duration(i/4) * time.Millisecond)
		n, err := newStreamName("message:", now)
		if err != nil {
			t.Fatal(err)
		}
		if !IsStreamName("message:", n) {
			t.Fatalf("%q is not a stored name", n)
		}
		if n == prev {
			t.Fatalf("two names alike: %q", n)
		}
		if i%4 == 0 && i > 0 && n <= prev {
			t.Errorf("a name of a later millisecond sorts first: %q after %q", n, prev)
		}
		prev = n
	}
	a, _ := newStreamName("message:", t0)
	b, _ := newStreamName("message:", t0.Add(365*24*time.Hour))
	if a >= b {
		t.Errorf("a name a year later sorts first: %q, %q", b, a)
	}
}
