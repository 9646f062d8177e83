package domain

import "testing"

// BenchmarkBuildInboxMessage: a known sender's publication on a phone channel, its
// sender's validity as the resolver recorded it, and as a SenderIdentified recorded
// before that was kept makes the publisher find it (a second parse of the number).
func BenchmarkBuildInboxMessage(b *testing.B) {
	sms := ChannelSettings{ID: "acme-sms", WorkspaceID: "acme", Kind: KindSMS, DefaultRegion: "US", Inbox: Inbox{ChannelID: "1", ChannelAccountID: "2"}}
	id, _ := Identify(sms, BlockList{}, Sender{Phone: "+1 415 555 2671"})
	for _, c := range []struct {
		name  string
		valid *bool
	}{{"validity_recorded", id.ValidNumber()}, {"parsed_again", nil}} {
		st := MessageState{
			Received: MessageReceived{ChannelID: sms.ID, ChannelKind: KindSMS, MessageID: "SM1", Text: "where is my order?",
				Sender: Sender{Phone: "+1 415 555 2671", FirstName: "Ana"}},
			Identified: &SenderIdentified{Source: "phone", Identifier: id.Identifier, ValidNumber: c.valid},
			Outcome:    EventContactMatched, ContactID: "512", Matched: []string{"phone"},
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m := BuildInboxMessage(sms, st); m.Sender.Type != DeliveryPhone {
					b.Fatalf("sender %+v, want %s", m.Sender, DeliveryPhone)
				}
			}
		})
	}
}
