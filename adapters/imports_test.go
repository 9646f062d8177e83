package adapters_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "switchboard/adapters/"

// TestNoAdapterImportsBack: an adapter (a directory under adapters/ with its
// subpackages) may use another — the platforms use inbound and config, webhooks uses
// the platforms — but never one that uses it back, directly or through others: that
// cycle is what made platform packages import subpackages of webhooks. Test files are
// left out, as the build leaves them out.
func TestNoAdapterImportsBack(t *testing.T) {
	uses := map[string]map[string]string{} // adapter → adapter it uses → an import that shows it
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "testdata") {
			return nil
		}
		from := adapterOf(filepath.ToSlash(filepath.Dir(path)))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			rest, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			if to := adapterOf(rest); to != from {
				if uses[from] == nil {
					uses[from] = map[string]string{}
				}
				uses[from][to] = path + " imports " + p
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) == 0 {
		t.Fatal("found no imports between adapters: is the test running in adapters/?")
	}
	for a := range uses {
		for b, why := range reach(uses, a) {
			if back, ok := reach(uses, b)[a]; ok {
				t.Errorf("adapters %s and %s use each other: %s; and back: %s", a, b, why, back)
			}
		}
	}
	var edges []string
	for a, bs := range uses {
		for b := range bs {
			edges = append(edges, a+"→"+b)
		}
	}
	sort.Strings(edges)
	t.Logf("adapters using others: %s", strings.Join(edges, " "))
}

// adapterOf is the first element of a path relative to adapters/.
func adapterOf(rel string) string {
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// reach is every adapter a uses directly or through others, with the first import on
// the way.
func reach(uses map[string]map[string]string, a string) map[string]string {
	out := map[string]string{}
	queue := []string{a}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for b, why := range uses[cur] {
			if _, seen := out[b]; !seen && b != a {
				if cur != a {
					why = out[cur] + ", then " + why
				}
				out[b] = why
				queue = append(queue, b)
			}
		}
	}
	return out
}
