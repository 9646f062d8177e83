package rebuildbench_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/cmd/internal/rebuildbench"
	"switchboard/domain"
	"switchboard/eventstore/datakeys"
	"switchboard/eventstore/sealed"
	"switchboard/eventstore/sqlite"
)

type channels map[string]domain.ChannelSettings

func (c channels) Channel(id string) (domain.ChannelSettings, bool) { s, ok := c[id]; return s, ok }

// TestFillWritesSealedTrafficTheRawScanReads: the log holds what Fill says it wrote, in
// 4 events per known sender's message and 6 for a first one, with the senders' phone
// numbers sealed, and the raw scan reads every row of it.
func TestFillWritesSealedTrafficTheRawScanReads(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "fill.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := datakeys.Open(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	chs := channels{"sms": {ID: "sms", WorkspaceID: "w", Kind: domain.KindSMS, DefaultRegion: "US"}}
	log, err := sealed.NewStore(st, keys, chs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rebuildbench.Fill(ctx, log, chs, rebuildbench.Traffic{Events: 2000, Channels: []string{"sms"}, Workspace: "w", Senders: 50, Writers: 8})
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.LastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2000 || n != last {
		t.Fatalf("Fill says %d events, the log holds %d; want at least 2000, the same", n, last)
	}
	counts := map[string]int64{}
	var clear int
	for after := int64(0); ; {
		evs, err := st.ReadAll(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			counts[e.Type]++
			if strings.Contains(string(e.Payload), "+1415") {
				clear++
			}
		}
		after = evs[len(evs)-1].Position
	}
	messages := counts[domain.EventMessageReceived]
	if counts[domain.EventContactCreated] != 50 || counts[domain.EventMatchKeyResolved] != 50 || counts[domain.EventMatchKeyClaimed] != 50 ||
		counts[domain.EventContactMatched] != messages-50 || counts[domain.EventMessagePublished] != messages || n != 4*messages+100 {
		t.Errorf("%d events of %d messages: %v; want 4 per message and 2 more per sender", n, messages, counts)
	}
	if clear != 0 {
		t.Errorf("%d stored payloads hold a phone number in the clear", clear)
	}
	rows, err := rebuildbench.RawScan(ctx, st.DB(), 300)
	if err != nil || rows != n {
		t.Errorf("raw scan read %d rows (%v), want %d", rows, err, n)
	}
}
