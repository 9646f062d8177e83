package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runDevHubSpot serves `dev hubspot` with args in-process until the returned stop is
// called; stop waits for it to finish (and save its state).
func runDevHubSpot(t *testing.T, args ...string) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() { done <- cmdDevHubSpot(ctx, append([]string{"--listen", addr}, args...), &out, &errOut) }()
	base = "http://" + addr
	waitFor(t, "dev hubspot to listen", 10*time.Second, func() bool {
		res, err := http.Get(base + "/_emulator/contacts")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	return base, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("dev hubspot: %v (stderr %s)", err, errOut.String())
		}
	}
}

func TestDevHubSpotStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "hubspot.json")
	base, stop := runDevHubSpot(t, "--state", state, "--search-lag", "0s", "--fault", "apply-502=1", "--fault-ops", "create")
	req, _ := http.NewRequest("POST", base+"/crm/v3/objects/contacts", strings.NewReader(`{"properties":{"email":"ana@example.com"}}`))
	req.Header.Set("Authorization", "Bearer t")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("create with --fault apply-502=1 answered %d", res.StatusCode)
	}
	stop()

	base, stop = runDevHubSpot(t, "--state", state)
	defer stop()
	res, err = http.Get(base + "/_emulator/contacts")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var contacts []struct{ Properties map[string]string }
	if err := json.NewDecoder(res.Body).Decode(&contacts); err != nil {
		t.Fatal(err)
	}
	if len(contacts) != 1 || contacts[0].Properties["email"] != "ana@example.com" {
		t.Fatalf("after restart the emulator holds %+v, want the contact the 502'd create made", contacts)
	}
}

func TestDevHubSpotRefusesBadFaults(t *testing.T) {
	for _, args := range [][]string{
		{"--fault", "apply-418=0.1"},
		{"--fault", "429"},
		{"--fault", "429=0.7", "--fault", "502=0.7"},
		{"--fault-ops", "create,frobnicate"},
		{"--ten-second-limit", "0"},
	} {
		var out, errOut bytes.Buffer
		err := cmdDevHubSpot(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, args...), &out, &errOut)
		if err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// Behind a top-level public_url, Twilio signs public_url + the webhook path, not the
// address it connects to; dev send must sign the same URL or the service refuses it.
func TestDevSendSignsForTheTopLevelPublicURL(t *testing.T) {
	s := startStack(t, stackOptions{publicURL: "https://hooks.example.com/sb"})
	var out, errOut bytes.Buffer
	err := cmdDevSend(context.Background(), []string{"--config", s.configPath, "--channel", "acme-sms",
		"--from", "+1 415 555 2671", "--id", "SMdev1", "--url", s.url}, &out, &errOut)
	if err != nil {
		t.Fatalf("dev send: %v\n%s%s", err, out.String(), errOut.String())
	}
	if st := s.waitSettled("acme-sms", "SMdev1"); st.Received.MessageID != "SMdev1" {
		t.Errorf("message not recorded: %+v", st)
	}
}

// TestDevHubSpotUnlimitedLiftsTheLimits: with --unlimited no request is refused for
// rate, the stats say which limits were in force, and the reset zeroes the counts.
func TestDevHubSpotUnlimitedLiftsTheLimits(t *testing.T) {
	base, stop := runDevHubSpot(t, "--unlimited", "--search-lag", "0s")
	defer stop()
	search := `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"x@example.com"}]}]}`
	for i := range 30 {
		req, _ := http.NewRequest("POST", base+"/crm/v3/objects/contacts/search", strings.NewReader(search))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("search %d answered %d with the limits lifted", i, res.StatusCode)
		}
	}
	var st emulatorStats
	getStats := func() {
		res, err := http.Get(base + "/_emulator/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		st = emulatorStats{}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
	}
	getStats()
	if st.Requests["search"] != 30 || st.RateLimited != 0 || st.Limits.SearchPerSecond != unlimitedRate || st.Limits.TenSecondLimit != unlimitedRate {
		t.Errorf("stats after 30 searches: %+v", st)
	}
	if st.MaxSearchesInAnySecond < 1 {
		t.Errorf("MaxSearchesInAnySecond = %d after 30 searches", st.MaxSearchesInAnySecond)
	}
	res, err := http.Post(base+"/_emulator/stats/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	getStats()
	if res.StatusCode != http.StatusNoContent || st.Requests["search"] != 0 || st.MaxSearchesInAnySecond != 0 {
		t.Errorf("after reset (%d): %+v", res.StatusCode, st)
	}
}
