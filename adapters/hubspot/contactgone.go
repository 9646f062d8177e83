package hubspot

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"switchboard/domain"
)

// refusedForContact reports whether HubSpot refused a publication because the contact
// it links (associateWithContactId) does not exist. HubSpot's wording is not
// documented (hubspot.md §10), so this reads generously: the publisher reads the
// contact before it acts on the answer, and a contact that exists makes it a dead
// letter as before.
func refusedForContact(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || (apiErr.Status != http.StatusBadRequest && apiErr.Status != http.StatusNotFound) {
		return false
	}
	msg := strings.ToLower(apiErr.Message + " " + string(apiErr.body))
	return strings.Contains(msg, "associatewithcontactid") ||
		(apiErr.Status == http.StatusNotFound && strings.Contains(msg, "contact"))
}

// contactRefusal marks a publication refused for its contact with
// domain.ErrContactNotFound (it stays domain.ErrPermanent too).
func contactRefusal(err error, contactID string) error {
	if contactID == "" || !refusedForContact(err) {
		return err
	}
	return fmt.Errorf("%w (contact %s): %w", domain.ErrContactNotFound, contactID, err)
}
