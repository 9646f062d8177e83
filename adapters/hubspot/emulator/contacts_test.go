package emulator_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

const uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

func TestCreateReadUpdate(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.emu.DefineProperty("wa_id", true)
	r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{
		"properties": map[string]any{"firstname": "Ana", "email": "Ana@Example.com", "phone": "(415) 555-2671", "wa_id": 14155552671}, "associations": []any{}})
	f.expect(r, http.StatusCreated)
	obj := r.json(t)
	id := obj["id"].(string)
	if !regexp.MustCompile(`^\d+$`).MatchString(id) || obj["archived"] != false {
		t.Fatalf("create answer %s", r.raw)
	}
	if obj["createdAt"] != "2026-01-15T10:00:00.000Z" || props(obj)["createdate"] != "2026-01-15T10:00:00.000Z" || props(obj)["hs_object_id"] != id || props(obj)["wa_id"] != "14155552671" {
		t.Fatalf("create answer %s", r.raw)
	}
	if r.header.Get("X-HubSpot-RateLimit-Max") != "110" || r.header.Get("X-HubSpot-RateLimit-Remaining") != "109" || r.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" {
		t.Fatalf("rate-limit headers %v", r.header)
	}
	second := f.create(map[string]string{"firstname": "Bo"})
	if second <= id || len(second) != len(id) {
		t.Fatalf("ids %s then %s: want increasing", id, second)
	}

	// Defaults without properties=: empty defaults are null.
	r = f.do("GET", "/crm/v3/objects/contacts/"+id, nil)
	f.expect(r, 200)
	p := props(r.json(t))
	if p["firstname"] != "Ana" || p["lastname"] != nil || p["email"] != "Ana@Example.com" {
		t.Fatalf("default properties %v", p)
	}
	if _, ok := p["lastname"]; !ok {
		t.Fatal("empty default property missing, want null")
	}
	if _, ok := p["phone"]; ok {
		t.Fatal("phone returned without being asked")
	}
	// Requested: empty is null, undefined omitted.
	r = f.do("GET", "/crm/v3/objects/contacts/"+id+"?properties=phone,mobilephone,nosuchprop", nil)
	p = props(r.json(t))
	if v, ok := p["mobilephone"]; !ok || v != nil {
		t.Fatalf("mobilephone = %v, %v; want null", v, ok)
	}
	if _, ok := p["nosuchprop"]; ok || p["phone"] != "(415) 555-2671" {
		t.Fatalf("requested properties %v", p)
	}

	// Unique-property reads: the value in the path, URL-decoded, case-insensitive.
	for _, path := range []string{"ana%40example.com?idProperty=email", "ANA@EXAMPLE.COM?idProperty=email", "14155552671?idProperty=wa_id"} {
		r = f.do("GET", "/crm/v3/objects/contacts/"+path, nil)
		f.expect(r, 200)
		if got := r.json(t)["id"]; got != id {
			t.Fatalf("%s: id %v, want %s", path, got, id)
		}
	}
	f.expect(f.do("GET", "/crm/v3/objects/contacts/nobody%40example.com?idProperty=email", nil), 404)
	f.expect(f.do("GET", "/crm/v3/objects/contacts/Ana?idProperty=firstname", nil), 400)

	// Update: empty string clears; lastmodifieddate moves.
	f.clock.Advance(time.Minute)
	r = f.do("PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"firstname": "", "lastname": "Díaz"}})
	f.expect(r, 200)
	obj = r.json(t)
	if _, ok := props(obj)["firstname"]; ok || props(obj)["lastname"] != "Díaz" || obj["updatedAt"] != "2026-01-15T10:01:00.000Z" {
		t.Fatalf("update answer %s", r.raw)
	}
	c, _ := f.emu.Contact(id)
	if c.Properties["firstname"] != "" || c.Properties["lastmodifieddate"] != "2026-01-15T10:01:00.000Z" {
		t.Fatalf("stored %v", c.Properties)
	}

	// The dated path family reaches the same handlers.
	r = f.do("GET", "/crm/objects/2026-03/contacts/"+id+"?properties=lastname", nil)
	f.expect(r, 200)
	if props(r.json(t))["lastname"] != "Díaz" {
		t.Fatalf("dated path answer %s", r.raw)
	}
	// List.
	r = f.do("GET", "/crm/v3/objects/contacts?limit=1", nil)
	f.expect(r, 200)
	if m := r.json(t); len(ids(m)) != 1 || m["paging"].(map[string]any)["next"].(map[string]any)["after"] != second {
		t.Fatalf("list %s", r.raw)
	}
}

