package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

// sealThenOpenErased does to a payload what eventstore/sealed does to an event whose
// subject is then erased: Append seals every non-empty personal value (datakeys.Seal
// leaves "" alone) in place, a later read opens each sealed value to Erased in place. The sealed form here only has to look like one: the bytes that
// reach a reader depend on which values were sealed, never on the ciphertext.
func sealThenOpenErased(t *testing.T, typ string, payload string) string {
	t.Helper()
	stored, err := MapPersonal(typ, json.RawMessage(payload), func(path, v string) (string, error) {
		if v == "" {
			return "", nil
		}
		return "sb1:00ff:" + path, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), `"sb1:`) {
		return string(stored) // nothing sealed: the read returns the stored bytes
	}
	read, err := MapPersonal(typ, stored, func(_, v string) (string, error) {
		if strings.HasPrefix(v, "sb1:") {
			return Erased, nil
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(read)
}

func TestErasePersonalReadsAsTheSealedLogAfterErasure(t *testing.T) {
	for _, tc := range []struct {
		name, typ, payload, want string
	}{
		{"a message: every non-empty personal value, in place, the rest byte for byte",
			EventMessageReceived,
			`{"workspace_id":"ws","channel_id":"sms","message_id":"SM1","text":"call me","sender":{"phone":"+14155552671","first_name":"Ana","email":""},"sent_at":"2026-11-26T09:30:00Z"}`,
			`{"workspace_id":"ws","channel_id":"sms","message_id":"[erased]","text":"[erased]","sender":{"phone":"[erased]","first_name":"[erased]","email":""},"sent_at":"2026-11-26T09:30:00Z"}`},
		{"HTML characters and large numbers: only the personal values change",
			EventMessageReceived,
			`{"message_id":"m<1>&","text":"<b>hi</b>","n":12345678901234567890}`,
			`{"message_id":"[erased]","text":"[erased]","n":12345678901234567890}`},
		{"lists and maps: lookups, candidates' values, the match key's identifier",
			EventContactMatched,
			`{"match_key":{"workspace":"ws","lookup":"phone","identifier":"+14155552671"},"contact_id":"101","lookups":[{"query":"+14155552671","property":"phone"}],"candidates":[{"contact_id":"101","values":{"phone":"+14155552671","firstname":""},"reason":"kept"}],"ambiguous":true}`,
			`{"match_key":{"workspace":"ws","lookup":"phone","identifier":"[erased]"},"contact_id":"101","lookups":[{"query":"[erased]","property":"phone"}],"candidates":[{"contact_id":"101","values":{"phone":"[erased]","firstname":""},"reason":"kept"}],"ambiguous":true}`},
		{"a type without personal fields is left byte for byte",
			EventRetryRequested, `{"stage":"publication","requested_by":"cli"}`, `{"stage":"publication","requested_by":"cli"}`},
		{"only empty personal values: nothing was sealed, the bytes stay",
			EventDeadLettered, `{"stage":"publication","reason":"","attempts":3}`, `{"stage":"publication","reason":"","attempts":3}`},
		{"values read Erased already (a late event appended after the erasure) stay as they are",
			EventDeadLettered, `{"stage":"publication","reason":"[erased]","attempts":3}`, `{"stage":"publication","reason":"[erased]","attempts":3}`},
		{"null and non-string values at personal paths are left",
			EventSenderIdentified, `{"raw":null,"identifier":"+14155552671","steps":["trim",""],"match_key":{"identifier":7}}`,
			`{"raw":null,"identifier":"[erased]","steps":["[erased]",""],"match_key":{"identifier":7}}`},
		{"the erased form of an erased form is itself",
			EventMessageReceived, `{"channel_id":"sms","message_id":"[erased]","text":""}`, `{"channel_id":"sms","message_id":"[erased]","text":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ErasePersonal(tc.typ, json.RawMessage(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("ErasePersonal\n got %s\nwant %s", got, tc.want)
			}
			if sealed := sealThenOpenErased(t, tc.typ, tc.payload); string(got) != sealed {
				t.Errorf("ErasePersonal differs from the sealed log's read after erasure\n got %s\n log %s", got, sealed)
			}
		})
	}
}

func TestErasePersonalRefusesAPayloadThatIsNotJSON(t *testing.T) {
	if _, err := ErasePersonal(EventMessageReceived, json.RawMessage(`{"text":`)); err == nil {
		t.Error("ErasePersonal accepted a broken payload")
	}
}
