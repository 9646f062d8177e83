package emulator

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Standard contact property names the emulator treats specially.
const (
	propEmail            = "email"
	propFirstname        = "firstname"
	propLastname         = "lastname"
	propCreatedate       = "createdate"
	propLastmodifieddate = "lastmodifieddate"
	propObjectID         = "hs_object_id"
	propMergedObjectIDs  = "hs_merged_object_ids"
	propAdditionalEmails = "hs_additional_emails"
)

// timeLayout is how HubSpot writes timestamps: ISO 8601, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Contact is a stored contact as tests inspect it.
type Contact struct {
	ID string
	// Properties holds every non-empty value, system and calculated ones included
	// (hs_object_id, createdate, lastmodifieddate, hs_searchable_calculated_*, ...).
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	// MergedInto is the id of the contact this one was merged into, "" if none.
	MergedInto string
}

// record is a stored contact with its search-index history.
type record struct {
	id         string
	props      map[string]string // non-empty values only
	createdAt  time.Time
	updatedAt  time.Time
	archived   bool
	archivedAt time.Time
	mergedInto string
	index      []snapshot
}

// snapshot is what the search index holds for a record from visibleAt on.
type snapshot struct {
	visibleAt time.Time
	live      bool
	props     map[string]string
	createdAt time.Time
	updatedAt time.Time
}

func (r *record) live() bool { return !r.archived && r.mergedInto == "" }

func (r *record) export() Contact {
	return Contact{ID: r.id, Properties: copyMap(r.props), CreatedAt: r.createdAt, UpdatedAt: r.updatedAt,
		Archived: r.archived, MergedInto: r.mergedInto}
}

func copyMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// propertyDef is a contact property definition.
type propertyDef struct {
	name, label, typ, fieldType, groupName, description string
	unique, calculated, readOnly, hubspotDefined        bool
	options                                             json.RawMessage
	displayOrder                                        int
	createdAt                                           time.Time
}

func (s *Server) addProperty(p *propertyDef) {
	if p.options == nil {
		p.options = json.RawMessage("[]")
	}
	if p.groupName == "" {
		p.groupName = "contactinformation"
	}
	if p.label == "" {
		p.label = p.name
	}
	s.props[p.name] = p
	s.propList = append(s.propList, p)
}

func (s *Server) defineStandardProperties() {
	at := time.Date(2019, 8, 6, 2, 41, 52, 0, time.UTC)
	std := func(name, label, typ, field string, unique, readOnly, calculated bool) {
		s.addProperty(&propertyDef{name: name, label: label, typ: typ, fieldType: field, unique: unique,
			readOnly: readOnly, calculated: calculated, hubspotDefined: true, createdAt: at, displayOrder: -1})
	}
	std(propFirstname, "First Name", "string", "text", false, false, false)
	std(propLastname, "Last Name", "string", "text", false, false, false)
	std(propEmail, "Email", "string", "text", true, false, false)
	std(propPhone, "Phone Number", "string", "phonenumber", false, false, false)
	std(propMobilePhone, "Mobile Phone Number", "string", "phonenumber", false, false, false)
	std("company", "Company Name", "string", "text", false, false, false)
	std(propCreatedate, "Create Date", "datetime", "date", false, false, false)
	std(propLastmodifieddate, "Last Modified Date", "datetime", "date", false, true, false)
	std(propObjectID, "Record ID", "number", "number", true, true, false)
	std(propMergedObjectIDs, "Merged Contact IDs", "enumeration", "checkbox", false, true, false)
	std(propAdditionalEmails, "Additional email addresses", "string", "textarea", false, true, false)
	std(propSearchablePhone, "Calculated Phone Number without country code", "phone_number", "phonenumber", false, true, true)
	std(propSearchableMobile, "Calculated Mobile Number without country code", "phone_number", "phonenumber", false, true, true)
	std(propSearchableIntlPhone, "Calculated Phone Number with country code", "phone_number", "phonenumber", false, true, true)
	std(propSearchableIntlMobile, "Calculated Mobile Number with country code", "phone_number", "phonenumber", false, true, true)
}

