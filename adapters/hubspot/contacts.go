package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/domain"
)

const (
	contactsPath = "/crm/v3/objects/contacts"
	searchPath   = "/crm/v3/objects/contacts/search"
	// searchPageSize is the page size of searches (HubSpot allows up to 200).
	searchPageSize = 100
	// maxSearchPages caps how far a search follows paging. A phone number or an
	// identifier shared by more than 500 contacts is a placeholder, not a person: the
	// oldest 500 (results are sorted by createdate) are plenty to choose from.
	maxSearchPages = 5

	// Calculated properties HubSpot keeps for search: the phone and mobile numbers
	// reduced to the national number, whatever format a person typed.
	searchablePhone  = "hs_searchable_calculated_phone_number"
	searchableMobile = "hs_searchable_calculated_mobile_number"
)

// FindByPhone finds the contacts whose phone or mobilephone holds one of the national
// numbers (HubSpot's searchable phone properties drop the country code, so the
// candidates may include other countries' numbers: the domain confirms them). Results
// come oldest first; paging is followed up to 500 candidates.
//
// Concurrent calls for the same numbers share one request (single flight). Concurrent
// calls for different numbers that wait for the search limiter share one search too:
// when the slot comes, the numbers of every call then waiting (up to 50 values) are
// searched with IN together, and each call gets the contacts that hold one of its own
// numbers; its Lookup says the search was shared. A call that finds the limiter free is
// sent at once, alone, as before: batching never delays it (see batcher).
func (c *Client) FindByPhone(ctx context.Context, q domain.PhoneQuery) (domain.LookupResult, error) {
	nums := cleanNumbers(q.NationalNumbers)
	if len(nums) == 0 {
		return domain.LookupResult{}, fmt.Errorf("search contacts by phone: %w",
			domain.Invalid("national_numbers", "no national number to search for %q", q.E164))
	}
	res, err := share(c, ctx, "phone\x00"+strings.Join(nums, ","), func(ctx context.Context) (domain.LookupResult, error) {
		return c.phones.lookup(ctx, nums)
	})
	if err != nil {
		return cloneResult(res), fmt.Errorf("search contacts by phone: %w", err)
	}
	return cloneResult(res), nil
}

// phoneSearch is the batched search by phone number.
func (c *Client) phoneSearch() searchBatch {
	return searchBatch{
		op:    "search_contacts_by_phone",
		props: []string{searchablePhone, searchableMobile},
		what:  "phone or mobilephone national number",
		single: func(ctx context.Context, nums []string, slotTaken bool) (domain.LookupResult, error) {
			groups := []filterGroup{
				{Filters: []filter{{PropertyName: searchablePhone, Operator: "IN", Values: nums}}},
				{Filters: []filter{{PropertyName: searchableMobile, Operator: "IN", Values: nums}}},
			}
			words := fmt.Sprintf("contacts whose phone or mobilephone is %s (%s IN [%s] OR %s IN [%s]), oldest first",
				strings.Join(nums, " or "), searchablePhone, strings.Join(nums, ", "), searchableMobile, strings.Join(nums, ", "))
			return c.searchAll(ctx, "search_contacts_by_phone", groups, nil, words, slotTaken)
		},
	}
}

