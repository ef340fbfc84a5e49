// Package portal is the admin portal: server-rendered pages (html/template,
// no JavaScript needed) at PUBLIC_URL/admin/ for operators and at
// PUBLIC_URL/admin/o/{org}/ for each organization's administrators.
//
// The portal is a relying party like any other application: an
// administrator signs in through the organization's own login (code flow
// with PKCE against the organization's issuer, through the built-in
// "Admin portal" application), and the portal keeps its own short session
// in the database that ends with the administrator's SSO session (checked
// on every request and ended by back-channel logout) and on "Sign out"
// (RP-initiated logout).
//
// It is a thin adapter: every change is one call of internal/directory,
// which validates, writes and audits. The portal only turns form fields into
// those calls and their errors back into messages next to the fields. It
// never validates, defaults or audits a management change itself.
package portal
