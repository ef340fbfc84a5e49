package scim

import (
	"net/http"
	"strings"
)

type supported struct {
	Supported bool `json:"supported"`
}

type filterSupport struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type bulkSupport struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

type authScheme struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

type discoveryMeta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

// serviceProviderConfig says truthfully what this server supports (RFC
// 7643 §5).
func (s *Service) serviceProviderConfig(c *call) (int, any, error) {
	return http.StatusOK, map[string]any{
		"schemas":          []string{URNServiceConfig},
		"documentationUri": "https://github.com/latchkey/latchkey#scim-20-provisioning",
		"patch":            supported{true},
		"bulk":             bulkSupport{Supported: false},
		"filter":           filterSupport{Supported: true, MaxResults: MaxResults},
		"changePassword":   supported{false},
		"sort":             supported{false},
		"etag":             supported{true},
		"authenticationSchemes": []authScheme{{
			Type: "oauthbearertoken", Name: "OAuth Bearer Token", Primary: true,
			Description: "An organization's SCIM token (latchkey scim token create), sent as Authorization: Bearer <token>.",
		}},
		"meta": discoveryMeta{ResourceType: "ServiceProviderConfig", Location: s.baseURL(c.org) + "/ServiceProviderConfig"},
	}, nil
}

type schemaExtension struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

type resourceTypeJSON struct {
	Schemas          []string          `json:"schemas"`
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description"`
	Schema           string            `json:"schema"`
	SchemaExtensions []schemaExtension `json:"schemaExtensions"`
	Meta             discoveryMeta     `json:"meta"`
}

func (s *Service) resourceTypeList(org string) []resourceTypeJSON {
	return []resourceTypeJSON{
		{
			Schemas: []string{URNResourceType}, ID: "User", Name: "User", Endpoint: "/Users", Description: "The organization's users",
			Schema: URNUser, SchemaExtensions: []schemaExtension{{Schema: URNEnterpriseUser}},
			Meta: discoveryMeta{ResourceType: "ResourceType", Location: s.baseURL(org) + "/ResourceTypes/User"},
		},
		{
			Schemas: []string{URNResourceType}, ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "The organization's groups",
			Schema: URNGroup, SchemaExtensions: []schemaExtension{},
			Meta: discoveryMeta{ResourceType: "ResourceType", Location: s.baseURL(org) + "/ResourceTypes/Group"},
		},
	}
}

func (s *Service) resourceTypes(c *call) (int, any, error) {
	list := s.resourceTypeList(c.org)
	out := listResponse{Schemas: []string{URNListResponse}, TotalResults: len(list), ItemsPerPage: len(list), StartIndex: 1}
	for _, rt := range list {
		out.Resources = append(out.Resources, rt)
	}
	return http.StatusOK, out, nil
}

func (s *Service) resourceType(c *call) (int, any, error) {
	id := c.r.PathValue("id")
	for _, rt := range s.resourceTypeList(c.org) {
		if rt.ID == id {
			return http.StatusOK, rt, nil
		}
	}
	return 0, nil, notFound("resource type", id)
}

type attrJSON struct {
	Name          string     `json:"name"`
	Type          string     `json:"type"`
	MultiValued   bool       `json:"multiValued"`
	Description   string     `json:"description,omitempty"`
	Required      bool       `json:"required"`
	CaseExact     bool       `json:"caseExact"`
	Mutability    string     `json:"mutability"`
	Returned      string     `json:"returned"`
	Uniqueness    string     `json:"uniqueness"`
	SubAttributes []attrJSON `json:"subAttributes,omitempty"`
}

func attrList(attrs []*attr) []attrJSON {
	out := []attrJSON{}
	for _, a := range attrs {
		if a.Ignored || a.Name == "meta" {
			continue
		}
		j := attrJSON{Name: a.Name, Type: a.Type, MultiValued: a.Multi, Description: a.Description, Required: a.Required,
			CaseExact: a.CaseExact, Mutability: a.Mutability, Returned: a.Returned, Uniqueness: a.Uniqueness}
		if j.Mutability == "" {
			j.Mutability = "readWrite"
		}
		if j.Returned == "" {
			j.Returned = "default"
		}
		if j.Uniqueness == "" {
			j.Uniqueness = "none"
		}
		if a.Type == "complex" {
			j.SubAttributes = attrList(a.Sub)
		}
		out = append(out, j)
	}
	return out
}

type schemaJSON struct {
	Schemas     []string      `json:"schemas"`
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Attributes  []attrJSON    `json:"attributes"`
	Meta        discoveryMeta `json:"meta"`
}

func (s *Service) schemaList(org string) []schemaJSON {
	mk := func(id, name, desc string, attrs []*attr) schemaJSON {
		return schemaJSON{Schemas: []string{URNSchema}, ID: id, Name: name, Description: desc, Attributes: attrList(attrs),
			Meta: discoveryMeta{ResourceType: "Schema", Location: s.baseURL(org) + "/Schemas/" + id}}
	}
	return []schemaJSON{
		mk(URNUser, "User", "User account (the attributes Latchkey keeps; other core attributes are accepted and not stored)", userAttrs),
		mk(URNEnterpriseUser, "EnterpriseUser", "Enterprise user (employeeNumber, department and manager are kept)", enterpriseAttrs),
		mk(URNGroup, "Group", "Group", groupAttrs),
	}
}

func (s *Service) schemas(c *call) (int, any, error) {
	list := s.schemaList(c.org)
	out := listResponse{Schemas: []string{URNListResponse}, TotalResults: len(list), ItemsPerPage: len(list), StartIndex: 1}
	for _, sc := range list {
		out.Resources = append(out.Resources, sc)
	}
	return http.StatusOK, out, nil
}

func (s *Service) schema(c *call) (int, any, error) {
	id := c.r.PathValue("id")
	for _, sc := range s.schemaList(c.org) {
		if strings.EqualFold(sc.ID, id) {
			return http.StatusOK, sc, nil
		}
	}
	return 0, nil, notFound("schema", id)
}
