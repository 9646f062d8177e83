package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStandardPropertyStopsServeAndCheck: `property: email` on a Telegram channel would
// write user ids into contacts' emails; serve and check refuse the file with exit 2
// (bad configuration) and a message naming the file, the key and the fix.
func TestStandardPropertyStopsServeAndCheck(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "switchboard.yaml")
	raw := testConfig(filepath.Join(dir, "sb.db"), "http://127.0.0.1:1", "http://127.0.0.1:1")
	bad := strings.Replace(raw, "id: acme-tg, kind: telegram, identifier: user_id, property: telegram_user_id",
		"id: acme-tg, kind: telegram, identifier: user_id, property: email", 1)
	if bad == raw {
		t.Fatal("the test configuration no longer has the acme-tg channel this test edits")
	}
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "check"} {
		var out, errOut bytes.Buffer
		code := run([]string{cmd, "--config", path}, &out, &errOut)
		if code != 2 {
			t.Errorf("%s exited %d, want 2 (bad configuration): %s%s", cmd, code, out.String(), errOut.String())
		}
		for _, want := range []string{path + ": workspaces[0].channels[5].property: \"email\"", "name a property of its own, for example property: telegram_user_id"} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, errOut.String())
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "sb.db")); err == nil {
			t.Errorf("%s opened the store of a configuration it refused", cmd)
		}
	}
}
