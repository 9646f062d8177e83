package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// vectorFile is testdata/signatures/vectors.json, written by make_vectors.js with
// Twilio's own helper library (twilio-node).
type vectorFile struct {
	Generator string `json:"generator"`
	Vectors   []struct {
		Name            string            `json:"name"`
		URL             string            `json:"url"`
		Body            string            `json:"body"`
		Headers         map[string]string `json:"headers"`
		AuthToken       string            `json:"auth_token"`
		SharedKeySecret string            `json:"shared_key_secret"`
		Valid           bool              `json:"valid"`
	} `json:"vectors"`
	URLForms []struct {
		URL        string  `json:"url"`
		Normalized *string `json:"normalized"`
		Legacy     *string `json:"legacy"`
	} `json:"url_forms"`
}

func readVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "signatures", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("vectors.json: %v", err)
	}
	if !strings.HasPrefix(f.Generator, "twilio-node ") || len(f.Vectors) < 40 {
		t.Fatalf("vectors.json was not written by make_vectors.js: %q, %d vectors", f.Generator, len(f.Vectors))
	}
	return f
}

// Every request twilio-node's webhook middleware accepts is accepted; every one it
// refuses is refused.
func TestVerifyTwilioNodeVectors(t *testing.T) {
	f := readVectors(t)
	valid := 0
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			h := http.Header{}
			for k, val := range v.Headers {
				h.Set(k, val)
			}
			err := Verify(Keys{AuthToken: v.AuthToken, SharedKeySecret: v.SharedKeySecret}, v.URL, h, []byte(v.Body))
			if v.Valid && err != nil {
				t.Errorf("twilio-node accepts it, Verify refuses: %v", err)
			}
			if !v.Valid && err == nil {
				t.Errorf("twilio-node refuses it, Verify accepts it")
			}
		})
		if v.Valid {
			valid++
		}
	}
	if valid < 20 || valid == len(f.Vectors) {
		t.Errorf("%d of %d vectors valid: the file should hold both kinds", valid, len(f.Vectors))
	}
}

// The URL forms validateRequest falls back to, as Node computes them.
func TestURLFormsAsNode(t *testing.T) {
	for _, c := range readVectors(t).URLForms {
		n, ok := normalizeURL(c.URL)
		if c.Normalized == nil {
			if ok {
				t.Errorf("%q: Node's URL parser refuses it, normalizeURL gave %q", c.URL, n)
			}
			continue
		}
		if !ok || n != *c.Normalized {
			t.Errorf("normalizeURL(%q) = %q, %v; Node: %q", c.URL, n, ok, *c.Normalized)
			continue
		}
		if got := withLegacyQuerystring(n); got != *c.Legacy {
			t.Errorf("withLegacyQuerystring(%q) = %q; Node: %q", n, got, *c.Legacy)
		}
	}
}

