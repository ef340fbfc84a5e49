// Package upstream is upstream OpenID Connect login, RP side: Latchkey as
// a client of an organization's own identity provider (DESIGN.md §6).
//
// Federation starts a login at the upstream (state, nonce, PKCE), takes the
// callback, verifies the id_token, maps the configured claim to an existing
// user and signs them in; on logout it chains through the upstream's
// end_session_endpoint and accepts its back-channel logout tokens. The
// discovery document is fetched by package discovery.
//
// Every upstream request goes through the guarded outbound client
// (internal/outbound): an organization admin aims these requests.
package upstream