// cleanNumbers trims, de-duplicates and sorts the numbers, so the same set always
// makes the same request (and shares one).
func cleanNumbers(in []string) []string {
	var out []string
	for _, n := range in {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// FindByProperty finds the contacts whose property equals one of values. On a property
// with unique values (hasUniqueValue) it reads the contacts by that property directly,
// which sees a contact the moment it is written; on any other property it searches
// (case-insensitive, but blind to contacts written in the last seconds or so: the
// search index lags). Concurrent calls for the same property and values share one
// request; concurrent calls for different values of the same property that wait for
// the limiter share one request too (one batch/read of up to 100 values for a unique
// property, one search with IN for another), each call getting only the contacts that
// hold one of its values.
//
// The direct read matches the value exactly as given: HubSpot's case handling of
// unique custom values is not documented, so pass the value in the form it is stored.
// When reads are batched, results are routed back to the calls by their value compared
// lower-cased and without a leading '@', so a call may receive a contact holding
// another spelling of its value; the domain's confirmation decides.
func (c *Client) FindByProperty(ctx context.Context, property string, values ...string) (domain.LookupResult, error) {
	if !validPropertyName(property) {
		return domain.LookupResult{}, fmt.Errorf("find contacts by property: %w",
			domain.Invalid("property", "%q is not a HubSpot property name", property))
	}
	var vals []string
	for _, v := range values {
		if strings.TrimSpace(v) != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return domain.LookupResult{}, fmt.Errorf("find contacts by %s: %w", property,
			domain.Invalid("value", "is empty"))
	}
	res, err := share(c, ctx, "property\x00"+property+"\x00"+strings.Join(vals, "\x00"), func(ctx context.Context) (domain.LookupResult, error) {
		info, err := c.PropertyInfo(ctx, property)
		if err != nil {
			return domain.LookupResult{}, err
		}
		if info.HasUniqueValue {
			return c.batcherFor("unique\x00"+property, func() *batcher { return c.uniqueBatcher(property) }).lookup(ctx, vals)
		}
		return c.batcherFor("search\x00"+property, func() *batcher { return c.searchBatcher(c.propertySearch(property)) }).lookup(ctx, vals)
	})
	if err != nil {
		return cloneResult(res), fmt.Errorf("find contacts by %s: %w", property, err)
	}
	return cloneResult(res), nil
}

// propertySearch is the batched search on a property without unique values.
func (c *Client) propertySearch(property string) searchBatch {
	return searchBatch{
		op:    "search_contacts_by_property",
		props: []string{property},
		what:  property + ", ignoring case,",
		single: func(ctx context.Context, vals []string, slotTaken bool) (domain.LookupResult, error) {
			if len(vals) == 1 {
				groups := []filterGroup{{Filters: []filter{{PropertyName: property, Operator: "EQ", Value: vals[0]}}}}
				words := fmt.Sprintf("contacts whose %s equals %q, ignoring case (%s EQ %q), oldest first", property, vals[0], property, vals[0])
				return c.searchAll(ctx, "search_contacts_by_property", groups, []string{property}, words, slotTaken)
			}
			// HubSpot wants IN values in lower case and compares them with the stored
			// value lower-cased.
			lower := lowerAll([][]string{vals})[0]
			groups := []filterGroup{{Filters: []filter{{PropertyName: property, Operator: "IN", Values: lower}}}}
			words := fmt.Sprintf("contacts whose %s is one of %q, ignoring case (%s IN), oldest first", property, lower, property)
			return c.searchAll(ctx, "search_contacts_by_property", groups, []string{property}, words, slotTaken)
		},
	}
}

func (c *Client) readByUniqueProperty(ctx context.Context, property, value string, slotTaken bool) (domain.LookupResult, error) {
	props := appendUnique(slices.Clone(c.readProperties), property)
	q := url.Values{"idProperty": {property}, "properties": {strings.Join(props, ",")}}
	lookup := domain.Lookup{
		Kind:  "read_by_property",
		Query: fmt.Sprintf("the contact whose %s is %q (read by unique property, not the search index)", property, value),
	}
	resp, err := c.do(ctx, request{op: "read_contact_by_property", method: http.MethodGet,
		path: contactsPath + "/" + escapeSegment(value), query: q, notFoundOK: true, slotTaken: slotTaken})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return domain.LookupResult{Lookups: []domain.Lookup{lookup}}, nil
	}
	if err != nil {
		return domain.LookupResult{}, err
	}
	var obj object
	if err := json.Unmarshal(resp.body, &obj); err != nil {
		return domain.LookupResult{}, fmt.Errorf("decode contact: %w", err)
	}
	lookup.Found = 1
	return domain.LookupResult{Lookups: []domain.Lookup{lookup}, Candidates: []domain.Contact{obj.contact()}}, nil
}

// searchBody is the first page's request of a search.
func (c *Client) searchBody(groups []filterGroup, extra []string) searchRequest {
	props := slices.Clone(c.readProperties)
	for _, p := range extra {
		props = appendUnique(props, p)
	}
	return searchRequest{
		FilterGroups: groups,
		Properties:   props,
		Sorts:        []sortRule{{PropertyName: "createdate", Direction: "ASCENDING"}},
		Limit:        searchPageSize,
	}
}

// searchPage is one page of a search: what ran, in words, and what it returned.
type searchPage struct {
	query   string
	results []object
}

// searchPages runs one search and follows its paging, up to maxSearchPages pages;
// truncated reports that HubSpot holds more. slotTaken: the first page's limiter slot
// is already taken (a batch leader's).
func (c *Client) searchPages(ctx context.Context, op string, groups []filterGroup, extra []string, words string, slotTaken bool) (pages []searchPage, truncated bool, err error) {
	body := c.searchBody(groups, extra)
	read := 0
	for page := 1; ; page++ {
		resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: searchPath, body: body, search: true,
			slotTaken: slotTaken && page == 1})
		if err != nil {
			return pages, false, err
		}
		var sr searchResponse
		if err := json.Unmarshal(resp.body, &sr); err != nil {
			return pages, false, fmt.Errorf("decode search answer: %w", err)
		}
		query := words
		if body.After != "" {
			query += fmt.Sprintf(", page %d (after %s)", page, body.After)
		}
		next := sr.nextAfter()
		read += len(sr.Results)
		if next != "" && page == maxSearchPages {
			query += fmt.Sprintf("; stopped after %d pages, %d contacts in all", page, sr.Total)
			c.log.WarnContext(ctx, "hubspot search has more results than the client reads",
				"op", op, "total", sr.Total, "read", read)
		}
		pages = append(pages, searchPage{query: query, results: sr.Results})
		if next == "" {
			return pages, false, nil
		}
		if page == maxSearchPages {
			return pages, true, nil
		}
		body.After = next
	}
}

