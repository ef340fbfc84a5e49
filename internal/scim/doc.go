// Package scim makes each organization a SCIM 2.0 service provider (RFC
// 7643, RFC 7644) at ISS/scim/v2/: Users, Groups and the discovery
// resources (ServiceProviderConfig, ResourceTypes, Schemas), authenticated
// with the organization's SCIM bearer tokens.
//
// It is a thin adapter: it translates SCIM resources, PATCH operations
// and filters into calls of package directory and back, and answers
// errors as RFC 7644 §3.12 bodies. Filters are parsed by
// github.com/scim2/filter-parser and handed to the store as a
// store.Filter, which backends turn into SQL with bound parameters only.
//
// It never validates, defaults or audits a change itself (package
// directory does), never writes anything before the whole request has
// been checked, and never shows or changes another organization's rows:
// an id of another organization is as absent as a missing one.
package scim
