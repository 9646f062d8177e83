package emulator_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

func TestSearchSemantics(t *testing.T) {
	f := newFixture(t, emulator.Options{SearchPerSecond: 1000})
	f.emu.DefineProperty("tg_username", true)
	ana := f.emu.CreateContactAt(map[string]string{"firstname": "Ana", "lastname": "Smith", "email": "ana@hubspot.com", "tg_username": "AnaD"}, f.clock.Now().Add(-3*time.Hour))
	bo := f.emu.CreateContactAt(map[string]string{"firstname": "Bo", "lastname": "Smith", "email": "bo@example.com"}, f.clock.Now().Add(-2*time.Hour))
	cy := f.emu.CreateContactAt(map[string]string{"firstname": "Alice", "lastname": "Jones"}, f.clock.Now().Add(-time.Hour))

	one := func(fs ...filter) map[string]any { return map[string]any{"filterGroups": []group{{Filters: fs}}} }
	tests := []struct {
		name string
		body map[string]any
		want []string
	}{
		{"no filters: all, creation order", map[string]any{}, []string{ana, bo, cy}},
		{"EQ ignores case", one(filter{PropertyName: "tg_username", Operator: "EQ", Value: "anad"}), []string{ana}},
		{"EQ email ignores case", one(filter{PropertyName: "email", Operator: "EQ", Value: "BO@EXAMPLE.COM"}), []string{bo}},
		{"AND within a group", one(filter{PropertyName: "lastname", Operator: "EQ", Value: "smith"}, filter{PropertyName: "firstname", Operator: "NEQ", Value: "ana"}), []string{bo}},
		{"OR across groups", map[string]any{"filterGroups": []group{
			{Filters: []filter{{PropertyName: "firstname", Operator: "EQ", Value: "Alice"}}},
			{Filters: []filter{{PropertyName: "email", Operator: "EQ", Value: "bo@example.com"}}},
		}}, []string{bo, cy}},
		{"IN with lowercase values", one(filter{PropertyName: "tg_username", Operator: "IN", Values: []string{"anad", "zed"}}), []string{ana}},
		{"IN with uppercase values matches nothing", one(filter{PropertyName: "tg_username", Operator: "IN", Values: []string{"AnaD"}}), []string{}},
		{"NOT_IN includes contacts without a value", one(filter{PropertyName: "tg_username", Operator: "NOT_IN", Values: []string{"anad"}}), []string{bo, cy}},
		{"HAS_PROPERTY", one(filter{PropertyName: "email", Operator: "HAS_PROPERTY"}), []string{ana, bo}},
		{"NOT_HAS_PROPERTY", one(filter{PropertyName: "email", Operator: "NOT_HAS_PROPERTY"}), []string{cy}},
		{"CONTAINS_TOKEN wildcard", one(filter{PropertyName: "email", Operator: "CONTAINS_TOKEN", Value: "*@HubSpot.com"}), []string{ana}},
		{"CONTAINS_TOKEN prefix", one(filter{PropertyName: "firstname", Operator: "CONTAINS_TOKEN", Value: "al*"}), []string{cy}},
		{"GT on createdate (epoch ms)", one(filter{PropertyName: "createdate", Operator: "GT", Value: fmt.Sprint(f.clock.Now().Add(-150 * time.Minute).UnixMilli())}), []string{bo, cy}},
		{"LTE on createdate (ISO)", one(filter{PropertyName: "createdate", Operator: "LTE", Value: f.clock.Now().Add(-2 * time.Hour).Format(time.RFC3339)}), []string{ana, bo}},
		{"sort object form descending", map[string]any{"sorts": []map[string]string{{"propertyName": "createdate", "direction": "DESCENDING"}}}, []string{cy, bo, ana}},
		{"sort string form", map[string]any{"sorts": []string{"-createdate"}}, []string{cy, bo, ana}},
		{"sort by firstname", map[string]any{"sorts": []string{"firstname"}}, []string{cy, ana, bo}},
		{"free-text query", map[string]any{"query": "smith"}, []string{ana, bo}},
	}
	for _, tc := range tests {
		if got := f.searchIDs(tc.body); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	r := f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{"properties": []string{"email", "phone"}, "limit": 1})
	f.expect(r, 200)
	m := r.json(t)
	res := m["results"].([]any)[0].(map[string]any)
	if m["total"] != float64(3) || props(res)["email"] != "ana@hubspot.com" || res["createdAt"] == nil || res["archived"] != false {
		t.Fatalf("search answer %s", r.raw)
	}
	if v, ok := props(res)["phone"]; !ok || v != nil {
		t.Fatalf("empty requested property not null: %s", r.raw)
	}
	for _, h := range []string{"X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds"} {
		if r.header.Get(h) != "" {
			t.Fatalf("search answer carries %s", h)
		}
	}
}

