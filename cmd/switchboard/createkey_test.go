package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `switchboard hubspot create-key-property` creates the unique property the workspace's
// hubspot.create_key_property names, once; `check` warns while it is not configured,
// fails while it is missing, and says so once it exists.
func TestCreateKeyPropertyCommandAndCheck(t *testing.T) {
	s := startStack(t, stackOptions{})
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", s.configPath}, &out, &errOut); code != 0 {
		t.Fatalf("check exited %d: %s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "workspace acme: WARNING hubspot.create_key_property is not set") {
		t.Errorf("check does not warn about the missing create key:\n%s", out.String())
	}
	raw, err := os.ReadFile(s.configPath)
	if err != nil {
		t.Fatal(err)
	}
	keyed := strings.Replace(string(raw), "token_env: HS_TOKEN,", "token_env: HS_TOKEN, create_key_property: switchboard_key,", 1)
	if keyed == string(raw) {
		t.Fatal("the test configuration changed shape: no hubspot token_env to add the key beside")
	}
	path := filepath.Join(t.TempDir(), "keyed.yaml")
	if err := os.WriteFile(path, []byte(keyed), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", path}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "run `switchboard hubspot create-key-property") {
		t.Errorf("check with the property missing exited %d: %s", code, errOut.String())
	}
	for i, want := range []string{`workspace acme: created the unique contact property "switchboard_key"`, `workspace acme: the unique contact property "switchboard_key" exists`} {
		out.Reset()
		errOut.Reset()
		if code := run([]string{"hubspot", "create-key-property", "--config", path, "--workspace", "acme"}, &out, &errOut); code != 0 {
			t.Fatalf("run %d exited %d: %s%s", i+1, code, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("run %d said %q, want %q", i+1, out.String(), want)
		}
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `create key property "switchboard_key" exists and is unique`) {
		t.Errorf("check after creating the property exited %d: %s%s", code, out.String(), errOut.String())
	}
	if code := run([]string{"hubspot", "create-key-property", "--config", path, "--workspace", "nope"}, &out, &errOut); code != 2 {
		t.Errorf("an unknown workspace exited %d, want 2", code)
	}
}
