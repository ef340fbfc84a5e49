// Package upstream is upstream OpenID Connect login, RP side: Latchkey as
// a client of an organization's own identity provider (DESIGN.md §6).
//
// For now it holds discovery: Discover fetches an upstream's configuration
// document and says precisely what it found, or why it could not use it,
// as a *CheckError of a fixed Kind that the CLI and the portal can show.
//
// Every request goes through the caller's *http.Client, which must be the
// guarded outbound client (internal/outbound): an organization admin aims
// these requests, so this package never builds a client of its own, and it
// never stores anything.
package upstream
