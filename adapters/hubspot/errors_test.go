package hubspot

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"switchboard/domain"
)

// HubSpot's answers reach the command layer as the domain's ExternalError: the status a
// dead letter records and whether a retry can fix it, without knowing this package.
func TestAnswersMapOntoTheDomainsExternalError(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		op        func(c *Client) error
		permanent bool
	}{
		{"revoked token on search", 401, `{"message":"expired","category":"EXPIRED_AUTHENTICATION"}`, func(c *Client) error {
			_, err := c.FindByPhone(context.Background(), domain.PhoneQuery{NationalNumbers: []string{"4155552671"}})
			return err
		}, true},
		{"missing channel on publish", 404, `{"message":"no such channel"}`, func(c *Client) error {
			_, err := c.Publish(context.Background(), testMessage(""))
			return err
		}, true},
		{"server errors past the last attempt", 503, `{"message":"down"}`, func(c *Client) error {
			_, err := c.GetContact(context.Background(), "1", nil)
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { writeJSON(w, tt.status, tt.body) })
			c, _ := newTestClient(t, f, nil)
			err := tt.op(c)
			var ext *domain.ExternalError
			if !errors.As(err, &ext) {
				t.Fatalf("err = %v, want a *domain.ExternalError", err)
			}
			if ext.System != "hubspot" || ext.Status != tt.status || ext.Permanent != tt.permanent {
				t.Errorf("external error = %+v, want hubspot status %d permanent %v", ext, tt.status, tt.permanent)
			}
			if got := domain.StatusOf(err); got != tt.status {
				t.Errorf("StatusOf = %d, want %d", got, tt.status)
			}
			if errors.Is(err, domain.ErrPermanent) != tt.permanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v, want %v", !tt.permanent, tt.permanent)
			}
		})
	}
}
