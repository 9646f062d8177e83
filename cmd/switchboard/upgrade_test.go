package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/eventstore/sqlite"
)

// A store written before streams were stored under random names (issue 12): every
// command refuses it, naming the one-off copy; `copy-store --upgrade` copies it into the
// new form, where neither the stream names nor the payloads hold anyone's identifier,
// the living read as before, and a person erased in the old store stays erased without
// their old stream name coming along.
func TestStoreBeforeHiddenNamesIsRefusedAndUpgraded(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.db"), filepath.Join(dir, "new.db")
	oldCfg, newCfg := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
	for cfg, db := range map[string]string{oldCfg: oldPath, newCfg: newPath} {
		if err := os.WriteFile(cfg, []byte(testConfig(db, "http://127.0.0.1:1", "http://127.0.0.1:1")), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The old form: streams named by identifiers, values in the clear, as the builds
	// before sealing wrote them; X was erased there ("[erased]" values) but X's stream
	// names still hold X's user id.
	old, err := sqlite.Open(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(stream string, typ string, p any) {
		t.Helper()
		e, err := domain.NewEvent(newID(), typ, p, time.Now(), newID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Append(ctx, stream, domain.AnyVersion, e); err != nil {
			t.Fatal(err)
		}
	}
	yKey := domain.MatchKey{Workspace: "acme", Lookup: "property:telegram_user_id", Identifier: "7770456"}
	write(domain.MessageStream("acme-tg", "7770456:1"), domain.EventMessageReceived, domain.MessageReceived{
		ChannelID: "acme-tg", ChannelKind: domain.KindTelegram, WorkspaceID: "acme", MessageID: "7770456:1",
		Sender: domain.Sender{UserID: "7770456", FirstName: "Yolanda"}, Text: "Y on Telegram: order 4410-YZ"})
	write(yKey.Stream(), domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: yKey, ContactID: "102", How: "matched"})
	xKey := domain.MatchKey{Workspace: "acme", Lookup: "property:telegram_user_id", Identifier: domain.Erased}
	write(domain.MessageStream("acme-tg", "5550123:1"), domain.EventMessageReceived, domain.MessageReceived{
		ChannelID: "acme-tg", ChannelKind: domain.KindTelegram, WorkspaceID: "acme", MessageID: domain.Erased,
		Sender: domain.Sender{UserID: domain.Erased, FirstName: domain.Erased}, Text: domain.Erased})
	write("matchkey:acme:property:telegram_user_id:5550123", domain.EventMatchKeyResolved, domain.MatchKeyResolved{MatchKey: xKey, ContactID: "101", How: "matched"})
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"audit", "--config", oldCfg, "contact", "acme", "102"}, &out, &errOut); code == 0 ||
		!strings.Contains(errOut.String(), "copy-store --upgrade --from "+oldCfg) {
		t.Fatalf("audit of an old store: exit %d, %s%s; want a refusal naming copy-store --upgrade", code, out.String(), errOut.String())
	}
	cfg, err := loadConfig(oldCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(cfg, nil); !errors.Is(err, errStoreBeforeHiddenNames) {
		t.Fatalf("open an old store: %v; want errStoreBeforeHiddenNames", err)
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"copy-store", "--upgrade", "--from", oldCfg, "--to", newCfg}, &out, &errOut); code != 0 {
		t.Fatalf("copy-store --upgrade: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "upgraded 4 events") {
		t.Errorf("copy-store --upgrade said %q", out.String())
	}
	// A second upgrade of the same source into the now full target is refused.
	if code := run([]string{"copy-store", "--upgrade", "--from", oldCfg, "--to", newCfg}, &out, &errOut); code == 0 {
		t.Error("a second upgrade into a full target succeeded")
	}

	ncfg, err := loadConfig(newCfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ncfg, nil)
	if err != nil {
		t.Fatalf("open the upgraded store: %v", err)
	}
	y := readText(t, st, "acme-tg", "7770456:1")
	if y.Text != "Y on Telegram: order 4410-YZ" || y.Sender.FirstName != "Yolanda" {
		t.Errorf("Y after the upgrade: %+v", y)
	}
	all, err := st.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	erasedRead := 0
	for _, e := range all {
		if e.StoredStream == "" || e.StoredStream == e.StreamID && !strings.Contains(string(e.Payload), domain.Erased) {
			t.Errorf("event %d (%s) in %q/%q: want a stored random name", e.Position, e.Type, e.StreamID, e.StoredStream)
		}
		if e.StreamID == e.StoredStream {
			erasedRead++
		}
	}
	if erasedRead != 2 {
		t.Errorf("%d events of the upgraded store read as erased; want X's 2", erasedRead)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sqlite.Open(newPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	stored, err := raw.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range stored {
		for _, v := range []string{"5550123", "7770456", "Yolanda", "4410-YZ"} {
			if strings.Contains(e.StreamID, v) || bytes.Contains(e.Payload, []byte(v)) {
				t.Errorf("the upgraded log holds %q in the clear at %d: %s %s", v, e.Position, e.StreamID, e.Payload)
			}
		}
	}
}
