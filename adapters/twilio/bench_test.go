package twilio

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkVerify authenticates one inbound SMS webhook as the receiver does: its form
// parsed, the URL's candidate forms each signed and compared.
func BenchmarkVerify(b *testing.B) {
	const token = "12345678901234567890123456789012"
	const signedURL = "https://switchboard.example.com/webhooks/acme-sms?channel=sms"
	form := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "From": {"+14155550100"},
		"To": {"+14155550199"}, "Body": {"Hello, is the shop open on Sunday?"}, "NumMedia": {"0"},
		"AccountSid": {"AC0123456789abcdef0123456789abcdef"}}
	body := []byte(form.Encode())
	header := http.Header{}
	header.Set(SignatureHeader, Sign(token, signedURL, form))
	keys := Keys{AuthToken: token}
	if err := Verify(keys, signedURL, header, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Verify(keys, signedURL, header, body); err != nil {
			b.Fatal(err)
		}
	}
}
