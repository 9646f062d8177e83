package inbound

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestID(t *testing.T) {
	var v struct{ A, B, C ID }
	if err := json.Unmarshal([]byte(`{"A":"24012345678901234","B":7000000001234567,"C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "24012345678901234" || v.B != "7000000001234567" || v.C != "" {
		t.Errorf("got %+v", v)
	}
	for _, bad := range []string{`{"A":1.5}`, `{"A":{}}`, `{"A":true}`, `{"A":1e3}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestTimestamp(t *testing.T) {
	var v struct{ S, N, F, E Timestamp }
	if err := json.Unmarshal([]byte(`{"S":"1749416383","N":1457764197627,"F":"1355517523.000005","E":""}`), &v); err != nil {
		t.Fatal(err)
	}
	if !v.S.Seconds().Equal(time.Unix(1749416383, 0)) || !v.N.Millis().Equal(time.UnixMilli(1457764197627)) || v.F.Value != 1355517523 || v.E.Set {
		t.Errorf("got %+v", v)
	}
	if !(Timestamp{Value: 1 << 62, Set: true}).Seconds().IsZero() || !(Timestamp{Value: -5, Set: true}).Millis().IsZero() {
		t.Error("absurd timestamps are not zero")
	}
	if err := json.Unmarshal([]byte(`{"S":"soon"}`), &v); err == nil {
		t.Error("non-numeric timestamp accepted")
	}
}

func TestDecodeObject(t *testing.T) {
	var v map[string]any
	for _, bad := range []string{``, `null`, `[]`, `"x"`, `{"a":1}x`, `{`} {
		if err := DecodeObject([]byte(bad), &v); err == nil || !IsMalformed(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := DecodeObject([]byte(" \n{\"a\":1}"), &v); err != nil {
		t.Error(err)
	}
}

func TestCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := NewCache[string](time.Minute, 2, func() time.Time { return now })
	c.Put("a", "1")
	c.Put("b", "2")
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatal("a missing")
	}
	c.Put("c", "3")
	if c.Len() != 2 {
		t.Errorf("size %d, want 2", c.Len())
	}
	if _, ok := c.Get("c"); !ok {
		t.Error("newest entry evicted")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.Get("c"); ok {
		t.Error("expired entry returned")
	}
}

func TestPlaceholders(t *testing.T) {
	if got := JoinPlaceholders([]string{MediaKindFromContentType("image/jpeg"), MediaKindFromContentType("application/pdf"), MediaKindFromContentType("text/x-vcard"), ""}); got != "[image] [file] [contact] [attachment]" {
		t.Errorf("got %q", got)
	}
	if got := CleanText("ok\xffok"); got != "ok\uFFFDok" {
		t.Errorf("CleanText = %q", got)
	}
}

func TestTruncateText(t *testing.T) {
	const limit = 100
	for _, tc := range []struct {
		name, text string
		cut        bool
	}{
		{"empty", "", false},
		{"at the limit", strings.Repeat("a", limit), false},
		{"one byte over", strings.Repeat("a", limit+1), true},
		{"three-byte characters", strings.Repeat("漢", 40), true},
		{"four-byte characters", strings.Repeat("😀", 30), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := TruncateText(tc.text, limit)
			if cut != tc.cut {
				t.Fatalf("cut = %v, want %v", cut, tc.cut)
			}
			if !cut {
				if got != tc.text {
					t.Errorf("changed a text that fits: %q", got)
				}
				return
			}
			marker := fmt.Sprintf("\n[truncated by switchboard: the message had %d bytes]", len(tc.text))
			if len(got) > limit || !utf8.ValidString(got) || !strings.HasSuffix(got, marker) {
				t.Errorf("got %q (%d bytes), want at most %d valid bytes ending in the marker", got, len(got), limit)
			}
			if kept := strings.TrimSuffix(got, marker); !strings.HasPrefix(tc.text, kept) || len(kept) < limit-len(marker)-3 {
				t.Errorf("kept %q, not the text's beginning", kept)
			}
		})
	}
	// A limit smaller than the marker still bounds the text.
	if got, cut := TruncateText(strings.Repeat("é", 50), 10); !cut || len(got) > 10 || !utf8.ValidString(got) {
		t.Errorf("tiny limit: %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"ééé", 3, "é…"}, // never half a character
		{"abc", 0, "…"},
	} {
		if got := Excerpt(tc.in, tc.n); got != tc.want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