func TestDuplicateUniqueValuesAnswer409(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.emu.DefineProperty("telegram_user_id", true)
	first := f.create(map[string]string{"email": "ana@example.com", "telegram_user_id": "777"})
	want := regexp.MustCompile(`^\{"status":"error","message":"Contact already exists. Existing ID: ` + first + `","correlationId":"(` + uuidRE + `)","category":"CONFLICT"\}\n$`)

	var seen []string
	for _, props := range []map[string]string{
		{"email": "ANA@example.com"},
		{"firstname": "Other", "telegram_user_id": "777"},
	} {
		r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": props})
		f.expect(r, http.StatusConflict)
		m := want.FindSubmatch(r.raw)
		if m == nil {
			t.Fatalf("409 body %s", r.raw)
		}
		seen = append(seen, string(m[1]))
	}
	if seen[0] == seen[1] {
		t.Fatal("correlationId reused")
	}
	// An update taking another contact's unique value is refused the same way.
	other := f.create(map[string]string{"email": "bo@example.com"})
	r := f.do("PATCH", "/crm/v3/objects/contacts/"+other, map[string]any{"properties": map[string]string{"telegram_user_id": "777"}})
	f.expect(r, http.StatusConflict)
	if !want.Match(r.raw) {
		t.Fatalf("409 body %s", r.raw)
	}
	if n := len(f.emu.Contacts()); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
	// An archived contact's email is free again.
	if err := f.emu.Archive(first); err != nil {
		t.Fatal(err)
	}
	f.create(map[string]string{"email": "ana@example.com"})
}

func TestValidationErrors(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	r := f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"firstname": "Ana", "my_wa_id": "1"}})
	f.expect(r, 400)
	m := r.json(t)
	if m["status"] != "error" || m["category"] != "VALIDATION_ERROR" || !regexp.MustCompile(uuidRE).MatchString(m["correlationId"].(string)) ||
		!strings.HasPrefix(m["message"].(string), `Property values were not valid: [{"isValid":false,"message":"Property \"my_wa_id\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"my_wa_id"`) {
		t.Fatalf("400 body %s", r.raw)
	}
	f.expect(f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"hs_object_id": "5"}}), 400)
	f.expect(f.do("POST", "/crm/v3/objects/contacts", `{"properties":`), 400)
	if n := len(f.emu.Contacts()); n != 0 {
		t.Fatalf("%d contacts after refused creates", n)
	}
	r = f.do("GET", "/crm/v3/nothing/here", nil)
	f.expect(r, 404)
	if r.json(t)["status"] != "error" {
		t.Fatalf("404 body %s", r.raw)
	}
}