// searchAll runs one search and follows its paging. Every page is one Lookup.
func (c *Client) searchAll(ctx context.Context, op string, groups []filterGroup, extra []string, words string, slotTaken bool) (domain.LookupResult, error) {
	pages, _, err := c.searchPages(ctx, op, groups, extra, words, slotTaken)
	var out domain.LookupResult
	for _, p := range pages {
		out.Lookups = append(out.Lookups, domain.Lookup{Kind: "search", Query: p.query, Found: len(p.results)})
		for _, o := range p.results {
			out.Candidates = append(out.Candidates, o.contact())
		}
	}
	return out, err
}

// CreateContact creates a contact with the given properties. A 409 (the email or a
// unique value already belongs to a contact) comes back as *domain.ContactExistsError,
// with HubSpot's existing id when its message names one; it is never retried.
//
// A create that fails after it may have reached HubSpot (timeout, dropped connection,
// 5xx) is not retried either: it returns ErrCreateOutcomeUnknown, and the caller must
// look the contact up before creating again.
func (c *Client) CreateContact(ctx context.Context, properties map[string]string) (domain.Contact, error) {
	if len(properties) == 0 {
		return domain.Contact{}, fmt.Errorf("create contact: %w", domain.Invalid("properties", "is empty"))
	}
	body := createRequest{Properties: properties, Associations: []any{}}
	resp, err := c.do(ctx, request{op: "create_contact", method: http.MethodPost, path: contactsPath, body: body, create: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		exists := &domain.ContactExistsError{ExistingID: existingID(apiErr.Message)}
		c.log.InfoContext(ctx, "hubspot contact already exists", "existing_id", exists.ExistingID,
			"correlation_id", apiErr.CorrelationID)
		return domain.Contact{}, fmt.Errorf("create contact: %w: %w", exists, apiErr)
	}
	if err != nil {
		return domain.Contact{}, fmt.Errorf("create contact: %w", err)
	}
	var obj object
	if err := json.Unmarshal(resp.body, &obj); err != nil {
		// HubSpot created the contact but the answer is unreadable: the id is lost.
		return domain.Contact{}, fmt.Errorf("create contact: decode answer: %w: %w", err, ErrCreateOutcomeUnknown)
	}
	ct := obj.contact()
	if ct.ID == "" {
		return domain.Contact{}, fmt.Errorf("create contact: answer carries no id: %w", ErrCreateOutcomeUnknown)
	}
	c.log.InfoContext(ctx, "hubspot contact created", "contact_id", ct.ID)
	return ct, nil
}

// GetContact reads one contact with the given properties (HubSpot's defaults when
// none). A merged-away id reads as the surviving contact, so the returned ID can
// differ from id: compare them to follow a merge. A deleted or unknown id is
// domain.ErrContactNotFound.
func (c *Client) GetContact(ctx context.Context, id string, properties []string) (domain.Contact, error) {
	if strings.TrimSpace(id) == "" {
		return domain.Contact{}, fmt.Errorf("get contact: %w", domain.Invalid("id", "is empty"))
	}
	q := url.Values{}
	if len(properties) > 0 {
		q.Set("properties", strings.Join(properties, ","))
	}
	resp, err := c.do(ctx, request{op: "read_contact", method: http.MethodGet,
		path: contactsPath + "/" + escapeSegment(id), query: q, notFoundOK: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return domain.Contact{}, fmt.Errorf("get contact %s: %w: %w", id, domain.ErrContactNotFound, apiErr)
	}
	if err != nil {
		return domain.Contact{}, fmt.Errorf("get contact %s: %w", id, err)
	}
	var obj object
	if err := json.Unmarshal(resp.body, &obj); err != nil {
		return domain.Contact{}, fmt.Errorf("get contact %s: decode answer: %w", id, err)
	}
	return obj.contact(), nil
}

// UpdateContact sets the given properties (an empty string clears a value in
// HubSpot). A deleted or unknown id is domain.ErrContactNotFound.
func (c *Client) UpdateContact(ctx context.Context, id string, properties map[string]string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("update contact: %w", domain.Invalid("id", "is empty"))
	}
	if len(properties) == 0 {
		return nil
	}
	_, err := c.do(ctx, request{op: "update_contact", method: http.MethodPatch,
		path: contactsPath + "/" + escapeSegment(id), body: updateRequest{Properties: properties}, notFoundOK: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return fmt.Errorf("update contact %s: %w: %w", id, domain.ErrContactNotFound, apiErr)
	}
	if err != nil {
		return fmt.Errorf("update contact %s: %w", id, err)
	}
	return nil
}

// Property is a contact property definition, as the properties API describes it.
type Property struct {
	Name           string `json:"name"`
	Label          string `json:"label"`
	Type           string `json:"type"`
	FieldType      string `json:"fieldType"`
	GroupName      string `json:"groupName"`
	HasUniqueValue bool   `json:"hasUniqueValue"`
	Calculated     bool   `json:"calculated"`
	HubSpotDefined bool   `json:"hubspotDefined"`
	Hidden         bool   `json:"hidden"`
	Archived       bool   `json:"archived"`
}

// PropertyInfo reads a contact property's definition, once per client: a property's
// uniqueness cannot change after it is created. A property missing from the portal is
// ErrPropertyNotFound (and domain.ErrPermanent); that answer is not cached, so creating
// the property fixes it without a restart.
func (c *Client) PropertyInfo(ctx context.Context, name string) (Property, error) {
	c.propMu.RLock()
	p, ok := c.props[name]
	c.propMu.RUnlock()
	if ok {
		return p, nil
	}
	if !validPropertyName(name) {
		return Property{}, fmt.Errorf("read contact property: %w", domain.Invalid("property", "%q is not a HubSpot property name", name))
	}
	return share(c, ctx, "propertyinfo\x00"+name, func(ctx context.Context) (Property, error) {
		resp, err := c.do(ctx, request{op: "read_property", method: http.MethodGet,
			path: "/crm/v3/properties/contacts/" + escapeSegment(name), notFoundOK: true})
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			apiErr.permanent = true
			return Property{}, fmt.Errorf("read contact property %q: %w: %w", name, ErrPropertyNotFound, apiErr)
		}
		if err != nil {
			return Property{}, fmt.Errorf("read contact property %q: %w", name, err)
		}
		var p Property
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return Property{}, fmt.Errorf("read contact property %q: decode answer: %w", name, err)
		}
		if p.Name == "" {
			p.Name = name
		}
		c.propMu.Lock()
		c.props[name] = p
		c.propMu.Unlock()
		return p, nil
	})
}

