package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/hubspot/emulator"
)

// `make run` serves demo/switchboard.yaml through `dev demo`; the commands it prints
// must do what their comments say. This runs the demo on the repository's own
// configuration (moved to free ports and a temporary store), then every command it
// printed, and checks where each message landed.
func TestDemoServesAndItsPrintedCommandsWork(t *testing.T) {
	raw, err := os.ReadFile("../../demo/switchboard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := string(raw)
	for _, port := range []string{"8080", "8090", "8091"} {
		if !strings.Contains(conf, "127.0.0.1:"+port) {
			t.Fatalf("demo/switchboard.yaml no longer uses 127.0.0.1:%s; update this test", port)
		}
		conf = strings.ReplaceAll(conf, "127.0.0.1:"+port, freeAddr(t))
	}
	conf = strings.Replace(conf, "./var/switchboard.db", filepath.Join(dir, "switchboard.db"), 1)
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// `dev send` and `audit` read secrets from the environment unless the
	// configuration is the repository's own; give them the demo's values.
	for k, v := range demoSecrets {
		t.Setenv(k, v)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var printed lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- cmdDevDemo(ctx, []string{"--config", path, "--log-level", "error"}, &printed, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev demo stopped with error: %v", err)
		}
	})
	waitFor(t, "the demo's instructions", 30*time.Second, func() bool { return strings.Contains(printed.String(), "/_emulator/inbox") })
	out := printed.String()

	curl := regexp.MustCompile(`curl -s -H 'Authorization: Bearer ([^']+)' -d '([^']+)' (http://\S+/v1/messages)`).FindStringSubmatch(out)
	if curl == nil {
		t.Fatalf("no command API example in the demo's instructions:\n%s", out)
	}
	req, _ := http.NewRequest("POST", curl[3], strings.NewReader(curl[2]))
	req.Header.Set("Authorization", "Bearer "+curl[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the printed curl command answered %d, want 202", resp.StatusCode)
	}

	var sends, audits [][]string
	for _, line := range strings.Split(out, "\n") {
		line, _, _ = strings.Cut(line, "#")
		args := shellWords(line)
		for i := range args {
			switch {
			case i+1 < len(args) && args[i] == "dev" && args[i+1] == "send":
				sends = append(sends, args[i:])
			case args[i] == "audit":
				audits = append(audits, args[i:])
			}
		}
	}
	if len(sends) != 7 || len(audits) != 1 {
		t.Fatalf("the demo printed %d dev send and %d audit commands, want 7 and 1:\n%s", len(sends), len(audits), out)
	}
	send := func(args []string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "200 OK") {
			t.Fatalf("switchboard %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
	}
	// Every message before the merge, then the merge, then Pia's message after it.
	for _, args := range sends[:6] {
		send(args)
	}
	hubspotURL := regexp.MustCompile(`curl -s (http://\S+)/_emulator/inbox`).FindStringSubmatch(out)[1]
	var inbox []emulator.PublishedMessage
	waitFor(t, "seven inbox messages", 30*time.Second, func() bool {
		getJSON(t, hubspotURL+"/_emulator/inbox", &inbox)
		return len(inbox) >= 7
	})
	// Names by contact id, read before the merge hides Pia's first record.
	names := map[string]string{}
	var contacts []emulator.Contact
	getJSON(t, hubspotURL+"/_emulator/contacts", &contacts)
	for _, c := range contacts {
		names[c.ID] = c.Properties["firstname"] + " " + c.Properties["lastname"]
	}
	merge := regexp.MustCompile(`curl -s -H 'Authorization: Bearer ([^']+)' -d '([^']+)' (http://\S+/crm/v3/objects/contacts/merge)`).FindStringSubmatch(out)
	if merge == nil {
		t.Fatalf("no merge command in the demo's instructions:\n%s", out)
	}
	mreq, _ := http.NewRequest("POST", merge[3], strings.NewReader(merge[2]))
	mreq.Header.Set("Authorization", "Bearer "+merge[1])
	mreq.Header.Set("Content-Type", "application/json")
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	mresp.Body.Close()
	if mresp.StatusCode != http.StatusOK {
		t.Fatalf("the printed merge command answered %d, want 200", mresp.StatusCode)
	}
	// The emulator's signed webhook reaches the service at once; a person typing the
	// next command is slower than that, the test is not.
	waitFor(t, "the merge webhook to move Pia's key", 30*time.Second, func() bool {
		var stdout, stderr bytes.Buffer
		run([]string{"audit", "--config", path, "sender", "acme-fb", "PSID-PIA"}, &stdout, &stderr)
		return strings.Contains(stdout.String(), "MatchKeyFollowedMerge")
	})
	send(sends[6])
	waitFor(t, "eight inbox messages", 30*time.Second, func() bool {
		getJSON(t, hubspotURL+"/_emulator/inbox", &inbox)
		return len(inbox) >= 8
	})
	getJSON(t, hubspotURL+"/_emulator/contacts", &contacts)
	for _, c := range contacts {
		names[c.ID] = c.Properties["firstname"] + " " + c.Properties["lastname"]
	}
	// Each printed command names whom its message is from; Rui is the one new contact.
	want := map[string]string{"acme-sms": "Ana Bento", "acme-wa": "Luis Ortega", "acme-wa-twilio": "Jo Brown",
		"acme-fb": "Pia Sand", "acme-ig": "Ivo Lenz", "acme-slack": "Maya Chen", "acme-tg": "Rui Costa"}
	got := map[string]string{}
	for _, m := range inbox {
		channel := strings.Split(m.IntegrationIdempotencyID, ":")[1]
		if m.Text == "me again" {
			channel = "after the merge"
		}
		got[channel] = names[m.AssociateWithContactID]
	}
	want["after the merge"] = "Pia Sand-Berg"
	for channel, name := range want {
		if got[channel] != name {
			t.Errorf("the demo message on %s landed on contact %q, want %q", channel, got[channel], name)
		}
	}
	if len(contacts) != 7 {
		t.Errorf("the emulated portal holds %d contacts after the demo, want the 7 seeded, less Pia's merged record, and Rui", len(contacts))
	}
	var oauth struct{ Refreshes int }
	getJSON(t, hubspotURL+"/_emulator/oauth", &oauth)
	if oauth.Refreshes < 1 {
		t.Errorf("the demo ran without an OAuth access token: %d refreshes", oauth.Refreshes)
	}

	// The inbox shows a message a moment before its MessagePublished is in the log: ask
	// the audit until the publication is recorded.
	var stdout, stderr bytes.Buffer
	waitFor(t, "the audit to show the publication", 30*time.Second, func() bool {
		stdout.Reset()
		stderr.Reset()
		if code := run(audits[0], &stdout, &stderr); code != 0 {
			t.Fatalf("switchboard %s: exit %d: %s", strings.Join(audits[0], " "), code, stderr.String())
		}
		return strings.Contains(stdout.String(), "MessagePublished")
	})
	for _, says := range []string{`normalized to "+14155552671"`, "matched existing contact", "MessagePublished"} {
		if !strings.Contains(stdout.String(), says) {
			t.Errorf("the printed audit command does not say %q:\n%s", says, stdout.String())
		}
	}
}

// freeAddr is a loopback address nothing listens on at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// shellWords splits a printed command line as a shell would, for the quoting the
// demo's instructions use (double quotes around a value with spaces).
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// lockedBuffer is an io.Writer the demo writes to while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