func TestMergeThenReadOldID(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.emu.DefineProperty("wa_id", true)
	primary := f.create(map[string]string{"email": "ana@example.com", "firstname": "Ana"})
	loser := f.create(map[string]string{"email": "ana.diaz@work.example", "phone": "+14155552671", "wa_id": "14155552671", "firstname": "Ana D"})
	third := f.create(map[string]string{"firstname": "Old"})
	if _, err := f.emu.Merge(loser, third); err != nil {
		t.Fatal(err)
	}

	r := f.do("POST", "/crm/v3/objects/contacts/merge", map[string]string{"primaryObjectId": primary, "objectIdToMerge": loser})
	f.expect(r, 200)
	m := r.json(t)
	if m["id"] != primary || props(m)["hs_merged_object_ids"] != loser+";"+third || props(m)["firstname"] != "Ana" || props(m)["phone"] != "+14155552671" {
		t.Fatalf("merge answer %s", r.raw)
	}
	for _, old := range []string{loser, third} {
		r = f.do("GET", "/crm/v3/objects/contacts/"+old+"?properties=email,hs_additional_emails,wa_id", nil)
		f.expect(r, 200)
		m = r.json(t)
		if m["id"] != primary || props(m)["email"] != "ana@example.com" || props(m)["hs_additional_emails"] != "ana.diaz@work.example" || props(m)["wa_id"] != "14155552671" {
			t.Fatalf("GET %s after merge: %s", old, r.raw)
		}
	}
	// The loser's email still reaches the survivor; a new contact cannot take it.
	r = f.do("GET", "/crm/v3/objects/contacts/ana.diaz%40work.example?idProperty=email", nil)
	f.expect(r, 200)
	f.expect(f.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": "ana.diaz@work.example"}}), 409)
	// PATCH through the old id changes the survivor.
	f.expect(f.do("PATCH", "/crm/v3/objects/contacts/"+loser, map[string]any{"properties": map[string]string{"lastname": "Díaz"}}), 200)
	if c, _ := f.emu.Contact(primary); c.Properties["lastname"] != "Díaz" {
		t.Fatalf("survivor %v", c.Properties)
	}
	// Batch read does not follow merges.
	r = f.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": []map[string]string{{"id": primary}, {"id": loser}}, "properties": []string{"email"}, "propertiesWithHistory": []string{}})
	f.expect(r, http.StatusMultiStatus)
	m = r.json(t)
	errs := m["errors"].([]any)
	if len(ids(m)) != 1 || m["numErrors"] != float64(1) || errs[0].(map[string]any)["category"] != "OBJECT_NOT_FOUND" {
		t.Fatalf("batch read %s", r.raw)
	}
	if got := len(f.emu.Contacts()); got != 1 {
		t.Fatalf("%d live contacts, want 1", got)
	}
	f.expect(f.do("POST", "/crm/v3/objects/contacts/merge", map[string]string{"primaryObjectId": primary, "objectIdToMerge": loser}), 400)
}

func TestArchive(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	id := f.create(map[string]string{"email": "ana@example.com", "firstname": "Ana"})
	r := f.do("DELETE", "/crm/v3/objects/contacts/"+id, nil)
	f.expect(r, http.StatusNoContent)
	r = f.do("GET", "/crm/v3/objects/contacts/"+id, nil)
	f.expect(r, 404)
	want := regexp.MustCompile(`^\{"status":"error","message":"Object not found.  objectId are usually numeric.","correlationId":"` + uuidRE + `","category":"OBJECT_NOT_FOUND"\}\n$`)
	if !want.Match(r.raw) {
		t.Fatalf("404 body %s", r.raw)
	}
	f.expect(f.do("GET", "/crm/v3/objects/contacts/ana%40example.com?idProperty=email", nil), 404)
	r = f.do("GET", "/crm/v3/objects/contacts/"+id+"?archived=true", nil)
	f.expect(r, 200)
	if m := r.json(t); m["archived"] != true || m["archivedAt"] == nil {
		t.Fatalf("archived read %s", r.raw)
	}
	if got := f.searchIDs(map[string]any{"filterGroups": []group{{Filters: []filter{{PropertyName: "email", Operator: "EQ", Value: "ana@example.com"}}}}}); len(got) != 0 {
		t.Fatalf("archived contact found by search: %v", got)
	}
	if got := f.searchIDs(map[string]any{}); len(got) != 0 {
		t.Fatalf("archived contact found by search: %v", got)
	}
	f.expect(f.do("DELETE", "/crm/v3/objects/contacts/"+id, nil), http.StatusNoContent)
	f.expect(f.do("GET", "/crm/v3/objects/contacts/999999", nil), 404)
}

func TestBatchReadAndUpsert(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.emu.DefineProperty("wa_id", true)
	a := f.create(map[string]string{"wa_id": "14155550100", "firstname": "Ana"})

	r := f.do("POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []map[string]any{
		{"id": "14155550100", "idProperty": "wa_id", "properties": map[string]string{"lastname": "Díaz"}},
		{"id": "14155550101", "idProperty": "wa_id", "properties": map[string]string{"firstname": "Bo"}},
	}})
	f.expect(r, 200)
	res := r.json(t)["results"].([]any)
	r0, r1 := res[0].(map[string]any), res[1].(map[string]any)
	if r0["id"] != a || r0["new"] != false || props(r0)["lastname"] != "Díaz" || r1["new"] != true || props(r1)["wa_id"] != "14155550101" {
		t.Fatalf("upsert %s", r.raw)
	}
	f.expect(f.do("POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []map[string]any{
		{"id": "1", "idProperty": "firstname", "properties": map[string]string{}}}}), 400)

	r = f.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"idProperty": "wa_id",
		"inputs": []map[string]string{{"id": "14155550100"}, {"id": "14155550101"}}, "properties": []string{"firstname", "phone"}, "propertiesWithHistory": []string{}})
	f.expect(r, 200)
	m := r.json(t)
	if m["status"] != "COMPLETE" || len(ids(m)) != 2 {
		t.Fatalf("batch read %s", r.raw)
	}
	if v, ok := props(m["results"].([]any)[0].(map[string]any))["phone"]; !ok || v != nil {
		t.Fatalf("batch read empty property not null: %s", r.raw)
	}
	r = f.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": []map[string]string{{"id": a}, {"id": "424242"}}, "properties": []string{}, "propertiesWithHistory": []string{}})
	f.expect(r, http.StatusMultiStatus)
	e := r.json(t)["errors"].([]any)[0].(map[string]any)
	if ctx := e["context"].(map[string]any)["ids"].([]any); len(ctx) != 1 || ctx[0] != "424242" {
		t.Fatalf("batch read errors %s", r.raw)
	}
}

