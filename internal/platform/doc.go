// Package platform is the trusted-platform API (DESIGN.md §5): an
// organization's own platform, holding the organization's API key, creates
// and updates its users and mints one-time login tickets for them.
//
//	POST /api/organization/{org}/user/{userName}/update          upsert a user
//	POST /api/organization/{org}/user/{userName}/generate-token  mint a login ticket
//
// It owns authenticating those calls (x-org-id and x-api-key, the same 401
// whether or not the organization exists, failed attempts limited per
// client address), strict reading of their JSON bodies, and auditing every
// call. User rules and writes go through package directory; the ticket's
// format is in package ticket; redeeming a ticket in a browser
// (?refresh-token=) is the OpenID Provider's, in package op.
//
// It must never log, audit or echo an API key or a ticket, and never write
// anything for a request it rejects.
package platform
