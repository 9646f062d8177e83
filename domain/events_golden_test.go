package domain_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

var update = flag.Bool("update", false, "rewrite domain/testdata/events from the samples in events_golden_test.go")

// goldenSamples holds one payload of every event type with every field set, so each
// field's stored name and shape is in its golden file.
func goldenSamples() map[string]any {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	yes := true
	key := domain.MatchKey{Workspace: "acme", Lookup: "telegram_user_id", Identifier: "90001"}
	lookups := []domain.Lookup{{Kind: "search", Query: "telegram_user_id = 90001", Found: 1}}
	candidates := []domain.CandidateVerdict{{ContactID: "101", CreatedAt: at.Add(-time.Hour), Kept: true, Reason: "oldest",
		Matched: []string{"telegram_user_id"}, Values: map[string]string{"telegram_user_id": "90001"}}}
	cause := domain.KeyChangeCause{Source: "webhook", SubscriptionType: "contact.merge", HubSpotEventID: 100, OccurredAt: 1767603600000,
		Stream: "hubspot:acme:62515:contact.merge:101:1767603600000:100", Position: 12, Property: "phone"}
	cited := []domain.CitedCorrection{{Kind: domain.CorrectNeverLink, ContactID: "103", Reason: "a namesake", RequestedBy: "operator", EventID: "ev-9", Position: 9}}
	return map[string]any{
		domain.EventMessageReceived: domain.MessageReceived{WorkspaceID: "acme", ChannelID: "acme-tg", ChannelKind: domain.KindTelegram,
			MessageID: "m-1", SentAt: at, Text: "hello", Source: "webhook", PlatformEventID: "update-7", TextTruncated: true,
			Sender: domain.Sender{UserID: "90001", Username: "ada_l", Phone: "+15550100001", FirstName: "Ada", LastName: "Lovelace",
				DisplayName: "Ada Lovelace", Email: "ada@example.test", BSUID: "US.13491208655302741918"}},
		domain.EventSenderIdentified: domain.SenderIdentified{ChannelID: "acme-tg", Source: "user_id", Raw: " 90001", Identifier: "90001",
			Steps: []string{"trim"}, MatchKey: key, Searched: []string{"telegram_user_id"}, ValidNumber: &yes,
			Settings: domain.ChannelSettings{ID: "acme-tg", WorkspaceID: "acme", Kind: domain.KindTelegram, Provider: "cloud", DefaultRegion: "US",
				Identifier: domain.IdentifyByUserID, Property: "telegram_user_id", AutoCreate: &yes, BSUIDProperty: "whatsapp_bsuid"}},
		domain.EventContactMatched: domain.ContactMatched{MatchKey: key, ContactID: "101", Via: "search", MatchedProperties: []string{"telegram_user_id"},
			Lookups: lookups, Candidates: candidates, Ambiguous: true, ThreadRef: "+15550100001", Corrections: cited},
		domain.EventContactCreated: domain.ContactCreated{MatchKey: key, ContactID: "102", Properties: map[string]string{"telegram_user_id": "90001", "firstname": "Ada"},
			MatchedProperties: []string{"telegram_user_id"}, Lookups: lookups, Candidates: candidates, Corrections: cited},
		domain.EventConversationUnlinked: domain.ConversationUnlinked{Reason: domain.UnlinkedNoMatch, Detail: "no contact has telegram_user_id 90001",
			MatchKey: &key, Lookups: lookups, Candidates: candidates, Corrections: cited},
		domain.EventMessagePublished: domain.MessagePublished{HubSpotMessageID: "hs-m-1", ConversationID: "th-1", IdempotencyID: "idem-1",
			ThreadID: "acme-tg:90001", ContactID: "101", Attempts: 2},
		domain.EventDeadLettered:         domain.DeadLettered{Stage: domain.StagePublication, Reason: "token revoked", Status: 401, Attempts: 3},
		domain.EventRetryRequested:       domain.RetryRequested{Stage: domain.StagePublication, RequestedBy: "operator"},
		domain.EventPublicationCancelled: domain.PublicationCancelled{Stage: domain.StagePublication, Reason: domain.ReasonSenderErased},
		domain.EventMatchKeyClaimed:      domain.MatchKeyClaimed{MatchKey: key, Holder: "message:acme-tg:m-1"},
		domain.EventMatchKeyResolved:     domain.MatchKeyResolved{MatchKey: key, ContactID: "102", How: "created", MatchedProperties: []string{"telegram_user_id"}, Properties: map[string]string{"telegram_user_id": "90001"}, ThreadRef: "+15550100001", CreatedBy: "corr-creator"},
		domain.EventMatchKeyCreateAttempted: domain.MatchKeyCreateAttempted{MatchKey: key, Holder: "attempt-1", KeyProperty: "switchboard_key",
			CreateKey: "sb-0192", Properties: map[string]string{"telegram_user_id": "90001", "switchboard_key": "sb-0192"}},
		domain.EventMatchKeyClaimReleased: domain.MatchKeyClaimReleased{MatchKey: key, Holder: "attempt-1", Reason: "the attempt failed before creating"},
		domain.EventMatchKeyForgotten:     domain.MatchKeyForgotten{MatchKey: key, ContactID: "102", Reason: "contact deleted", Cause: &cause},
		domain.EventMatchKeyFollowed:      domain.MatchKeyFollowedMerge{MatchKey: key, From: "102", To: "101", Cause: &cause},
		domain.EventHubSpotContactChanged: domain.HubSpotContactChanged{WorkspaceID: "acme", PortalID: 62515, AppID: 1160452, EventID: 100,
			SubscriptionID: 7, SubscriptionType: "contact.merge", ObjectID: "101", OccurredAt: 1767603600000, AttemptNumber: 1,
			ChangeSource: "CRM_UI", PropertyName: "phone", PrimaryObjectID: "101", MergedObjectIDs: []string{"102"}, NewObjectID: "104"},
		domain.EventPublicationContactMissing: domain.PublicationContactMissing{ContactID: "102", Reason: "contact does not exist", Status: 400, Attempts: 1},
		domain.EventResolutionRevoked:         domain.ResolutionRevoked{ContactID: "102", Survivor: "101", Reason: "merged into 101 in HubSpot"},
		domain.EventSubjectErased: domain.SubjectErased{SubjectID: "subj-0192", Trigger: domain.ErasedByHubSpotPrivacyDeletion, Reason: "privacy request",
			RequestedBy: "hubspot", ContactID: "101", WebhookEventID: "100"},
		domain.EventMatchKeyBSUIDRecorded: domain.MatchKeyBSUIDRecorded{MatchKey: key, ContactID: "101", BSUID: "US.13491208655302741918",
			BSUIDKey: domain.MatchKey{Workspace: "acme", Lookup: "whatsapp_bsuid", Identifier: "US.13491208655302741918"}, Property: "whatsapp_bsuid",
			Written: true, KeptOther: true, Bound: true, BSUIDKeyContactID: "103", Lookups: lookups},
		domain.EventMatchKeyLinked:      domain.MatchKeyLinked{MatchKey: key, ChannelID: "acme-tg", Raw: "90001", ContactID: "101", Reason: "confirmed by phone", RequestedBy: "operator"},
		domain.EventMatchKeyNeverLinked: domain.MatchKeyNeverLinked{MatchKey: key, ChannelID: "acme-tg", Raw: "90001", ContactID: "103", Reason: "a namesake", RequestedBy: "operator"},
		domain.EventMatchKeyUnpinned:    domain.MatchKeyUnpinned{MatchKey: key, ChannelID: "acme-tg", Raw: "90001", ContactID: "103", Reason: "mistake", RequestedBy: "operator", Removed: cited},
		domain.EventHubSpotChannelRegistered: domain.HubSpotChannelRegistered{AppID: "1160452", ChannelID: "1001", Name: "switchboard",
			WebhookURL: "https://hooks.example.com/hubspot/channel", Found: true},
		domain.EventHubSpotChannelAccountConnected: domain.HubSpotChannelAccountConnected{Channel: "acme-tg", ChannelID: "1001",
			ChannelAccountID: "2001", InboxID: "123", Name: "acme-tg", Found: true},
		domain.EventHubSpotPropertyCreated: domain.HubSpotPropertyCreated{Property: "telegram_user_id", Unique: true},
	}
}

