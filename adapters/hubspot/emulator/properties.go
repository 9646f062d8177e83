package emulator

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// propertyJSON is HubSpot's Property shape (hubspot.md §4).
type propertyJSON struct {
	UpdatedAt            string               `json:"updatedAt"`
	CreatedAt            string               `json:"createdAt"`
	Name                 string               `json:"name"`
	Label                string               `json:"label"`
	Type                 string               `json:"type"`
	FieldType            string               `json:"fieldType"`
	Description          string               `json:"description"`
	GroupName            string               `json:"groupName"`
	Options              json.RawMessage      `json:"options"`
	DisplayOrder         int                  `json:"displayOrder"`
	Calculated           bool                 `json:"calculated"`
	ExternalOptions      bool                 `json:"externalOptions"`
	HasUniqueValue       bool                 `json:"hasUniqueValue"`
	Hidden               bool                 `json:"hidden"`
	HubspotDefined       bool                 `json:"hubspotDefined"`
	ModificationMetadata modificationMetadata `json:"modificationMetadata"`
	FormField            bool                 `json:"formField"`
	DataSensitivity      string               `json:"dataSensitivity"`
	Archived             bool                 `json:"archived"`
}

type modificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

func (p *propertyDef) json() propertyJSON {
	at := formatTime(p.createdAt)
	return propertyJSON{UpdatedAt: at, CreatedAt: at, Name: p.name, Label: p.label, Type: p.typ, FieldType: p.fieldType,
		Description: p.description, GroupName: p.groupName, Options: p.options, DisplayOrder: p.displayOrder,
		Calculated: p.calculated, HasUniqueValue: p.unique, HubspotDefined: p.hubspotDefined,
		ModificationMetadata: modificationMetadata{Archivable: !p.hubspotDefined, ReadOnlyDefinition: p.hubspotDefined, ReadOnlyValue: p.readOnly},
		FormField:            !p.readOnly, DataSensitivity: "non_sensitive"}
}

// GET /crm/v3/properties/contacts
func (s *Server) handleListProperties(w http.ResponseWriter, _ *http.Request, _ []string) {
	s.mu.Lock()
	out := struct {
		Results []propertyJSON `json:"results"`
	}{Results: make([]propertyJSON, 0, len(s.propList))}
	for _, p := range s.propList {
		out.Results = append(out.Results, p.json())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// GET /crm/v3/properties/contacts/{name}. The 404 text is unverified.
func (s *Server) handleGetProperty(w http.ResponseWriter, _ *http.Request, params []string) {
	s.mu.Lock()
	p := s.props[params[0]]
	var out propertyJSON
	if p != nil {
		out = p.json()
	}
	s.mu.Unlock()
	if p == nil {
		writeError(w, apiErr(http.StatusNotFound, "OBJECT_NOT_FOUND", "Unable to find property named '"+params[0]+"' for object type 0-1"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var (
	propertyTypes      = map[string]bool{"string": true, "number": true, "date": true, "datetime": true, "enumeration": true, "bool": true, "phone_number": true}
	propertyFieldTypes = map[string]bool{"text": true, "textarea": true, "html": true, "number": true, "date": true, "file": true,
		"phonenumber": true, "select": true, "radio": true, "checkbox": true, "booleancheckbox": true, "calculation_equation": true}
)

// maxUniqueProperties is HubSpot's cap on unique ID properties per object (custom ones).
const maxUniqueProperties = 10

// POST /crm/v3/properties/contacts. An existing name is a 409; its body is unverified.
func (s *Server) handleCreateProperty(w http.ResponseWriter, r *http.Request, _ []string) {
	var body struct {
		Name           string          `json:"name"`
		Label          string          `json:"label"`
		Type           string          `json:"type"`
		FieldType      string          `json:"fieldType"`
		GroupName      string          `json:"groupName"`
		Description    string          `json:"description"`
		HasUniqueValue bool            `json:"hasUniqueValue"`
		Options        json.RawMessage `json:"options"`
		DisplayOrder   *int            `json:"displayOrder"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	var missing []string
	for k, v := range map[string]string{"name": body.Name, "label": body.Label, "type": body.Type, "fieldType": body.FieldType, "groupName": body.GroupName} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	switch {
	case len(missing) > 0:
		writeError(w, validationErr("Missing required fields: "+strings.Join(sortedCopy(missing), ", ")))
		return
	case !propertyName.MatchString(body.Name):
		writeError(w, validationErr("Property name \""+body.Name+"\" must start with a lowercase letter and contain only lowercase letters, digits and underscores"))
		return
	case !propertyTypes[body.Type]:
		writeError(w, validationErr("Invalid property type \""+body.Type+"\""))
		return
	case !propertyFieldTypes[body.FieldType]:
		writeError(w, validationErr("Invalid property fieldType \""+body.FieldType+"\""))
		return
	}
	s.mu.Lock()
	if s.props[body.Name] != nil {
		s.mu.Unlock()
		e := apiErr(http.StatusConflict, "OBJECT_ALREADY_EXISTS", "Property named '"+body.Name+"' already exists.")
		writeError(w, e)
		return
	}
	if body.HasUniqueValue {
		n := 0
		for _, p := range s.propList {
			if p.unique && !p.hubspotDefined {
				n++
			}
		}
		if n >= maxUniqueProperties {
			s.mu.Unlock()
			writeError(w, validationErr("You can have up to ten unique ID properties per object"))
			return
		}
	}
	p := &propertyDef{name: body.Name, label: body.Label, typ: body.Type, fieldType: body.FieldType, groupName: body.GroupName,
		description: body.Description, unique: body.HasUniqueValue, createdAt: s.now(), displayOrder: -1}
	if len(body.Options) > 0 && string(body.Options) != "null" {
		p.options = body.Options
	}
	if body.DisplayOrder != nil {
		p.displayOrder = *body.DisplayOrder
	}
	s.addProperty(p)
	out := p.json()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func sortedCopy(xs []string) []string {
	out := append([]string{}, xs...)
	sort.Strings(out)
	return out
}
