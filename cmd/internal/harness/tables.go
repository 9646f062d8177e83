package harness

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// ReadTables reads each of tables as sorted rows of text ("col=value col=value", values
// query-escaped), so that two databases' tables compare as string sets.
func ReadTables(ctx context.Context, db *sql.DB, tables []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, t := range tables {
		r, err := db.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t, err)
		}
		cols, _ := r.Columns()
		var lines []string
		for r.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				r.Close()
				return nil, err
			}
			parts := make([]string, len(cols))
			for i, v := range vals {
				parts[i] = cols[i] + "=" + url.QueryEscape(v.String)
			}
			lines = append(lines, strings.Join(parts, " "))
		}
		err = r.Err()
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t, err)
		}
		sort.Strings(lines)
		out[t] = lines
	}
	return out, nil
}

// DiffRows describes how two sorted row sets differ ("" when equal).
func DiffRows(live, rebuilt []string) string {
	in := func(xs []string) map[string]int {
		m := map[string]int{}
		for _, x := range xs {
			m[x]++
		}
		return m
	}
	a, b := in(live), in(rebuilt)
	var onlyLive, onlyRebuilt []string
	for k, n := range a {
		if b[k] < n {
			onlyLive = append(onlyLive, k)
		}
	}
	for k, n := range b {
		if a[k] < n {
			onlyRebuilt = append(onlyRebuilt, k)
		}
	}
	if len(onlyLive) == 0 && len(onlyRebuilt) == 0 {
		return ""
	}
	sort.Strings(onlyLive)
	sort.Strings(onlyRebuilt)
	first := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		if len(xs[0]) > 300 {
			return xs[0][:300] + "…"
		}
		return xs[0]
	}
	return fmt.Sprintf("%d rows live, %d rebuilt; %d only in the live table (first: %s); %d only in the rebuild (first: %s)",
		len(live), len(rebuilt), len(onlyLive), first(onlyLive), len(onlyRebuilt), first(onlyRebuilt))
}
