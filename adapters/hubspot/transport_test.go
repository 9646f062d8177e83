package hubspot

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentRequestsKeepTheirConnections: the publisher sends from several partition
// workers at once. With Go's default of two idle connections per host, every request
// beyond two closed its connection when done and the next one dialed again (a TCP and,
// against HubSpot, a TLS handshake per publication).
func TestConcurrentRequestsKeepTheirConnections(t *testing.T) {
	var dials atomic.Int64
	var inflight sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // long enough for the workers to overlap
		writeJSON(w, 200, fmt.Sprintf(contactJSON, "101", "101"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, Token: testToken, TenSecondLimit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	errs := make(chan error, workers*each)
	for w := range workers {
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			for i := range each {
				if _, err := c.GetContact(context.Background(), "101", nil); err != nil {
					errs <- err
				}
				// A worker does its own work between requests (the publisher records
				// each answer), so a freed connection often finds no request waiting.
				time.Sleep(time.Duration(w+i)%5*time.Millisecond + time.Millisecond)
			}
		}()
	}
	inflight.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := dials.Load(); n > workers {
		t.Errorf("%d requests from %d workers opened %d connections, want at most one per worker", workers*each, workers, n)
	}
}
