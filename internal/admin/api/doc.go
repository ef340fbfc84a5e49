// Package api is the Admin JSON API under /api/admin/: organizations and
// their settings, API keys, applications, users and their sessions, the
// upstream OpenID Connect connection and the audit log, for automation
// against a running server. (The CLI does not call it: it works on the
// database directly, through the same package directory.) Answers are the
// objects of package directory/resource, the same the CLI prints with
// --json; request members are camelCase, and the first release's
// snake_case names are still accepted, with a Deprecation header.
//
// Callers authenticate with an admin token (`Authorization: Bearer lk_adm_…`,
// made by `latchkey admin token create`). A token belongs to one
// organization or, for operators, to all of them. Requests for an
// organization a token may not see answer 404, exactly as for an
// organization that does not exist, so a token never learns which other
// organizations exist. Every authenticated request is audited with the
// actor "admin-token:<id>": changes by package directory (which records them
// as it makes them), reads and refused requests by this package.
//
// The API is strict where the trusted-platform API is lenient: request
// bodies are JSON objects of at most 64 KiB, valid UTF-8, with no unknown,
// duplicate or read-only fields and no unknown query parameters. Invalid
// input answers 400 with {"error","message","field"} and changes nothing:
// every rule is checked by package directory before it writes. Lifetimes
// accept a number or a string with thousands separators ("1.296.000"), as
// the portal's forms do; URI lists accept an array or one string with one
// URI per line. In PATCH bodies an absent field is left as it is; null is
// refused, except "password": null, which removes a user's password.
//
// This package holds no management rules of its own: it translates HTTP to
// calls of package directory and back. It must never return a secret except
// where the API documents it (a new organization's API key, a reveal or
// rotation of it, a new or rotated client secret), and never a hash.
package api