func TestPropertiesAPI(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	r := f.do("GET", "/crm/v3/properties/contacts/email", nil)
	f.expect(r, 200)
	m := r.json(t)
	if m["name"] != "email" || m["type"] != "string" || m["fieldType"] != "text" || m["hasUniqueValue"] != true || m["groupName"] == nil {
		t.Fatalf("email property %s", r.raw)
	}
	if opts, ok := m["options"].([]any); !ok || len(opts) != 0 {
		t.Fatalf("options %s", r.raw)
	}
	f.expect(f.do("GET", "/crm/v3/properties/contacts/my_wa_id", nil), 404)
	body := map[string]any{"groupName": "contactinformation", "name": "my_wa_id", "label": "WhatsApp ID", "type": "string", "fieldType": "text", "hasUniqueValue": true}
	r = f.do("POST", "/crm/v3/properties/contacts", body)
	f.expect(r, 201)
	if m := r.json(t); m["hasUniqueValue"] != true || m["hubspotDefined"] != false {
		t.Fatalf("created property %s", r.raw)
	}
	f.expect(f.do("POST", "/crm/v3/properties/contacts", body), 409)
	f.expect(f.do("POST", "/crm/v3/properties/contacts", map[string]any{"name": "x"}), 400)
	r = f.do("GET", "/crm/v3/properties/contacts", nil)
	f.expect(r, 200)
	found := false
	for _, p := range r.json(t)["results"].([]any) {
		found = found || p.(map[string]any)["name"] == "my_wa_id"
	}
	if !found {
		t.Fatal("created property not listed")
	}
	// The new unique property works as idProperty at once.
	id := f.create(map[string]string{"my_wa_id": "14155550100"})
	r = f.do("GET", "/crm/v3/objects/contacts/14155550100?idProperty=my_wa_id", nil)
	f.expect(r, 200)
	if r.json(t)["id"] != id {
		t.Fatalf("read by my_wa_id %s", r.raw)
	}
	if s := f.emu.Stats(); s.Requests[emulator.OpProperties] != 6 || s.CRMCalls != 8 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	want := regexp.MustCompile(`^\{"status":"error","message":"Authentication credentials not found\.[^"]*","correlationId":"` + uuidRE + `","category":"INVALID_AUTHENTICATION"\}\n$`)

	f.expect(f.doAs("anything", "GET", "/crm/v3/properties/contacts/email", nil), 200)
	r := f.doAs("", "GET", "/crm/v3/properties/contacts/email", nil)
	f.expect(r, 401)
	if !want.Match(r.raw) {
		t.Fatalf("401 body %s", r.raw)
	}
	f.emu.AddToken("good")
	f.expect(f.doAs("good", "GET", "/crm/v3/properties/contacts/email", nil), 200)
	f.expect(f.doAs("anything", "GET", "/crm/v3/properties/contacts/email", nil), 401)
	f.emu.RevokeToken("good")
	r = f.doAs("good", "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"firstname": "x"}})
	f.expect(r, 401)
	if !want.Match(r.raw) {
		t.Fatalf("401 body %s", r.raw)
	}
	if n := len(f.emu.Contacts()); n != 0 {
		t.Fatal("a refused request created a contact")
	}
	if s := f.emu.Stats(); s.Unauthorized != 3 {
		t.Fatalf("stats %+v", s)
	}
}
