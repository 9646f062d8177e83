package domain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Every personal path must name fields the payload really has: a typo would leave a
// personal value in the clear without any test failing.
func TestPersonalPathsNameRealFields(t *testing.T) {
	types := map[string]any{
		EventMatchKeyBSUIDRecorded: MatchKeyBSUIDRecorded{},
		EventMatchKeyLinked:        MatchKeyLinked{},
		EventMatchKeyNeverLinked:   MatchKeyNeverLinked{},
		EventMatchKeyUnpinned:      MatchKeyUnpinned{},
		EventSubjectErased:         SubjectErased{},
	}
	for typ := range eventPayloads {
		p, _ := NewPayload(typ)
		types[typ] = reflect.ValueOf(p).Elem().Interface()
	}
	for typ, paths := range personalPaths {
		v, ok := types[typ]
		if !ok {
			t.Errorf("personalPaths lists %s, which is no known event type", typ)
			continue
		}
		for _, p := range paths {
			if err := checkPath(reflect.TypeOf(v), splitPath(p)); err != nil {
				t.Errorf("%s: path %q: %v", typ, p, err)
			}
		}
	}
}

func checkPath(t reflect.Type, segs []string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(segs) == 0 {
		if t.Kind() != reflect.String {
			return &pathError{"ends at a " + t.Kind().String() + ", not a string"}
		}
		return nil
	}
	switch segs[0] {
	case "[]":
		if t.Kind() != reflect.Slice {
			return &pathError{"[] on a " + t.Kind().String()}
		}
		return checkPath(t.Elem(), segs[1:])
	case "*":
		if t.Kind() != reflect.Map {
			return &pathError{"* on a " + t.Kind().String()}
		}
		return checkPath(t.Elem(), segs[1:])
	}
	if t.Kind() != reflect.Struct {
		return &pathError{segs[0] + " on a " + t.Kind().String()}
	}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == segs[0] {
			return checkPath(t.Field(i).Type, segs[1:])
		}
	}
	return &pathError{"no field with JSON name " + segs[0]}
}

type pathError struct{ msg string }

func (e *pathError) Error() string { return e.msg }

