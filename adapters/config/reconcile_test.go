package config

import (
	"strings"
	"testing"
	"time"
)

func TestReconcileEvery(t *testing.T) {
	c, err := Parse("s.yaml", []byte(strings.Replace(valid, "{token_env: HS}", "{token_env: HS, reconcile_every: 6h}", 1)), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Workspaces[0].HubSpot.ReconcileEvery; got != 6*time.Hour {
		t.Fatalf("reconcile_every %s, want 6h", got)
	}
	_, err = Parse("s.yaml", []byte(strings.Replace(valid, "{token_env: HS}", "{token_env: HS, reconcile_every: 5ms}", 1)), secrets)
	if err == nil || !strings.Contains(err.Error(), "workspaces[0].hubspot.reconcile_every: 5ms is too short") {
		t.Fatalf("reconcile_every 5ms: %v", err)
	}
	if _, err = Parse("s.yaml", []byte(strings.Replace(valid, "{token_env: HS}", "{token_env: HS, reconcile_every: often}", 1)), secrets); err == nil {
		t.Fatal("reconcile_every: often was accepted")
	}
}
