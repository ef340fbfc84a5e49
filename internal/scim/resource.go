package scim

import (
	"encoding/json"
	"slices"
	"strings"
)

// schemaSet is what a resource type accepts: its core attributes and its
// extensions by URN.
type schemaSet struct {
	coreURN string
	attrs   []*attr
	ext     map[string][]*attr
	// tolerated are schema URNs clients list that carry nothing Latchkey
	// keeps (Entra ID names its own group schema on every group).
	tolerated []string
}

var userSchema = schemaSet{coreURN: URNUser, attrs: userAttrs, ext: map[string][]*attr{URNEnterpriseUser: enterpriseAttrs}}

var groupSchema = schemaSet{coreURN: URNGroup, attrs: groupAttrs,
	tolerated: []string{"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"}}

// extension returns the canonical URN and attributes of an extension
// named by urn (compared case-insensitively).
func (s schemaSet) extension(urn string) (string, []*attr, bool) {
	for k, v := range s.ext {
		if strings.EqualFold(k, urn) {
			return k, v, true
		}
	}
	return "", nil, false
}

// read reads the request body and normalizes it.
func (s schemaSet) read(c *call) (map[string]any, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return s.normalize(body)
}

// replacement normalizes the body of a PUT to the resource id: its id,
// if given, must be that one (it is read-only).
func (s schemaSet) replacement(obj map[string]any, id string) (map[string]any, error) {
	m, err := s.normalize(obj)
	if err != nil {
		return nil, err
	}
	if got, has := m["id"]; has && got != id {
		return nil, mutability("id is read-only: it is %q", id)
	}
	return m, nil
}

// normalize checks a resource body against the schema set and returns it
// with canonical attribute names and SCIM's loose booleans made real
// booleans. Unknown attributes are invalidSyntax; values of the wrong
// shape are invalidValue.
func (s schemaSet) normalize(obj map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if strings.EqualFold(k, "schemas") {
			list, ok := v.([]any)
			if !ok {
				return nil, invalidValue("schemas must be a list of schema URNs")
			}
			for _, u := range list {
				us, ok := u.(string)
				if !ok {
					return nil, invalidValue("schemas must be a list of schema URNs")
				}
				if _, _, isExt := s.extension(us); !isExt && !strings.EqualFold(us, s.coreURN) && !slices.Contains(s.tolerated, us) {
					return nil, invalidValue("schema %q is not supported here (supported: %s)", us, strings.Join(s.urns(), ", "))
				}
			}
			out["schemas"] = list
			continue
		}
		if urn, attrs, ok := s.extension(k); ok {
			m, isObj := v.(map[string]any)
			if v != nil && !isObj {
				return nil, invalidValue("%s must be an object", urn)
			}
			nm, err := normalizeObject(urn, m, attrs)
			if err != nil {
				return nil, err
			}
			out[urn] = nm
			continue
		}
		a := lookup(s.attrs, k)
		if a == nil {
			return nil, invalidSyntax("unknown attribute %q (see %s in Schemas)", k, s.coreURN)
		}
		nv, err := normalizeValue(a.Name, a, v)
		if err != nil {
			return nil, err
		}
		out[a.Name] = nv
	}
	return out, nil
}

func (s schemaSet) urns() []string {
	out := []string{s.coreURN}
	for k := range s.ext {
		out = append(out, k)
	}
	return out
}

func normalizeObject(where string, m map[string]any, attrs []*attr) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		a := lookup(attrs, k)
		if a == nil {
			return nil, invalidSyntax("unknown attribute %q in %s", k, where)
		}
		nv, err := normalizeValue(where+"."+a.Name, a, v)
		if err != nil {
			return nil, err
		}
		out[a.Name] = nv
	}
	return out, nil
}

// normalizeValue checks one attribute value against its definition.
func normalizeValue(where string, a *attr, v any) (any, error) {
	if v == nil || a.Ignored {
		return v, nil
	}
	if a.Multi {
		list, ok := v.([]any)
		if !ok {
			return nil, invalidValue("%s must be a list", where)
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			ne, err := normalizeElement(where, a, e)
			if err != nil {
				return nil, err
			}
			out = append(out, ne)
		}
		return out, nil
	}
	return normalizeElement(where, a, v)
}

// normalizeElement checks one (singular) value of attribute a.
func normalizeElement(where string, a *attr, v any) (any, error) {
	switch a.Type {
	case "complex":
		if s, ok := v.(string); ok && lookup(a.Sub, "value") != nil && a.Name == "manager" {
			return map[string]any{"value": s}, nil // Entra sends the manager's id alone
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue("%s must be an object", where)
		}
		return normalizeObject(where, m, a.Sub)
	case "boolean":
		b, ok := asBool(v)
		if !ok {
			return nil, invalidValue("%s must be true or false", where)
		}
		return b, nil
	case "dateTime":
		return v, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, invalidValue("%s must be a string", where)
	}
	return s, nil
}

// toMap turns a rendered resource into the generic form PATCH works on.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // rendered resources are plain structs
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

// getString returns m[key] when it is a string.
func getString(m map[string]any, key string) (string, bool) {
	v, ok := m[key].(string)
	return v, ok
}

// pickPrimary returns the element of a multi-valued attribute a client
// meant as the one: primary, else type "work", else the first.
func pickPrimary(list []any) map[string]any {
	var first, work map[string]any
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			return m
		}
		if t, _ := m["type"].(string); work == nil && strings.EqualFold(t, "work") {
			work = m
		}
		if first == nil {
			first = m
		}
	}
	if work != nil {
		return work
	}
	return first
}
