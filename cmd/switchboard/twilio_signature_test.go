package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"sort"
	"testing"

	"switchboard/adapters/twilio"
	"switchboard/domain"
)

// signByName signs as Twilio documents it, written here without the adapter's code:
// the URL, then the parameters sorted by name, name and value appended.
func signByName(token, u string, form url.Values) string {
	names := make([]string, 0, len(form))
	for n := range form {
		names = append(names, n)
	}
	sort.Strings(names)
	data := u
	for _, n := range names {
		for _, v := range form[n] {
			data += n + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Issue 16: an SMS from the alphanumeric sender VERIFY with Twilio's empty
// FromCity/FromState/FromZip, signed in name order as Twilio signs, is accepted and
// lands unlinked (an alphanumeric sender is no phone number), not refused with 401.
func TestTwilioSMSFromVerifyLandsUnlinked(t *testing.T) {
	s := startStack(t, stackOptions{})
	body, err := os.ReadFile("../../adapters/twilio/testdata/sms_verify_sender.form")
	if err != nil {
		t.Fatal(err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	target := s.url + "/webhooks/acme-sms"
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, signByName(testEnv["TWILIO_TOKEN"], target, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("answered %d, want 200", resp.StatusCode)
	}
	st := s.waitSettled("acme-sms", "SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e")
	if st.Outcome != domain.EventConversationUnlinked {
		t.Fatalf("outcome %s, want %s", st.Outcome, domain.EventConversationUnlinked)
	}
}
