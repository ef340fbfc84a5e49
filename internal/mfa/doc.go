// Package mfa is the ceremony side of Latchkey's second factors: WebAuthn
// registration and assertion for passkeys (as a second factor and for
// passwordless sign-in with discoverable credentials), one-time codes
// (TOTP, RFC 6238) and recovery codes.
//
// It verifies what a browser sends and records the result (new sign
// counts, used time steps, used recovery codes) through the store, all
// scoped by organization: a passkey registered with organization A is never
// found at organization B. It never decides policy (which users need a
// second factor is package domain's and the login flow's in package op) and
// never touches cookies (package session's). Management of factors by
// administrators (listing, reset) lives in package directory.
package mfa
