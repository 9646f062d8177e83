package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ErrCreateKeyNotUnique says the property named as hubspot.create_key_property exists
// without unique values. HubSpot cannot make an existing property unique, so the fix is
// another name.
var ErrCreateKeyNotUnique = errors.New("the create key property exists but does not have unique values")

// EnsureCreateKeyProperty makes sure the contact property name exists with unique
// values (hasUniqueValue), creating it when it is missing; created reports whether it
// did. The property holds switchboard's own value on every contact it creates, so that
// HubSpot answers a repeated create with 409 and the existing id (SPEC rule 5).
func (c *Client) EnsureCreateKeyProperty(ctx context.Context, name string) (created bool, err error) {
	p, err := c.PropertyInfo(ctx, name)
	switch {
	case err == nil && p.HasUniqueValue:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("contact property %q: %w; HubSpot cannot change that after creation, so name another property in hubspot.create_key_property", name, ErrCreateKeyNotUnique)
	case !errors.Is(err, ErrPropertyNotFound):
		return false, err
	}
	body := map[string]any{
		"name": name, "label": "switchboard create key", "type": "string", "fieldType": "text", "groupName": "contactinformation",
		"description":    "Written by switchboard on every contact it creates, so that a create repeated after a lost answer is refused with the existing contact. Do not edit.",
		"hasUniqueValue": true, "formField": false,
	}
	_, err = c.do(ctx, request{op: "create_property", method: http.MethodPost, path: "/crm/v3/properties/contacts", body: body})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		// Created meanwhile (another switchboard, a person): check it as it is.
		p, err := c.PropertyInfo(ctx, name)
		if err != nil {
			return false, err
		}
		if !p.HasUniqueValue {
			return false, fmt.Errorf("contact property %q: %w; name another property in hubspot.create_key_property", name, ErrCreateKeyNotUnique)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create contact property %q: %w", name, err)
	}
	return true, nil
}