// DefineProperty defines a custom single-line text contact property, unique or not. A
// property that exists already is left as it is (HubSpot never changes hasUniqueValue).
func (s *Server) DefineProperty(name string, unique bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.props[name] != nil {
		return
	}
	s.addProperty(&propertyDef{name: name, label: name, typ: "string", fieldType: "text", unique: unique, createdAt: s.now()})
}

// parseTimeValue reads a date value as HubSpot accepts it: epoch milliseconds or ISO 8601.
func parseTimeValue(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// invalidProperty is one entry of HubSpot's "Property values were not valid" message.
type invalidProperty struct {
	IsValid               bool   `json:"isValid"`
	Message               string `json:"message"`
	Error                 string `json:"error"`
	Name                  string `json:"name"`
	LocalizedErrorMessage string `json:"localizedErrorMessage"`
}

// checkWrite validates property names and values of a create or update.
func (s *Server) checkWrite(in map[string]string, create bool) *apiError {
	var bad []invalidProperty
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		def := s.props[name]
		var msg, code string
		switch {
		case def == nil:
			msg, code = "Property \""+name+"\" does not exist", "PROPERTY_DOESNT_EXIST"
		case def.readOnly:
			msg, code = "\""+name+"\" is a read only property; its value cannot be set.", "READ_ONLY_VALUE"
		case name == propCreatedate && !create:
			msg, code = "\""+name+"\" can only be set when the record is created.", "READ_ONLY_VALUE"
		case (def.typ == "datetime" || def.typ == "date") && in[name] != "":
			if _, ok := parseTimeValue(in[name]); !ok {
				msg, code = in[name]+" was not a valid long.", "INVALID_LONG"
			}
		case def.typ == "number" && in[name] != "":
			if _, err := strconv.ParseFloat(in[name], 64); err != nil {
				msg, code = in[name]+" was not a valid number.", "INVALID_INTEGER"
			}
		}
		if msg != "" {
			bad = append(bad, invalidProperty{Message: msg, Error: code, Name: name, LocalizedErrorMessage: msg})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	list, _ := json.Marshal(bad)
	e := validationErr("Property values were not valid: " + string(list))
	return e
}

// uniqueHolder returns the id of a live contact other than self that holds one of the
// unique values in in (email compared with other contacts' email and additional emails),
// "" if none. Unique values compare case-insensitively.
func (s *Server) uniqueHolder(in map[string]string, self *record) string {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v := in[name]
		def := s.props[name]
		if v == "" || def == nil || !def.unique || name == propObjectID {
			continue
		}
		for _, r := range s.order {
			if r == self || !r.live() {
				continue
			}
			if holds(r, name, v) {
				return r.id
			}
		}
	}
	return ""
}

// holds reports whether r has value v in unique property name.
func holds(r *record, name, v string) bool {
	if strings.EqualFold(r.props[name], v) {
		return true
	}
	if name == propEmail {
		for _, e := range splitMulti(r.props[propAdditionalEmails]) {
			if strings.EqualFold(e, v) {
				return true
			}
		}
	}
	return false
}

func splitMulti(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ";")
}

// findByUnique finds the contact whose unique property name holds value, among live
// contacts (archived=false) or archived ones (archived=true).
func (s *Server) findByUnique(name, value string, archived bool) *record {
	if name == propObjectID {
		return s.resolve(value, archived)
	}
	for _, r := range s.order {
		if r.mergedInto != "" || r.archived != archived {
			continue
		}
		if holds(r, name, value) {
			return r
		}
	}
	return nil
}

