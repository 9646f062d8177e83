package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// flexString accepts a JSON string, number or boolean as a string (HubSpot property
// values are strings, but clients also send numbers and booleans). null reads as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case json.Number:
		*f = flexString(x.String())
	case bool:
		*f = flexString(strconv.FormatBool(x))
	default:
		return &json.UnsupportedValueError{Str: string(b)}
	}
	return nil
}

type propertyValues map[string]flexString

func (p propertyValues) strings() map[string]string {
	m := make(map[string]string, len(p))
	for k, v := range p {
		m[k] = string(v)
	}
	return m
}

// simpleObject is SimplePublicObject (and SimplePublicUpsertObject with New set).
type simpleObject struct {
	ID         string             `json:"id"`
	Properties map[string]*string `json:"properties"`
	CreatedAt  string             `json:"createdAt"`
	UpdatedAt  string             `json:"updatedAt"`
	Archived   bool               `json:"archived"`
	ArchivedAt string             `json:"archivedAt,omitempty"`
	New        *bool              `json:"new,omitempty"`
}

// defaultProperties are returned when a read or search names no properties
// (hubspot.md §2 "Read one", §3 "Request").
var defaultProperties = []string{propCreatedate, propEmail, propFirstname, propObjectID, propLastmodifieddate, propLastname}

// alwaysProperties come back on every read even when properties= names others.
// [inference] HubSpot's responses show them alongside requested properties.
var alwaysProperties = []string{propCreatedate, propObjectID, propLastmodifieddate}

// selectProperties returns the requested properties of values: defined but empty ones
// as null, undefined ones omitted. names nil means the defaults.
func (s *Server) selectProperties(values map[string]string, names []string) map[string]*string {
	out := map[string]*string{}
	if names == nil {
		names = defaultProperties
	} else {
		names = append(append([]string{}, names...), alwaysProperties...)
	}
	for _, n := range names {
		if s.props[n] == nil {
			continue
		}
		if v, ok := values[n]; ok {
			out[n] = &v
		} else {
			out[n] = nil
		}
	}
	return out
}

// allProperties returns every non-empty value: what creates and updates echo.
func allProperties(values map[string]string) map[string]*string {
	out := make(map[string]*string, len(values))
	for k, v := range values {
		out[k] = &v
	}
	return out
}

func objectOf(r *record, props map[string]*string) simpleObject {
	o := simpleObject{ID: r.id, Properties: props, CreatedAt: formatTime(r.createdAt), UpdatedAt: formatTime(r.updatedAt), Archived: r.archived}
	if r.archived {
		o.ArchivedAt = formatTime(r.archivedAt)
	}
	return o
}

