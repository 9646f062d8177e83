package inbound

import (
	"encoding/json"
	"testing"
	"time"
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