// resolve finds a contact by id for single-record reads and updates: a merged-away id
// resolves to the contact it was merged into. archived selects archived contacts only.
func (s *Server) resolve(id string, archived bool) *record {
	r := s.records[id]
	for i := 0; r != nil && r.mergedInto != "" && i < 1000; i++ {
		r = s.records[r.mergedInto]
	}
	if r == nil || r.mergedInto != "" || r.archived != archived {
		return nil
	}
	return r
}

// create stores a new contact written at time at. in must have passed checkWrite.
func (s *Server) create(in map[string]string, at time.Time) *record {
	s.nextID++
	r := &record{id: strconv.FormatInt(s.nextID, 10), props: map[string]string{}, createdAt: at}
	if v, ok := in[propCreatedate]; ok {
		if t, ok := parseTimeValue(v); ok {
			r.createdAt = t
		}
	}
	s.records[r.id] = r
	s.order = append(s.order, r)
	s.write(r, in, at)
	return r
}

// write applies property values ("" clears), recomputes system and calculated
// properties, and queues the new state for the search index.
func (s *Server) write(r *record, in map[string]string, at time.Time) {
	for k, v := range in {
		if k == propCreatedate {
			continue
		}
		if v == "" {
			delete(r.props, k)
		} else {
			r.props[k] = v
		}
	}
	r.updatedAt = at
	s.recompute(r)
	s.reindex(r, at)
}

func (s *Server) recompute(r *record) {
	r.props[propObjectID] = r.id
	r.props[propCreatedate] = formatTime(r.createdAt)
	r.props[propLastmodifieddate] = formatTime(r.updatedAt)
	set := func(k, v string) {
		if v == "" {
			delete(r.props, k)
		} else {
			r.props[k] = v
		}
	}
	nat, intl := DerivePhone(r.props[propPhone], s.opts.Region)
	set(propSearchablePhone, nat)
	set(propSearchableIntlPhone, intl)
	nat, intl = DerivePhone(r.props[propMobilePhone], s.opts.Region)
	set(propSearchableMobile, nat)
	set(propSearchableIntlMobile, intl)
}

func (s *Server) reindex(r *record, at time.Time) {
	r.index = append(r.index, snapshot{visibleAt: at.Add(s.opts.SearchLag), live: r.live(),
		props: copyMap(r.props), createdAt: r.createdAt, updatedAt: r.updatedAt})
}

// indexed returns the state search sees at now (nil: not in the index), dropping
// snapshots that a newer visible one has replaced.
func (r *record) indexed(now time.Time) *snapshot {
	for i := len(r.index) - 1; i >= 0; i-- {
		if !r.index[i].visibleAt.After(now) {
			if i > 0 {
				r.index = append(r.index[:0], r.index[i:]...)
			}
			if !r.index[0].live {
				return nil
			}
			return &r.index[0]
		}
	}
	return nil
}

func (s *Server) archive(r *record, at time.Time) {
	r.archived = true
	r.archivedAt = at
	s.reindex(r, at)
	s.webhookDeletedLocked(r.id)
}

// merge merges loser into primary, HubSpot-style: the primary keeps its values and takes
// the loser's where it has none; the loser's email becomes an additional email; the
// primary's hs_merged_object_ids lists the loser and everything merged into it.
func (s *Server) merge(primary, loser *record, at time.Time) {
	in := map[string]string{}
	for k, v := range loser.props {
		def := s.props[k]
		if def == nil || def.readOnly || k == propCreatedate || primary.props[k] != "" {
			continue
		}
		in[k] = v
	}
	emails := splitMulti(primary.props[propAdditionalEmails])
	addEmail := func(e string) {
		if e == "" || strings.EqualFold(e, primary.props[propEmail]) || strings.EqualFold(e, in[propEmail]) {
			return
		}
		for _, x := range emails {
			if strings.EqualFold(x, e) {
				return
			}
		}
		emails = append(emails, e)
	}
	if primary.props[propEmail] != "" {
		addEmail(loser.props[propEmail])
	}
	for _, e := range splitMulti(loser.props[propAdditionalEmails]) {
		addEmail(e)
	}
	in[propAdditionalEmails] = strings.Join(emails, ";")
	ids := splitMulti(primary.props[propMergedObjectIDs])
	ids = append(ids, loser.id)
	ids = append(ids, splitMulti(loser.props[propMergedObjectIDs])...)
	in[propMergedObjectIDs] = strings.Join(ids, ";")

	loser.mergedInto = primary.id
	loser.updatedAt = at
	s.reindex(loser, at)
	s.write(primary, in, at)
}

