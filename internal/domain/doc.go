// Package domain holds Latchkey's plain types — organizations, users,
// applications, signing keys, sessions, codes, tokens and login tickets — and
// the rules that decide whether a value is valid.
//
// It imports nothing of Latchkey's own and does no I/O: storage, HTTP and
// cryptography live in the packages that use these types. Validation errors
// are *FieldError values that name the offending field, so every caller (CLI,
// admin API, trusted-platform API) can report the field the same way.
package domain
