package scim

import "strings"

// Schema and message URNs (RFC 7643 §8.7, RFC 7644 §3.1).
const (
	URNUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNListResponse   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNError          = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNServiceConfig  = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	URNResourceType   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	URNSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// attr describes one attribute of a resource schema.
type attr struct {
	Name        string
	Type        string // string, boolean, complex, reference, dateTime
	Multi       bool
	Required    bool
	CaseExact   bool
	Mutability  string // readWrite, readOnly, immutable, writeOnly
	Returned    string // default, always, never
	Uniqueness  string // none, server
	Description string
	Sub         []*attr
	// Ignored attributes are accepted (real directories send them) but
	// not kept, and not advertised in Schemas.
	Ignored bool
}

func (a *attr) sub(name string) *attr { return lookup(a.Sub, name) }

// lookup finds an attribute by name, ignoring case (RFC 7643 §2.1).
func lookup(attrs []*attr, name string) *attr {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

func str(name, desc string) *attr {
	return &attr{Name: name, Type: "string", Mutability: "readWrite", Returned: "default", Uniqueness: "none", Description: desc}
}

func ignored(name string, multi bool) *attr {
	t := "string"
	if multi {
		t = "complex"
	}
	return &attr{Name: name, Type: t, Multi: multi, Ignored: true}
}

func multiValue(name, desc string, subs ...*attr) *attr {
	return &attr{Name: name, Type: "complex", Multi: true, Mutability: "readWrite", Returned: "default", Uniqueness: "none",
		Description: desc, Sub: subs}
}

func readOnly(a *attr) *attr { a.Mutability = "readOnly"; return a }

func boolean(name, desc string) *attr {
	return &attr{Name: name, Type: "boolean", Mutability: "readWrite", Returned: "default", Uniqueness: "none", Description: desc}
}

// commonAttrs are on every resource (RFC 7643 §3.1).
func commonAttrs() []*attr {
	id := str("id", "The stable identifier; for users, the OpenID Connect sub.")
	id.CaseExact, id.Mutability, id.Returned, id.Uniqueness = true, "readOnly", "always", "server"
	ext := str("externalId", "The provisioning client's identifier for the resource.")
	ext.CaseExact = true
	meta := readOnly(&attr{Name: "meta", Type: "complex", Returned: "default", Description: "Resource metadata.", Sub: []*attr{
		readOnly(str("resourceType", "")), readOnly(&attr{Name: "created", Type: "dateTime"}),
		readOnly(&attr{Name: "lastModified", Type: "dateTime"}), readOnly(&attr{Name: "location", Type: "reference"}),
		readOnly(str("version", "")),
	}})
	return []*attr{id, ext, meta}
}

var userAttrs = func() []*attr {
	userName := str("userName", "Unique within the organization, compared case-insensitively: letters, digits and . _ @ + -.")
	userName.Required, userName.Uniqueness = true, "server"
	emailValue := str("value", "The email address; the primary (else the first) is the user's email.")
	photoValue := &attr{Name: "value", Type: "reference", Mutability: "readWrite", Returned: "default", Description: "An http(s) URL of the picture."}
	attrs := append(commonAttrs(),
		userName,
		&attr{Name: "name", Type: "complex", Mutability: "readWrite", Returned: "default", Description: "formatted is the user's name.", Sub: []*attr{
			str("formatted", "The full name."), str("familyName", "Composes the name when formatted is absent."),
			str("givenName", "Composes the name when formatted is absent."), ignored("middleName", false),
			ignored("honorificPrefix", false), ignored("honorificSuffix", false),
		}},
		str("displayName", "The user's name (takes precedence over name.formatted)."),
		boolean("active", "false disables the user and ends their sessions with single logout."),
		multiValue("emails", "The user's email address (one is kept).", emailValue, str("type", ""), boolean("primary", ""), str("display", "")),
		multiValue("photos", "The user's picture (one is kept).", photoValue, str("type", ""), boolean("primary", ""), str("display", "")),
		readOnly(multiValue("groups", "The groups the user belongs to.", str("value", ""), &attr{Name: "$ref", Type: "reference"}, str("display", ""), str("type", ""))),
	)
	for _, name := range []string{"nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone", "password"} {
		attrs = append(attrs, ignored(name, false))
	}
	for _, name := range []string{"phoneNumbers", "ims", "addresses", "entitlements", "roles", "x509Certificates"} {
		attrs = append(attrs, ignored(name, true))
	}
	return attrs
}()

var enterpriseAttrs = []*attr{
	str("employeeNumber", "Kept as given."),
	str("department", "Kept as given."),
	{Name: "manager", Type: "complex", Mutability: "readWrite", Returned: "default", Description: "The manager's id is kept.", Sub: []*attr{
		str("value", "The manager's id."), {Name: "$ref", Type: "reference"}, readOnly(str("displayName", "")),
	}},
	ignored("costCenter", false), ignored("organization", false), ignored("division", false),
}

var groupAttrs = func() []*attr {
	dn := str("displayName", "Unique within the organization, compared case-insensitively; sent to applications in the groups claim.")
	dn.Required, dn.Uniqueness = true, "server"
	return append(commonAttrs(), dn,
		multiValue("members", "The group's users (by id).", str("value", "The user's id."),
			&attr{Name: "$ref", Type: "reference"}, readOnly(str("display", "")), str("type", "")),
	)
}()