func TestSearchLimitsAndPaging(t *testing.T) {
	f := newFixture(t, emulator.Options{SearchPerSecond: 1000})
	var all []string
	for i := 0; i < 25; i++ {
		all = append(all, f.emu.CreateContact(map[string]string{"firstname": fmt.Sprint("n", i)}))
	}
	var got []string
	after := ""
	for page := 0; ; page++ {
		body := map[string]any{"limit": 10}
		if after != "" {
			body["after"] = after
		}
		r := f.do("POST", "/crm/v3/objects/contacts/search", body)
		f.expect(r, 200)
		m := r.json(t)
		if m["total"] != float64(25) {
			t.Fatalf("total %v", m["total"])
		}
		got = append(got, ids(m)...)
		p, ok := m["paging"].(map[string]any)
		if !ok {
			if page != 2 {
				t.Fatalf("paging ended on page %d", page)
			}
			break
		}
		after = p["next"].(map[string]any)["after"].(string)
	}
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("paged %v, want %v", got, all)
	}
	if d := f.searchIDs(map[string]any{}); len(d) != 10 {
		t.Fatalf("default limit gave %d", len(d))
	}

	filters := func(n int) []filter {
		var fs []filter
		for i := 0; i < n; i++ {
			fs = append(fs, filter{PropertyName: "firstname", Operator: "HAS_PROPERTY"})
		}
		return fs
	}
	groups := func(n, per int) []group {
		var gs []group
		for i := 0; i < n; i++ {
			gs = append(gs, group{Filters: filters(per)})
		}
		return gs
	}
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
	}{
		"5 groups ok":          {map[string]any{"filterGroups": groups(5, 3)}, 200},
		"6 groups":             {map[string]any{"filterGroups": groups(6, 1)}, 400},
		"6 filters ok":         {map[string]any{"filterGroups": groups(1, 6)}, 200},
		"7 filters in a group": {map[string]any{"filterGroups": groups(1, 7)}, 400},
		"18 filters ok":        {map[string]any{"filterGroups": groups(3, 6)}, 200},
		"19 filters":           {map[string]any{"filterGroups": append(groups(3, 6), group{Filters: filters(1)})}, 400},
		"limit 200 ok":         {map[string]any{"limit": 200}, 200},
		"limit 201":            {map[string]any{"limit": 201}, 400},
		"after not an integer": {map[string]any{"after": "abc"}, 400},
		"beyond 10000":         {map[string]any{"after": "9990", "limit": 20}, 400},
		"unknown property":     {map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "nope", Operator: "EQ", Value: "x"}}}}}, 400},
		"unknown operator":     {map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "firstname", Operator: "LIKE", Value: "x"}}}}}, 400},
		"IN without values":    {map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "firstname", Operator: "IN"}}}}}, 400},
	} {
		r := f.do("POST", "/crm/v3/objects/contacts/search", tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", name, r.status, tc.status, r.raw)
		}
		if tc.status == 400 && r.json(t)["category"] != "VALIDATION_ERROR" {
			t.Errorf("%s: body %s", name, r.raw)
		}
	}
}

func TestSearchLag(t *testing.T) {
	f := newFixture(t, emulator.Options{SearchLag: 5 * time.Second, SearchPerSecond: 1000})
	byEmail := func(email string) []string {
		return f.searchIDs(map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "email", Operator: "EQ", Value: email}}}}})
	}
	id := f.create(map[string]string{"email": "ana@example.com", "firstname": "Ana"})
	if got := byEmail("ana@example.com"); len(got) != 0 {
		t.Fatalf("new contact visible at once: %v", got)
	}
	// Reads by id and unique property see the new contact at once.
	f.expect(f.do("GET", "/crm/v3/objects/contacts/ana%40example.com?idProperty=email", nil), 200)
	f.clock.Advance(4 * time.Second)
	if got := byEmail("ana@example.com"); len(got) != 0 {
		t.Fatalf("visible before the lag passed: %v", got)
	}
	f.clock.Advance(time.Second)
	if got := byEmail("ana@example.com"); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("after the lag: %v", got)
	}

	// An update is searched in its previous state until the lag passes.
	f.expect(f.do("PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"email": "ana@new.example", "firstname": "Anita"}}), 200)
	f.clock.Advance(2 * time.Second)
	if got := byEmail("ana@example.com"); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("old value not found during lag: %v", got)
	}
	r := f.do("POST", "/crm/v3/objects/contacts/search", map[string]any{"properties": []string{"firstname"}})
	if p := props(r.json(t)["results"].([]any)[0].(map[string]any)); p["firstname"] != "Ana" {
		t.Fatalf("search shows %v during lag, want the old firstname", p)
	}
	if got := byEmail("ana@new.example"); len(got) != 0 {
		t.Fatalf("new value found during lag: %v", got)
	}
	f.clock.Advance(3 * time.Second)
	if got := byEmail("ana@new.example"); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("new value after lag: %v", got)
	}
	if got := byEmail("ana@example.com"); len(got) != 0 {
		t.Fatalf("old value after lag: %v", got)
	}

	// Seeded in the past: already indexed.
	old := f.emu.CreateContactAt(map[string]string{"email": "old@example.com"}, f.clock.Now().Add(-time.Minute))
	if got := byEmail("old@example.com"); !reflect.DeepEqual(got, []string{old}) {
		t.Fatalf("contact seeded a minute ago: %v", got)
	}
	// Archive also reaches search after the lag.
	f.expect(f.do("DELETE", "/crm/v3/objects/contacts/"+old, nil), 204)
	if got := byEmail("old@example.com"); len(got) != 1 {
		t.Fatalf("archived contact gone before the lag: %v", got)
	}
	f.clock.Advance(5 * time.Second)
	if got := byEmail("old@example.com"); len(got) != 0 {
		t.Fatalf("archived contact after the lag: %v", got)
	}
}
