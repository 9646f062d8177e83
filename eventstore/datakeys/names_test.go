package datakeys

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/domain"
	"switchboard/domain/command"
)

var _ command.StreamNames = Streams{}

func TestStreamNamesHoldNoIdentifierAndDieWithTheirOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sb.db")
	st := openStore(t, path)
	k := mustOpen(t, st, testSecret)
	names := Streams{Keys: k}
	keyX := domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155552671"}
	keyY := domain.MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155550199"}
	msgX, msgY := "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQTdGQ0", "wamid.HBgLMTQxNTU1NTAxOTkVAgASGBQzQUNCRE"

	ksX, _, err := names.KeyStream(ctx, keyX, true)
	if err != nil {
		t.Fatal(err)
	}
	mX, _, err := names.MessageStream(ctx, "acme-wa", msgX, domain.KeySubject(keyX), true)
	if err != nil {
		t.Fatal(err)
	}
	mY, _, err := names.MessageStream(ctx, "acme-wa", msgY, domain.KeySubject(keyY), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{ksX, mX, mY} {
		if strings.Contains(s, "4155") || strings.Contains(s, "wamid") || strings.Contains(s, "acme") {
			t.Errorf("stream name %q holds an identifier", s)
		}
	}
	// A redelivery (or another process) finds the same names: deduplication holds.
	other := Streams{Keys: mustOpen(t, st, testSecret)}
	if again, ok, err := other.MessageStream(ctx, "acme-wa", msgX, domain.KeySubject(keyX), true); err != nil || !ok || again != mX {
		t.Errorf("redelivered message: %q, %v, %v; want %q", again, ok, err, mX)
	}
	if again, ok, err := other.KeyStream(ctx, keyX, false); err != nil || !ok || again != ksX {
		t.Errorf("key stream found again: %q, %v, %v; want %q", again, ok, err, ksX)
	}
	if _, ok, _ := other.MessageStream(ctx, "acme-wa", "wamid.never-seen", "", false); ok {
		t.Error("a message never seen has a stream")
	}

	macX := k.refMAC("name\x00" + domain.MessageRef("acme-wa", msgX))
	xID, _ := k.SubjectID(ctx, domain.KeySubject(keyX), false)
	if err := k.Destroy(ctx, xID); err != nil {
		t.Fatal(err)
	}
	// Gone for every process: nothing leads from X's message id to its stream any more.
	for name, s := range map[string]Streams{"destroying": names, "other, after Forget": other} {
		if name != "destroying" {
			s.Keys.Forget(xID)
		}
		if _, ok, err := s.MessageStream(ctx, "acme-wa", msgX, "", false); ok || err != nil {
			t.Errorf("%s: X's message stream still found (%v)", name, err)
		}
		if _, ok, err := s.KeyStream(ctx, keyX, false); ok || err != nil {
			t.Errorf("%s: X's key stream still found (%v)", name, err)
		}
		if got, ok, err := s.MessageStream(ctx, "acme-wa", msgY, "", false); !ok || err != nil || got != mY {
			t.Errorf("%s: Y's message stream: %q, %v, %v", name, got, ok, err)
		}
	}
	for f, b := range storeFiles(t, path) {
		if strings.Contains(string(b), macX) {
			t.Errorf("the index row of X's message name is still in %s", f)
		}
	}
}
