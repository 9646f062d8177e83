// Package migration reads a set of versioned schema migrations (NNNN_description.sql
// files embedded by a store) in the order every store applies them.
package migration

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one NNNN_description.sql file of a set.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Read returns the *.sql files at the root of fsys in version order. Names must be
// NNNN_description.sql with a unique NNNN >= 1; an empty set is an error, since a store
// that embeds none was built wrong.
func Read(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var migs []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_description.sql with NNNN >= 1", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %q and %q both have version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		migs = append(migs, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	if len(migs) == 0 {
		return nil, errors.New("no NNNN_description.sql files at the root of the given fs")
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].Version < migs[j].Version })
	return migs, nil
}

// Unknown returns the first applied version that migs does not have: a database
// migrated by a newer build, which an older binary must not open.
func Unknown(migs []Migration, applied []int) (int, bool) {
	known := make(map[int]bool, len(migs))
	for _, m := range migs {
		known[m.Version] = true
	}
	for _, v := range applied {
		if !known[v] {
			return v, true
		}
	}
	return 0, false
}
