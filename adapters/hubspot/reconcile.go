package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchboard/domain"
)

// MaxBatchRead is HubSpot's limit of inputs per batch request.
const MaxBatchRead = 100

// BatchReadContacts reads up to MaxBatchRead contacts by record id in one request
// (POST /crm/v3/objects/contacts/batch/read). Found holds the contacts HubSpot
// returned, by the id asked for; missing are the ids it reported as not found —
// deleted, or merged away (a batch read does not follow merges, hubspot.md §2: read
// each missing id alone to tell the two apart).
func (c *Client) BatchReadContacts(ctx context.Context, ids []string, properties []string) (found map[string]domain.Contact, missing []string, err error) {
	if len(ids) > MaxBatchRead {
		return nil, nil, fmt.Errorf("batch read contacts: %d ids, at most %d per request", len(ids), MaxBatchRead)
	}
	found = map[string]domain.Contact{}
	if len(ids) == 0 {
		return found, nil, nil
	}
	type input struct {
		ID string `json:"id"`
	}
	body := struct {
		Inputs                []input  `json:"inputs"`
		Properties            []string `json:"properties"`
		PropertiesWithHistory []string `json:"propertiesWithHistory"`
	}{Properties: slices.Clone(properties), PropertiesWithHistory: []string{}}
	if body.Properties == nil {
		body.Properties = []string{}
	}
	for _, id := range ids {
		body.Inputs = append(body.Inputs, input{ID: id})
	}
	resp, err := c.do(ctx, request{op: "batch_read_contacts", method: http.MethodPost, path: contactsPath + "/batch/read", body: body})
	if err != nil {
		return nil, nil, fmt.Errorf("batch read %d contacts: %w", len(ids), err)
	}
	var br struct {
		Results []object `json:"results"`
		Errors  []struct {
			Category string              `json:"category"`
			Message  string              `json:"message"`
			Context  map[string][]string `json:"context"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.body, &br); err != nil {
		return nil, nil, fmt.Errorf("batch read %d contacts: decode answer: %w", len(ids), err)
	}
	for _, o := range br.Results {
		ct := o.contact()
		found[ct.ID] = ct
	}
	for _, e := range br.Errors {
		if !strings.EqualFold(e.Category, "OBJECT_NOT_FOUND") {
			return nil, nil, fmt.Errorf("batch read %d contacts: HubSpot reported %s: %s", len(ids), e.Category, e.Message)
		}
	}
	// Whatever was asked and not returned is missing, whether or not the error's
	// context names it (its key names are not documented).
	for _, id := range ids {
		if _, ok := found[id]; !ok && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	return found, missing, nil
}