func goldenPath(typ string) string {
	return filepath.Join("testdata", "events", fmt.Sprintf("%s.v%d.json", typ, domain.EventSchemaVersion))
}

// TestEventGoldenFiles: every registered event type has a golden file of its payload at
// the current schema version, which decodes into the payload type without unknown
// fields and re-encodes to the same bytes — so a renamed, retyped, added or removed
// field shows up as a changed golden file. Run with -update to rewrite them.
func TestEventGoldenFiles(t *testing.T) {
	samples := goldenSamples()
	for _, typ := range domain.EventTypes() {
		sample, ok := samples[typ]
		if !ok {
			t.Errorf("event type %s has no sample in goldenSamples: add one with every field set", typ)
			continue
		}
		if want, _ := domain.NewPayload(typ); reflect.TypeOf(want).Elem() != reflect.TypeOf(sample) {
			t.Errorf("sample of %s is a %T, the registry says %T", typ, sample, want)
		}
		if *update {
			b, err := json.MarshalIndent(sample, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(goldenPath(typ)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(goldenPath(typ), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for typ := range samples {
		if _, ok := domain.NewPayload(typ); !ok {
			t.Errorf("sample %s is not a registered event type (domain/eventtypes.go)", typ)
		}
	}
	for _, typ := range domain.EventTypes() {
		t.Run(typ, func(t *testing.T) {
			golden, err := os.ReadFile(goldenPath(typ))
			if err != nil {
				t.Fatalf("%v: run go test ./domain -run TestEventGoldenFiles -update", err)
			}
			payload, _ := domain.NewPayload(typ)
			dec := json.NewDecoder(bytes.NewReader(golden))
			dec.DisallowUnknownFields()
			if err := dec.Decode(payload); err != nil {
				t.Fatalf("%s does not decode into %T: %v", goldenPath(typ), payload, err)
			}
			again, err := json.MarshalIndent(payload, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(append(again, '\n')); got != string(golden) {
				t.Errorf("%s re-encodes differently:\n got: %s\nwant: %s", goldenPath(typ), got, golden)
			}
			// The recorded form decodes through domain.Decode, as the followers read it.
			rec := domain.RecordedEvent{EventData: domain.EventData{Type: typ, SchemaVersion: domain.EventSchemaVersion, Payload: golden}}
			fresh, _ := domain.NewPayload(typ)
			if err := domain.Decode(rec, fresh); err != nil || !reflect.DeepEqual(fresh, payload) {
				t.Errorf("domain.Decode of the golden file = %+v, %v", fresh, err)
			}
		})
	}
}

// TestEveryEventTypeIsRegistered: every Event* string constant of the package names a
// registered event type (domain/eventtypes.go), so a new event cannot miss its golden
// file; and every sample sets every field, so a new field cannot either.
func TestEveryEventTypeIsRegistered(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Event") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					typ, _ := strconv.Unquote(lit.Value)
					found++
					if _, ok := domain.NewPayload(typ); !ok {
						t.Errorf("%s: %s = %q is not registered in domain/eventtypes.go (and has no golden file)", name, id.Name, typ)
					}
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("found no Event* constants: is the test running in domain/?")
	}
	for typ, sample := range goldenSamples() {
		for _, path := range zeroFields(reflect.ValueOf(sample), typ) {
			t.Errorf("the golden sample leaves %s unset: set it so its stored name is in the golden file", path)
		}
	}
}

// zeroFields lists the exported fields under v that hold their zero value, following
// structs, pointers and the first element of slices.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
		if v.Kind() == reflect.Slice {
			return zeroFields(v.Index(0), path+"[0]")
		}
		return nil
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			if v.Interface().(time.Time).IsZero() {
				return []string{path}
			}
			return nil
		}
		var out []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}
