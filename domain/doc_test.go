package domain

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// declaredNames lists the names declared in the non-test files of dir: functions,
// types, constants, variables, and Type.Method / Type.Field for methods, struct
// fields and interface methods. prefix is put before each ("command.").
func declaredNames(t *testing.T, dir, prefix string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[prefix+d.Name.Name] = true
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if g, ok := typ.(*ast.IndexExpr); ok {
					typ = g.X
				}
				if g, ok := typ.(*ast.IndexListExpr); ok {
					typ = g.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					names[prefix+id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[prefix+s.Name.Name] = true
						var fields *ast.FieldList
						switch tt := s.Type.(type) {
						case *ast.StructType:
							fields = tt.Fields
						case *ast.InterfaceType:
							fields = tt.Methods
						}
						if fields != nil {
							for _, fl := range fields.List {
								for _, n := range fl.Names {
									names[prefix+s.Name.Name+"."+n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[prefix+n.Name] = true
						}
					}
				}
			}
		}
	}
	return names
}

var ruleRow = regexp.MustCompile(`^\s*(\d+)\s`)

// TestRulebookNamesExist: doc.go maps every rule of SPEC §3 (1–17) to the names that
// implement it, or says what is not built yet; every name it gives is declared in
// domain or domain/command, so the map cannot rot as code moves.
func TestRulebookNamesExist(t *testing.T) {
	names := declaredNames(t, ".", "")
	for n := range declaredNames(t, "command", "command.") {
		names[n] = true
	}
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", src, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("doc.go has no package comment (%v)", err)
	}
	type row struct{ implemented, notYet []string }
	rules := map[int]*row{}
	current := 0
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 3 || strings.Contains(cols[1], "implemented by") {
			continue
		}
		if m := ruleRow.FindStringSubmatch(cols[0]); m != nil {
			current, _ = strconv.Atoi(m[1])
			if rules[current] != nil {
				t.Errorf("rule %d is listed twice", current)
			}
			rules[current] = &row{}
		} else if strings.TrimSpace(cols[0]) != "" || current == 0 {
			t.Errorf("doc.go table line %q is neither a rule nor a continuation", line)
			continue
		}
		r := rules[current]
		for _, n := range strings.Split(cols[1], ",") {
			if n = strings.TrimSpace(n); n != "" && n != "-" {
				r.implemented = append(r.implemented, n)
			}
		}
		if s := strings.TrimSpace(cols[2]); s != "" && s != "-" {
			r.notYet = append(r.notYet, s)
		}
	}
	for rule := 1; rule <= 17; rule++ {
		r := rules[rule]
		if r == nil {
			t.Errorf("rule %d is missing from doc.go's table", rule)
			continue
		}
		if len(r.implemented) == 0 && len(r.notYet) == 0 {
			t.Errorf("rule %d names neither what implements it nor what is not built yet", rule)
		}
		for _, n := range r.implemented {
			if !names[n] {
				t.Errorf("rule %d names %s, which is not declared in domain or domain/command", rule, n)
			}
		}
	}
	if len(rules) != 17 {
		t.Errorf("doc.go's table lists %d rules, want 17", len(rules))
	}
}
