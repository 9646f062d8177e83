package harness

import (
	"strings"
	"testing"
)

func TestDiffRows(t *testing.T) {
	if d := DiffRows([]string{"a", "b"}, []string{"a", "b"}); d != "" {
		t.Errorf("equal tables differ: %s", d)
	}
	d := DiffRows([]string{"a", "b", "b"}, []string{"a", "b", "c"})
	if !strings.Contains(d, "1 only in the live table (first: b)") || !strings.Contains(d, "1 only in the rebuild (first: c)") {
		t.Errorf("diff %q", d)
	}
}
