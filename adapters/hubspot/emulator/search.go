package emulator

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Search limits (hubspot.md §3 "Paging and limits").
const (
	maxFilterGroups     = 5
	maxFiltersPerGroup  = 6
	maxFiltersTotal     = 18
	maxSearchLimit      = 200
	defaultSearchLimit  = 10
	maxSearchReachable  = 10000
	maxSearchQueryChars = 3000
)

type searchFilter struct {
	PropertyName string       `json:"propertyName"`
	Operator     string       `json:"operator"`
	Value        *flexString  `json:"value"`
	Values       []flexString `json:"values"`
	HighValue    *flexString  `json:"highValue"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Properties []string          `json:"properties"`
	Sorts      []json.RawMessage `json:"sorts"`
	Limit      *flexString       `json:"limit"`
	After      flexString        `json:"after"`
	Query      string            `json:"query"`
}

type searchSort struct {
	property   string
	descending bool
}

// parseSort reads the one sort rule applied: {"propertyName","direction"} or the string
// form "createdate" / "-createdate".
func parseSort(raw json.RawMessage) (searchSort, bool) {
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		if strings.HasPrefix(str, "-") {
			return searchSort{property: str[1:], descending: true}, str != "-"
		}
		return searchSort{property: str}, str != ""
	}
	var obj struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.PropertyName == "" {
		return searchSort{}, false
	}
	return searchSort{property: obj.PropertyName, descending: strings.EqualFold(obj.Direction, "DESCENDING")}, true
}

var operatorsNeedingValue = map[string]bool{"EQ": true, "NEQ": true, "LT": true, "LTE": true, "GT": true, "GTE": true,
	"BETWEEN": true, "CONTAINS_TOKEN": true, "NOT_CONTAINS_TOKEN": true}

// validate checks the request against HubSpot's limits and returns the page bounds.
func (s *Server) validateSearch(req *searchRequest) (limit, after int, sorting *searchSort, e *apiError) {
	if len(req.FilterGroups) > maxFilterGroups {
		return 0, 0, nil, validationErr("Too many filter groups: " + strconv.Itoa(len(req.FilterGroups)) + ". The maximum number of filter groups is 5")
	}
	total := 0
	for i, g := range req.FilterGroups {
		if len(g.Filters) > maxFiltersPerGroup {
			return 0, 0, nil, validationErr("Too many filters in filterGroups[" + strconv.Itoa(i) + "]: " + strconv.Itoa(len(g.Filters)) + ". The maximum number of filters per group is 6")
		}
		total += len(g.Filters)
		for _, f := range g.Filters {
			if s.props[f.PropertyName] == nil {
				return 0, 0, nil, validationErr("Property \"" + f.PropertyName + "\" does not exist on object type CONTACT")
			}
			switch op := f.Operator; {
			case op == "IN" || op == "NOT_IN":
				if len(f.Values) == 0 {
					return 0, 0, nil, validationErr("Operator " + op + " requires a non-empty \"values\" list")
				}
			case op == "HAS_PROPERTY" || op == "NOT_HAS_PROPERTY":
			case operatorsNeedingValue[op]:
				if f.Value == nil {
					return 0, 0, nil, validationErr("Operator " + op + " requires a \"value\"")
				}
				if op == "BETWEEN" && f.HighValue == nil {
					return 0, 0, nil, validationErr("Operator BETWEEN requires a \"highValue\"")
				}
			default:
				return 0, 0, nil, validationErr("Unknown filter operator \"" + op + "\"")
			}
		}
	}
	if total > maxFiltersTotal {
		return 0, 0, nil, validationErr("Too many filters: " + strconv.Itoa(total) + ". The maximum number of filters across all groups is 18")
	}
	if len(req.Query) > maxSearchQueryChars {
		return 0, 0, nil, validationErr("query is longer than 3000 characters")
	}
	limit = defaultSearchLimit
	if req.Limit != nil {
		n, err := strconv.Atoi(string(*req.Limit))
		if err != nil || n < 0 || n > maxSearchLimit {
			return 0, 0, nil, validationErr("limit must be an integer between 0 and 200, got " + string(*req.Limit))
		}
		limit = n
	}
	if req.After != "" {
		n, err := strconv.Atoi(string(req.After))
		if err != nil || n < 0 {
			return 0, 0, nil, validationErr("after must be formatted as an integer, got \"" + string(req.After) + "\"")
		}
		after = n
	}
	if after+limit > maxSearchReachable {
		return 0, 0, nil, validationErr("Paging beyond 10000 results is not supported")
	}
	if len(req.Sorts) > 0 {
		srt, ok := parseSort(req.Sorts[0])
		if !ok {
			return 0, 0, nil, validationErr("Invalid sort: " + string(req.Sorts[0]))
		}
		if s.props[srt.property] == nil {
			return 0, 0, nil, validationErr("Property \"" + srt.property + "\" does not exist on object type CONTACT")
		}
		sorting = &srt
	}
	return limit, after, sorting, nil
}

// POST /crm/v3/objects/contacts/search. Searches the index (see Options.SearchLag),
// never the live records; answers carry no rate-limit headers.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, _ []string) {
	var req searchRequest
	if e := decodeBody(r, &req); e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	limit, after, sorting, e := s.validateSearch(&req)
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	now := s.now()
	type hit struct {
		id   string
		snap *snapshot
	}
	var hits []hit
	for _, rec := range s.order {
		snap := rec.indexed(now)
		if snap == nil || !s.matchGroups(req, snap.props) {
			continue
		}
		hits = append(hits, hit{rec.id, snap})
	}
	if sorting != nil {
		def := s.props[sorting.property]
		sort.SliceStable(hits, func(i, j int) bool {
			a, aok := hits[i].snap.props[sorting.property]
			b, bok := hits[j].snap.props[sorting.property]
			if aok != bok {
				return aok // missing values last, in both directions
			}
			c := compareValues(def, a, b)
			if sorting.descending {
				c = -c
			}
			return c < 0
		})
	}
	names := req.Properties
	if len(names) == 0 {
		names = nil
	}
	out := struct {
		Total   int            `json:"total"`
		Results []simpleObject `json:"results"`
		Paging  *paging        `json:"paging,omitempty"`
	}{Total: len(hits), Results: []simpleObject{}}
	for i := after; i < len(hits) && i < after+limit; i++ {
		h := hits[i]
		out.Results = append(out.Results, simpleObject{ID: h.id, Properties: s.selectProperties(h.snap.props, names),
			CreatedAt: formatTime(h.snap.createdAt), UpdatedAt: formatTime(h.snap.updatedAt)})
	}
	if after+limit < len(hits) {
		out.Paging = &paging{Next: pagingNext{After: strconv.Itoa(after + limit)}}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// matchGroups: groups are ORed, filters within a group ANDed; no groups match all.
func (s *Server) matchGroups(req searchRequest, props map[string]string) bool {
	if req.Query != "" && !matchQuery(req.Query, props) {
		return false
	}
	if len(req.FilterGroups) == 0 {
		return true
	}
	for _, g := range req.FilterGroups {
		all := true
		for _, f := range g.Filters {
			if !s.matchFilter(f, props) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// querySearched are the contact properties the free-text query searches.
var querySearched = []string{propFirstname, propLastname, propEmail, propPhone, propAdditionalEmails, "fax", propMobilePhone, "company"}

// matchQuery is a rough stand-in for HubSpot's free-text search: every word of the
// query must occur (case-insensitively) in one of the default searchable properties.
func matchQuery(q string, props map[string]string) bool {
	for _, word := range strings.Fields(strings.ToLower(q)) {
		found := false
		for _, p := range querySearched {
			if strings.Contains(strings.ToLower(props[p]), strings.TrimSuffix(word, "*")) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchFilter applies one filter. String comparisons ignore case ("values in filters
// are case-insensitive"), except on enumeration properties; IN/NOT_IN compare the
// stored value lowercased with the values as given, which must therefore be lowercase
// (hubspot.md §3 "Case sensitivity"). NEQ, NOT_IN and NOT_CONTAINS_TOKEN match contacts
// without a value ([inference]). Multi-valued (checkbox) properties match per element.
func (s *Server) matchFilter(f searchFilter, props map[string]string) bool {
	def := s.props[f.PropertyName]
	stored, has := props[f.PropertyName]
	elems := []string{stored}
	if def.fieldType == "checkbox" {
		elems = splitMulti(stored)
	}
	caseSensitive := def.typ == "enumeration"
	fold := func(v string) string {
		if caseSensitive {
			return v
		}
		return strings.ToLower(v)
	}
	val := ""
	if f.Value != nil {
		val = string(*f.Value)
	}
	anyElem := func(pred func(string) bool) bool {
		if !has {
			return false
		}
		for _, e := range elems {
			if pred(e) {
				return true
			}
		}
		return false
	}
	eq := func(e string) bool {
		if isOrdered(def) {
			return compareValues(def, e, val) == 0
		}
		return fold(e) == fold(val)
	}
	in := func(e string) bool {
		for _, v := range f.Values {
			if fold(e) == string(v) || (isOrdered(def) && compareValues(def, e, string(v)) == 0) {
				return true
			}
		}
		return false
	}
	token := func(e string) bool { return containsToken(e, val) }
	switch f.Operator {
	case "EQ":
		return anyElem(eq)
	case "NEQ":
		return !anyElem(eq)
	case "IN":
		return anyElem(in)
	case "NOT_IN":
		return !anyElem(in)
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "CONTAINS_TOKEN":
		return anyElem(token)
	case "NOT_CONTAINS_TOKEN":
		return !anyElem(token)
	case "GT":
		return anyElem(func(e string) bool { return compareValues(def, e, val) > 0 })
	case "GTE":
		return anyElem(func(e string) bool { return compareValues(def, e, val) >= 0 })
	case "LT":
		return anyElem(func(e string) bool { return compareValues(def, e, val) < 0 })
	case "LTE":
		return anyElem(func(e string) bool { return compareValues(def, e, val) <= 0 })
	case "BETWEEN":
		high := string(*f.HighValue)
		return anyElem(func(e string) bool { return compareValues(def, e, val) >= 0 && compareValues(def, e, high) <= 0 })
	}
	return false
}

func isOrdered(def *propertyDef) bool {
	return def.typ == "datetime" || def.typ == "date" || def.typ == "number"
}

// compareValues orders two values of a property: dates by instant (ISO or epoch ms),
// numbers numerically, everything else as lowercase strings.
func compareValues(def *propertyDef, a, b string) int {
	switch def.typ {
	case "datetime", "date":
		ta, aok := parseTimeValue(a)
		tb, bok := parseTimeValue(b)
		if aok && bok {
			return ta.Truncate(time.Millisecond).Compare(tb.Truncate(time.Millisecond))
		}
	case "number":
		fa, errA := strconv.ParseFloat(a, 64)
		fb, errB := strconv.ParseFloat(b, 64)
		if errA == nil && errB == nil {
			switch {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

// containsToken reports whether value holds a token matching pattern, where "*" matches
// any run of characters. [inference] Tokens are the whole value and its parts split on
// white space, commas and semicolons, so "*@hubspot.com" matches an email address.
func containsToken(value, pattern string) bool {
	value, pattern = strings.ToLower(value), strings.ToLower(pattern)
	if glob(pattern, value) {
		return true
	}
	for _, t := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == ',' || r == ';'
	}) {
		if glob(pattern, t) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern where "*" is the only wildcard.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