// mergeIDs merges by ids as the merge endpoint does and returns the survivor.
func (s *Server) mergeIDs(primaryID, loserID string) (*record, *apiError) {
	if primaryID == "" || loserID == "" {
		return nil, validationErr("primaryObjectId and objectIdToMerge are required")
	}
	p, l := s.resolve(primaryID, false), s.resolve(loserID, false)
	if p == nil || l == nil {
		return nil, notFoundErr()
	}
	if p == l {
		return nil, validationErr("Cannot merge an object with itself")
	}
	s.merge(p, l, s.now())
	s.webhookMergedLocked(p.id, l.id)
	return p, nil
}

// CreateContact seeds a contact created now and returns its id. It validates like the
// API does and panics on what the API would refuse (undefined property, duplicate
// unique value): seeding mistakes are test bugs.
func (s *Server) CreateContact(props map[string]string) string {
	return s.CreateContactAt(props, time.Time{})
}

// CreateContactAt seeds a contact created at t (zero: now). Its first indexed state
// becomes searchable at t+SearchLag, so a contact seeded in the past is searchable now.
func (s *Server) CreateContactAt(props map[string]string, t time.Time) string {
	id, err := s.AddContact(props, t)
	if err != nil {
		panic(err)
	}
	return id
}

// AddContact is CreateContactAt returning the error (ErrInvalid, ErrConflict) instead
// of panicking.
func (s *Server) AddContact(props map[string]string, t time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IsZero() {
		t = s.now()
	}
	in := copyMap(props)
	delete(in, propCreatedate)
	if e := s.checkWrite(in, true); e != nil {
		return "", goErr(e)
	}
	if id := s.uniqueHolder(in, nil); id != "" {
		return "", goErr(conflictErr(id))
	}
	return s.create(in, t).id, nil
}

// UpdateContact changes a contact's properties as a person editing it in HubSpot would
// ("" clears). The change reaches search after SearchLag.
func (s *Server) UpdateContact(id string, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.resolve(id, false)
	if r == nil {
		return goErr(notFoundErr())
	}
	if e := s.checkWrite(props, false); e != nil {
		return goErr(e)
	}
	if hid := s.uniqueHolder(props, r); hid != "" {
		return goErr(conflictErr(hid))
	}
	before := s.snapshotProps(r)
	s.write(r, props, s.now())
	s.webhookEditedLocked(r.id, before, r.props)
	return nil
}

// Contact returns the stored contact with exactly this id, archived or merged away
// included (see Contact.MergedInto); it does not follow merges.
func (s *Server) Contact(id string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[id]
	if r == nil {
		return Contact{}, false
	}
	return r.export(), true
}

// Contacts returns the live contacts (neither archived nor merged away) in creation order.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, r := range s.order {
		if r.live() {
			out = append(out, r.export())
		}
	}
	return out
}

// Merge merges mergeID into primaryID as the merge endpoint does and returns the
// surviving id (always primaryID's contact in this emulator).
func (s *Server) Merge(primaryID, mergeID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.mergeIDs(primaryID, mergeID)
	if e != nil {
		return "", goErr(e)
	}
	return p.id, nil
}

// Archive archives (soft-deletes) a contact as DELETE does.
func (s *Server) Archive(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[id]
	if r == nil || !r.live() {
		return goErr(notFoundErr())
	}
	s.archive(r, s.now())
	return nil
}