func TestVerifyErrors(t *testing.T) {
	body := []byte("From=%2B14155552671&Body=hi&MessageSid=SM1")
	const u = "https://hooks.example.com/webhooks/acme-sms"
	form, _ := url.ParseQuery(string(body))
	signed := func(settings string) http.Header {
		h := http.Header{}
		h.Set(SignatureHeader, Sign("tok", u, form))
		if settings != "" {
			h.Set(SignatureSettingsHeader, settings)
		}
		return h
	}
	for name, c := range map[string]struct {
		keys   Keys
		header http.Header
		body   []byte
		want   error
	}{
		"no signature":        {Keys{AuthToken: "tok"}, http.Header{}, body, ErrMissingSignature},
		"no auth token":       {Keys{SharedKeySecret: "sk"}, signed(""), body, ErrNoAuthToken},
		"no shared key":       {Keys{AuthToken: "tok"}, signed("key=k,algorithm=HMAC_SHA256"), body, ErrNoSharedKey},
		"unsupported":         {Keys{AuthToken: "tok", SharedKeySecret: "sk"}, signed("algorithm=HMAC_SHA512"), body, ErrUnsupportedAlgorithm},
		"mismatch":            {Keys{AuthToken: "other"}, signed(""), body, ErrMismatch},
		"shared key mismatch": {Keys{AuthToken: "tok", SharedKeySecret: "sk"}, signed("key=k,algorithm=HMAC_SHA1"), body, ErrMismatch},
	} {
		if err := Verify(c.keys, u, c.header, c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if err := Verify(Keys{AuthToken: "tok"}, u, signed(""), []byte("Body=%zz")); err == nil || errors.Is(err, ErrMismatch) {
		t.Errorf("a body that is not a form: %v, want the parse error", err)
	}
	if err := Verify(Keys{AuthToken: "tok"}, u, signed(""), body); err != nil {
		t.Errorf("valid request: %v", err)
	}
	if !strings.Contains(Verify(Keys{AuthToken: "x"}, u, signed(""), body).Error(), u) {
		t.Error("a mismatch does not name the URL it was checked against")
	}
}

func TestAlgorithmOf(t *testing.T) {
	for in, want := range map[string]Algorithm{
		"":                                    HMACSHA1,
		"key=abc":                             HMACSHA1,
		"key=abc,algorithm=HMAC_SHA256":       HMACSHA256,
		" algorithm = HMAC_SHA256 , key=abc":  HMACSHA256,
		"key=abc,algorithm=":                  HMACSHA1,
		"key=abc,algorithm=HMAC_SHA512":       "HMAC_SHA512",
		"algorithm=hmac_sha256,algorithm=foo": "hmac_sha256",
	} {
		if got := AlgorithmOf(in); got != want {
			t.Errorf("AlgorithmOf(%q) = %q, want %q", in, got, want)
		}
	}
	if !Algorithm("hmac_sha256").Supported() || Algorithm("HMAC_SHA512").Supported() {
		t.Error("Supported: names compare case-insensitively and only SHA1/SHA256 are known")
	}
}

// referenceSign is the algorithm as Twilio's documentation states it, written
// independently of SignWith: the URL, then for each parameter name in sorted order
// its distinct values in sorted order, name and value appended; HMAC-SHA1; Base64.
// Strings sort by UTF-16 code unit (JavaScript's order, twilio-node's).
func referenceSign(token, u string, params url.Values) string {
	utf16Less := func(a, b string) bool {
		x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
		for i := range min(len(x), len(y)) {
			if x[i] != y[i] {
				return x[i] < y[i]
			}
		}
		return len(x) < len(y)
	}
	var names []string
	for n := range params {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return utf16Less(names[i], names[j]) })
	var data strings.Builder
	data.WriteString(u)
	for _, n := range names {
		set := map[string]bool{}
		var vals []string
		for _, v := range params[n] {
			if !set[v] {
				set[v] = true
				vals = append(vals, v)
			}
		}
		sort.Slice(vals, func(i, j int) bool { return utf16Less(vals[i], vals[j]) })
		for _, v := range vals {
			data.WriteString(n + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// The check and the documented algorithm agree: whatever one signs, the other
// accepts, and a changed body is refused by both.
func FuzzSignatureMatchesReference(f *testing.F) {
	f.Add("12345", "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212", "Digits=1235")
	f.Add("t", "From=VERIFY&FromCity=&FromState=&FromZip=&Body=code", "FromZip=1")
	f.Add("t", "Tag=same&Tag=same&MediaUrl0=z&MediaUrl0=a", "Tag=other")
	f.Add("t", "Tag=%EF%BD%9E&Tag=%F0%9F%98%80", "Tag=a")
	f.Add("", "a=b", "")
	f.Fuzz(func(t *testing.T, token, body, extra string) {
		const u = "https://hooks.example.com/webhooks/acme-sms?x=1"
		params, err := url.ParseQuery(body)
		if err != nil || token == "" || !validUTF8Form(params) {
			// Invalid UTF-8 is read as U+FFFD by JavaScript; Twilio sends UTF-8.
			return
		}
		ref := referenceSign(token, u, params)
		if !Valid(token, u, params, ref) {
			t.Fatalf("the documented algorithm's signature %s is refused for %q", ref, body)
		}
		if got := Sign(token, u, params); got != ref {
			t.Fatalf("Sign = %s, the documented algorithm gives %s for %q", got, ref, body)
		}
		more, err := url.ParseQuery(extra)
		if err != nil || !validUTF8Form(more) {
			return
		}
		changed := url.Values{}
		for k, vs := range params {
			changed[k] = append([]string(nil), vs...)
		}
		for k, vs := range more {
			changed[k] = append(changed[k], vs...)
		}
		same := referenceSign(token, u, changed) == ref
		if Valid(token, u, changed, ref) != same {
			t.Fatalf("body %q plus %q: the check says %v, the documented algorithm %v", body, extra, !same, same)
		}
	})
}

func validUTF8Form(v url.Values) bool {
	for k, vs := range v {
		if !utf8.ValidString(k) {
			return false
		}
		for _, s := range vs {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}