func TestMapPersonalVisitsEveryPersonalValueOnly(t *testing.T) {
	payload, err := json.Marshal(ContactCreated{
		MatchKey:   MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155552671"},
		ContactID:  "101",
		Properties: map[string]string{"firstname": "Ana", "phone": "+14155552671"},
		Lookups:    []Lookup{{Kind: "search", Query: "phone = 4155552671", Found: 0}},
		Candidates: []CandidateVerdict{{ContactID: "7", Values: map[string]string{"phone": "(415) 555-2671"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	out, err := MapPersonal(EventContactCreated, payload, func(path, v string) (string, error) {
		seen[path+"="+v] = true
		return "<" + v + ">", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"match_key.identifier=+14155552671", "properties.*=Ana", "properties.*=+14155552671",
		"lookups[].query=phone = 4155552671", "candidates[].values.*=(415) 555-2671"} {
		if !seen[want] {
			t.Errorf("not visited: %s (visited %v)", want, seen)
		}
	}
	var got ContactCreated
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.ContactID != "101" || got.MatchKey.Workspace != "acme" || got.MatchKey.Lookup != "phone" || got.Lookups[0].Kind != "search" {
		t.Errorf("a value that is not personal changed: %+v", got)
	}
	if got.Properties["firstname"] != "<Ana>" || got.Candidates[0].Values["phone"] != "<(415) 555-2671>" {
		t.Errorf("personal values not replaced: %+v", got)
	}

	// Nothing to change: the payload comes back byte for byte.
	same, err := MapPersonal(EventContactCreated, payload, func(_, v string) (string, error) { return v, nil })
	if err != nil || string(same) != string(payload) {
		t.Errorf("unchanged payload re-encoded: %s, %v", same, err)
	}
	// A type with nothing personal is not even parsed.
	if out, err := MapPersonal(EventRetryRequested, json.RawMessage(`not json`), nil); err != nil || string(out) != "not json" {
		t.Errorf("RetryRequested: %s, %v", out, err)
	}
}

func TestMessageSubject(t *testing.T) {
	tg := ChannelSettings{ID: "acme-tg", WorkspaceID: "acme", Kind: KindTelegram, Identifier: IdentifyByUserID, Property: "telegram_user_id"}
	ig := ChannelSettings{ID: "acme-ig", WorkspaceID: "acme", Kind: KindInstagram, Identifier: IdentifyByUsername, Property: "instagram_username"}
	sms := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	for _, c := range []struct {
		name string
		ch   ChannelSettings
		s    Sender
		want Subject
	}{
		{"user id key", tg, Sender{UserID: "90001"}, KeySubject(MatchKey{"acme", tg.Lookup(), "90001"})},
		{"phone key, normalized", sms, Sender{Phone: "(415) 555-2671"}, KeySubject(MatchKey{"acme", sms.Lookup(), "+14155552671"})},
		{"username not known yet: the user id as received", ig, Sender{UserID: "17841"}, SenderSubject("acme-ig", "user_id", "17841")},
		{"unparseable phone: as received", sms, Sender{Phone: "12"}, SenderSubject("acme-sms", "phone", "12")},
		{"nothing at all: the message", tg, Sender{}, Subject("message\x00acme-tg\x00m-1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := MessageSubject(c.ch, c.s, "m-1"); got != c.want {
				t.Errorf("MessageSubject = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSenderErasureSubjects(t *testing.T) {
	sms := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	ig := ChannelSettings{ID: "acme-ig", WorkspaceID: "acme", Kind: KindInstagram, Identifier: IdentifyByUsername, Property: "instagram_username"}
	for _, c := range []struct {
		name, identifier string
		ch               ChannelSettings
		known            bool
		want             []Subject
		wantErr          string
	}{
		{"phone typed any way: the key the messages used", "(415) 555-2671", sms, true,
			[]Subject{KeySubject(MatchKey{"acme", sms.Lookup(), "+14155552671"}), SenderSubject("acme-sms", "phone", "(415) 555-2671")}, ""},
		{"username with @ and capitals", "@Ana_B", ig, true,
			[]Subject{KeySubject(MatchKey{"acme", ig.Lookup(), "ana_b"}), SenderSubject("acme-ig", "username", "@Ana_B")}, ""},
		{"not a number: only as received", "12", sms, true, []Subject{SenderSubject("acme-sms", "phone", "12")}, ""},
		{"unknown channel", "+14155552671", ChannelSettings{ID: "nope"}, false, nil, "not configured"},
		{"no identifier", "  ", sms, true, nil, "identifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := SenderErasureSubjects(c.ch, c.known, c.identifier)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v; want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := CheckErasureReason(" "); err == nil {
		t.Error("an empty reason was accepted")
	}
}

// A new event type must say what in it is personal (personalPaths) or that nothing is
// (notPersonal): otherwise the sealing decorator stores it as it is.
func TestEveryEventTypeIsClassified(t *testing.T) {
	for _, typ := range EventTypes() {
		_, personal := personalPaths[typ]
		if personal == notPersonal[typ] {
			t.Errorf("event type %s: list its personal fields in personalPaths, or put it in notPersonal (domain/personal.go)", typ)
		}
	}
}

// mapPersonalDecoded is what MapPersonal did before it walked the JSON text: decode the
// payload, apply f along each path in turn, encode again. The walk must agree with it on
// every value, whatever the key order or spacing.
func mapPersonalDecoded(typ string, payload []byte, f func(path, value string) (string, error)) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var walk func(node any, segs []string, path string) (any, error)
	walk = func(node any, segs []string, path string) (any, error) {
		if len(segs) == 0 {
			s, ok := node.(string)
			if !ok {
				return node, nil
			}
			return f(path, s)
		}
		switch seg := segs[0]; seg {
		case "[]":
			list, _ := node.([]any)
			for i := range list {
				v, err := walk(list[i], segs[1:], path)
				if err != nil {
					return nil, err
				}
				list[i] = v
			}
		case "*":
			obj, _ := node.(map[string]any)
			for k, child := range obj {
				v, err := walk(child, segs[1:], path)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
		default:
			obj, ok := node.(map[string]any)
			if !ok {
				return node, nil
			}
			if child, present := obj[seg]; present {
				v, err := walk(child, segs[1:], path)
				if err != nil {
					return nil, err
				}
				obj[seg] = v
			}
		}
		return node, nil
	}
	for _, p := range PersonalPaths(typ) {
		var err error
		if doc, err = walk(doc, splitPath(p), p); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func decodeAny(t testing.TB, payload []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("output is not JSON: %v: %s", err, payload)
	}
	return doc
}

// FuzzMapPersonalAgreesWithDecoding: for any JSON text under any event type's paths, the
// walk visits what decoding visits and yields the same document, and leaves every byte
// of a payload it changes nothing in.
func FuzzMapPersonalAgreesWithDecoding(f *testing.F) {
	for _, seed := range []string{
		`{"message_id":"SM1","text":"hi","sender":{"phone":"+14155552671","first_name":"Ana"}}`,
		` { "sender" : { "phone" : "+1 415\u00a0555", "user_id" : 42 } , "text" : null } `,
		`{"match_key":{"identifier":"+14155552671"},"lookups":[{"query":"a"},{"query":"b\"c"}],"candidates":[{"values":{"phone":"x","firstname":"<b>"}}]}`,
		`{"properties":{"phone":"+1","email":"a@b"},"steps":["s1","s2"],"match_key":{"identifier":"é\ud83d\ude00"}}`,
		`{"steps":[1,{"a":"b"},"c"],"raw":{"nested":"x"}}`,
		`[1,2]`, `"text"`, `{"text":"a","text":"b"}`,
	} {
		for _, typ := range []string{EventMessageReceived, EventContactCreated, EventSenderIdentified, EventMatchKeyUnpinned} {
			f.Add(typ, seed)
		}
	}
	f.Fuzz(func(t *testing.T, typ, payload string) {
		if !json.Valid([]byte(payload)) || bytes.Contains([]byte(payload), []byte(`\u0000`)) {
			return
		}
		var doc any
		if json.Unmarshal([]byte(payload), &doc) != nil || hasDuplicateKeys(payload) {
			return
		}
		mark := func(path, v string) (string, error) { return "<" + path + "|" + v + ">", nil }
		got, err := MapPersonal(typ, json.RawMessage(payload), mark)
		if err != nil {
			t.Fatalf("MapPersonal: %v", err)
		}
		want, err := mapPersonalDecoded(typ, []byte(payload), mark)
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(decodeAny(t, got))
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("%s of %s:\n got %s\nwant %s", typ, payload, gotJSON, wantJSON)
		}
		same, err := MapPersonal(typ, json.RawMessage(payload), func(_, v string) (string, error) { return v, nil })
		if err != nil || string(same) != payload {
			t.Fatalf("identity changed the payload: %s, %v", same, err)
		}
	})
}

// FuzzUncheckedMapPersonalKeepsWhetherItIsJSON: the sealing store seals a payload without
// checking it is JSON first, and relies on the store below to refuse one that is not.
// So for any bytes, what the unchecked walk returns is JSON exactly when its input was,
// whatever it replaces; or the walk fails.
func FuzzUncheckedMapPersonalKeepsWhetherItIsJSON(f *testing.F) {
	for _, seed := range []string{
		`{"message_id":"SM1","text":"hi","sender":{"phone":"+14155552671","first_name":"Ana"}}`,
		`{"message_id":"SM1","text":tru}`, `{"text":"a"} trailing`, `{"text": }`, `{"text":"\q"}`,
		`{"text":"a` + "\n" + `b"}`, `{"sender":{"phone":"+1"},"n":01}`, `{"text":"\ud83d"}`, "{\"text\":\"\xff\"}",
		`{"candidates":[{"values":{"phone":"x",}}]}`, `{"steps":["a" "b"]}`, `[`, ``,
	} {
		for _, typ := range []string{EventMessageReceived, EventContactCreated, EventSenderIdentified, EventMatchKeyUnpinned} {
			f.Add(typ, seed)
		}
	}
	f.Fuzz(func(t *testing.T, typ, payload string) {
		mark := func(path, v string) (string, error) { return "<" + path + "|" + v + ">", nil }
		got, err := MapPersonalUnchecked(typ, json.RawMessage(payload), mark)
		if err != nil {
			return
		}
		if in, out := json.Valid([]byte(payload)), json.Valid(got); in != out {
			t.Fatalf("%s of %q: the input is JSON: %v, what the walk returned (%q) is JSON: %v", typ, payload, in, got, out)
		}
	})
}

// hasDuplicateKeys: with a key twice, decoding keeps the last and the walk maps both, so
// the two cannot agree; json.Marshal never writes one.
func hasDuplicateKeys(payload string) bool {
	dec := json.NewDecoder(strings.NewReader(payload))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // the next string token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: v == '{', expect: v == '{'})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

// FuzzFieldPathsAgreeWithDecoding: the strings FieldPaths reads are the ones decoding
// the payload finds at the same paths, and "" wherever decoding finds no string. (With
// a key twice, decoding to a map keeps the last object whole and decoding to a struct
// merges the two, as the walk does; json.Marshal never writes one.)
func FuzzFieldPathsAgreeWithDecoding(f *testing.F) {
	for _, seed := range []string{
		`{"channel_id":"sms","sender":{"phone":"+14155552671","user_id":"","bsuid":"US.1"},"text":"hi"}`,
		`{"match_key":{"workspace":"acme","lookup":"phone","identifier":"+1\u00a0415"},"text":"\"match_key\""}`,
		`{"match_key":null,"sender":{"phone":42,"username":["x"]},"channel_id":{"a":"b"}}`,
		`{"sender":{"sender":{"phone":"deeper"}},"channel_id":"é\ud83d\ude00"}`,
		`[{"channel_id":"in a list"}]`, `"channel_id"`, `{}`,
	} {
		f.Add(seed)
	}
	paths := []string{"channel_id", "sender.phone", "sender.user_id", "sender.username", "sender.bsuid",
		"match_key.workspace", "match_key.lookup", "match_key.identifier"}
	fields := NewFieldPaths(paths...)
	f.Fuzz(func(t *testing.T, payload string) {
		var doc any
		if json.Unmarshal([]byte(payload), &doc) != nil || hasDuplicateKeys(payload) {
			return
		}
		got, err := fields.Strings([]byte(payload))
		if err != nil {
			t.Fatalf("Strings(%s): %v", payload, err)
		}
		for i, p := range paths {
			var want string
			var at any = doc
			for _, seg := range strings.Split(p, ".") {
				obj, _ := at.(map[string]any)
				at = obj[seg]
			}
			want, _ = at.(string)
			if got[i] != want {
				t.Fatalf("%s of %s: got %q, want %q", p, payload, got[i], want)
			}
		}
	})
}

func TestPayloadSubjectReadsTheMatchKey(t *testing.T) {
	k := MatchKey{Workspace: "acme", Lookup: "phone", Identifier: "+14155552671"}
	for _, tc := range []struct {
		payload string
		want    Subject
		named   bool
	}{
		{`{"match_key":{"workspace":"acme","lookup":"phone","identifier":"+14155552671"},"contact_id":"7"}`, KeySubject(k), true},
		{`{"contact_id":"7","match_key":{"identifier":"+14155552671","lookup":"phone","workspace":"acme"}}`, KeySubject(k), true},
		{`{"match_key":{"workspace":"acme","lookup":"phone","identifier":""}}`, "", false},
		{`{"match_key":null}`, "", false},
		{`{"contact_id":"7"}`, "", false},
	} {
		got, named, err := PayloadSubject(EventContactMatched, json.RawMessage(tc.payload), nil)
		if err != nil || got != tc.want || named != tc.named {
			t.Errorf("PayloadSubject(%s) = %q, %v, %v; want %q, %v", tc.payload, got, named, err, tc.want, tc.named)
		}
	}
	if _, _, err := PayloadSubject(EventContactMatched, json.RawMessage(`{"match_key":{"identifier":"x"`), nil); err == nil {
		t.Error("a payload cut short: no error")
	}
}

// BenchmarkMapPersonal walks a known sender's MessageReceived and SenderIdentified as
// the sealing store does on every append, with a function that changes every value
// (as sealing does) and one that changes none (as opening a payload of plain values).
func BenchmarkMapPersonal(b *testing.B) {
	ch := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US"}
	received, err := json.Marshal(MessageReceived{ChannelID: ch.ID, WorkspaceID: "acme", ChannelKind: KindSMS, MessageID: "SM0f3c5a9e1b2d4c6e8f0a1b2c3d4e5f60",
		Sender: Sender{Phone: "+14155550100", DisplayName: "Ana Ramos"}, Text: "benchmark message of a typical length, about sixty bytes", Source: "webhook"})
	if err != nil {
		b.Fatal(err)
	}
	id, _ := Identify(ch, BlockList{}, Sender{Phone: "+14155550100"})
	identified, err := json.Marshal(SenderIdentified{ChannelID: ch.ID, Settings: ch, Source: id.Source, Raw: id.Raw, Identifier: id.Identifier,
		Steps: id.Steps, MatchKey: id.Key, Searched: id.Searched(), ValidNumber: id.ValidNumber()})
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		f    func(path, v string) (string, error)
	}{
		{"every_value_changed", func(_, v string) (string, error) { return "sb1:" + v, nil }},
		{"none_changed", func(_, v string) (string, error) { return v, nil }},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := MapPersonalUnchecked(EventMessageReceived, received, f.f); err != nil {
					b.Fatal(err)
				}
				if _, err := MapPersonalUnchecked(EventSenderIdentified, identified, f.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