// escapeSegment escapes a value for one URL path segment, leaving only unreserved
// characters as they are ("@" becomes %40, "+" %2B, "/" %2F, " " %20).
func escapeSegment(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Wire shapes.

type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type sortRule struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Properties   []string      `json:"properties"`
	Sorts        []sortRule    `json:"sorts"`
	Limit        int           `json:"limit"`
	After        string        `json:"after,omitempty"`
}

type searchResponse struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

func (r searchResponse) nextAfter() string {
	if r.Paging == nil || r.Paging.Next == nil {
		return ""
	}
	return r.Paging.Next.After
}

type createRequest struct {
	Properties   map[string]string `json:"properties"`
	Associations []any             `json:"associations"`
}

type updateRequest struct {
	Properties map[string]string `json:"properties"`
}

// object is HubSpot's SimplePublicObject. Property values are strings or null.
type object struct {
	ID         flexibleID         `json:"id"`
	Properties map[string]*string `json:"properties"`
	CreatedAt  string             `json:"createdAt"`
	Archived   bool               `json:"archived"`
}

func (o object) contact() domain.Contact {
	c := domain.Contact{ID: string(o.ID), Archived: o.Archived}
	if len(o.Properties) > 0 {
		c.Properties = make(map[string]string, len(o.Properties))
		for k, v := range o.Properties {
			if v != nil {
				c.Properties[k] = *v
			}
		}
	}
	c.CreatedAt = parseTime(o.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = parseTime(c.Properties["createdate"])
	}
	return c
}

// flexibleID accepts an id written as a JSON string (HubSpot's contract) or a number.
type flexibleID string

func (f *flexibleID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexibleID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("contact id %s is neither a string nor a number", b)
	}
	*f = flexibleID(n.String())
	return nil
}

// parseTime reads HubSpot's timestamps: ISO 8601 (createdAt) or epoch milliseconds
// (some date properties). Anything else is the zero time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}
