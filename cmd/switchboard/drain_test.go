package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownDuringABurstDrains stops the service (as SIGTERM does: serve's context
// ends) while clients keep posting. Every request must either be answered 2xx and be
// in the log, or not be answered 2xx at all; none may get a 500 because the store
// closed under it, and the service must stop within its drain bound.
func TestShutdownDuringABurstDrains(t *testing.T) {
	s := startStack(t, stackOptions{})
	client := &http.Client{Timeout: 20 * time.Second}
	var (
		mu       sync.Mutex
		accepted []string
		statuses = map[int]int{}
		sent     atomic.Int64
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("drain-%d-%d", w, i)
				body, _ := json.Marshal(msg("acme-sms", id, map[string]any{"phone": fmt.Sprintf("+1628555%04d", w)}, "burst"))
				var r io.Reader = bytes.NewReader(body)
				if w%4 == 0 {
					// A slow client: its request is in flight for a while, as a
					// platform's on a slow network is when the signal comes.
					pr, pw := io.Pipe()
					go func() {
						_, _ = pw.Write(body[:len(body)/2])
						time.Sleep(300 * time.Millisecond)
						_, _ = pw.Write(body[len(body)/2:])
						_ = pw.Close()
					}()
					r = pr
				}
				req, _ := http.NewRequest("POST", s.url+"/v1/messages", r)
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					continue // not answered: the platform retries, nothing was promised
				}
				if resp.StatusCode >= 500 {
					b, _ := io.ReadAll(resp.Body)
					t.Logf("%s: %d %s", id, resp.StatusCode, b)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode/100 == 2 {
					accepted = append(accepted, id)
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "the burst to be under way", 30*time.Second, func() bool { return sent.Load() > 200 })
	s.cancel()
	stopped := time.Now()
	var runErr error
	select {
	case runErr = <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the service did not stop within 20 s of its shutdown (drain bound 10 s)")
	}
	if took := time.Since(stopped); took > 12*time.Second {
		t.Errorf("shutdown took %s, beyond the 10 s drain bound", took)
	}
	if runErr != nil {
		t.Errorf("service stopped with error: %v", runErr)
	}
	if err := s.svc.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	s.cancel = nil
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for code, n := range statuses {
		if code/100 != 2 {
			t.Errorf("%d requests answered %d during shutdown; want only 2xx or no answer", n, code)
		}
	}
	if len(accepted) == 0 {
		t.Fatal("no request was accepted: the burst did not run")
	}
	// Every acknowledged message survived the shutdown.
	s.start()
	for _, id := range accepted {
		if evs := s.messageEvents("acme-sms", id); len(evs) == 0 {
			t.Errorf("message %s was answered 2xx but is not in the log", id)
		}
	}
}