// queryProperties reads properties= (comma-separated and/or repeated); nil when absent.
func queryProperties(q url.Values) []string {
	vals, ok := q["properties"]
	if !ok {
		return nil
	}
	names := []string{}
	for _, v := range vals {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

func queryBool(q url.Values, name string) bool {
	b, _ := strconv.ParseBool(q.Get(name))
	return b
}

// lookupOne finds the target of a single-record read or update: by id (following
// merges) or, with idProperty, by the unique value given in the path.
func (s *Server) lookupOne(key, idProperty string, archived bool) (*record, *apiError) {
	if idProperty == "" || idProperty == propObjectID {
		if r := s.resolve(key, archived); r != nil {
			return r, nil
		}
		return nil, notFoundErr()
	}
	def := s.props[idProperty]
	if def == nil || !def.unique {
		return nil, validationErr("Property \"" + idProperty + "\" is not a unique identifier property for object type CONTACT; only properties with hasUniqueValue can be used as idProperty")
	}
	if r := s.findByUnique(idProperty, key, archived); r != nil {
		return r, nil
	}
	return nil, notFoundErr()
}

// POST /crm/v3/objects/contacts
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		Properties   propertyValues  `json:"properties"`
		Associations json.RawMessage `json:"associations"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	in := body.Properties.strings()
	s.mu.Lock()
	if e := s.checkWrite(in, true); e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	if id := s.uniqueHolder(in, nil); id != "" {
		s.mu.Unlock()
		writeError(w, conflictErr(id))
		return
	}
	rec := s.create(in, s.now())
	obj := objectOf(rec, allProperties(rec.props))
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, obj)
}

// GET /crm/v3/objects/contacts/{id}
func (s *Server) handleRead(w http.ResponseWriter, r *http.Request, params []string) {
	q := r.URL.Query()
	s.mu.Lock()
	rec, e := s.lookupOne(params[0], q.Get("idProperty"), queryBool(q, "archived"))
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	obj := objectOf(rec, s.selectProperties(rec.props, queryProperties(q)))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

// GET /crm/v3/objects/contacts: list by id order; after is the id to start from.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, _ []string) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, validationErr("limit must be an integer between 1 and 100"))
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, validationErr("after must be an integer"))
			return
		}
		after = n
	}
	archived := queryBool(q, "archived")
	names := queryProperties(q)
	s.mu.Lock()
	var matched []*record
	for _, rec := range s.order {
		id, _ := strconv.ParseInt(rec.id, 10, 64)
		if rec.mergedInto == "" && rec.archived == archived && id >= after {
			matched = append(matched, rec)
		}
	}
	out := struct {
		Results []simpleObject `json:"results"`
		Paging  *paging        `json:"paging,omitempty"`
	}{Results: []simpleObject{}}
	for i, rec := range matched {
		if i == limit {
			out.Paging = &paging{Next: pagingNext{After: rec.id}}
			break
		}
		out.Results = append(out.Results, objectOf(rec, s.selectProperties(rec.props, names)))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

type paging struct {
	Next pagingNext `json:"next"`
}

type pagingNext struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

// PATCH /crm/v3/objects/contacts/{id}
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, params []string) {
	var body struct {
		Properties propertyValues `json:"properties"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	in := body.Properties.strings()
	s.mu.Lock()
	rec, e := s.lookupOne(params[0], r.URL.Query().Get("idProperty"), false)
	if e == nil {
		e = s.checkWrite(in, false)
	}
	if e == nil {
		if id := s.uniqueHolder(in, rec); id != "" {
			e = conflictErr(id)
		}
	}
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	before := s.snapshotProps(rec)
	s.write(rec, in, s.now())
	s.webhookEditedLocked(rec.id, before, rec.props)
	obj := objectOf(rec, allProperties(rec.props))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

// DELETE /crm/v3/objects/contacts/{id}: 204 whether or not there was a live contact to
// archive. A merged-away id is not followed (only update is documented to follow it).
func (s *Server) handleArchive(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	if rec := s.records[params[0]]; rec != nil && rec.live() {
		s.archive(rec, s.now())
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// batchResponse is BatchResponseSimplePublicObject (with errors: the 207 variant).
type batchResponse struct {
	Status      string          `json:"status"`
	Results     []simpleObject  `json:"results"`
	NumErrors   int             `json:"numErrors,omitempty"`
	Errors      []standardError `json:"errors,omitempty"`
	RequestedAt string          `json:"requestedAt,omitempty"`
	StartedAt   string          `json:"startedAt"`
	CompletedAt string          `json:"completedAt"`
}

// standardError is one failed part of a batch.
type standardError struct {
	Status      string              `json:"status"`
	Category    string              `json:"category"`
	SubCategory string              `json:"subCategory,omitempty"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context"`
	Links       map[string]string   `json:"links"`
	Errors      []errorDetail       `json:"errors"`
}

func (b *batchResponse) finish(w http.ResponseWriter) {
	status := http.StatusOK
	if len(b.Errors) > 0 {
		b.NumErrors = len(b.Errors)
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, b)
}

const maxBatchInputs = 100

// POST /crm/v3/objects/contacts/batch/read. By id, merged-away ids are reported as
// errors ([inference] from "batch update does not accept merged ids", hubspot.md §2).
func (s *Server) handleBatchRead(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		IDProperty string `json:"idProperty"`
		Inputs     []struct {
			ID flexString `json:"id"`
		} `json:"inputs"`
		Properties            []string `json:"properties"`
		PropertiesWithHistory []string `json:"propertiesWithHistory"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if len(body.Inputs) > maxBatchInputs {
		writeError(w, validationErr("Batch input size must be no more than 100, but was "+strconv.Itoa(len(body.Inputs))))
		return
	}
	archived := queryBool(r.URL.Query(), "archived")
	names := body.Properties
	if len(names) == 0 {
		names = nil
	}
	s.mu.Lock()
	if body.IDProperty != "" && body.IDProperty != propObjectID {
		if def := s.props[body.IDProperty]; def == nil || !def.unique {
			s.mu.Unlock()
			writeError(w, validationErr("Property \""+body.IDProperty+"\" is not a unique identifier property for object type CONTACT"))
			return
		}
	}
	start := formatTime(s.now())
	resp := batchResponse{Status: "COMPLETE", Results: []simpleObject{}, StartedAt: start}
	var missing []string
	seen := map[string]bool{}
	for _, in := range body.Inputs {
		key := string(in.ID)
		if seen[strings.ToLower(key)] {
			continue
		}
		seen[strings.ToLower(key)] = true
		var rec *record
		if body.IDProperty == "" || body.IDProperty == propObjectID {
			if c := s.records[key]; c != nil && c.mergedInto == "" && c.archived == archived {
				rec = c
			}
		} else {
			rec = s.findByUnique(body.IDProperty, key, archived)
		}
		if rec == nil {
			missing = append(missing, key)
			continue
		}
		resp.Results = append(resp.Results, objectOf(rec, s.selectProperties(rec.props, names)))
	}
	if len(missing) > 0 {
		resp.Errors = append(resp.Errors, standardError{Status: "error", Category: "OBJECT_NOT_FOUND",
			Message: "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
			Context: map[string][]string{"ids": missing}, Links: map[string]string{}, Errors: []errorDetail{}})
	}
	resp.CompletedAt = formatTime(s.now())
	s.mu.Unlock()
	resp.finish(w)
}

// POST /crm/v3/objects/contacts/batch/upsert: create or update by a unique property.
// Malformed input or invalid properties fail the whole batch (400); a unique value held
// by another contact fails only its input (207, CONFLICT).
func (s *Server) handleBatchUpsert(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		Inputs []struct {
			ID         flexString     `json:"id"`
			IDProperty string         `json:"idProperty"`
			Properties propertyValues `json:"properties"`
		} `json:"inputs"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if len(body.Inputs) > maxBatchInputs {
		writeError(w, validationErr("Batch input size must be no more than 100, but was "+strconv.Itoa(len(body.Inputs))))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var dups []string
	for _, in := range body.Inputs {
		def := s.props[in.IDProperty]
		if in.IDProperty == "" || def == nil || !def.unique || in.IDProperty == propObjectID {
			writeError(w, validationErr("idProperty \""+in.IDProperty+"\" must be a unique identifier property of CONTACT"))
			return
		}
		if in.ID == "" {
			writeError(w, validationErr("id is required for every upsert input"))
			return
		}
		k := in.IDProperty + "\x00" + strings.ToLower(string(in.ID))
		if seen[k] {
			dups = append(dups, string(in.ID))
		}
		seen[k] = true
		if e := s.checkWrite(in.Properties.strings(), false); e != nil {
			writeError(w, e)
			return
		}
	}
	if len(dups) > 0 {
		writeError(w, validationErr("Duplicate IDs found in batch input: ["+strings.Join(dups, ", ")+"]. IDs must be unique"))
		return
	}
	now := s.now()
	resp := batchResponse{Status: "COMPLETE", Results: []simpleObject{}, StartedAt: formatTime(now)}
	for _, in := range body.Inputs {
		props := in.Properties.strings()
		rec := s.findByUnique(in.IDProperty, string(in.ID), false)
		isNew := rec == nil
		if isNew {
			if _, ok := props[in.IDProperty]; !ok {
				props[in.IDProperty] = string(in.ID)
			}
		}
		if id := s.uniqueHolder(props, rec); id != "" {
			resp.Errors = append(resp.Errors, standardError{Status: "error", Category: "CONFLICT",
				Message: "Contact already exists. Existing ID: " + id,
				Context: map[string][]string{"ids": {string(in.ID)}}, Links: map[string]string{}, Errors: []errorDetail{}})
			continue
		}
		if isNew {
			rec = s.create(props, now)
		} else {
			s.write(rec, props, now)
		}
		obj := objectOf(rec, allProperties(rec.props))
		obj.New = &isNew
		resp.Results = append(resp.Results, obj)
	}
	resp.CompletedAt = formatTime(s.now())
	resp.finish(w)
}

// POST /crm/v3/objects/contacts/merge
func (s *Server) handleMerge(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		PrimaryObjectID flexString `json:"primaryObjectId"`
		ObjectIDToMerge flexString `json:"objectIdToMerge"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	rec, e := s.mergeIDs(string(body.PrimaryObjectID), string(body.ObjectIDToMerge))
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	obj := objectOf(rec, allProperties(rec.props))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}
